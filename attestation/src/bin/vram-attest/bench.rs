//! `bench`: what one document costs to parse and to verify, on one core.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use serde_json::json;
use vram_attestation::{verify, AttestationDocument, Verifier};

use crate::{input, Outcome, TrustArgs};

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// The document to verify repeatedly.
    #[arg(value_name = "DOC")]
    doc: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// Verifications to time (after 10% as warm-up).
    #[arg(long, default_value_t = 500)]
    iterations: u32,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: BenchArgs) -> Result<Outcome> {
    let raw = input::read_document(&args.doc)?.map_err(anyhow::Error::msg)?;
    let root = input::trust_root(&args.trust.root)?;
    let doc_ms = AttestationDocument::parse(&raw)?.timestamp_ms;
    let (at_ms, _) = input::verification_time(&args.trust, doc_ms)?;
    // Fail loudly rather than time the error path.
    verify(&raw, &root, at_ms)?;
    let n = args.iterations.max(1);
    for _ in 0..n / 10 {
        verify(&raw, &root, at_ms)?;
    }
    let start = Instant::now();
    for _ in 0..n {
        AttestationDocument::parse(&raw)?;
    }
    let parse_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    let start = Instant::now();
    for _ in 0..n {
        verify(&raw, &root, at_ms)?;
    }
    let verify_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    // A long-lived verifier has seen this document's chain before.
    let verifier = Verifier::new(root);
    verifier.verify(&raw, at_ms)?;
    let start = Instant::now();
    for _ in 0..n {
        verifier.verify(&raw, at_ms)?;
    }
    let warm_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    let out = json!({
        "document_bytes": raw.len(),
        "iterations": n,
        "threads": 1,
        "backend": if cfg!(feature = "aws-lc") { "aws-lc" } else { "ring" },
        "parse_us": parse_us,
        "verify_us": verify_us,
        "verify_known_chain_us": warm_us,
        "verifications_per_s": 1e6 / verify_us,
    });
    if args.json {
        println!("{out}");
    } else {
        println!(
            "parse {parse_us:.1} us, verify {verify_us:.1} us cold, {warm_us:.1} us with a known chain ({} bytes, {n} iterations)",
            raw.len()
        );
    }
    Ok(Outcome::Valid)
}
