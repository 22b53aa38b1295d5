//! The host killed at every step of a window, then restarted from its
//! journal: the window is still submitted, exactly once. Each scenario is a
//! separate validator (own journal, own enclave process) in the same window
//! of one embedded ledger. Each enclave's key is registered before the
//! window's upload deadline, as only such a key may sign for the window.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vram_attestation::sha256;
use vram_enclave::codec::BlobMetadata;
use vram_enclave::service::own_pages;
use vram_host::chain::types::HparamValues;
use vram_host::chain::unix_ms;
use vram_host::enclave_client::Endpoint;
use vram_host::inputs::{publish_checkpoint, publish_dataset, InputStore};
use vram_host::journal::{Journal, NextStep};
use vram_host::metrics::Metrics;
use vram_host::sources::{CheckpointFiles, Dataset};
use vram_host::supervisor::{sibling_binary, Launcher, Supervisor};
use vram_host::validator::{LoopConfig, Outcome, Step, Trust, Validator};
use vram_host::walrus::{RetryPolicy, WalrusClient};
use vram_localnet::blobstore::BlobStore;
use vram_localnet::chain::LocalChain;
use vram_localnet::demo::corpus::synthetic_pages;
use vram_localnet::ledger::Ledger;
use vram_test_support::{honest_blob, TempDir, TinyCheckpoint};

const STEPS: [Step; 6] = [
    Step::Opened,
    Step::Fetched,
    Step::Signed,
    Step::Scored,
    Step::Prepared,
    Step::Sent,
];

struct World {
    deadline_ms: u64,
    dir: TempDir,
    ledger: PathBuf,
    walrus: WalrusClient,
    _dataset: Dataset,
    _store: BlobStore,
}

fn validator_address(i: usize) -> [u8; 32] {
    sha256(format!("fault validator {i}").as_bytes())
}

fn world() -> World {
    let dir = TempDir::new("faults").unwrap();
    let dataset = Dataset::new(synthetic_pages(3, 256, 65, 64)).unwrap();
    let tiny = TinyCheckpoint::new(5).unwrap();
    let store = BlobStore::start(&dir.join("blobs"), "127.0.0.1:0", 1 << 26).unwrap();
    let walrus = WalrusClient::new(
        &[store.url()],
        &[store.url()],
        RetryPolicy {
            rounds: 2,
            backoff: Duration::from_millis(50),
            request_timeout: Duration::from_secs(10),
        },
    )
    .unwrap();
    // Published, and named on chain by blob id: each validator fetches them.
    // In two shards, as transformers saves a large model: the validators
    // upload both files to their enclaves.
    let files = CheckpointFiles {
        weights: tiny.shards(2).unwrap(),
        config: tiny.config_json.clone(),
    };
    let (hash, list) = publish_checkpoint(&walrus, &files, 1).unwrap();
    let (_, dataset_blob) = publish_dataset(&walrus, &dataset, 1).unwrap();

    let values = HparamValues {
        window_duration_ms: 300_000,
        put_window_open_ms: 10_000,
        seed_margin_ms: 100,
        scoring_span_ms: 300_000,
        reveal_ms: 0,
        validator_offset: 0,
        checkpoint_frequency: 1,
        page_len: 65,
        own_pages: 2,
        random_pages: 3,
        dataset_root: dataset.root().to_vec(),
        dataset_pages: dataset.len(),
        dataset_blob: dataset_blob.0.to_vec(),
        ..HparamValues::defaults()
    };
    let ledger_path = dir.join("ledger.sqlite");
    let mut ledger = Ledger::open(&ledger_path).unwrap();
    // Window 0 starts in a moment: its checkpoint is anchored before.
    let now = unix_ms();
    ledger.genesis(values.clone(), now + 200).unwrap();
    for i in 0..STEPS.len() {
        ledger
            .register_validator(validator_address(i), values.min_validator_stake, now)
            .unwrap();
    }
    ledger.anchor_checkpoint(0, &hash, &list.0, now).unwrap();
    while ledger.now_ms().unwrap() < now + 200 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let ckpt = tiny.load_shards(2).unwrap();
    assert_eq!(ckpt.hash(), hash);
    for uid in 0..2u64 {
        let owner = sha256(format!("fault miner {uid}").as_bytes());
        assert_eq!(
            ledger
                .register_miner(owner, values.min_miner_stake, now)
                .unwrap(),
            uid
        );
        let pages: Vec<&[u32]> = own_pages(&dataset.root(), 0, uid, 2, dataset.len())
            .into_iter()
            .map(|i| dataset.page(i).unwrap())
            .collect();
        let blob = honest_blob(
            &ckpt,
            &pages,
            &BlobMetadata {
                window: 0,
                miner_uid: uid,
                topk: 32,
                base_checkpoint: hash,
            },
        )
        .unwrap();
        let id = walrus.store(&blob, 1).unwrap();
        let now = ledger.now_ms().unwrap();
        ledger
            .commit_gradient(owner, 0, uid, &id.0, &sha256(&blob), now)
            .unwrap();
    }
    World {
        deadline_ms: now + 200 + values.put_window_open_ms,
        dir,
        ledger: ledger_path,
        walrus,
        _dataset: dataset,
        _store: store,
    }
}

