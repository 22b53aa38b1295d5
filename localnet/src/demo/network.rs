//! The demo network's pieces: the dataset and first checkpoint, the ledger
//! with its validator, miners and first anchor, the blob store, and the
//! validator host that drives a `vram-enclave` process.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vram_attestation::sha256;
use vram_enclave::model::{init_weights, save_weights, ModelConfig};
use vram_host::chain::types::HparamValues;
use vram_host::chain::unix_ms;
use vram_host::inputs::{publish_checkpoint, publish_dataset, InputStore};
use vram_host::journal::Journal;
use vram_host::metrics::Metrics;
use vram_host::sources::{CheckpointFiles, CheckpointStore, Dataset};
use vram_host::supervisor::{sibling_binary, Launcher, Supervisor};
use vram_host::validator::{LoopConfig, Trust, Validator};
use vram_host::walrus::{RetryPolicy, WalrusClient};

use super::miner::{kinds, miner_address, Miner, MinerKind, MinerWorld};
use super::{corpus, demo_err, demo_values, DemoConfig};
use crate::blobstore::BlobStore;
use crate::chain::LocalChain;
use crate::error::Result;
use crate::ledger::Ledger;

/// Everything the demo runs on, set up and published.
pub(super) struct Network {
    pub(super) out: PathBuf,
    pub(super) state_dir: PathBuf,
    pub(super) ledger_path: PathBuf,
    pub(super) validator: [u8; 32],
    pub(super) miners: Vec<Miner>,
    pub(super) world: MinerWorld,
    pub(super) values: HparamValues,
    pub(super) checkpoints: CheckpointStore,
    /// The checkpoint anchored at window 0.
    pub(super) first_checkpoint: [u8; 32],
    pub(super) walrus: WalrusClient,
    /// Kept for its lifetime: dropping it stops the server.
    _store: BlobStore,
}

impl Network {
    /// Data, first checkpoint, ledger (genesis, validator, miners, anchor)
    /// and blob store, under `cfg.out`.
    pub(super) fn build(cfg: &DemoConfig) -> Result<Self> {
        let out = cfg.out.clone();
        let model = demo_model(&cfg.model)?;
        let pages = corpus::synthetic_pages(
            cfg.seed,
            model.vocab_size() as u32,
            model.block_size() + 1,
            cfg.pages,
        );
        let dataset = Arc::new(Dataset::new(pages)?);
        dataset.save(&out.join("dataset"))?;
        let checkpoints = CheckpointStore::new(&out.join("checkpoints"));
        let config_json = model.to_json().map_err(|e| demo_err(e.to_string()))?;
        let weights =
            save_weights(&init_weights(&model, cfg.seed)).map_err(|e| demo_err(e.to_string()))?;
        let first = CheckpointFiles::single(weights, config_json);
        let first_checkpoint = checkpoints.put(&first)?;

        // The blob store first: the dataset and the checkpoint are published
        // on it and the chain names them by blob id, as on a real network.
        let store = BlobStore::start(&out.join("blobs"), "127.0.0.1:0", cfg.max_request_bytes)?;
        let policy = RetryPolicy {
            rounds: 3,
            backoff: Duration::from_millis(100),
            request_timeout: Duration::from_secs(10),
        };
        let walrus = WalrusClient::new(&[store.url()], &[store.url()], policy)?
            .with_max_request_bytes(cfg.max_request_bytes);
        let (_, dataset_blob) = publish_dataset(&walrus, &dataset, 1)?;
        let (_, checkpoint_blob) = publish_checkpoint(&walrus, &first, 1)?;
        let values = demo_values(cfg, &dataset, &dataset_blob);

        let ledger_path = out.join("ledger.sqlite");
        let mut ledger = Ledger::open(&ledger_path)?;
        // Window 0 starts shortly after publication, so its checkpoint is
        // anchored before it starts, as on a real network.
        let now = unix_ms();
        ledger.genesis(values.clone(), now + 1_500)?;
        let validator = sha256(format!("vram demo validator {}", cfg.seed).as_bytes());
        ledger.register_validator(validator, values.min_validator_stake, now)?;
        let miners: Vec<Miner> = kinds(cfg.miners)
            .into_iter()
            .chain(std::iter::repeat_n(MinerKind::Crowd, cfg.crowd))
            .enumerate()
            .map(|(i, kind)| {
                let address = miner_address(cfg.seed, i);
                let uid = ledger.register_miner(address, values.min_miner_stake, now)?;
                Ok(Miner {
                    uid,
                    kind,
                    address,
                    copy_from: 0,
                })
            })
            .collect::<Result<_>>()?;
        ledger.anchor_checkpoint(0, &first_checkpoint, &checkpoint_blob.0, now)?;
        let world = MinerWorld {
            model: model.clone(),
            ledger: ledger_path.clone(),
            walrus: walrus.clone(),
            checkpoints: checkpoints.clone(),
            dataset,
            values: values.clone(),
            seed: cfg.seed,
        };
        Ok(Self {
            state_dir: out.join("enclave-state"),
            out,
            ledger_path,
            validator,
            miners,
            world,
            values,
            checkpoints,
            first_checkpoint,
            walrus,
            _store: store,
        })
    }

    /// The validator machine's own caches: empty at start, filled from the
    /// blob store by the ids the chain names.
    pub(super) fn validator_dir(&self) -> PathBuf {
        self.out.join("validator")
    }

    /// The local Walrus store's folder (also the bundle's `blobs/`).
    pub(super) fn blob_dir(&self) -> PathBuf {
        self.out.join("blobs")
    }

    /// The validator host on the local chain, supervising a `vram-enclave`
    /// process with the simulated NSM.
    pub(super) fn validator(&self, cfg: &DemoConfig) -> Result<Validator<LocalChain>> {
        let enclave_exe = match &cfg.enclave_exe {
            Some(p) => p.clone(),
            None => sibling_binary("vram-enclave")?,
        };
        let supervisor = Supervisor::new(
            Launcher::Process {
                exe: enclave_exe,
                socket: self.out.join("enclave.sock"),
                state_dir: self.state_dir.clone(),
                log: self.out.join("enclave.log"),
            },
            Duration::from_secs(120),
        );
        Ok(Validator::new(
            LocalChain::open(&self.ledger_path, self.validator)?,
            supervisor,
            Journal::open(&self.out.join("journal.sqlite"))?,
            InputStore::new(
                &self.validator_dir().join("checkpoints"),
                &self.validator_dir().join("datasets"),
                self.walrus.clone(),
            )?,
            LoopConfig {
                trust: Trust::TestRoot(self.state_dir.join("test-root.pem")),
                submit_margin_ms: 500,
                blob_dir: Some(self.validator_dir().join("blobs")),
                ..LoopConfig::default()
            },
            Arc::new(Metrics::default()),
        ))
    }
}

/// The demo's model preset: small enough to train on a CPU every window.
pub(crate) fn demo_model(name: &str) -> Result<ModelConfig> {
    let model = ModelConfig::preset(name)
        .filter(|m| m.block_size() <= 64)
        .ok_or_else(|| demo_err(format!("unknown demo model {name:?} (tiny or llama-tiny)")))?;
    Ok(model)
}
