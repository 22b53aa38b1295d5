//! `verify` and `inspect`.

use anyhow::Result;
use clap::Args;
use serde_json::{json, Map, Value};
use vram_attestation::{
    summarize_certificates, verify as verify_document, AttestationDocument, Policy,
};

use crate::input::{self, TimeSource};
use crate::{Outcome, TrustArgs};

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// The document: a file of raw bytes, or hex or base64 text ("-" = stdin).
    #[arg(value_name = "DOC")]
    doc: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// Require PCR IDX (0, 1, 2, 3, 4 or 8) to equal HEX; repeatable.
    #[arg(long = "pcr", value_name = "IDX=HEX")]
    pcrs: Vec<String>,
    /// Require PCR0/1/2 (and PCR8) from a measurements file
    /// (`eif/measurements.json`): the last release, or `--release`.
    #[arg(long, value_name = "FILE")]
    measurements: Option<std::path::PathBuf>,
    /// The release to take from `--measurements`.
    #[arg(long, value_name = "NAME", requires = "measurements")]
    release: Option<String>,
    /// Accept debug-mode documents (all-zero PCR0).
    #[arg(long)]
    allow_debug: bool,
    /// Refuse documents older than N ms at the verification time.
    #[arg(long, value_name = "N")]
    max_age_ms: Option<u64>,
    /// Require this nonce.
    #[arg(long, value_name = "HEX")]
    nonce: Option<String>,
    /// Require this public key.
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct InspectArgs {
    /// The document: a file of raw bytes, or hex or base64 text ("-" = stdin).
    #[arg(value_name = "DOC")]
    doc: String,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn policy(args: &VerifyArgs) -> Result<Policy> {
    let mut policy = Policy::new().allow_debug(args.allow_debug);
    if let Some(path) = &args.measurements {
        for (index, value) in crate::eif_cmd::pinned_pcrs(path, args.release.as_deref())? {
            policy = policy.expect_pcr(index, value)?;
        }
    }
    for spec in &args.pcrs {
        let (index, value) = input::pcr_arg(spec)?;
        policy = policy.expect_pcr(index, value)?;
    }
    if let Some(ms) = args.max_age_ms {
        policy = policy.max_age_ms(ms);
    }
    if let Some(nonce) = &args.nonce {
        policy = policy.expect_nonce(input::hex_arg("--nonce", nonce)?);
    }
    if let Some(key) = &args.public_key {
        policy = policy.expect_public_key(input::hex_arg("--public-key", key)?);
    }
    Ok(policy)
}

/// The document's fields as JSON (all null when it does not parse).
pub(crate) fn fields_json(doc: Option<&AttestationDocument<'_>>) -> Map<String, Value> {
    let hex_opt = |v: Option<&[u8]>| v.map_or(Value::Null, |b| Value::String(hex::encode(b)));
    let mut out = Map::new();
    let Some(doc) = doc else {
        for key in [
            "module_id",
            "timestamp_ms",
            "digest",
            "pcrs",
            "public_key",
            "user_data",
            "nonce",
            "certificates",
        ] {
            out.insert(key.into(), Value::Null);
        }
        return out;
    };
    let pcrs: Map<String, Value> = doc
        .pcrs
        .iter()
        .map(|(i, v)| (i.to_string(), Value::String(hex::encode(v))))
        .collect();
    let certificates = summarize_certificates(doc).map_or(Value::Null, |certs| {
        certs
            .into_iter()
            .map(|c| {
                json!({"subject": c.subject, "not_before_ms": c.not_before_ms,
                       "not_after_ms": c.not_after_ms})
            })
            .collect()
    });
    out.insert("module_id".into(), json!(doc.module_id));
    out.insert("timestamp_ms".into(), json!(doc.timestamp_ms));
    out.insert("digest".into(), json!(doc.digest));
    out.insert("pcrs".into(), Value::Object(pcrs));
    out.insert("public_key".into(), hex_opt(doc.public_key));
    out.insert("user_data".into(), hex_opt(doc.user_data));
    out.insert("nonce".into(), hex_opt(doc.nonce));
    out.insert("certificates".into(), certificates);
    out
}

fn print_fields(fields: &Map<String, Value>) {
    for (key, value) in fields {
        match value {
            Value::Object(pcrs) => {
                for (i, v) in pcrs {
                    println!("pcr{i:<9} {}", v.as_str().unwrap_or_default());
                }
            }
            Value::Array(certs) => {
                for (i, c) in certs.iter().enumerate() {
                    println!(
                        "cert[{i}]     {} ({} .. {})",
                        c["subject"].as_str().unwrap_or_default(),
                        c["not_before_ms"],
                        c["not_after_ms"]
                    );
                }
            }
            Value::String(s) => println!("{key:<12} {s}"),
            other => println!("{key:<12} {other}"),
        }
    }
}

pub(crate) fn verify(args: VerifyArgs) -> Result<Outcome> {
    let policy = policy(&args)?;
    let root = input::trust_root(&args.trust.root)?;
    let raw = input::read_document(&args.doc)?;
    let parsed = raw.as_ref().ok().map(|r| AttestationDocument::parse(r));
    let doc = parsed.as_ref().and_then(|p| p.as_ref().ok());
    let document_ms = doc.map_or(0, |d| d.timestamp_ms);
    let (at_ms, source) = input::verification_time(&args.trust, document_ms)?;

    let verdict: Result<(), String> = match (&raw, &parsed) {
        (Err(e), _) => Err(e.clone()),
        (Ok(_), Some(Err(e))) => Err(e.to_string()),
        (Ok(raw), _) => verify_document(raw, &root, at_ms)
            .and_then(|att| policy.check(&att, at_ms))
            .map_err(|e| e.to_string()),
    };
    let mut fields = fields_json(doc);
    if args.json {
        let mut out = Map::new();
        out.insert("valid".into(), json!(verdict.is_ok()));
        out.insert("error".into(), json!(verdict.as_ref().err()));
        out.append(&mut fields);
        out.insert("verified_at_ms".into(), json!(at_ms));
        out.insert("time_source".into(), json!(source.as_str()));
        out.insert("root".into(), json!(root.label()));
        println!("{}", Value::Object(out));
    } else {
        print_fields(&fields);
    }
    if matches!(source, TimeSource::Document) {
        eprintln!("note: verified at the document's own timestamp ({at_ms}); pass --now or --at MS to check freshness");
    }
    match verdict {
        Ok(()) => {
            if !args.json {
                println!("valid under root {} at {at_ms}", root.label());
            }
            Ok(Outcome::Valid)
        }
        Err(reason) => {
            eprintln!("invalid: {reason}");
            Ok(Outcome::Invalid)
        }
    }
}

pub(crate) fn inspect(args: InspectArgs) -> Result<Outcome> {
    let raw = input::read_document(&args.doc)?;
    let parsed = raw.as_ref().ok().map(|r| AttestationDocument::parse(r));
    let error = match (&raw, &parsed) {
        (Err(e), _) => Some(e.clone()),
        (_, Some(Err(e))) => Some(e.to_string()),
        _ => None,
    };
    let mut fields = fields_json(parsed.as_ref().and_then(|p| p.as_ref().ok()));
    if args.json {
        let mut out = Map::new();
        out.insert("parsed".into(), json!(error.is_none()));
        out.insert("error".into(), json!(error));
        out.insert("verified".into(), json!(false));
        out.append(&mut fields);
        println!("{}", Value::Object(out));
    } else {
        print_fields(&fields);
        println!("(not verified)");
    }
    match error {
        None => Ok(Outcome::Valid),
        Some(reason) => {
            eprintln!("unparseable: {reason}");
            Ok(Outcome::Invalid)
        }
    }
}
