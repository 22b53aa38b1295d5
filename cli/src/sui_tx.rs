//! `sui-tx`: the vramhub transactions for Sui, built offline. With
//! `--serialize-unsigned-transaction` (the Sui CLI convention) each prints
//! the base64 `TransactionData` and its digest and touches no network; sign
//! and send it with any Sui wallet (`sui keytool sign`, then `sui client
//! execute-signed-tx`).

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use vram_attestation::statement::{SignedStatement, StatementFile};
use vram_host::chain::sui_tx::{self, parse_address, Deployment, Gas, OwnedObject};
use vram_host::chain::types::SubmitArgs;
use vram_host::wallet::Wallet;

use crate::Outcome;

#[derive(Args)]
pub(crate) struct TxCommon {
    /// The deployment: package and shared objects (JSON).
    #[arg(long)]
    deployment: PathBuf,
    /// The sender (and gas owner).
    #[arg(long)]
    sender: String,
    /// A gas coin, `ID:VERSION:DIGEST` (repeat for several).
    #[arg(long = "gas", required = true)]
    gas: Vec<String>,
    /// Gas price (at least the reference gas price).
    #[arg(long)]
    gas_price: u64,
    /// Gas budget, MIST.
    #[arg(long)]
    gas_budget: u64,
    /// Print the unsigned transaction (base64) and touch no network.
    #[arg(long)]
    serialize_unsigned_transaction: bool,
    /// Also sign it with the sender's key: from `--keystore`, else from
    /// `VRAMHUB_PRIVATE_KEY` (suiprivkey) or `VRAMHUB_MNEMONIC`.
    #[arg(long)]
    sign: bool,
    /// The Sui CLI keystore (`~/.sui/sui_config/sui.keystore`).
    #[arg(long)]
    keystore: Option<PathBuf>,
    /// Print JSON (`{"tx_bytes", "digest"[, "signature"]}`).
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub(crate) enum SuiTxCommand {
    /// load_nitro_attestation(doc, clock) then enclave_registry::register_enclave.
    RegisterEnclave {
        #[command(flatten)]
        common: TxCommon,
        /// The enclave's attestation document (CBOR COSE_Sign1).
        #[arg(long)]
        document: PathBuf,
        /// Where that document is stored on Walrus (recorded for auditors).
        #[arg(long)]
        document_blob: Option<vram_host::walrus::BlobId>,
    },
    /// enclave_registry::register_test_enclave (simulated NSM, test mode).
    RegisterTestEnclave {
        #[command(flatten)]
        common: TxCommon,
        /// The TestModeCap, `ID:VERSION:DIGEST`.
        #[arg(long)]
        test_cap: String,
        /// The enclave's Ed25519 key, hex.
        #[arg(long)]
        public_key: String,
        /// The enclave's (simulated) attestation document, whose hash the
        /// registration records.
        #[arg(long)]
        document: PathBuf,
        /// Where that document is stored on Walrus.
        #[arg(long)]
        document_blob: Option<vram_host::walrus::BlobId>,
    },
    /// score_ledger::submit_scores for a signed statement.
    SubmitScores {
        #[command(flatten)]
        common: TxCommon,
        /// A `vram-statement/1` file.
        #[arg(long)]
        statement: PathBuf,
    },
}

fn gas(c: &TxCommon) -> Result<Gas> {
    Ok(Gas {
        sender: parse_address(&c.sender)?,
        coins: c
            .gas
            .iter()
            .map(|g| g.parse::<OwnedObject>())
            .collect::<Result<_, _>>()?,
        price: c.gas_price,
        budget: c.gas_budget,
    })
}

fn deployment(c: &TxCommon) -> Result<Deployment> {
    let text = std::fs::read(&c.deployment)
        .with_context(|| format!("cannot read {}", c.deployment.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("deployment {}", c.deployment.display()))
}

pub(crate) fn run(cmd: SuiTxCommand) -> Result<Outcome> {
    let (common, tx) = match &cmd {
        SuiTxCommand::RegisterEnclave {
            common,
            document,
            document_blob,
        } => {
            let doc = std::fs::read(document)
                .with_context(|| format!("cannot read {}", document.display()))?;
            // Refuse what the chain would refuse anyway: it must parse.
            vram_attestation::AttestationDocument::parse(&doc).with_context(|| {
                format!("{} is not an attestation document", document.display())
            })?;
            (
                common,
                sui_tx::register_enclave(
                    &deployment(common)?,
                    &gas(common)?,
                    &doc,
                    *document_blob,
                )?,
            )
        }
        SuiTxCommand::RegisterTestEnclave {
            common,
            test_cap,
            public_key,
            document,
            document_blob,
        } => {
            let doc = std::fs::read(document)
                .with_context(|| format!("cannot read {}", document.display()))?;
            let document = vram_host::chain::types::DocumentRef {
                sha256: vram_attestation::sha256(&doc),
                blob: *document_blob,
            };
            let key = hex::decode(public_key.trim_start_matches("0x")).context("--public-key")?;
            if key.len() != 32 {
                bail!("--public-key must be 32 bytes (Ed25519)");
            }
            let cap: OwnedObject = test_cap.parse()?;
            (
                common,
                sui_tx::register_test_enclave(
                    &deployment(common)?,
                    &gas(common)?,
                    cap,
                    &key,
                    &document,
                )?,
            )
        }
        SuiTxCommand::SubmitScores { common, statement } => {
            let text = std::fs::read(statement)
                .with_context(|| format!("cannot read {}", statement.display()))?;
            let file: StatementFile = serde_json::from_slice(&text).context("statement file")?;
            let signed = SignedStatement::from_file(&file)?;
            let args = SubmitArgs::new(
                signed.message.timestamp_ms,
                &signed.message.payload,
                &signed.signature,
            )?;
            (
                common,
                sui_tx::submit_scores(&deployment(common)?, &gas(common)?, &args)?,
            )
        }
    };
    if !common.serialize_unsigned_transaction {
        bail!(
            "this build builds vramhub transactions offline only: pass --serialize-unsigned-transaction, then sign and send the bytes with a Sui wallet"
        );
    }
    let bytes = sui_tx::to_base64(&tx)?;
    let digest = sui_tx::digest(&tx);
    let signature = if common.sign {
        let sender = parse_address(&common.sender)?;
        let wallet = match &common.keystore {
            Some(path) => Wallet::from_keystore(path, Some(&sender))?,
            None => Wallet::from_env(|name| std::env::var(name).ok())?
                .context("--sign needs --keystore, VRAMHUB_PRIVATE_KEY or VRAMHUB_MNEMONIC")?,
        };
        if wallet.address() != sender {
            bail!(
                "the key is for 0x{}, not the sender {}",
                hex::encode(wallet.address()),
                common.sender
            );
        }
        Some(wallet.sign_transaction(&tx)?)
    } else {
        None
    };
    if common.json {
        let mut out = json!({"tx_bytes": bytes, "digest": digest});
        if let Some(sig) = &signature {
            out["signature"] = json!(sig);
        }
        println!("{out}");
    } else {
        println!("{bytes}");
        if let Some(sig) = &signature {
            println!("{sig}");
        }
        eprintln!("digest {digest}");
    }
    Ok(Outcome::Done)
}
