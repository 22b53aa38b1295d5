//! `SuiChain` against a local server that implements the subset of the
//! `sui.rpc.v2` services the host uses, built from the same generated proto
//! types (`sui-rpc`'s server traits). The server holds the vramhub objects
//! as Move BCS (encoded from the Rust twins) and table entries at their
//! derived dynamic-field ids, and it can fail on purpose: unavailable,
//! slow, aborting, or refusing a stale object.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_rpc::proto::sui::rpc::v2::ledger_service_server::{LedgerService, LedgerServiceServer};
use sui_rpc::proto::sui::rpc::v2::state_service_server::{StateService, StateServiceServer};
use sui_rpc::proto::sui::rpc::v2::transaction_execution_service_server::{
    TransactionExecutionService, TransactionExecutionServiceServer,
};
use sui_sdk_types::{Address, Digest, TypeTag};
use vram_host::chain::aborts::score_ledger::EAlreadySubmitted;
use vram_host::chain::sui::{SuiChain, SuiSettings};
use vram_host::chain::sui_tx::{self, Gas, OwnedObject, SharedObject};
use vram_host::chain::types::*;
use vram_host::chain::Chain;
use vram_host::wallet::Wallet;
use vram_host::Error;

const PACKAGE: [u8; 32] = [0xa1; 32]; // common::deployment().package

