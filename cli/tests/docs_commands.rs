//! Every command the guides show exists, and every flag it uses is one its
//! `--help` lists. Walks the fenced code blocks of `docs/*.md` and the
//! README for `vram-validator`, `vram-attest`, `vram-enclave`, and
//! `scripts/*.sh` / `eif/*.sh` command lines.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join(name)
}

/// Command lines inside fenced code blocks, continuations joined.
fn command_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            continue;
        }
        let trimmed = line.trim();
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        out.push(std::mem::take(&mut pending));
    }
    out
}

fn help(program: &Path, path: &[String]) -> String {
    let out = Command::new(program)
        .args(path)
        .arg("--help")
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The subcommand names a clap help text lists.
fn subcommands(help: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut inside = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            inside = true;
            continue;
        }
        if inside {
            if line.trim().is_empty() || !line.starts_with("  ") {
                break;
            }
            if let Some(name) = line.split_whitespace().next() {
                names.insert(name.to_string());
            }
        }
    }
    names
}

fn flags(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i + 2 < bytes.len() {
        let boundary = i == 0 || matches!(bytes[i - 1], b' ' | b'[' | b'|' | b'(');
        if boundary && bytes[i] == b'-' && bytes[i + 1] == b'-' && bytes[i + 2].is_ascii_lowercase()
        {
            let end = line[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(line.len(), |e| i + e);
            out.push(line[i..end].to_string());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn every_documented_command_and_flag_exists() {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.push(root().join("README.md"));
    let mut checked = 0;
    let mut problems = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for line in command_lines(&text) {
            let words: Vec<&str> = line
                .split_whitespace()
                .skip_while(|w| *w == "sudo" || (w.contains('=') && !w.starts_with('-')))
                .collect();
            let Some(first) = words.first() else { continue };
            let program = first.rsplit('/').next().unwrap_or(first);
            let (program_path, is_clap) = match program {
                "vram-validator" | "vram-attest" => (bin(program), true),
                "vram-enclave" => (bin(program), false),
                _ if (first.starts_with("scripts/") || first.starts_with("eif/"))
                    && first.ends_with(".sh") =>
                {
                    (root().join(first), false)
                }
                _ => continue,
            };
            if !program_path.exists() {
                problems.push(format!(
                    "{}: `{line}`: {} does not exist",
                    doc.display(),
                    program_path.display()
                ));
                continue;
            }
            // Walk the subcommands the line names.
            let mut path: Vec<String> = Vec::new();
            if is_clap {
                for w in &words[1..] {
                    if subcommands(&help(&program_path, &path)).contains(*w) {
                        path.push((*w).to_string());
                    } else {
                        break;
                    }
                }
                if path.is_empty() && words.len() > 1 && !words[1].starts_with('-') {
                    problems.push(format!(
                        "{}: `{line}`: no subcommand {:?}",
                        doc.display(),
                        words[1]
                    ));
                    continue;
                }
            } else if program == "vram-enclave" {
                path.push("serve".into());
            }
            let text = help(&program_path, &path);
            for flag in flags(&line) {
                if flag == "--help" {
                    continue;
                }
                if !text.contains(&flag) {
                    problems.push(format!(
                        "{}: `{line}`: {flag} is not in `{} {} --help`",
                        doc.display(),
                        program,
                        path.join(" ")
                    ));
                }
            }
            checked += 1;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 30, "only {checked} command lines found");
}
