//! Running the workspace's binaries from tests: the command must succeed,
//! and a failure shows what the binary said on stderr.

#![allow(clippy::panic)]

use std::process::{Command, Output};

/// Runs `cmd` and returns its output; fails the test, with the command's
/// stderr, unless it started and exited 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!("{cmd:?} did not start: {e}"),
    };
    if !out.status.success() {
        panic!(
            "{cmd:?} exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// [`run_ok`], then stdout parsed as one JSON value (the `--json` output of
/// a command).
pub fn run_json(cmd: &mut Command) -> serde_json::Value {
    let out = run_ok(cmd);
    match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(e) => panic!(
            "{cmd:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        ),
    }
}
