//! The operator's configuration: `vram-validator.toml`, then environment
//! overrides (`VRAMHUB_<SECTION>_<KEY>`, e.g. `VRAMHUB_WALRUS_AGGREGATORS`;
//! lists are comma-separated). Unknown keys are refused, so a typo is an
//! error rather than a silently ignored setting.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::supervisor::Launcher;
use crate::validator::{LoopConfig, Trust};
use crate::walrus::RetryPolicy;

mod sections;

pub use sections::{
    ChainConfig, ChainKind, Config, EnclaveConfig, EnclaveKind, LogConfig, LogFormat, LoopSettings,
    MetricsConfig, StorageConfig, WalrusConfig,
};

fn cfg_err(reason: impl Into<String>) -> Error {
    Error::Config {
        reason: reason.into(),
    }
}

impl Config {
    /// Reads `path`, applies `VRAMHUB_*` overrides from `env`, validates.
    pub fn load(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| cfg_err(format!("{}: {e}", path.display())))?;
        Self::parse(&text, env)
    }

    /// Parses TOML text, applies overrides, validates.
    pub fn parse(text: &str, env: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let mut value: toml::Table =
            toml::from_str(text).map_err(|e| cfg_err(format!("TOML: {e}")))?;
        for (key, val) in env {
            let Some(rest) = key.strip_prefix("VRAMHUB_") else {
                continue;
            };
            let lower = rest.to_ascii_lowercase();
            let Some((section, field)) = SECTIONS.iter().find_map(|s| {
                lower
                    .strip_prefix(&format!("{s}_"))
                    .map(|f| (*s, f.to_string()))
            }) else {
                continue;
            };
            let table = value
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(table) = table else {
                return Err(cfg_err(format!("[{section}] is not a table")));
            };
            table.insert(field, env_value(&val, LIST_KEYS.contains(&lower.as_str())));
        }
        let config: Config = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| cfg_err(format!("config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        match self.chain.kind {
            ChainKind::Local => {
                if self.chain.ledger.is_none() || self.chain.validator.is_none() {
                    return Err(cfg_err(
                        "chain.kind = \"local\" needs chain.ledger and chain.validator",
                    ));
                }
                self.validator_address()?;
            }
            ChainKind::Sui => {
                if self.chain.rpc.is_empty() || self.chain.deployment.is_none() {
                    return Err(cfg_err(
                        "chain.kind = \"sui\" needs chain.rpc and chain.deployment",
                    ));
                }
            }
        }
        self.launcher()?;
        self.trust()?;
        if self.walrus.aggregators.is_empty() {
            return Err(cfg_err("walrus.aggregators is empty"));
        }
        if self.walrus.max_request_bytes < 4096 {
            return Err(cfg_err("walrus.max_request_bytes must be at least 4096"));
        }
        if self.chain.gas_budget == 0 {
            return Err(cfg_err(
                "chain.gas_budget must be positive (MIST per transaction)",
            ));
        }
        Ok(())
    }

    /// The validator's address.
    pub fn validator_address(&self) -> Result<[u8; 32]> {
        let hex_str = self.chain.validator.as_deref().unwrap_or_default();
        let bytes = hex::decode(hex_str.trim_start_matches("0x"))
            .map_err(|e| cfg_err(format!("chain.validator: {e}")))?;
        bytes
            .try_into()
            .map_err(|_| cfg_err("chain.validator must be 32 bytes of hex"))
    }

    /// The Sui connection settings (`kind = "sui"`).
    pub fn sui_settings(&self) -> Result<crate::chain::sui::SuiSettings> {
        Ok(crate::chain::sui::SuiSettings {
            endpoints: self.chain.rpc.clone(),
            timeout: Duration::from_millis(self.chain.rpc_timeout_ms),
            rounds: self.chain.rpc_rounds,
            backoff: Duration::from_millis(self.walrus.backoff_ms),
            gas_budget: self.chain.gas_budget,
            test_cap: self
                .chain
                .test_cap
                .as_deref()
                .map(crate::chain::sui_tx::parse_address)
                .transpose()?,
        })
    }

    /// The deployment file (`kind = "sui"`).
    pub fn deployment(&self) -> Result<crate::chain::sui_tx::Deployment> {
        let path = self
            .chain
            .deployment
            .as_ref()
            .ok_or_else(|| cfg_err("chain.deployment is not set"))?;
        let text = std::fs::read(path).map_err(|e| cfg_err(format!("{}: {e}", path.display())))?;
        serde_json::from_slice(&text).map_err(|e| cfg_err(format!("{}: {e}", path.display())))
    }

    /// The validator's wallet (`kind = "sui"`).
    pub fn wallet(&self, env: impl Fn(&str) -> Option<String>) -> Result<crate::wallet::Wallet> {
        if let Some(path) = &self.chain.keystore {
            let sender = self
                .chain
                .sender
                .as_deref()
                .map(crate::chain::sui_tx::parse_address)
                .transpose()?;
            return crate::wallet::Wallet::from_keystore(path, sender.as_ref());
        }
        crate::wallet::Wallet::from_env(env)?.ok_or_else(|| {
            cfg_err("no key: set chain.keystore, VRAMHUB_PRIVATE_KEY or VRAMHUB_MNEMONIC")
        })
    }

    /// How to start the enclave.
    pub fn launcher(&self) -> Result<Launcher> {
        let e = &self.enclave;
        let need = |v: &Option<PathBuf>, name: &str| {
            v.clone()
                .ok_or_else(|| cfg_err(format!("enclave.{name} is required for kind {:?}", e.kind)))
        };
        Ok(match e.kind {
            EnclaveKind::Process => Launcher::Process {
                exe: match &e.binary {
                    Some(p) => p.clone(),
                    None => crate::supervisor::sibling_binary("vram-enclave")?,
                },
                socket: need(&e.socket, "socket")?,
                state_dir: need(&e.state_dir, "state_dir")?,
                log: e
                    .log
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("vram-enclave.log")),
            },
            EnclaveKind::Nitro => Launcher::Nitro {
                eif: need(&e.eif, "eif")?,
                cpu_count: e.cpu_count.unwrap_or(2),
                memory_mib: e.memory_mib.unwrap_or(4096),
                cid: e.cid.unwrap_or(16),
                port: e.port.unwrap_or(5005),
            },
            EnclaveKind::External => Launcher::External(
                e.endpoint
                    .as_deref()
                    .ok_or_else(|| cfg_err("enclave.endpoint is required for kind \"external\""))?
                    .parse()
                    .map_err(|err: Error| cfg_err(format!("enclave.endpoint: {err}")))?,
            ),
        })
    }

    /// The attestation trust root.
    pub fn trust(&self) -> Result<Trust> {
        match self.enclave.trust.as_deref() {
            Some("aws") => Ok(Trust::AwsNitro),
            Some(s) if s.starts_with("test-root:") => {
                Ok(Trust::TestRoot(PathBuf::from(&s["test-root:".len()..])))
            }
            Some(other) => Err(cfg_err(format!(
                "enclave.trust {other:?}: aws or test-root:PATH"
            ))),
            None if self.enclave.kind == EnclaveKind::Process => Ok(Trust::TestRoot(
                self.enclave
                    .state_dir
                    .clone()
                    .unwrap_or_default()
                    .join("test-root.pem"),
            )),
            None => Ok(Trust::AwsNitro),
        }
    }

    /// The Walrus retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            rounds: self.walrus.rounds,
            backoff: Duration::from_millis(self.walrus.backoff_ms),
            request_timeout: Duration::from_millis(self.walrus.request_timeout_ms),
        }
    }

    /// The Walrus client the configuration describes.
    pub fn walrus_client(&self) -> Result<crate::walrus::WalrusClient> {
        Ok(crate::walrus::WalrusClient::new(
            &self.walrus.aggregators,
            &self.walrus.publishers,
            self.retry_policy(),
        )?
        .with_max_request_bytes(self.walrus.max_request_bytes))
    }

    /// The input caches (created if missing) over the Walrus client.
    pub fn input_store(&self) -> Result<crate::inputs::InputStore> {
        crate::inputs::InputStore::new(
            &self.storage.checkpoints,
            &self.storage.datasets,
            self.walrus_client()?,
        )
    }

    /// The window loop's settings.
    pub fn loop_config(&self) -> Result<LoopConfig> {
        Ok(LoopConfig {
            trust: self.trust()?,
            fetch_parallelism: self.r#loop.fetch_parallelism,
            submit_margin_ms: self.r#loop.submit_margin_ms,
            blob_dir: Some(self.storage.blob_dir()),
        })
    }
}

