#!/usr/bin/env node
// Builds the vramhub Move package and runs its unit tests with Sui's own
// compiler and test runner (a WASM build, npm package
// @zktx.io/sui-move-builder, pinned in ../package-lock.json).
//
// The compiler resolves the implicit `Sui` and `MoveStdlib` dependencies
// through the fetcher below, which serves them from a local Sui source tree
// and never from the network: no package registry ships Sui's framework
// sources, and a build must not depend on whatever a server returns today.
//
// Usage: node tools/sui-move.mjs build|test [--framework DIR]
//          [--lint none|default|all] [--native-module NAME] [--json]
//   DIR: a Sui source tree (with crates/sui-framework/packages), or that
//        packages folder itself; default $SUI_FRAMEWORK_DIR.
// Exit codes: 0 success, 1 build or test failure, 2 usage or set-up error.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  MovePackageFetcher,
  getPinnedSuiVersion,
  initMovePackageBuilder,
  dumpMovePackage,
  testMovePackage,
} from "@zktx.io/sui-move-builder/full";

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FRAMEWORK_SUBDIR = "crates/sui-framework/packages";
// The WASM runner's `load_nitro_attestation` is a stub that aborts with code 0.
// A test that needs the real native must fail exactly there, nowhere else.
const STUB_ABORT = "aborted with code 0 originating in the module sui::nitro_attestation";

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = {
    command: undefined,
    framework: process.env.SUI_FRAMEWORK_DIR,
    lint: "default",
    nativeModule: "nitro_native_tests",
    json: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "build" || arg === "test") opts.command = arg;
    else if (arg === "--framework") opts.framework = value();
    else if (arg === "--lint") opts.lint = value();
    else if (arg === "--native-module") opts.nativeModule = value();
    else if (arg === "--json") opts.json = true;
    else if (arg === "-h" || arg === "--help") opts.command = "help";
    else throw new UsageError(`unknown argument: ${arg}`);
  }
  if (!opts.command) throw new UsageError("expected a command: build or test");
  if (!["none", "default", "all"].includes(opts.lint)) {
    throw new UsageError(`--lint takes none, default or all, not ${opts.lint}`);
  }
  return opts;
}

/// The framework's packages folder and the Sui version of the tree it is in.
function locateFramework(dir) {
  if (!dir) {
    throw new UsageError(
      "no framework sources: set SUI_FRAMEWORK_DIR (or --framework) to a Sui source tree " +
        "that has crates/sui-framework/packages (see docs/contracts.md)",
    );
  }
  const root = path.resolve(dir);
  let packages;
  let treeRoot;
  if (fs.existsSync(path.join(root, FRAMEWORK_SUBDIR, "sui-framework", "Move.toml"))) {
    packages = path.join(root, FRAMEWORK_SUBDIR);
    treeRoot = root;
  } else if (fs.existsSync(path.join(root, "sui-framework", "Move.toml"))) {
    packages = root;
    treeRoot = path.resolve(root, "..", "..", "..");
  } else {
    throw new UsageError(
      `${root} has neither ${FRAMEWORK_SUBDIR}/sui-framework/Move.toml nor sui-framework/Move.toml`,
    );
  }
  for (const name of ["move-stdlib", "sui-framework"]) {
    if (!fs.existsSync(path.join(packages, name, "Move.toml"))) {
      throw new UsageError(`${packages}/${name}/Move.toml is missing`);
    }
  }
  return { packages, version: suiVersion(treeRoot) };
}

function suiVersion(treeRoot) {
  if (process.env.SUI_FRAMEWORK_VERSION) return process.env.SUI_FRAMEWORK_VERSION;
  const cargo = path.join(treeRoot, "Cargo.toml");
  if (!fs.existsSync(cargo)) return "unknown (no Cargo.toml at the tree's root)";
  const section = fs.readFileSync(cargo, "utf8").split(/^\[workspace\.package\]$/m)[1] ?? "";
  const m = section.match(/^version\s*=\s*"([^"]+)"/m);
  return m ? m[1] : "unknown (no [workspace.package] version in Cargo.toml)";
}

