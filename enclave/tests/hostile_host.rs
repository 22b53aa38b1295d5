//! A hostile host against a real enclave service (simulated NSM, Unix
//! socket): every attack gets its exact refusal, sessions survive what they
//! should, and the process stays up throughout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vram_attestation::statement::SignedStatement;
use vram_attestation::SimulatedNsm;
use vram_enclave::dataset::page_bytes;
use vram_enclave::model::checkpoint_files_hash;
use vram_enclave::protocol::{
    read_frame, write_frame, Bytes32, ErrorCode, MinerCommitment, OpenWindow, Page, Request,
    Response, Upload, UploadKind,
};
use vram_enclave::service::{serve, Enclave, Listener, ServiceConfig};
use vram_test_support::session::WindowWorld;
use vram_test_support::{shard_weights, TempDir};

const WINDOW: u64 = 7;

/// The window's inputs (`vram_test_support::session`): miner 1's honest
/// blob and miner 2's commitment without a blob; the upload deadline a second
/// ago, so the window is open now.
type World = WindowWorld;

fn world() -> World {
    WindowWorld::new(WINDOW, vram_enclave::service::system_clock_ms() - 1_000)
}

fn open(w: &World) -> OpenWindow {
    w.open()
}

struct Server {
    path: PathBuf,
    enclave: Arc<Enclave>,
    _dir: TempDir,
}

