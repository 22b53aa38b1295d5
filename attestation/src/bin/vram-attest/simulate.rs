//! `simulate`: a test root and a simulated document to try the tools on.

use std::path::PathBuf;

use anyhow::{anyhow, Context as _, Result};
use clap::Args;
use serde_json::json;
use vram_attestation::{AttestRequest, Nsm as _, SimulatedNsm};

use crate::{input, Outcome};

#[derive(Args)]
pub(crate) struct SimulateArgs {
    /// Directory for `test-root.pem`, `document.cose` and the simulator's
    /// keys (reused by later runs, so the test root stays the same).
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
    /// Public key to bind into the document.
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
    /// Nonce to bind into the document.
    #[arg(long, value_name = "HEX")]
    nonce: Option<String>,
    /// User data to bind into the document.
    #[arg(long, value_name = "HEX")]
    user_data: Option<String>,
    /// Set PCR IDX (0..15) to a 48-byte HEX value; repeatable. By default
    /// PCR0-2 measure this executable and the others are zero.
    #[arg(long = "pcr", value_name = "IDX=HEX")]
    pcrs: Vec<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: SimulateArgs) -> Result<Outcome> {
    let mut nsm = SimulatedNsm::with_state_dir(&args.out_dir)?;
    for spec in &args.pcrs {
        let (index, value) = input::pcr_arg(spec)?;
        let value: [u8; 48] = value.try_into().map_err(|v: Vec<u8>| {
            anyhow!("--pcr {index} is {} bytes, the simulator uses 48", v.len())
        })?;
        nsm.set_pcr(index, value)?;
    }
    let hex = |name, v: &Option<String>| v.as_deref().map(|v| input::hex_arg(name, v)).transpose();
    let public_key = hex("--public-key", &args.public_key)?;
    let nonce = hex("--nonce", &args.nonce)?;
    let user_data = hex("--user-data", &args.user_data)?;
    let document = nsm.attest(&AttestRequest {
        public_key: public_key.as_deref(),
        user_data: user_data.as_deref(),
        nonce: nonce.as_deref(),
    })?;
    let doc_path = args.out_dir.join("document.cose");
    std::fs::write(&doc_path, &document)
        .with_context(|| format!("cannot write {}", doc_path.display()))?;
    let root_path = args.out_dir.join("test-root.pem");
    let root_fp = nsm.trust_root()?.fingerprint();
    if args.json {
        println!(
            "{}",
            json!({
                "document": doc_path.display().to_string(),
                "test_root": root_path.display().to_string(),
                "test_root_sha256": hex::encode(root_fp),
                "document_bytes": document.len(),
            })
        );
    } else {
        println!("document:  {}", doc_path.display());
        println!(
            "test root: {} (sha256 {})",
            root_path.display(),
            hex::encode(root_fp)
        );
        println!(
            "try: vram-attest verify {} --root {}",
            doc_path.display(),
            root_path.display()
        );
    }
    Ok(Outcome::Valid)
}