/// Move.toml and every .move file below `dir`, keyed by relative path.
function readPackage(dir, { withTests }) {
  const files = {};
  const walk = (rel) => {
    const abs = path.join(dir, rel);
    for (const entry of fs.readdirSync(abs, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!rel && !["sources", ...(withTests ? ["tests"] : [])].includes(entry.name)) continue;
        walk(childRel);
      } else if (entry.name.endsWith(".move")) {
        files[childRel] = fs.readFileSync(path.join(dir, childRel), "utf8");
      }
    }
  };
  walk("");
  files["Move.toml"] = fs.readFileSync(path.join(dir, "Move.toml"), "utf8");
  return files;
}

/// Serves the framework packages the compiler asks for from the local tree.
class LocalFrameworkFetcher extends MovePackageFetcher {
  constructor(packages) {
    super();
    this.packages = packages;
    this.requested = new Map();
  }

  resolve(subdir) {
    const normal = path.posix.normalize(subdir ?? "");
    if (!normal.startsWith(`${FRAMEWORK_SUBDIR}/`) || normal.includes("..")) {
      throw new Error(
        `the package asked for ${subdir}, which is not a Sui framework package: ` +
          "only the implicit framework dependencies are served locally",
      );
    }
    return path.join(this.packages, normal.slice(FRAMEWORK_SUBDIR.length + 1));
  }

  async fetch(gitUrl, rev, subdir) {
    const dir = this.resolve(subdir);
    if (!fs.existsSync(path.join(dir, "Move.toml"))) {
      throw new Error(`${dir}/Move.toml not found (asked for ${gitUrl} ${subdir})`);
    }
    this.requested.set(subdir, rev);
    return readPackage(dir, { withTests: false });
  }

  async fetchFile(_gitUrl, _rev, filePath) {
    const normal = path.posix.normalize(filePath);
    if (!normal.startsWith(`${FRAMEWORK_SUBDIR}/`)) return null;
    const abs = this.resolve(normal);
    return fs.existsSync(abs) ? fs.readFileSync(abs, "utf8") : null;
  }

  getResolvedSha(_gitUrl, rev) {
    return rev;
  }
}

function builderVersion() {
  const manifest = path.join(PACKAGE_DIR, "node_modules", "@zktx.io", "sui-move-builder", "package.json");
  return JSON.parse(fs.readFileSync(manifest, "utf8")).version;
}

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");

function countDiagnostics(text) {
  const lines = stripAnsi(text ?? "").split("\n");
  return {
    warnings: lines.filter((l) => /^warning(\[[^\]]*\])?:/.test(l)),
    errors: lines.filter((l) => /^error(\[[^\]]*\])?:/.test(l)),
  };
}

