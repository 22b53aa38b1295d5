//! Host client -> enclave service, over TCP and over a Unix socket, with the
//! simulated NSM: a whole window, then the auditor's checks: the attestation
//! document verifies under the simulator's test root and binds the key that
//! signed the statement.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use vram_attestation::statement::SignedStatement;
use vram_attestation::{verify, Policy, SimulatedNsm, TrustRoot};
use vram_enclave::codec::BlobMetadata;
use vram_enclave::dataset::{manifest, page_bytes};
use vram_enclave::eval::EvalParams;
use vram_enclave::model::SplitMix64;
use vram_enclave::protocol::{Bytes32, MinerCommitment, OpenWindow, Page, Response, UploadKind};
use vram_enclave::service::{serve, Enclave, Listener, ServiceConfig};
use vram_host::enclave_client::{EnclaveClient, Endpoint};
use vram_test_support::{honest_blob, TempDir, TinyCheckpoint};

fn run_window(endpoint: &Endpoint, root_pem: &str) {
    let window = 21;
    let tiny = TinyCheckpoint::new(2).unwrap();
    let ckpt_hash = tiny.hash;
    let mut rng = SplitMix64::new(8);
    let pages: Vec<Vec<u32>> = (0..12)
        .map(|_| (0..33).map(|_| (rng.next_u64() % 256) as u32).collect())
        .collect();
    let (manifest_bytes, root) = manifest(&pages);
    let refs: Vec<&[u32]> = pages.iter().take(3).map(Vec::as_slice).collect();
    let blob = honest_blob(
        &tiny.load().unwrap(),
        &refs,
        &BlobMetadata {
            window,
            miner_uid: 4,
            topk: 32,
            base_checkpoint: ckpt_hash,
        },
    )
    .unwrap();

    let mut client = EnclaveClient::connect(endpoint, Duration::from_secs(60)).unwrap();
    let nonce = b"auditor nonce".to_vec();
    let Response::Describe {
        public_key,
        attestation,
        simulated,
        ..
    } = client.describe(&nonce).unwrap()
    else {
        panic!()
    };
    assert!(simulated);

    let open = OpenWindow {
        window,
        validator: Bytes32([0x11; 32]),
        eval_params: EvalParams {
            learning_rate_e9: 1_000_000,
            topk: 32,
            page_len: 33,
            own_pages: 2,
            random_pages: 3,
            max_scored: 8,
            upload_deadline_ms: vram_enclave::service::system_clock_ms() - 1_000,
            seed_margin_ms: 0,
            opens_at_ms: vram_enclave::service::system_clock_ms() - 1_000,
            scoring_end_ms: vram_enclave::service::system_clock_ms() + 3_600_000,
        },
        checkpoint_hash: Bytes32(ckpt_hash),
        dataset_root: Bytes32(root),
        page_count: pages.len() as u64,
        miners: vec![MinerCommitment {
            uid: 4,
            gradient_hash: Bytes32(vram_attestation::sha256(&blob)),
        }],
    };
    assert_eq!(client.open_window(&open).unwrap(), (true, true));
    client
        .upload(
            window,
            UploadKind::CheckpointWeights { file: 0, files: 1 },
            &tiny.weights,
        )
        .unwrap();
    client
        .upload(window, UploadKind::CheckpointConfig, &tiny.config_json)
        .unwrap();
    client
        .upload(window, UploadKind::Manifest, &manifest_bytes)
        .unwrap();
    client
        .upload(window, UploadKind::Gradient { uid: 4 }, &blob)
        .unwrap();
    let request = client.request_pages(window).unwrap();
    let batch = request
        .pages()
        .into_iter()
        .map(|i| Page {
            index: i,
            tokens: page_bytes(&pages[i as usize]),
        })
        .collect();
    assert_eq!(client.send_pages(window, batch).unwrap(), 0);
    assert_eq!(client.next_gradient(window).unwrap(), Some(4));
    client
        .upload(window, UploadKind::Gradient { uid: 4 }, &blob)
        .unwrap();
    assert_eq!(client.next_gradient(window).unwrap(), None);
    let (message, signature) = client.finish(window).unwrap();

    // The auditor's side.
    let root = TrustRoot::from_pem(root_pem).unwrap();
    let doc = vram_attestation::AttestationDocument::parse(&attestation).unwrap();
    let att = verify(&attestation, &root, doc.timestamp_ms).unwrap();
    Policy::new()
        .expect_nonce(nonce)
        .expect_public_key(public_key.0.to_vec())
        .check(&att, doc.timestamp_ms)
        .unwrap();
    assert!(verify(
        &attestation,
        &TrustRoot::aws_nitro().unwrap(),
        doc.timestamp_ms
    )
    .is_err());
    let statement = SignedStatement::decode(&message, &signature).unwrap();
    statement
        .verify(att.public_key.as_deref().unwrap())
        .unwrap();
    assert_eq!(statement.message.payload.window, window);
    assert_eq!(statement.message.payload.eval_seed, request.seed.0.to_vec());
    assert_eq!(statement.message.payload.entries[0].status, 0);

    // And the auditor's tool agrees: `vram-attest statement verify --doc`.
    let dir = TempDir::new(&format!("e2e-files-{window}")).unwrap();
    std::fs::write(dir.join("doc.cose"), &attestation).unwrap();
    std::fs::write(dir.join("root.pem"), root_pem).unwrap();
    std::fs::write(
        dir.join("statement.json"),
        serde_json::to_vec(&statement.to_file()).unwrap(),
    )
    .unwrap();
    let json: serde_json::Value = vram_test_support::run_json(
        std::process::Command::new(vram_attest())
            .args(["statement", "verify", "--statement"])
            .arg(dir.join("statement.json"))
            .arg("--doc")
            .arg(dir.join("doc.cose"))
            .arg("--root")
            .arg(dir.join("root.pem"))
            .arg("--json"),
    );
    assert_eq!(json["valid"], true);
    assert_eq!(json["statement"]["window"], window);
}

