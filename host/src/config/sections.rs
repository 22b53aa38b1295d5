//! The sections of `vram-validator.toml`, each a serde struct with its
//! defaults; unknown keys are refused.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::validator::LoopConfig;

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the chain is.
    pub chain: ChainConfig,
    /// How the enclave runs.
    pub enclave: EnclaveConfig,
    /// Blob access.
    pub walrus: WalrusConfig,
    /// Local state.
    pub storage: StorageConfig,
    /// The window loop.
    #[serde(default)]
    pub r#loop: LoopSettings,
    /// Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Logs.
    #[serde(default)]
    pub log: LogConfig,
}

/// Which chain the host talks to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// `sui` (gRPC) or `local` (the embedded ledger file: the local network,
    /// a stand-in).
    pub kind: ChainKind,
    /// The ledger file (`kind = "local"`).
    pub ledger: Option<PathBuf>,
    /// The validator's address, hex (`kind = "local"`; on Sui it is the
    /// wallet's address).
    pub validator: Option<String>,
    /// gRPC endpoints, tried in turn (`kind = "sui"`).
    #[serde(default)]
    pub rpc: Vec<String>,
    /// The deployment file: package and shared objects (`kind = "sui"`).
    pub deployment: Option<PathBuf>,
    /// The TestModeCap's object id, for test-mode registration.
    pub test_cap: Option<String>,
    /// Gas budget per transaction, MIST.
    #[serde(default = "default_gas_budget")]
    pub gas_budget: u64,
    /// The Sui CLI keystore holding the validator's key; without it the key
    /// comes from `VRAMHUB_PRIVATE_KEY` or `VRAMHUB_MNEMONIC`.
    pub keystore: Option<PathBuf>,
    /// Which keystore entry (address), when it holds several.
    pub sender: Option<String>,
    /// One RPC attempt's deadline, ms.
    #[serde(default = "default_rpc_timeout")]
    pub rpc_timeout_ms: u64,
    /// Rounds over all endpoints.
    #[serde(default = "default_rounds")]
    pub rpc_rounds: u32,
}

/// `chain.kind`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChainKind {
    /// Sui over gRPC (production and test mode).
    Sui,
    /// The local network's embedded ledger (a stand-in, `vram-localnet`).
    Local,
}

/// `enclave.kind`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EnclaveKind {
    /// Test mode: `vram-enclave` as a process with the simulated NSM.
    Process,
    /// A Nitro enclave started with nitro-cli.
    Nitro,
    /// Someone else runs it; the host connects to `enclave.endpoint`.
    External,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn default_gas_budget() -> u64 {
    100_000_000
}
fn default_rpc_timeout() -> u64 {
    10_000
}

/// How the enclave is started.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnclaveConfig {
    /// `process` (test mode: vram-enclave with the simulated NSM), `nitro`
    /// (nitro-cli), or `external` (someone else runs it).
    pub kind: EnclaveKind,
    /// `process`: the vram-enclave binary (default: next to vram-validator).
    pub binary: Option<PathBuf>,
    /// `process`: its Unix socket.
    pub socket: Option<PathBuf>,
    /// `process`: the simulated NSM's state (its test root).
    pub state_dir: Option<PathBuf>,
    /// `process`: the enclave's log.
    pub log: Option<PathBuf>,
    /// `nitro`: the image.
    pub eif: Option<PathBuf>,
    /// `nitro`: vCPUs.
    pub cpu_count: Option<u32>,
    /// `nitro`: memory, MiB.
    pub memory_mib: Option<u64>,
    /// `nitro`: the enclave's CID.
    pub cid: Option<u32>,
    /// `nitro`: the service's vsock port.
    pub port: Option<u32>,
    /// `external`: where it listens (`tcp:`, `unix:`, `vsock:`).
    pub endpoint: Option<String>,
    /// `aws` (production) or `test-root:PATH` (simulated NSM). Default: the
    /// state dir's test root for `process`, AWS otherwise.
    pub trust: Option<String>,
    /// Seconds one enclave call may take.
    #[serde(default = "default_call_timeout")]
    pub call_timeout_s: u64,
}

fn default_call_timeout() -> u64 {
    120
}

/// Walrus endpoints.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WalrusConfig {
    /// Aggregator base URLs, tried in order.
    pub aggregators: Vec<String>,
    /// Publisher base URLs.
    #[serde(default)]
    pub publishers: Vec<String>,
    /// Rounds over all aggregators.
    #[serde(default = "default_rounds")]
    pub rounds: u32,
    /// Backoff before the second round, ms (doubles each round, plus jitter).
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// One request's limit, ms.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// The largest body one request carries; larger content travels as
    /// shards under a manifest (public aggregators and publishers: 10 MiB).
    #[serde(default = "default_max_request")]
    pub max_request_bytes: u64,
}

fn default_max_request() -> u64 {
    crate::walrus::transport::DEFAULT_MAX_REQUEST_BYTES
}

fn default_rounds() -> u32 {
    4
}
fn default_backoff() -> u64 {
    500
}
fn default_request_timeout() -> u64 {
    30_000
}

/// Local state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// The journal database.
    pub journal: PathBuf,
    /// Cache of checkpoints by identity, filled from Walrus (created).
    pub checkpoints: PathBuf,
    /// Cache of datasets by root, filled from Walrus (created).
    #[serde(alias = "dataset")]
    pub datasets: PathBuf,
    /// Gradient blobs of the window being scored and the next, by SHA-256
    /// (created; emptied of older windows as they end). Default: `blobs`
    /// beside the checkpoints folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blobs: Option<PathBuf>,
}

impl StorageConfig {
    /// The blob folder, defaulted.
    pub fn blob_dir(&self) -> PathBuf {
        self.blobs
            .clone()
            .unwrap_or_else(|| self.checkpoints.with_file_name("blobs"))
    }
}

/// Window-loop settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LoopSettings {
    /// Blob fetches in flight.
    pub fetch_parallelism: usize,
    /// Stop scoring when less than this remains before the window ends, ms.
    pub submit_margin_ms: u64,
    /// The JSON `vram-validator capacity --save` wrote on this machine: `run`
    /// warns when the network's `max_scored` exceeds the miners that fit.
    pub capacity_file: Option<PathBuf>,
}

impl Default for LoopSettings {
    fn default() -> Self {
        let d = LoopConfig::default();
        Self {
            fetch_parallelism: d.fetch_parallelism,
            submit_margin_ms: d.submit_margin_ms,
            capacity_file: None,
        }
    }
}

/// The metrics endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `HOST:PORT` to serve `/metrics` on; none by default.
    pub listen: Option<String>,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `vram_host=debug`, ...).
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}