/// Splits the runner's output into per-test results and failure blocks.
function parseTestOutput(output, nativeModule) {
  const text = stripAnsi(output);
  const [compileText, runText = ""] = text.split(/^Running Move unit tests$/m);
  const results = [];
  for (const m of runText.matchAll(/^\[ (PASS|FAIL|TIMEOUT)\s*\] (\S+)::(\S+)::(\S+)$/gm)) {
    results.push({ status: m[1], address: m[2], module: m[3], name: m[4] });
  }
  const blocks = new Map();
  const failuresText = runText.split(/^Test failures:$/m)[1] ?? "";
  let module;
  for (const part of failuresText.split(/^(?=Failures in |┌── )/m)) {
    const header = part.match(/^Failures in (\S+)::(\S+):/);
    if (header) module = header[2];
    const block = part.match(/^┌── (\S+) ─/);
    if (block) blocks.set(`${module}::${block[1]}`, part);
  }
  const summary = (runText.match(/^Test result: .*$/m) ?? [""])[0];
  const tests = results.map((r) => {
    const key = `${r.module}::${r.name}`;
    const block = blocks.get(key) ?? "";
    const needsNative = r.module === nativeModule;
    let verdict;
    if (!needsNative) verdict = r.status === "PASS" ? "passed" : "failed";
    else if (r.status === "FAIL" && block.includes(STUB_ABORT)) verdict = "stubbed";
    else if (r.status === "PASS") verdict = "mark-wrong";
    else verdict = "failed";
    return { ...r, key, needsNative, verdict, block };
  });
  return { compileText, tests, summary };
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`sui-move: ${e.message} (try --help)`);
      return 2;
    }
    throw e;
  }
  if (opts.command === "help") {
    const head = fs.readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n");
    console.log(
      head
        .slice(1, 16)
        .map((l) => l.replace(/^\/\/ ?/, ""))
        .join("\n"),
    );
    return 0;
  }
  let framework;
  try {
    framework = locateFramework(opts.framework);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    if (opts.json) console.log(JSON.stringify({ ok: false, error: e.message }));
    else console.error(`sui-move: ${e.message}`);
    return 2;
  }

  await initMovePackageBuilder();
  const compiler = await getPinnedSuiVersion();
  const fetcher = new LocalFrameworkFetcher(framework.packages);
  const input = {
    files: readPackage(PACKAGE_DIR, { withTests: opts.command === "test" }),
    fetcher,
    network: "mainnet",
    lintFlag: opts.lint,
    ansiColor: false,
  };
  const say = (line) => {
    if (!opts.json) console.log(line);
  };
  say(`compiler: Sui ${compiler} (@zktx.io/sui-move-builder ${builderVersion()}), lint level ${opts.lint}`);
  say(`framework sources: Sui ${framework.version} from ${framework.packages}`);

  const report = {
    command: opts.command,
    compiler: `Sui ${compiler}`,
    builder: builderVersion(),
    framework: { version: framework.version, dir: framework.packages },
    lint: opts.lint,
  };
  const pinnedRevs = () => [...new Set(fetcher.requested.values())];
  // A build or test build that did not compile: report it, exit 1.
  const compileFailure = (what, result) => {
    report.ok = false;
    report.error = stripAnsi(result.error);
    report.category = result.category;
    if (opts.json) console.log(JSON.stringify(report, null, 2));
    else console.error(`${what} failed (${result.category}):\n${report.error}`);
    return 1;
  };

  if (opts.command === "build") {
    const result = await dumpMovePackage(input);
    report.frameworkRevsRequested = pinnedRevs();
    if ("error" in result) return compileFailure("build", result);
    const { warnings } = countDiagnostics(result.warnings);
    report.modules = result.modules.length;
    report.warnings = warnings.length;
    report.ok = warnings.length === 0;
    if (result.warnings && !opts.json) console.log(stripAnsi(result.warnings));
    say(`(the compiler pins the framework at commit ${pinnedRevs().join(", ")}; served from the tree above)`);
    say(`build: ${result.modules.length} modules, 0 errors, ${warnings.length} warnings`);
    if (opts.json) console.log(JSON.stringify(report, null, 2));
    return report.ok ? 0 : 1;
  }

  const result = await testMovePackage(input);
  report.frameworkRevsRequested = pinnedRevs();
  if ("error" in result) return compileFailure("test build", result);
  const parsed = parseTestOutput(result.output, opts.nativeModule);
  const { warnings, errors } = countDiagnostics(parsed.compileText);
  const by = (verdict) => parsed.tests.filter((t) => t.verdict === verdict);
  const failed = by("failed");
  const wrong = by("mark-wrong");
  const stubbed = by("stubbed");
  const passed = by("passed");
  report.tests = parsed.tests.map(({ block: _block, ...t }) => t);
  report.runnerSummary = parsed.summary;
  report.warnings = warnings.length;
  report.errors = errors.length;
  report.passed = passed.length;
  report.failed = failed.length + wrong.length;
  report.needsNative = stubbed.map((t) => t.key);
  report.ok =
    parsed.tests.length > 0 && errors.length === 0 && warnings.length === 0 && report.failed === 0;

  if (!opts.json) {
    if (warnings.length || errors.length) console.log(parsed.compileText.trim());
    for (const t of failed) console.log(`FAILED ${t.key}\n${t.block.trim()}`);
    for (const t of wrong) {
      console.log(
        `FAILED ${t.key}: marked as needing the real nitro_attestation native ` +
          "(module " +
          opts.nativeModule +
          "), yet it passed under the WASM runner's stub: it never reaches the native",
      );
    }
    console.log(`runner: ${parsed.summary}`);
    console.log(
      `needs the real nitro_attestation native (${stubbed.length}, each failed exactly at the stub): ` +
        stubbed.map((t) => t.name).join(", "),
    );
    console.log(`(the compiler pins the framework at commit ${pinnedRevs().join(", ")}; served from the tree above)`);
    console.log(`test build: ${errors.length} errors, ${warnings.length} warnings`);
    console.log(`move: ${passed.length} passed, ${report.failed} failed, ${stubbed.length} skipped`);
  } else {
    console.log(JSON.stringify(report, null, 2));
  }
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`sui-move: ${e?.stack ?? e}`);
    process.exit(2);
  },
);
