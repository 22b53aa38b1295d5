//! `statement verify` and `statement show`.

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use vram_attestation::statement::{EntryStatus, SignedStatement, StatementFile};
use vram_attestation::{verify as verify_document, Policy};

use crate::input;
use crate::{Outcome, TrustArgs};

const MAX_STATEMENT_FILE: u64 = 4 << 20;

#[derive(Subcommand)]
pub(crate) enum StatementCommand {
    /// Check a statement's Ed25519 signature under a key or an attested key.
    Verify(VerifyArgs),
    /// Decode a statement file without checking its signature.
    Show(ShowArgs),
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// The statement file (`vram-statement/1` JSON).
    #[arg(long, value_name = "FILE")]
    statement: String,
    /// The enclave's raw Ed25519 public key.
    #[arg(
        long,
        value_name = "HEX",
        conflicts_with = "doc",
        required_unless_present = "doc"
    )]
    public_key: Option<String>,
    /// An attestation document: it is verified (see --root, --at) and its
    /// public key used.
    #[arg(long, value_name = "DOC")]
    doc: Option<String>,
    #[command(flatten)]
    trust: TrustArgs,
    /// Accept a debug-mode document.
    #[arg(long)]
    allow_debug: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct ShowArgs {
    /// The statement file (`vram-statement/1` JSON).
    #[arg(value_name = "FILE")]
    file: String,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Reads a statement file: the outer result is I/O (exit 2), the inner one
/// whether it holds a well-formed statement (invalid, exit 1).
fn read_statement(path: &str) -> Result<Result<SignedStatement>> {
    let bytes = input::read_bounded(path, MAX_STATEMENT_FILE)?;
    Ok(serde_json::from_slice::<StatementFile>(&bytes)
        .with_context(|| format!("{path} is not a statement file"))
        .and_then(|file| Ok(SignedStatement::from_file(&file)?)))
}

/// The statement as JSON, the shape scripts read.
pub(crate) fn statement_json(s: &SignedStatement) -> Value {
    let p = &s.message.payload;
    let entries: Vec<Value> = p
        .entries
        .iter()
        .map(|e| {
            json!({
                "miner_uid": e.miner_uid,
                "gradient_hash": hex::encode(&e.gradient_hash),
                "status": EntryStatus::from_u8(e.status).map_or("unknown", EntryStatus::as_str),
                "loss_before_own": e.loss_before_own,
                "loss_after_own": e.loss_after_own,
                "loss_after_random": e.loss_after_random,
            })
        })
        .collect();
    json!({
        "statement_sha256": hex::encode(s.sha256()),
        "intent": s.message.intent,
        "timestamp_ms": s.message.timestamp_ms,
        "window": p.window,
        "validator": format!("0x{}", hex::encode(p.validator)),
        "checkpoint_hash": hex::encode(&p.checkpoint_hash),
        "dataset_root": hex::encode(&p.dataset_root),
        "eval_params_hash": hex::encode(&p.eval_params_hash),
        "eval_seed": hex::encode(&p.eval_seed),
        "loss_before_random": p.loss_before_random,
        "entries": entries,
        "signature": hex::encode(s.signature),
    })
}

pub(crate) fn run(cmd: StatementCommand) -> Result<Outcome> {
    match cmd {
        StatementCommand::Show(args) => show(args),
        StatementCommand::Verify(args) => verify(args),
    }
}

fn show(args: ShowArgs) -> Result<Outcome> {
    let statement = match read_statement(&args.file)? {
        Ok(s) => s,
        Err(e) => {
            if args.json {
                println!("{}", json!({"valid": false, "error": format!("{e:#}")}));
            }
            eprintln!("invalid: {e:#}");
            return Ok(Outcome::Invalid);
        }
    };
    let out = statement_json(&statement);
    if args.json {
        println!("{out}");
    } else {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(Outcome::Valid)
}

/// The public key to check with, from `--public-key` or a verified document.
fn public_key(args: &VerifyArgs) -> Result<Result<Vec<u8>, String>> {
    if let Some(key) = &args.public_key {
        return Ok(Ok(input::hex_arg("--public-key", key)?));
    }
    let Some(path) = &args.doc else {
        bail!("one of --public-key or --doc is required");
    };
    let root = input::trust_root(&args.trust.root)?;
    let raw = match input::read_document(path)? {
        Ok(raw) => raw,
        Err(e) => return Ok(Err(e)),
    };
    let document_ms = vram_attestation::AttestationDocument::parse(&raw)
        .map(|d| d.timestamp_ms)
        .unwrap_or(0);
    let (at_ms, _) = input::verification_time(&args.trust, document_ms)?;
    let checked = verify_document(&raw, &root, at_ms).and_then(|att| {
        Policy::new()
            .allow_debug(args.allow_debug)
            .check(&att, at_ms)?;
        att.public_key.ok_or(vram_attestation::Error::NoPublicKey)
    });
    let test_root_hint = args.trust.root == "aws";
    Ok(checked.map_err(|e| {
        let text = e.to_string();
        // A test-mode (simulated NSM) document chains to the operator's
        // test root, never to AWS: say so rather than leave a bare issuer error.
        if test_root_hint && text.contains("UnknownIssuer") {
            format!(
                "attestation document: {text}; it does not chain to the AWS Nitro root. A \
                 test-mode document (simulated NSM, e.g. the demo's) verifies only under its \
                 test root: pass --root test-root.pem (nothing it signs is backed by AWS)"
            )
        } else {
            format!("attestation document: {text}")
        }
    }))
}

fn verify(args: VerifyArgs) -> Result<Outcome> {
    let key = public_key(&args)?;
    let statement = read_statement(&args.statement)?;
    let verdict: Result<&SignedStatement, String> = match (&key, &statement) {
        (Err(e), _) => Err(e.clone()),
        (_, Err(e)) => Err(format!("{e:#}")),
        (Ok(key), Ok(s)) => s.verify(key).map(|()| s).map_err(|e| e.to_string()),
    };
    if args.json {
        let mut out = json!({
            "valid": verdict.is_ok(),
            "error": verdict.as_ref().err(),
            "public_key": key.as_ref().ok().map(hex::encode),
        });
        if let (Ok(s), Some(map)) = (&statement, out.as_object_mut()) {
            map.insert("statement".into(), statement_json(s));
        }
        println!("{out}");
    }
    match verdict {
        Ok(s) => {
            if !args.json {
                println!(
                    "valid: window {} statement {} signed by {}",
                    s.message.payload.window,
                    hex::encode(s.sha256()),
                    key.as_ref().map(hex::encode).unwrap_or_default()
                );
            }
            Ok(Outcome::Valid)
        }
        Err(reason) => {
            eprintln!("invalid: {reason}");
            Ok(Outcome::Invalid)
        }
    }
}
