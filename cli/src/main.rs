//! `vram-validator`: the operator's and miner's command line.
//!
//! Exit codes: 0 success, 1 the input was checked and refused (a malformed
//! blob, say; the reason on stderr), 2 usage or I/O error.

mod audit;
mod bench;
mod capacity;
#[cfg(feature = "local")]
mod demo;
mod files;
mod gradient;
mod openskill;
mod operator;
mod replay;
mod sui_tx;

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
    /// How many miners this machine scores in the network's scoring span.
    Capacity(capacity::CapacityArgs),
    /// One OpenSkill Plackett-Luce update (what-if tool).
    Openskill(openskill::OpenskillArgs),
    /// Run the whole appliance locally: miners, enclave, ledger, ratings.
    #[cfg(feature = "local")]
    Demo(demo::DemoArgs),
    /// Recompute every statement of an audit bundle outside the enclave.
    Replay(replay::ReplayArgs),
    /// Build the audit bundle of a validator's window from chain and Walrus (no key).
    Audit(audit::AuditArgs),
    /// Run the window loop (supervises the enclave, scores, submits).
    Run(operator::RunArgs),
    /// Start the enclave, verify its attestation and register its key.
    RegisterEnclave(operator::RegisterArgs),
    /// The validator's declared budget K_v: miners each statement scores.
    #[command(subcommand)]
    Budget(operator::BudgetCommand),
    /// Chain time, window, phase, enclave key, recent windows.
    Status(operator::ConfigArg),
    /// This validator's accepted statement for one window, with scores.
    Scores(operator::ScoresArgs),
    /// OpenSkill standings over this validator's accepted statements.
    Ratings(operator::ConfigArg),
    /// The journal's recent windows.
    Journal(operator::JournalArgs),
    /// Example and check of `vram-validator.toml`.
    #[command(subcommand)]
    Config(operator::ConfigCommand),
    /// vramhub transactions for Sui, built offline (--serialize-unsigned-transaction).
    #[command(subcommand)]
    SuiTx(sui_tx::SuiTxCommand),
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
        Command::Capacity(args) => capacity::run(args),
        Command::Openskill(args) => openskill::run(args),
        #[cfg(feature = "local")]
        Command::Demo(args) => demo::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Run(args) => operator::run(args),
        Command::RegisterEnclave(args) => operator::register_enclave(args),
        Command::Budget(cmd) => operator::budget(cmd),
        Command::Status(args) => operator::status(args),
        Command::Scores(args) => operator::scores(args),
        Command::Ratings(args) => operator::ratings(args),
        Command::Journal(args) => operator::journal(args),
        Command::Config(cmd) => operator::config(cmd),
        Command::SuiTx(cmd) => sui_tx::run(cmd),
    };
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Refused) => ExitCode::from(1),
        Err(e) => {
            // Scripts that asked for JSON get the error as JSON too.
            if std::env::args().any(|a| a == "--json") {
                println!("{}", serde_json::json!({"error": format!("{e:#}")}));
            }
            eprintln!("vram-validator: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs to stderr. The filter is `RUST_LOG` if set, else the configuration's
/// `[log] level` (with its `VRAMHUB_LOG_LEVEL` override), else warnings; the
/// format is `[log] format` (`VRAMHUB_LOG_FORMAT`): `json` lines, or text,
/// coloured only on a terminal.
fn init_logs() {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let log = config_log_section();
    let level = log
        .as_ref()
        .map_or_else(|| "warn".to_string(), |l| l.level.clone());
    let json = log
        .as_ref()
        .map(|l| l.format == vram_host::config::LogFormat::Json)
        .unwrap_or_else(|| std::env::var("VRAMHUB_LOG_FORMAT").as_deref() == Ok("json"));
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&level))
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(!json && std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The `[log]` section of the configuration the command names (`--config`,
/// `VRAMHUB_CONFIG`, or `vram-validator.toml` if present), if it loads.
fn config_log_section() -> Option<vram_host::config::LogConfig> {
    let args: Vec<String> = std::env::args().collect();
    let named = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--config=").map(str::to_string).or_else(|| {
            (a == "--config")
                .then(|| args.get(i + 1).cloned())
                .flatten()
        })
    });
    let path = named
        .or_else(|| std::env::var("VRAMHUB_CONFIG").ok())
        .unwrap_or_else(|| "vram-validator.toml".into());
    let path = std::path::Path::new(&path);
    if !path.is_file() {
        return None;
    }
    vram_host::config::Config::load(path, std::env::vars())
        .ok()
        .map(|c| c.log)
}
