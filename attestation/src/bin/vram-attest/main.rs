//! `vram-attest`: the auditor's tool. Verifies Nitro attestation documents
//! and signed score statements, inspects them, and makes simulated ones.
//!
//! Exit codes: 0 valid, 1 invalid (the reason on stderr and in the JSON),
//! 2 usage or I/O error.

mod bench;
mod doc_cmd;
mod eif_cmd;
mod input;
mod simulate;
mod statement_cmd;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Verify the appliance's chain of trust: AWS root -> attestation document
/// -> PCRs -> enclave key -> signed scores.
#[derive(Parser)]
#[command(name = "vram-attest", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify an attestation document against a trust root and a policy.
    Verify(doc_cmd::VerifyArgs),
    /// Print a document's fields without verifying anything.
    Inspect(doc_cmd::InspectArgs),
    /// Verify or show a signed window-scores statement.
    #[command(subcommand)]
    Statement(statement_cmd::StatementCommand),
    /// Write a test root and a simulated document, for trying the tools.
    Simulate(simulate::SimulateArgs),
    /// Measure parse and verification cost per document (JSON).
    Bench(bench::BenchArgs),
    /// PCR0/1/2 (and PCR8) of an enclave image file, without nitro-cli.
    MeasureEif(eif_cmd::MeasureArgs),
}

/// Options choosing the trust root and the verification time.
#[derive(Args, Clone)]
pub(crate) struct TrustArgs {
    /// Verify at this time: ms since the Unix epoch, or RFC 3339
    /// (`2025-04-15T10:00:00Z`).
    #[arg(long, value_name = "MS|RFC3339", conflicts_with = "now", value_parser = parse_at)]
    at: Option<u64>,
    /// Verify at the current system time.
    #[arg(long)]
    now: bool,
    /// Trust root: `aws` (the pinned AWS Nitro root) or a PEM file (test mode).
    #[arg(long, value_name = "aws|PEMFILE", default_value = "aws")]
    root: String,
}

/// How a command ended, for the exit code.
pub(crate) enum Outcome {
    /// Valid under the policy (exit 0).
    Valid,
    /// Checked and found invalid (exit 1).
    Invalid,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(args) => doc_cmd::verify(args),
        Command::Inspect(args) => doc_cmd::inspect(args),
        Command::Statement(cmd) => statement_cmd::run(cmd),
        Command::Simulate(args) => simulate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::MeasureEif(args) => eif_cmd::measure(args),
    };
    match result {
        Ok(Outcome::Valid) => ExitCode::SUCCESS,
        Ok(Outcome::Invalid) => ExitCode::from(1),
        Err(e) => {
            // Scripts that asked for JSON get the error as JSON too.
            if std::env::args().any(|a| a == "--json") {
                println!(
                    "{}",
                    serde_json::json!({"valid": false, "error": format!("{e:#}")})
                );
            }
            eprintln!("vram-attest: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn parse_at(text: &str) -> std::result::Result<u64, String> {
    vram_attestation::time::parse_time(text).ok_or_else(|| {
        format!("{text:?} is neither Unix milliseconds nor an RFC 3339 time (2025-04-15T10:00:00Z)")
    })
}
