//! `vram-validator`: the operator's and miner's command line.
//!
//! Exit codes: 0 success, 1 the input was checked and refused (a malformed
//! blob, say; the reason on stderr), 2 usage or I/O error.

mod bench;
mod demo;
mod files;
mod gradient;
mod openskill;
mod replay;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The attested validator appliance's host.
#[derive(Parser)]
#[command(name = "vram-validator", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encode, decode and inspect `vram-gradient/1` blobs.
    #[command(subcommand)]
    Gradient(gradient::GradientCommand),
    /// Measure the evaluator and the codec (JSON on stdout).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// One OpenSkill Plackett-Luce update (what-if tool).
    Openskill(openskill::OpenskillArgs),
    /// Run the whole appliance locally: miners, enclave, ledger, ratings.
    Demo(demo::DemoArgs),
    /// Recompute every statement of an audit bundle outside the enclave.
    Replay(replay::ReplayArgs),
}

/// How a command ended, for the exit code.
pub(crate) enum Outcome {
    /// Done (exit 0).
    Done,
    /// The input was checked and refused (exit 1).
    Refused,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs();
    let result = match cli.command {
        Command::Gradient(cmd) => gradient::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Openskill(args) => openskill::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Replay(args) => replay::run(args),
    };
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Refused) => ExitCode::from(1),
        Err(e) => {
            eprintln!("vram-validator: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs to stderr; `RUST_LOG` filters (default: warnings), `VRAMHUB_LOG_FORMAT=json`
/// switches to JSON lines.
fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("VRAMHUB_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