/// The `vram-attest` binary of this build. `scripts/test.sh` (cargo test
/// --workspace) builds it before any test runs; alone, build it first with
/// `cargo build -p vram-attestation --bin vram-attest`.
fn vram_attest() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("vram-attest");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p vram-attestation --bin vram-attest` first",
        path.display()
    );
    path
}

/// An enclave with the simulated NSM, its test root, and its state folder.
fn enclave(tag: &str) -> (Arc<Enclave>, String, TempDir) {
    let dir = TempDir::new(&format!("e2e-{tag}")).unwrap();
    let nsm = SimulatedNsm::with_state_dir(&dir).unwrap();
    let pem = nsm.test_root_pem();
    (
        Arc::new(Enclave::new(Box::new(nsm), ServiceConfig::default()).unwrap()),
        pem,
        dir,
    )
}

#[test]
fn a_window_over_tcp() {
    let (e, pem, _dir) = enclave("tcp");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || serve(e, Listener::Tcp(listener)));
    run_window(&Endpoint::Tcp(addr.to_string()), &pem);
}

#[test]
fn a_window_over_a_unix_socket() {
    let (e, pem, dir) = enclave("unix");
    let path = dir.join("enclave.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || serve(e, Listener::Unix(listener)));
    run_window(&Endpoint::Unix(path), &pem);
}

#[test]
fn refusals_surface_as_typed_errors_and_endpoints_parse() {
    let (e, _, _dir) = enclave("refuse");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || serve(e, Listener::Tcp(listener)));
    let mut client =
        EnclaveClient::connect(&Endpoint::Tcp(addr.to_string()), Duration::from_secs(10)).unwrap();
    match client.finish(3) {
        Err(vram_host::Error::Refused { code, .. }) => {
            assert_eq!(code, vram_enclave::protocol::ErrorCode::UnknownWindow)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        "vsock:16:5005".parse::<Endpoint>().unwrap(),
        Endpoint::Vsock {
            cid: 16,
            port: 5005
        }
    );
    assert!("http://x".parse::<Endpoint>().is_err());
}