#[derive(Clone)]
enum Execution {
    Success,
    Abort(&'static str, u64),
    Fail(&'static str),
}

#[derive(Default)]
struct State {
    objects: HashMap<[u8; 32], (Vec<u8>, u64)>,
    coins: Vec<proto::Object>,
    executed: Vec<(Vec<u8>, Vec<u8>)>,
    outcomes: VecDeque<Execution>,
    fail_next: u32,
    delay: Option<Duration>,
    calls: u32,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<State>>);

impl Fake {
    /// Applies the fault knobs to one call.
    async fn gate(&self) -> Result<(), tonic::Status> {
        let (fail, delay) = {
            let mut s = self.0.lock().unwrap();
            s.calls += 1;
            let fail = s.fail_next > 0;
            if fail {
                s.fail_next -= 1;
            }
            (fail, s.delay)
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if fail {
            return Err(tonic::Status::unavailable("fake: unavailable"));
        }
        Ok(())
    }

    fn put<T: Serialize>(&self, id: [u8; 32], value: &T) {
        let bytes = bcs::to_bytes(value).unwrap();
        self.0.lock().unwrap().objects.insert(id, (bytes, 3));
    }

    fn put_field<K: Serialize + Clone, V: Serialize>(
        &self,
        table: [u8; 32],
        key_type: &TypeTag,
        key: &K,
        value: V,
    ) {
        let id = Address::new(table)
            .derive_dynamic_child_id(key_type, &bcs::to_bytes(key).unwrap())
            .into_inner();
        self.put(
            id,
            &FieldObject {
                id,
                name: key.clone(),
                value,
            },
        );
    }
}

#[tonic::async_trait]
impl LedgerService for Fake {
    async fn get_service_info(
        &self,
        _: tonic::Request<proto::GetServiceInfoRequest>,
    ) -> Result<tonic::Response<proto::GetServiceInfoResponse>, tonic::Status> {
        self.gate().await?;
        let mut r = proto::GetServiceInfoResponse::default();
        r.timestamp = Some(prost_types::Timestamp {
            seconds: 25_700,
            nanos: 0,
        });
        Ok(tonic::Response::new(r))
    }

    async fn get_object(
        &self,
        request: tonic::Request<proto::GetObjectRequest>,
    ) -> Result<tonic::Response<proto::GetObjectResponse>, tonic::Status> {
        self.gate().await?;
        let id: Address = request
            .into_inner()
            .object_id
            .unwrap_or_default()
            .parse()
            .map_err(|_| tonic::Status::invalid_argument("object id"))?;
        let s = self.0.lock().unwrap();
        let (contents, version) = s
            .objects
            .get(&id.into_inner())
            .ok_or_else(|| tonic::Status::not_found("no such object"))?;
        let mut bcs = proto::Bcs::default();
        bcs.value = Some(contents.clone().into());
        let mut object = proto::Object::default();
        object.object_id = Some(id.to_string());
        object.version = Some(*version);
        object.digest = Some(Digest::new([0x0c; 32]).to_string());
        object.contents = Some(bcs);
        let mut r = proto::GetObjectResponse::default();
        r.object = Some(object);
        Ok(tonic::Response::new(r))
    }

    async fn get_epoch(
        &self,
        _: tonic::Request<proto::GetEpochRequest>,
    ) -> Result<tonic::Response<proto::GetEpochResponse>, tonic::Status> {
        self.gate().await?;
        let mut epoch = proto::Epoch::default();
        epoch.reference_gas_price = Some(750);
        let mut r = proto::GetEpochResponse::default();
        r.epoch = Some(epoch);
        Ok(tonic::Response::new(r))
    }
}

#[tonic::async_trait]
impl StateService for Fake {
    async fn list_owned_objects(
        &self,
        _: tonic::Request<proto::ListOwnedObjectsRequest>,
    ) -> Result<tonic::Response<proto::ListOwnedObjectsResponse>, tonic::Status> {
        self.gate().await?;
        let mut r = proto::ListOwnedObjectsResponse::default();
        r.objects = self.0.lock().unwrap().coins.clone();
        Ok(tonic::Response::new(r))
    }
}

#[tonic::async_trait]
impl TransactionExecutionService for Fake {
    async fn execute_transaction(
        &self,
        request: tonic::Request<proto::ExecuteTransactionRequest>,
    ) -> Result<tonic::Response<proto::ExecuteTransactionResponse>, tonic::Status> {
        self.gate().await?;
        let req = request.into_inner();
        let tx = req
            .transaction
            .and_then(|t| t.bcs)
            .and_then(|b| b.value)
            .unwrap_or_default();
        let sig = req
            .signatures
            .first()
            .and_then(|s| s.bcs.clone())
            .and_then(|b| b.value)
            .unwrap_or_default();
        let outcome = {
            let mut s = self.0.lock().unwrap();
            s.executed.push((tx.to_vec(), sig.to_vec()));
            s.outcomes.pop_front().unwrap_or(Execution::Success)
        };
        let mut status = proto::ExecutionStatus::default();
        match outcome {
            Execution::Success => status.success = Some(true),
            Execution::Abort(module, code) => {
                let mut location = proto::MoveLocation::default();
                location.package = Some(Address::new(PACKAGE).to_string());
                location.module = Some(module.into());
                let mut abort = proto::MoveAbort::default();
                abort.abort_code = Some(code);
                abort.location = Some(location);
                let mut error = proto::ExecutionError::default();
                error.description = Some(format!("MoveAbort in {module} with code {code}"));
                error.error_details = Some(proto::execution_error::ErrorDetails::Abort(abort));
                status.success = Some(false);
                status.error = Some(error);
            }
            Execution::Fail(description) => {
                let mut error = proto::ExecutionError::default();
                error.description = Some(description.into());
                status.success = Some(false);
                status.error = Some(error);
            }
        }
        let mut effects = proto::TransactionEffects::default();
        effects.status = Some(status);
        let mut executed = proto::ExecutedTransaction::default();
        executed.effects = Some(effects);
        let mut r = proto::ExecuteTransactionResponse::default();
        r.transaction = Some(executed);
        Ok(tonic::Response::new(r))
    }
}

/// Serves `fake` on a loopback port from a background runtime.
fn serve(fake: Fake) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            tonic::transport::Server::builder()
                .add_service(LedgerServiceServer::new(fake.clone()))
                .add_service(StateServiceServer::new(fake.clone()))
                .add_service(TransactionExecutionServiceServer::new(fake))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

use common::deployment;

fn wallet() -> Wallet {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/sui/wallet.json")).unwrap();
    Wallet::from_mnemonic(v[0]["mnemonic"].as_str().unwrap(), "").unwrap()
}

const ENCLAVE_KEY: [u8; 32] = [0xea; 32];

fn struct_tag(module: &str, name: &str) -> TypeTag {
    format!("0x{}::{module}::{name}", hex::encode(PACKAGE))
        .parse()
        .unwrap()
}

/// The golden world of the Move tests, as objects on the fake chain.
fn populated() -> Fake {
    let fake = Fake::default();
    let d = deployment();
    let mut values = HparamValues::defaults();
    values.dataset_root = vec![0x22; 32];
    values.dataset_pages = 1000;
    values.dataset_blob = vec![0x44; 32];
    fake.put(
        d.hparams.id,
        &HparamsObject {
            id: d.hparams.id,
            version: 1,
            segments: vec![Segment {
                start_window: 0,
                start_ms: 0,
                values,
            }],
        },
    );
    let anchors = [0x71; 32];
    fake.put(
        d.rounds.id,
        &RoundStateObject {
            id: d.rounds.id,
            anchors: TableRef {
                id: anchors,
                size: 1,
            },
            windows: vec![0],
        },
    );
    fake.put_field(
        anchors,
        &TypeTag::U64,
        &0u64,
        Anchor {
            checkpoint_hash: vec![0x11; 32],
            checkpoint_blob: vec![0x12; 32],
        },
    );

    let by_window = [0x73; 32];
    fake.put(
        d.gradients.id,
        &GradientRegistryObject {
            id: d.gradients.id,
            by_window: TableRef {
                id: by_window,
                size: 1,
            },
        },
    );
    // The window's one list, ascending uid.
    let list: Vec<(u64, Commitment)> = [1u64, 5]
        .into_iter()
        .map(|uid| {
            (
                uid,
                Commitment {
                    blob_id: vec![0xb0 + uid as u8; 32],
                    sha256: vec![uid as u8; 32],
                    committed_ms: 42 * 600_000 + 1_000,
                },
            )
        })
        .collect();
    fake.put_field(by_window, &TypeTag::U64, &42u64, list);
    let peers = [0x74; 32];
    fake.put(
        d.peers.id,
        &PeerRegistryObject {
            id: d.peers.id,
            next_uid: 7,
            peers: TableRef { id: peers, size: 6 },
            uid_of: TableRef {
                id: [0x75; 32],
                size: 6,
            },
        },
    );
    for uid in (0..7u64).filter(|u| *u != 3) {
        fake.put_field(
            peers,
            &TypeTag::U64,
            &uid,
            PeerRecord {
                owner: [uid as u8; 32],
                stake: 1_000_000_000,
                registered_window: 0,
            },
        );
    }
    let enclaves = [0x76; 32];
    fake.put(
        d.enclave_config.id,
        &EnclaveConfigObject {
            id: d.enclave_config.id,
            current: Image {
                version: 1,
                pcr0: vec![1; 48],
                pcr1: vec![2; 48],
                pcr2: vec![3; 48],
                effective_ms: 0,
            },
            next: None,
            version: 1,
            test_mode_open: true,
            enclaves: TableRef {
                id: enclaves,
                size: 1,
            },
        },
    );
    fake.put_field(
        enclaves,
        &TypeTag::Address,
        &wallet().address(),
        Enclaves {
            latest: EnclaveRecord {
                public_key: ENCLAVE_KEY.to_vec(),
                config_version: 1,
                registered_ms: 5,
                test_mode: true,
                document_sha256: vec![0xdd; 32],
                document_blob: vec![0xdb; 32],
            },
            previous: None,
        },
    );
    // The validator declared 12 from window 40 and 30 from window 50.
    let validators = [0x79; 32];
    fake.put(
        d.validators.id,
        &ValidatorRegistryObject {
            id: d.validators.id,
            validators: TableRef {
                id: validators,
                size: 1,
            },
        },
    );
    fake.put_field(
        validators,
        &TypeTag::Address,
        &wallet().address(),
        ValidatorRecord {
            stake: 10_000_000_000,
            first_window: 2,
            budgets: vec![
                BudgetChange {
                    from_window: 40,
                    budget: 12,
                },
                BudgetChange {
                    from_window: 50,
                    budget: 300,
                },
            ],
        },
    );
    fake.put(
        d.ledger.id,
        &ScoreLedgerObject {
            id: d.ledger.id,
            submissions: TableRef {
                id: [0x77; 32],
                size: 0,
            },
            by_window: TableRef {
                id: [0x78; 32],
                size: 0,
            },
        },
    );
    let mut coin = proto::Object::default();
    coin.object_id = Some(Address::new([0x6a; 32]).to_string());
    coin.version = Some(7);
    coin.digest = Some(Digest::new([0x0d; 32]).to_string());
    coin.balance = Some(5_000_000_000);
    let mut small = coin.clone();
    small.object_id = Some(Address::new([0x6b; 32]).to_string());
    small.balance = Some(10);
    fake.0.lock().unwrap().coins = vec![small, coin];
    fake
}

fn settings(endpoints: Vec<String>) -> SuiSettings {
    SuiSettings {
        endpoints,
        timeout: Duration::from_millis(500),
        rounds: 3,
        backoff: Duration::from_millis(20),
        gas_budget: 50_000_000,
        test_cap: None,
    }
}

/// The golden arguments with a placeholder signature (the fake chain does
/// not verify it).
fn golden_args() -> SubmitArgs {
    SubmitArgs {
        signature: vec![0x5e; 64],
        ..common::golden_args()
    }
}

#[test]
fn reads_decode_the_move_objects() {
    let url = serve(populated());
    let chain = SuiChain::new(settings(vec![url]), deployment(), wallet()).unwrap();
    assert_eq!(chain.now_ms().unwrap(), 25_700_000);
    let hp = chain.hparams().unwrap();
    assert_eq!(hp.segments[0].values.dataset_pages, 1000);
    assert_eq!(
        hp.times(42).unwrap().upload_deadline_ms,
        42 * 600_000 + 480_000
    );
    let anchor = chain.latest_anchor(42).unwrap();
    assert_eq!((anchor.window, anchor.checkpoint_hash), (0, [0x11; 32]));
    assert_eq!(anchor.checkpoint_blob.0, [0x12; 32]);
    let commitments = chain.commitments(42).unwrap();
    assert_eq!(
        commitments.iter().map(|(u, _)| *u).collect::<Vec<_>>(),
        vec![1, 5]
    );
    assert_eq!(commitments[1].1.sha256, vec![5; 32]);
    assert!(chain.commitments(43).unwrap().is_empty());
    // The final list comes with the clock of the node that serves it: at
    // or past the asked time it is the list; a node behind it is skipped,
    // and with none there the read is refused.
    let after = chain.commitments_after(42, 25_700_000).unwrap();
    assert_eq!(after, commitments);
    assert!(chain.commitments_after(43, 25_700_000).unwrap().is_empty());
    let behind = chain.commitments_after(42, 25_700_001).unwrap_err();
    assert!(behind.to_string().contains("before 25700001"), "{behind}");
    assert_eq!(chain.miners().unwrap(), vec![0, 1, 2, 4, 5, 6]);
    assert_eq!(chain.enclave_key().unwrap(), Some(ENCLAVE_KEY.to_vec()));
    // Registered at 5 ms: it signs for window 42 (and any later one).
    let signer = chain.window_signer(42).unwrap().unwrap();
    assert_eq!(signer.public_key, ENCLAVE_KEY.to_vec());
    assert_eq!(signer.document().unwrap().sha256, [0xdd; 32]);
    assert!(!chain.has_submitted(42).unwrap());
    // `budget_for_window`: the network's max_scored before any declaration,
    // the declared one after, capped at max_scored.
    assert_eq!(chain.budget(39).unwrap(), 256);
    assert_eq!(chain.budget(42).unwrap(), 12);
    assert_eq!(chain.budget(49).unwrap(), 12);
    assert_eq!(chain.budget(50).unwrap(), 256);
}

#[test]
fn submissions_are_built_signed_sent_and_found() {
    let fake = populated();
    let url = serve(fake.clone());
    let w = wallet();
    let mut chain = SuiChain::new(settings(vec![url]), deployment(), wallet()).unwrap();
    let prepared = chain.prepare_submission(&golden_args()).unwrap();
    // The bytes are the builder's, with the largest coin and the network's
    // reference gas price, signed by the wallet.
    let gas = Gas {
        sender: w.address(),
        coins: vec![OwnedObject {
            id: [0x6a; 32],
            version: 7,
            digest: [0x0d; 32],
        }],
        price: 750,
        budget: 50_000_000,
    };
    let expected = sui_tx::submit_scores(&deployment(), &gas, &golden_args()).unwrap();
    assert_eq!(prepared.digest, sui_tx::digest(&expected));
    chain.send(&prepared).unwrap();
    let (tx, sig) = fake.0.lock().unwrap().executed[0].clone();
    assert_eq!(tx, sui_tx::to_bytes(&expected).unwrap());
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(sig),
        w.sign_transaction(&expected).unwrap()
    );

    // The chain now holds it: found, and rebuilt into the signed statement.
    let record = SubmissionRecord {
        enclave_public_key: ENCLAVE_KEY.to_vec(),
        test_mode: true,
        timestamp_ms: 1_763_700_000_000,
        checkpoint_hash: vec![0x11; 32],
        eval_seed: vec![0x44; 32],
        loss_before_random: 4_200_000_000,
        entries: vec![],
        signature: vec![0x5e; 64],
        submitted_ms: 25_700_000,
        // The budget of the Move constant `EVAL_PARAMS_HASH`.
        budget: 256,
    };
    fake.put_field(
        [0x77; 32],
        &struct_tag("score_ledger", "SubmissionKey"),
        &SubmissionKey {
            window: 42,
            validator: w.address(),
        },
        record,
    );
    assert!(chain.has_submitted(42).unwrap());
    let (bytes, signature) = chain.submission(42).unwrap().unwrap();
    assert_eq!(signature, vec![0x5e; 64]);
    let decoded = vram_attestation::statement::SignedStatement::decode(&bytes, &[0u8; 64]).unwrap();
    assert_eq!(decoded.message.payload.validator, w.address());
    // The hash `hparams::eval_params_hash(42, 256)` gives (the Move
    // constant): the record's budget is bound.
    assert_eq!(
        hex::encode(&decoded.message.payload.eval_params_hash),
        vram_test_support::golden::eval_params_hash().unwrap()
    );
}

#[test]
fn move_aborts_come_back_by_name_and_failures_by_reason() {
    let fake = populated();
    let url = serve(fake.clone());
    let mut chain = SuiChain::new(settings(vec![url]), deployment(), wallet()).unwrap();
    let prepared = chain.prepare_submission(&golden_args()).unwrap();
    fake.0
        .lock()
        .unwrap()
        .outcomes
        .push_back(Execution::Abort("score_ledger", 4));
    let err = chain.send(&prepared).unwrap_err();
    assert!(EAlreadySubmitted.is(&err), "{err}");
    fake.0.lock().unwrap().outcomes.push_back(Execution::Fail(
        "ObjectVersionUnavailableForConsumption: stale gas coin",
    ));
    let err = chain.send(&prepared).unwrap_err();
    assert!(
        matches!(&err, Error::Chain { reason } if reason.contains("ObjectVersionUnavailable")),
        "{err}"
    );
    fake.0
        .lock()
        .unwrap()
        .outcomes
        .push_back(Execution::Abort("other_module", 4));
    assert!(matches!(
        chain.send(&prepared).unwrap_err(),
        Error::Chain { .. }
    ));
}

#[test]
fn unavailable_slow_and_dead_endpoints_are_survived() {
    // Unavailable twice, then back: the retry rounds get through.
    let flaky = populated();
    flaky.0.lock().unwrap().fail_next = 2;
    let url = serve(flaky.clone());
    let chain = SuiChain::new(settings(vec![url.clone()]), deployment(), wallet()).unwrap();
    assert_eq!(chain.latest_anchor(42).unwrap().window, 0);

    // Down for longer than every round: a clear error naming the endpoint.
    flaky.0.lock().unwrap().fail_next = 100;
    let err = chain.hparams().unwrap_err();
    assert!(
        err.to_string().contains(&url) && err.to_string().contains("unavailable"),
        "{err}"
    );
    flaky.0.lock().unwrap().fail_next = 0;

    // A slow endpoint and a dead one before a healthy one: failover.
    let slow = populated();
    slow.0.lock().unwrap().delay = Some(Duration::from_secs(3));
    let healthy = populated();
    let endpoints = vec![
        serve(slow),
        "http://127.0.0.1:9".to_string(),
        serve(healthy.clone()),
    ];
    let chain = SuiChain::new(settings(endpoints), deployment(), wallet()).unwrap();
    assert_eq!(chain.enclave_key().unwrap(), Some(ENCLAVE_KEY.to_vec()));
    assert!(healthy.0.lock().unwrap().calls > 0);
}

/// The operator's commands on `chain.kind = "sui"`, configured by TOML, with
/// the key from the environment.
#[test]
fn operator_status_reads_sui() {
    let url = serve(populated());
    let dir = vram_test_support::TempDir::new("sui-cli").unwrap();
    let d = deployment();
    let obj = |o: SharedObject| serde_json::json!({"id": format!("0x{}", hex::encode(o.id)), "initial_shared_version": o.initial_shared_version});
    let deployment_json = serde_json::json!({
        "package": format!("0x{}", hex::encode(d.package)),
        "enclave_config": obj(d.enclave_config), "validators": obj(d.validators),
        "ledger": obj(d.ledger), "peers": obj(d.peers), "gradients": obj(d.gradients),
        "rounds": obj(d.rounds), "hparams": obj(d.hparams),
    });
    std::fs::write(dir.join("deployment.json"), deployment_json.to_string()).unwrap();
    let config = dir.join("vram-validator.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[chain]
kind = "sui"
rpc = ["{url}"]
deployment = "{dir}/deployment.json"
rpc_timeout_ms = 2000
[enclave]
kind = "external"
endpoint = "unix:{dir}/none.sock"
[walrus]
aggregators = ["http://127.0.0.1:9"]
[storage]
journal = "{dir}/journal.sqlite"
checkpoints = "{dir}/checkpoints"
datasets = "{dir}/datasets"
"#,
            dir = dir.display()
        ),
    )
    .unwrap();
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("vram-validator");
    let v: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/sui/wallet.json")).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(&bin)
            .args(args)
            .arg("--config")
            .arg(&config)
            .arg("--json")
            .env("VRAMHUB_MNEMONIC", v[0]["mnemonic"].as_str().unwrap())
            .output()
            .unwrap()
    };
    let out = run(&["status"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["validator"], v[0]["address"]);
    assert_eq!(status["window"], 42);
    assert_eq!(status["phase"], "scoring");
    assert_eq!(status["enclave_key"], hex::encode(ENCLAVE_KEY));
    let out = run(&["scores", "--window", "42"]);
    assert_eq!(out.status.code(), Some(1), "nothing submitted yet");

    // Read-only commands need no key: with chain.validator naming the
    // account, status and scores run with no wallet anywhere.
    let keyless = dir.join("keyless.toml");
    std::fs::write(
        &keyless,
        std::fs::read_to_string(&config).unwrap().replace(
            "rpc_timeout_ms = 2000",
            &format!(
                "rpc_timeout_ms = 2000\nvalidator = \"{}\"",
                v[0]["address"].as_str().unwrap()
            ),
        ),
    )
    .unwrap();
    for args in [&["status"][..], &["scores", "--window", "42"][..]] {
        let out = std::process::Command::new(&bin)
            .args(args)
            .arg("--config")
            .arg(&keyless)
            .arg("--json")
            .env_remove("VRAMHUB_MNEMONIC")
            .env_remove("VRAMHUB_PRIVATE_KEY")
            .output()
            .unwrap();
        assert_ne!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(body.get("error").is_none(), "{body}");
    }

    // register-enclave --serialize-unsigned-transaction: the enclave is
    // asked for its key and document; the transaction is printed, not sent.
    let enclave = bin.parent().unwrap().join("vram-enclave");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("kind = \"external\"\nendpoint = \"unix:{}/none.sock\"", dir.display()),
        &format!(
            "kind = \"process\"\nbinary = \"{}\"\nsocket = \"{d}/e.sock\"\nstate_dir = \"{d}/state\"\nlog = \"{d}/e.log\"",
            enclave.display(),
            d = dir.display()
        ),
    );
    std::fs::write(&config, text).unwrap();
    let gas = format!("0x{}:7:{}", "6a".repeat(32), Digest::new([0x0d; 32]));
    let cap = format!("0x{}:5:{}", "c1".repeat(32), Digest::new([0x0c; 32]));
    for test_mode in [false, true] {
        let mut args = vec![
            "register-enclave",
            "--serialize-unsigned-transaction",
            "--gas",
            &gas,
            "--gas-price",
            "1000",
            "--gas-budget",
            "50000000",
        ];
        if test_mode {
            args.extend(["--test-cap", &cap]);
        }
        let out = run(&args);
        if !test_mode {
            // A simulated document in a production registration would be
            // refused on chain: the command says so instead of building it.
            assert_eq!(out.status.code(), Some(2));
            let err: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(
                err["error"].as_str().unwrap().contains("--test-cap"),
                "{err}"
            );
            continue;
        }
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(json["tx_bytes"].as_str().unwrap())
            .unwrap();
        let tx: sui_sdk_types::Transaction = bcs::from_bytes(&bytes).unwrap();
        let sui_sdk_types::TransactionKind::ProgrammableTransaction(ptb) = &tx.kind else {
            panic!("not a programmable transaction");
        };
        let key = hex::decode(json["public_key"].as_str().unwrap()).unwrap();
        let pure: Vec<Vec<u8>> = ptb
            .inputs
            .iter()
            .filter_map(|i| match i {
                sui_sdk_types::Input::Pure(v) => Some(bcs::from_bytes::<Vec<u8>>(v).unwrap()),
                _ => None,
            })
            .collect();
        assert_eq!(ptb.commands.len(), 1);
        // The key, the document's hash, and no blob id (not stored).
        assert_eq!(pure.len(), 3);
        assert_eq!(pure[0], key);
        assert_eq!(pure[1].len(), 32);
        assert!(pure[2].is_empty());
        assert_eq!(tx.sender, Address::new(wallet().address()));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