fn server(tag: &str) -> Server {
    let config = ServiceConfig {
        idle_timeout: Duration::from_secs(5),
        frame_timeout: Duration::from_millis(400),
        max_frame: 1 << 20,
        ..ServiceConfig::default()
    };
    let enclave =
        Arc::new(Enclave::new(Box::new(SimulatedNsm::ephemeral().unwrap()), config).unwrap());
    let dir = TempDir::new(&format!("hostile-{tag}")).unwrap();
    let path = dir.join("enclave.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let e = Arc::clone(&enclave);
    std::thread::spawn(move || serve(e, Listener::Unix(listener)));
    Server {
        path,
        enclave,
        _dir: dir,
    }
}

impl Server {
    fn connect(&self) -> UnixStream {
        UnixStream::connect(&self.path).unwrap()
    }
}

fn call(s: &mut UnixStream, r: &Request) -> Response {
    write_frame(s, &r.encode()).unwrap();
    Response::decode(
        &read_frame(
            s,
            1 << 24,
            Some(Duration::from_secs(30)),
            Duration::from_secs(30),
        )
        .unwrap(),
    )
    .unwrap()
}

fn refused(r: Response, code: ErrorCode) {
    match r {
        Response::Error { code: c, message } => assert_eq!(c, code, "{message}"),
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

fn upload(s: &mut UnixStream, kind: UploadKind, body: &[u8]) -> Response {
    let mut last = None;
    for (i, chunk) in body.chunks(100_000).enumerate() {
        let r = call(
            s,
            &Request::Upload(Upload {
                window: WINDOW,
                kind,
                offset: (i * 100_000) as u64,
                total: body.len() as u64,
                data: chunk.to_vec(),
            }),
        );
        if matches!(r, Response::Error { .. }) {
            return r;
        }
        last = Some(r);
    }
    last.unwrap()
}

/// Opens the window and uploads checkpoint, manifest and the gradient.
fn prepare(s: &mut UnixStream, w: &World) {
    assert!(matches!(
        call(s, &Request::OpenWindow(open(w))),
        Response::WindowOpened { .. }
    ));
    assert!(matches!(
        upload(
            s,
            UploadKind::CheckpointWeights { file: 0, files: 1 },
            &w.weights
        ),
        Response::Uploaded { .. }
    ));
    assert!(matches!(
        upload(s, UploadKind::CheckpointConfig, &w.config),
        Response::Uploaded { complete: true, .. }
    ));
    assert!(matches!(
        upload(s, UploadKind::Manifest, &w.manifest),
        Response::Uploaded { complete: true, .. }
    ));
    assert!(matches!(
        upload(s, UploadKind::Gradient { uid: 1 }, &w.blob),
        Response::Uploaded { complete: true, .. }
    ));
    declare_missing(s, &[2]);
}

fn declare_missing(s: &mut UnixStream, uids: &[u64]) {
    assert!(matches!(
        call(
            s,
            &Request::DeclareMissing {
                window: WINDOW,
                uids: uids.to_vec()
            }
        ),
        Response::MissingDeclared { .. }
    ));
}

/// Sends every requested page, then evaluates every blob the enclave asks
/// for; the answer to the pages.
fn send_all_pages(s: &mut UnixStream, w: &World) -> Response {
    let accepted = send_pages(s, w);
    // Upload each blob the enclave asks for, in the seed's order.
    loop {
        match call(s, &Request::NextGradient { window: WINDOW }) {
            Response::GradientNeeded { uid: None, .. } => break,
            Response::GradientNeeded { uid: Some(uid), .. } => {
                assert_eq!(uid, 1, "only miner 1 has a valid blob");
                upload(s, UploadKind::Gradient { uid }, &w.blob);
            }
            other => panic!("{other:?}"),
        }
    }
    accepted
}

/// Asks for the pages (the seed) and sends every one requested; the answer
/// to the pages.
fn send_pages(s: &mut UnixStream, w: &World) -> Response {
    let Response::PagesNeeded(req) = call(s, &Request::RequestPages { window: WINDOW }) else {
        panic!("no page request")
    };
    let pages = req
        .pages()
        .into_iter()
        .map(|i| Page {
            index: i,
            tokens: page_bytes(&w.pages[i as usize]),
        })
        .collect();
    call(
        s,
        &Request::Pages {
            window: WINDOW,
            pages,
        },
    )
}

#[test]
fn honest_session_signs_a_statement_that_verifies() {
    let w = world();
    let srv = server("honest");
    let mut s = srv.connect();
    prepare(&mut s, &w);
    assert_eq!(
        send_all_pages(&mut s, &w),
        Response::PagesAccepted { outstanding: 0 }
    );
    let Response::Statement { message, signature } =
        call(&mut s, &Request::Finish { window: WINDOW })
    else {
        panic!()
    };
    let statement = SignedStatement::decode(&message, &signature).unwrap();
    statement.verify(&srv.enclave.public_key()).unwrap();
    let p = &statement.message.payload;
    assert_eq!(p.window, WINDOW);
    assert_eq!(p.checkpoint_hash, w.ckpt_hash.to_vec());
    assert_eq!(p.entries.len(), 2);
    assert_eq!(p.entries[0].status, 0, "uid 1 scored");
    assert!(p.entries[0].loss_after_own < p.entries[0].loss_before_own);
    assert_eq!(p.entries[1].status, 1, "uid 2 missing");
    // Finishing again returns the identical statement.
    assert_eq!(
        call(&mut s, &Request::Finish { window: WINDOW }),
        Response::Statement { message, signature }
    );
}

/// The world's weights split over two safetensors files, the window
/// re-opened on their identity.
fn sharded(w: &World) -> (Vec<Vec<u8>>, OpenWindow) {
    let files: Vec<Vec<u8>> = shard_weights(&w.weights, 2)
        .unwrap()
        .into_iter()
        .map(|(_, bytes)| bytes)
        .collect();
    let refs: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
    let mut o = open(w);
    o.checkpoint_hash = Bytes32(checkpoint_files_hash(&refs, &w.config));
    (files, o)
}

#[test]
fn sharded_checkpoint_loads_in_order_and_refuses_disorder() {
    let w = world();
    let (files, o) = sharded(&w);
    let srv = server("shards");
    let mut s = srv.connect();
    call(&mut s, &Request::OpenWindow(o));
    let shard = |file| UploadKind::CheckpointWeights { file, files: 2 };
    refused(
        upload(&mut s, shard(1), &files[1]),
        ErrorCode::UploadOutOfOrder,
    );
    refused(
        upload(
            &mut s,
            UploadKind::CheckpointWeights { file: 0, files: 0 },
            &files[0],
        ),
        ErrorCode::BadRequest,
    );
    upload(&mut s, shard(0), &files[0]);
    refused(
        upload(&mut s, shard(0), &files[0]),
        ErrorCode::DuplicateUpload,
    );
    refused(
        upload(
            &mut s,
            UploadKind::CheckpointWeights { file: 1, files: 3 },
            &files[1],
        ),
        ErrorCode::BadRequest,
    );
    upload(&mut s, shard(1), &files[1]);
    assert!(matches!(
        upload(&mut s, UploadKind::CheckpointConfig, &w.config),
        Response::Uploaded { complete: true, .. }
    ));
    // Loaded: nothing more is taken for it.
    refused(
        upload(&mut s, shard(0), &files[0]),
        ErrorCode::DuplicateUpload,
    );
}

#[test]
fn sharded_checkpoint_in_the_wrong_order_or_with_a_repeated_tensor_is_refused() {
    use vram_enclave::model::{read_weights, save_weights, Tensors};
    let w = world();
    let (files, o) = sharded(&w);
    let srv = server("shards-bad");
    let mut s = srv.connect();
    call(&mut s, &Request::OpenWindow(o));
    // Swapped files hash to another identity.
    upload(
        &mut s,
        UploadKind::CheckpointWeights { file: 0, files: 2 },
        &files[1],
    );
    upload(
        &mut s,
        UploadKind::CheckpointWeights { file: 1, files: 2 },
        &files[0],
    );
    refused(
        upload(&mut s, UploadKind::CheckpointConfig, &w.config),
        ErrorCode::CheckpointHashMismatch,
    );
    // A tensor in both files: the identity matches, the load refuses it.
    let mut second: Tensors = read_weights(&files[1]).unwrap();
    let (name, t) = read_weights(&files[0]).unwrap().into_iter().next().unwrap();
    second.insert(name, t);
    let twice = save_weights(&second).unwrap();
    let mut o = open(&w);
    o.checkpoint_hash = Bytes32(checkpoint_files_hash(&[&files[0], &twice], &w.config));
    let srv = server("shards-twice");
    let mut s = srv.connect();
    call(&mut s, &Request::OpenWindow(o));
    upload(
        &mut s,
        UploadKind::CheckpointWeights { file: 0, files: 2 },
        &files[0],
    );
    upload(
        &mut s,
        UploadKind::CheckpointWeights { file: 1, files: 2 },
        &twice,
    );
    refused(
        upload(&mut s, UploadKind::CheckpointConfig, &w.config),
        ErrorCode::BadCheckpoint,
    );
}

#[test]
fn attack_01_tampered_checkpoint() {
    let w = world();
    let srv = server("a01");
    let mut s = srv.connect();
    call(&mut s, &Request::OpenWindow(open(&w)));
    let mut bad = w.weights.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    upload(
        &mut s,
        UploadKind::CheckpointWeights { file: 0, files: 1 },
        &bad,
    );
    refused(
        upload(&mut s, UploadKind::CheckpointConfig, &w.config),
        ErrorCode::CheckpointHashMismatch,
    );
    // The session goes on: the genuine checkpoint is accepted afterwards.
    assert!(matches!(
        upload(
            &mut s,
            UploadKind::CheckpointWeights { file: 0, files: 1 },
            &w.weights
        ),
        Response::Uploaded { .. }
    ));
    assert!(matches!(
        upload(&mut s, UploadKind::CheckpointConfig, &w.config),
        Response::Uploaded { complete: true, .. }
    ));
}

#[test]
fn attack_02_tampered_gradient() {
    let w = world();
    let srv = server("a02");
    let mut s = srv.connect();
    call(&mut s, &Request::OpenWindow(open(&w)));
    upload(
        &mut s,
        UploadKind::CheckpointWeights { file: 0, files: 1 },
        &w.weights,
    );
    upload(&mut s, UploadKind::CheckpointConfig, &w.config);
    let mut bad = w.blob.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    refused(
        upload(&mut s, UploadKind::Gradient { uid: 1 }, &bad),
        ErrorCode::GradientHashMismatch,
    );
}

#[test]
fn attack_03_wrong_manifest_and_wrong_page() {
    let w = world();
    let srv = server("a03");
    let mut s = srv.connect();
    call(&mut s, &Request::OpenWindow(open(&w)));
    let mut bad = w.manifest.clone();
    bad[0] ^= 1;
    refused(
        upload(&mut s, UploadKind::Manifest, &bad),
        ErrorCode::ManifestMismatch,
    );
    upload(
        &mut s,
        UploadKind::CheckpointWeights { file: 0, files: 1 },
        &w.weights,
    );
    upload(&mut s, UploadKind::CheckpointConfig, &w.config);
    upload(&mut s, UploadKind::Manifest, &w.manifest);
    declare_missing(&mut s, &[1, 2]);
    let Response::PagesNeeded(req) = call(&mut s, &Request::RequestPages { window: WINDOW }) else {
        panic!()
    };
    let i = req.random[0];
    let mut tokens = w.pages[i as usize].clone();
    tokens[0] = (tokens[0] + 1) % 256;
    refused(
        call(
            &mut s,
            &Request::Pages {
                window: WINDOW,
                pages: vec![Page {
                    index: i,
                    tokens: page_bytes(&tokens),
                }],
            },
        ),
        ErrorCode::PageHashMismatch,
    );
    let unwanted = (0..16u64)
        .find(|p| !req.random.contains(p) && !req.own.iter().any(|(_, o)| o.contains(p)))
        .unwrap();
    refused(
        call(
            &mut s,
            &Request::Pages {
                window: WINDOW,
                pages: vec![Page {
                    index: unwanted,
                    tokens: page_bytes(&w.pages[unwanted as usize]),
                }],
            },
        ),
        ErrorCode::PageNotRequested,
    );
    refused(
        call(
            &mut s,
            &Request::Pages {
                window: WINDOW,
                pages: vec![Page {
                    index: i,
                    tokens: vec![0; 8],
                }],
            },
        ),
        ErrorCode::BadPage,
    );
}

#[test]
fn attack_04_replayed_window_with_other_inputs() {
    let w = world();
    let srv = server("a04");
    let mut s = srv.connect();
    call(&mut s, &Request::OpenWindow(open(&w)));
    let mut other = open(&w);
    other.miners.pop();
    refused(
        call(&mut s, &Request::OpenWindow(other)),
        ErrorCode::WindowReplayMismatch,
    );
    // Identical inputs resume.
    assert!(matches!(
        call(&mut s, &Request::OpenWindow(open(&w))),
        Response::WindowOpened { .. }
    ));
}

#[test]
fn attack_05_seed_grinding() {
    let w = world();
    let srv = server("a05");
    let mut s = srv.connect();
    prepare(&mut s, &w);
    let first = call(&mut s, &Request::RequestPages { window: WINDOW });
    assert_eq!(
        call(&mut s, &Request::RequestPages { window: WINDOW }),
        first
    );
    // A new session and a re-opened window get the same seed.
    let mut s2 = srv.connect();
    call(&mut s2, &Request::OpenWindow(open(&w)));
    assert_eq!(
        call(&mut s2, &Request::RequestPages { window: WINDOW }),
        first
    );
}

#[test]
fn attack_06_finish_twice_gives_the_same_statement_even_after_reopening() {
    let w = world();
    let srv = server("a06");
    let mut s = srv.connect();
    prepare(&mut s, &w);
    send_all_pages(&mut s, &w);
    let first = call(&mut s, &Request::Finish { window: WINDOW });
    assert!(matches!(first, Response::Statement { .. }));
    call(&mut s, &Request::OpenWindow(open(&w)));
    assert_eq!(call(&mut s, &Request::Finish { window: WINDOW }), first);
}

#[test]
fn attack_07_truncated_frame_leaves_the_server_up() {
    let srv = server("a07");
    let mut s = srv.connect();
    s.write_all(&[0, 0, 1, 0, 1, 2, 3]).unwrap();
    drop(s);
    let mut s = srv.connect();
    assert!(matches!(
        call(&mut s, &Request::Health),
        Response::Health { .. }
    ));
}

#[test]
fn attack_08_oversized_frame_is_refused_before_allocation() {
    let srv = server("a08");
    let mut s = srv.connect();
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let body = read_frame(
        &mut s,
        1 << 20,
        Some(Duration::from_secs(5)),
        Duration::from_secs(5),
    )
    .unwrap();
    refused(Response::decode(&body).unwrap(), ErrorCode::BadMessage);
    let mut s = srv.connect();
    assert!(matches!(
        call(&mut s, &Request::Health),
        Response::Health { .. }
    ));
}

#[test]
fn attack_09_garbage_cbor_keeps_the_session() {
    let srv = server("a09");
    let mut s = srv.connect();
    for garbage in [
        &b"\xff\xff\xff"[..],
        b"\xa1\x61x\x01",
        b"hello world",
        b"\x82\x01",
    ] {
        write_frame(&mut s, garbage).unwrap();
        let body = read_frame(
            &mut s,
            1 << 20,
            Some(Duration::from_secs(5)),
            Duration::from_secs(5),
        )
        .unwrap();
        refused(Response::decode(&body).unwrap(), ErrorCode::BadMessage);
    }
    // Valid CBOR with trailing bytes.
    let mut body = Request::Health.encode();
    body.push(0);
    write_frame(&mut s, &body).unwrap();
    refused(
        Response::decode(&read_frame(&mut s, 1 << 20, None, Duration::from_secs(5)).unwrap())
            .unwrap(),
        ErrorCode::BadMessage,
    );
    assert!(matches!(
        call(&mut s, &Request::Health),
        Response::Health { .. }
    ));
}

#[test]
fn attack_10_wrong_message_order() {
    let w = world();
    let srv = server("a10");
    let mut s = srv.connect();
    refused(
        call(&mut s, &Request::Finish { window: WINDOW }),
        ErrorCode::UnknownWindow,
    );
    call(&mut s, &Request::OpenWindow(open(&w)));
    refused(
        call(&mut s, &Request::RequestPages { window: WINDOW }),
        ErrorCode::OutOfOrder,
    );
    refused(
        call(
            &mut s,
            &Request::Pages {
                window: WINDOW,
                pages: vec![],
            },
        ),
        ErrorCode::OutOfOrder,
    );
    refused(
        upload(&mut s, UploadKind::Gradient { uid: 1 }, &w.blob),
        ErrorCode::OutOfOrder,
    );
    refused(
        call(&mut s, &Request::Finish { window: WINDOW }),
        ErrorCode::OutOfOrder,
    );
    upload(
        &mut s,
        UploadKind::CheckpointWeights { file: 0, files: 1 },
        &w.weights,
    );
    upload(&mut s, UploadKind::CheckpointConfig, &w.config);
    upload(&mut s, UploadKind::Manifest, &w.manifest);
    // No seed before every committed blob arrived or was declared missing.
    refused(
        call(&mut s, &Request::RequestPages { window: WINDOW }),
        ErrorCode::BlobsOutstanding,
    );
    declare_missing(&mut s, &[1, 2]);
    call(&mut s, &Request::RequestPages { window: WINDOW });
    refused(
        call(&mut s, &Request::Finish { window: WINDOW }),
        ErrorCode::PagesMissing,
    );
}

#[test]
fn attack_11_duplicate_miners() {
    let w = world();
    let srv = server("a11");
    let mut s = srv.connect();
    let mut dup = open(&w);
    dup.miners.push(MinerCommitment {
        uid: 2,
        gradient_hash: Bytes32([0x22; 32]),
    });
    refused(
        call(&mut s, &Request::OpenWindow(dup)),
        ErrorCode::DuplicateMiner,
    );
    let mut unsorted = open(&w);
    unsorted.miners.reverse();
    refused(
        call(&mut s, &Request::OpenWindow(unsorted)),
        ErrorCode::DuplicateMiner,
    );
}

#[test]
fn attack_12_duplicate_and_unknown_gradients() {
    let w = world();
    let srv = server("a12");
    let mut s = srv.connect();
    prepare(&mut s, &w);
    refused(
        upload(&mut s, UploadKind::Gradient { uid: 1 }, &w.blob),
        ErrorCode::DuplicateUpload,
    );
    // Declared missing: it cannot arrive later.
    refused(
        upload(&mut s, UploadKind::Gradient { uid: 2 }, &w.blob),
        ErrorCode::DuplicateUpload,
    );
    refused(
        upload(&mut s, UploadKind::Gradient { uid: 99 }, &w.blob),
        ErrorCode::UnknownMiner,
    );
}

#[test]
fn attack_13_unbounded_and_disordered_chunk_streams() {
    let w = world();
    let srv = server("a13");
    let mut s = srv.connect();
    call(&mut s, &Request::OpenWindow(open(&w)));
    let chunk = |offset: u64, total: u64, len: usize| {
        Request::Upload(Upload {
            window: WINDOW,
            kind: UploadKind::CheckpointConfig,
            offset,
            total,
            data: vec![b' '; len],
        })
    };
    refused(
        call(&mut s, &chunk(0, 1 << 40, 10)),
        ErrorCode::UploadTooLarge,
    );
    assert!(matches!(
        call(&mut s, &chunk(0, 100, 10)),
        Response::Uploaded { received: 10, .. }
    ));
    refused(
        call(&mut s, &chunk(50, 100, 10)),
        ErrorCode::UploadOutOfOrder,
    );
    refused(
        call(&mut s, &chunk(10, 200, 10)),
        ErrorCode::UploadOutOfOrder,
    );
    refused(
        call(&mut s, &chunk(10, 100, 200)),
        ErrorCode::UploadTooLarge,
    );
    // A manifest must be exactly page_count * 32 bytes.
    refused(
        call(
            &mut s,
            &Request::Upload(Upload {
                window: WINDOW,
                kind: UploadKind::Manifest,
                offset: 0,
                total: 1 << 30,
                data: vec![0; 4],
            }),
        ),
        ErrorCode::BadRequest,
    );
    // Gradients are capped by the model's blob budget (a fresh enclave,
    // since this one's config stream is half-way).
    let srv = server("a13b");
    let mut s = srv.connect();
    call(&mut s, &Request::OpenWindow(open(&w)));
    upload(
        &mut s,
        UploadKind::CheckpointWeights { file: 0, files: 1 },
        &w.weights,
    );
    upload(&mut s, UploadKind::CheckpointConfig, &w.config);
    refused(
        call(
            &mut s,
            &Request::Upload(Upload {
                window: WINDOW,
                kind: UploadKind::Gradient { uid: 1 },
                offset: 0,
                total: 1 << 32,
                data: vec![0; 4],
            }),
        ),
        ErrorCode::UploadTooLarge,
    );
}

#[test]
fn attack_14_slow_loris_is_cut_off_and_others_are_served() {
    let srv = server("a14");
    let mut slow = srv.connect();
    slow.write_all(&[0, 0]).unwrap();
    let mut other = srv.connect();
    assert!(matches!(
        call(&mut other, &Request::Health),
        Response::Health { .. }
    ));
    std::thread::sleep(Duration::from_millis(800));
    // The stalled frame missed its 400 ms deadline: the enclave closed it.
    let mut buf = [0u8; 1];
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(std::io::Read::read(&mut slow, &mut buf).unwrap_or(0), 0);
    assert!(matches!(
        call(&mut other, &Request::Health),
        Response::Health { .. }
    ));
}

#[test]
fn attack_15_oversized_nonce_and_bad_parameters() {
    let w = world();
    let srv = server("a15");
    let mut s = srv.connect();
    refused(
        call(
            &mut s,
            &Request::Describe {
                nonce: vec![0; 513],
            },
        ),
        ErrorCode::BadRequest,
    );
    // More miners than a statement on chain can hold.
    let mut crowded = open(&w);
    crowded.miners = (0..2001)
        .map(|uid| MinerCommitment {
            uid,
            gradient_hash: Bytes32([1; 32]),
        })
        .collect();
    refused(
        call(&mut s, &Request::OpenWindow(crowded)),
        ErrorCode::BadRequest,
    );
    let mut zero_pages = open(&w);
    zero_pages.page_count = 0;
    refused(
        call(&mut s, &Request::OpenWindow(zero_pages)),
        ErrorCode::BadRequest,
    );
    let mut bad_topk = open(&w);
    bad_topk.window += 1;
    bad_topk.eval_params.topk = 0;
    refused(
        call(&mut s, &Request::OpenWindow(bad_topk)),
        ErrorCode::BadRequest,
    );
    let mut long_pages = open(&w);
    long_pages.window += 2;
    long_pages.eval_params.page_len = 1000;
    call(&mut s, &Request::OpenWindow(long_pages));
    let chunks = |kind, body: &[u8]| {
        Request::Upload(Upload {
            window: WINDOW + 2,
            kind,
            offset: 0,
            total: body.len() as u64,
            data: body.to_vec(),
        })
    };
    call(
        &mut s,
        &chunks(
            UploadKind::CheckpointWeights { file: 0, files: 1 },
            &w.weights,
        ),
    );
    refused(
        call(&mut s, &chunks(UploadKind::CheckpointConfig, &w.config)),
        ErrorCode::BadRequest,
    );
}

#[test]
fn attack_16_uploads_for_unknown_windows() {
    let w = world();
    let srv = server("a16");
    let mut s = srv.connect();
    refused(
        upload(
            &mut s,
            UploadKind::CheckpointWeights { file: 0, files: 1 },
            &w.weights,
        ),
        ErrorCode::UnknownWindow,
    );
    refused(
        call(&mut s, &Request::RequestPages { window: 1 }),
        ErrorCode::UnknownWindow,
    );
}

#[test]
fn describe_binds_key_and_nonce() {
    let srv = server("describe");
    let mut s = srv.connect();
    let Response::Describe {
        public_key,
        attestation,
        simulated,
        ..
    } = call(
        &mut s,
        &Request::Describe {
            nonce: vec![1, 2, 3],
        },
    )
    else {
        panic!()
    };
    assert!(simulated);
    assert_eq!(public_key.0, srv.enclave.public_key());
    let doc = vram_attestation::AttestationDocument::parse(&attestation).unwrap();
    assert_eq!(doc.public_key, Some(&public_key.0[..]));
    assert_eq!(doc.nonce, Some(&[1u8, 2, 3][..]));
}

#[test]
fn attack_17_blobs_outside_their_turn_and_a_host_that_stops_early() {
    let w = world();
    let srv = server("a17");
    let mut s = srv.connect();
    prepare(&mut s, &w);
    send_pages(&mut s, &w);
    // After the seed a blob comes only when the enclave asks for it.
    refused(
        upload(&mut s, UploadKind::Gradient { uid: 1 }, &w.blob),
        ErrorCode::OutOfOrder,
    );
    // The enclave asks for miner 1; a host that stops here and asks for the
    // statement gets none: it scores exactly min(max_scored, valid).
    assert_eq!(
        call(&mut s, &Request::NextGradient { window: WINDOW }),
        Response::GradientNeeded {
            uid: Some(1),
            evaluated: 0
        }
    );
    refused(
        call(&mut s, &Request::Finish { window: WINDOW }),
        ErrorCode::BudgetNotScored,
    );
    // Delivered, it is scored, and then the statement comes.
    upload(&mut s, UploadKind::Gradient { uid: 1 }, &w.blob);
    assert_eq!(
        call(&mut s, &Request::NextGradient { window: WINDOW }),
        Response::GradientNeeded {
            uid: None,
            evaluated: 1
        }
    );
    assert_eq!(
        statuses(call(&mut s, &Request::Finish { window: WINDOW })),
        vec![0, 1]
    );
}

fn statuses(r: Response) -> Vec<u8> {
    let Response::Statement { message, signature } = r else {
        panic!("no statement: {r:?}")
    };
    let statement = SignedStatement::decode(&message, &signature).unwrap();
    statement
        .message
        .payload
        .entries
        .iter()
        .map(|e| e.status)
        .collect()
}

#[test]
fn attack_evaluate_some_evict_reopen_stop_early_and_finish_is_refused() {
    let w = world();
    let srv = server("evict");
    let mut s = srv.connect();
    prepare(&mut s, &w);
    send_pages(&mut s, &w);
    assert!(matches!(
        call(&mut s, &Request::NextGradient { window: WINDOW }),
        Response::GradientNeeded { uid: Some(1), .. }
    ));
    // Two other windows push this one's working state out.
    for other in [WINDOW + 1, WINDOW + 2] {
        let mut o = w.open();
        o.window = other;
        assert!(matches!(
            call(&mut s, &Request::OpenWindow(o)),
            Response::WindowOpened { .. }
        ));
    }
    // Re-opened with the same inputs (the same seed, as designed), the
    // blob set delivered again, a host that skips the evaluation and asks
    // for the statement is refused: nothing it does signs fewer than the
    // budget.
    assert!(matches!(
        call(&mut s, &Request::OpenWindow(open(&w))),
        Response::WindowOpened {
            need_checkpoint: false,
            ..
        }
    ));
    upload(&mut s, UploadKind::Manifest, &w.manifest);
    upload(&mut s, UploadKind::Gradient { uid: 1 }, &w.blob);
    declare_missing(&mut s, &[2]);
    send_pages(&mut s, &w);
    refused(
        call(&mut s, &Request::Finish { window: WINDOW }),
        ErrorCode::BudgetNotScored,
    );
    // Scored to the end, it signs the one statement with miner 1 scored.
    assert_eq!(statuses(send_all_pages_and_finish(&mut s, &w)), vec![0, 1]);
}

fn send_all_pages_and_finish(s: &mut UnixStream, w: &World) -> Response {
    loop {
        match call(s, &Request::NextGradient { window: WINDOW }) {
            Response::GradientNeeded { uid: None, .. } => break,
            Response::GradientNeeded { uid: Some(uid), .. } => {
                upload(s, UploadKind::Gradient { uid }, &w.blob);
            }
            other => panic!("{other:?}"),
        }
    }
    call(s, &Request::Finish { window: WINDOW })
}

#[test]
fn attack_score_past_the_last_moment_to_sign_gets_nothing_signed() {
    use vram_test_support::session::SCORING_SPAN_MS;
    // The window's span ends 2 s from now (seed margin 0): it opens, and
    // once the enclave's own clock passes the last moment to sign, no
    // request of the host gets a statement, and the window cannot be
    // opened again.
    let now = vram_enclave::service::system_clock_ms();
    let w = WindowWorld::new(WINDOW, now + 2_000 - SCORING_SPAN_MS);
    let srv = server("late");
    let mut s = srv.connect();
    prepare(&mut s, &w);
    send_pages(&mut s, &w);
    let sign_by = w.open().eval_params.sign_by_ms();
    while vram_enclave::service::system_clock_ms() <= sign_by {
        std::thread::sleep(Duration::from_millis(50));
    }
    refused(
        call(&mut s, &Request::NextGradient { window: WINDOW }),
        ErrorCode::WindowExpired,
    );
    refused(
        call(&mut s, &Request::Finish { window: WINDOW }),
        ErrorCode::WindowExpired,
    );
    refused(
        call(&mut s, &Request::OpenWindow(open(&w))),
        ErrorCode::WindowExpired,
    );
}