/// Validator `i`. Its first life starts its enclave; a second life
/// re-attaches to the enclave still running, as a production host does to
/// its Nitro enclave after a crash (the enclave's key, registered before the
/// deadline, is the only one that may sign for the window).
fn validator(world: &World, i: usize, second_life: bool) -> Validator<LocalChain> {
    let state: &Path = &world.dir.join(format!("enclave-{i}"));
    let socket = world.dir.join(format!("enclave-{i}.sock"));
    let launcher = if second_life {
        Launcher::External(Endpoint::Unix(socket))
    } else {
        Launcher::Process {
            exe: sibling_binary("vram-enclave").unwrap(),
            socket,
            state_dir: state.to_path_buf(),
            log: world.dir.join(format!("enclave-{i}.log")),
        }
    };
    let supervisor = Supervisor::new(launcher, Duration::from_secs(60));
    Validator::new(
        LocalChain::open(&world.ledger, validator_address(i)).unwrap(),
        supervisor,
        Journal::open(&world.dir.join(format!("journal-{i}.sqlite"))).unwrap(),
        InputStore::new(
            &world.dir.join(format!("validator-{i}/checkpoints")),
            &world.dir.join(format!("validator-{i}/datasets")),
            world.walrus.clone(),
        )
        .unwrap(),
        LoopConfig {
            trust: Trust::TestRoot(state.join("test-root.pem")),
            submit_margin_ms: 1_000,
            blob_dir: Some(world.dir.join(format!("validator-{i}/blobs"))),
            ..LoopConfig::default()
        },
        Arc::new(Metrics::default()),
    )
}

#[test]
fn a_host_killed_at_any_step_submits_exactly_once_after_restart() {
    let world = world();
    // Every first life starts its enclave and registers the key before the
    // upload deadline.
    let mut firsts: Vec<_> = (0..STEPS.len())
        .map(|i| {
            let mut v = validator(&world, i, false);
            v.ensure_enclave().unwrap();
            v
        })
        .collect();
    assert!(unix_ms() < world.deadline_ms, "keys registered too late");
    while unix_ms() < world.deadline_ms {
        std::thread::sleep(Duration::from_millis(50));
    }
    for (i, step) in STEPS.iter().enumerate().rev() {
        // First life: dies right after `step`. Its enclave lives on (a
        // separate process in production too), and so does the journal.
        let mut first = firsts.pop().unwrap();
        first.crash_after(Some(*step));
        let err = first.run_window(0).unwrap_err();
        assert!(
            err.to_string().contains("injected crash"),
            "{step:?}: {err}"
        );
        // Drop the host but keep its enclave running, as a crashed host would.
        let enclave_pid = first.supervisor().pid();
        std::mem::forget(first);

        // Second life: a fresh process image over the same files.
        let mut second = validator(&world, i, true);
        let report = second.run_window(0).unwrap();
        assert!(
            matches!(report.outcome, Outcome::Submitted { .. }),
            "{step:?}: {:?}",
            report.outcome
        );
        assert_eq!(second.journal().next_step(0).unwrap(), NextStep::Done);
        // Running again touches nothing.
        let again = second.run_window(0).unwrap();
        assert!(matches!(again.outcome, Outcome::Submitted { .. }));
        if let Some(pid) = enclave_pid {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
    }
    let ledger = Ledger::open(&world.ledger).unwrap();
    let submissions = ledger.submissions().unwrap();
    assert_eq!(
        submissions.len(),
        STEPS.len(),
        "one submission per validator"
    );
    for (i, _) in STEPS.iter().enumerate() {
        assert_eq!(
            submissions
                .iter()
                .filter(|s| s.validator == validator_address(i))
                .count(),
            1
        );
    }
}