const SECTIONS: [&str; 7] = [
    "chain", "enclave", "walrus", "storage", "loop", "metrics", "log",
];
const LIST_KEYS: [&str; 3] = ["walrus_aggregators", "walrus_publishers", "chain_rpc"];

/// An environment string as a TOML value: lists split on commas, integers
/// and booleans recognised, everything else a string.
fn env_value(val: &str, list: bool) -> toml::Value {
    if list {
        return toml::Value::Array(
            val.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        );
    }
    if let Ok(i) = val.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match val {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(val.to_string()),
    }
}

/// A commented example, as `vram-validator config example` prints it.
pub const EXAMPLE: &str = r#"# vram-validator.toml. Every key can be overridden from the environment
# as VRAMHUB_<SECTION>_<KEY> (lists comma-separated), e.g.
# VRAMHUB_WALRUS_AGGREGATORS=https://a.example,https://b.example

[chain]
kind = "sui"                          # sui | local (the embedded ledger of the demo)
rpc = ["https://fullnode.testnet.sui.io:443"]
deployment = "/etc/vram/deployment.json"   # package + shared objects
# test_cap = "0x..."                  # TestModeCap id (test mode only)
gas_budget = 100000000
# keystore = "/root/.sui/sui_config/sui.keystore"   # else VRAMHUB_PRIVATE_KEY / VRAMHUB_MNEMONIC
# kind = "local": ledger = "vram-demo/ledger.sqlite", validator = "0x..."

[enclave]
kind = "process"                      # process (simulated NSM) | nitro | external
socket = "/run/vram/enclave.sock"
state_dir = "/var/lib/vram/enclave"   # the simulated NSM's test root lives here
# kind = "nitro": eif, cpu_count = 2, memory_mib = 4096, cid = 16, port = 5005
# trust = "aws" | "test-root:/path/to/test-root.pem"

[walrus]
aggregators = ["http://127.0.0.1:31415"]
publishers = ["http://127.0.0.1:31416"]
rounds = 4
backoff_ms = 500
request_timeout_ms = 30000
max_request_bytes = 10485760          # larger blobs travel as shards under a manifest

[storage]                             # created if missing; filled from Walrus by the ids on chain
journal = "/var/lib/vram/journal.sqlite"
checkpoints = "/var/lib/vram/checkpoints"
datasets = "/var/lib/vram/datasets"
# blobs = "/var/lib/vram/blobs"         # gradient blobs of this window and the next (default: beside checkpoints)

[loop]
fetch_parallelism = 8
submit_margin_ms = 5000
# capacity_file = "/var/lib/vram/capacity.json"   # vram-validator capacity --save

[metrics]
listen = "127.0.0.1:9184"

[log]
format = "text"                       # text | json
level = "info"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[chain]
kind = "local"
ledger = "l.sqlite"
validator = "0x1111111111111111111111111111111111111111111111111111111111111111"
[enclave]
kind = "external"
endpoint = "tcp:127.0.0.1:5005"
[walrus]
aggregators = ["http://a"]
[storage]
journal = "j.sqlite"
checkpoints = "c"
datasets = "d"
"#;

    #[test]
    fn environment_overrides_the_file() {
        let env = vec![
            (
                "VRAMHUB_WALRUS_AGGREGATORS".to_string(),
                "http://x, http://y".to_string(),
            ),
            ("VRAMHUB_WALRUS_ROUNDS".to_string(), "7".to_string()),
            ("VRAMHUB_LOG_FORMAT".to_string(), "json".to_string()),
            (
                "VRAMHUB_METRICS_LISTEN".to_string(),
                "127.0.0.1:0".to_string(),
            ),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        let c = Config::parse(BASE, env).unwrap();
        assert_eq!(c.walrus.aggregators, vec!["http://x", "http://y"]);
        assert_eq!(c.walrus.rounds, 7);
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.metrics.listen.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(c.validator_address().unwrap(), [0x11; 32]);
        assert!(matches!(c.trust().unwrap(), Trust::AwsNitro));
        assert!(matches!(c.launcher().unwrap(), Launcher::External(_)));
    }

    #[test]
    fn mistakes_are_errors() {
        let typo = BASE.replace("[walrus]", "[walrus]\naggregaters = [\"x\"]");
        assert!(Config::parse(&typo, Vec::new()).is_err());
        let bad_kind = BASE.replace("kind = \"external\"", "kind = \"vm\"");
        assert!(Config::parse(&bad_kind, Vec::new()).is_err());
        let short = BASE.replace(
            "0x1111111111111111111111111111111111111111111111111111111111111111",
            "0x11",
        );
        assert!(Config::parse(&short, Vec::new()).is_err());
        let sui = BASE.replace("kind = \"local\"", "kind = \"sui\"");
        assert!(
            Config::parse(&sui, Vec::new()).is_err(),
            "sui needs rpc and deployment"
        );
        let sui = sui.replace(
            "[enclave]",
            "rpc = [\"http://127.0.0.1:9000\"]\ndeployment = \"d.json\"\n[enclave]",
        );
        let c = Config::parse(&sui, Vec::new()).unwrap();
        assert_eq!(c.chain.gas_budget, 100_000_000);
        assert!(c.wallet(|_| None).is_err(), "no key anywhere");
        assert!(Config::parse("not toml [", Vec::new()).is_err());
        let env = vec![("VRAMHUB_LOG_FORMAT".to_string(), "xml".to_string())];
        assert!(Config::parse(BASE, env).is_err());
    }
}
