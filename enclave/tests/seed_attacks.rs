//! A dishonest host against the real `vram-enclave` binary (simulated NSM,
//! Unix socket): the seed of a window cannot be re-drawn, learnt early or
//! steered (design §2, issue 13). Each test plays one attack.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vram_attestation::statement::SignedStatement;
use vram_enclave::protocol::{ErrorCode, Request, Response, UploadKind};
use vram_test_support::session::{refusal, Session, WindowWorld};
use vram_test_support::TempDir;

const W: u64 = 7;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The binary, serving on a Unix socket; killed on drop.
struct Enclave {
    child: Child,
    socket: std::path::PathBuf,
    _dir: TempDir,
}

impl Drop for Enclave {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Enclave {
    fn start(tag: &str) -> Self {
        let dir = TempDir::new(&format!("seed-{tag}")).unwrap();
        let socket = dir.join("enclave.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_vram-enclave"))
            .args([
                "serve",
                "--listen",
                &format!("unix:{}", socket.display()),
                "--nsm",
                &format!("simulated:{}", dir.join("state").display()),
                "--threads",
                "1",
            ])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !socket.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "enclave did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            socket,
            _dir: dir,
        }
    }

    fn session(&self) -> Session<UnixStream> {
        Session(UnixStream::connect(&self.socket).unwrap())
    }
}

/// Opens windows `W + others` so that the enclave drops the inputs it
/// holds for `W` (it holds two windows' inputs; records stay).
fn evict_inputs(
    s: &mut Session<UnixStream>,
    w: &WindowWorld,
    others: std::ops::RangeInclusive<u64>,
) {
    for other in others {
        let mut open = w.open();
        open.window = W + other;
        s.call(&Request::OpenWindow(open));
    }
}

/// Opens the world's window, delivers miner 1's blob, declares miner 2
/// missing and returns the seed.
fn honest_seed(s: &mut Session<UnixStream>, w: &WindowWorld) -> [u8; 32] {
    assert!(matches!(
        s.open_and_load(w, &w.open()),
        Response::WindowOpened { .. }
    ));
    s.upload(W, UploadKind::Gradient { uid: 1 }, &w.blob);
    s.declare_missing(W, &[2]);
    s.request_pages(W).unwrap().seed.0
}

#[test]
fn attack_ask_for_the_seed_before_the_upload_deadline() {
    let enclave = Enclave::start("early");
    let mut s = enclave.session();
    // The deadline is a minute ahead by the enclave's clock.
    let w = WindowWorld::new(W, now_ms() + 60_000);
    assert_eq!(
        refusal(&s.open_and_load(&w, &w.open())),
        Some(ErrorCode::TooEarly)
    );
    // Past the deadline but inside the reveal phase and the seed margin:
    // still too early.
    let mut open = WindowWorld::new(W, now_ms() - 1_000).open();
    open.eval_params.seed_margin_ms = 10_000;
    open.eval_params.opens_at_ms = now_ms() + 59_000;
    assert_eq!(
        refusal(&s.call(&Request::OpenWindow(open))),
        Some(ErrorCode::TooEarly)
    );
}

#[test]
fn attack_flood_other_windows_to_evict_the_record_and_redraw_the_seed() {
    let enclave = Enclave::start("flood");
    let mut s = enclave.session();
    let deadline = now_ms() - 1_000;
    let w = WindowWorld::new(W, deadline);
    let seed = honest_seed(&mut s, &w);
    // Open as many other windows as the enclave takes, and more.
    let mut refused_at = None;
    for other in 1..=400u64 {
        let mut open = w.open();
        open.window = W + other;
        match s.call(&Request::OpenWindow(open)) {
            Response::WindowOpened { .. } => {}
            r => {
                assert_eq!(refusal(&r), Some(ErrorCode::TooManyWindows), "{r:?}");
                refused_at = Some(other);
                break;
            }
        }
    }
    assert!(refused_at.is_some(), "the flood was never refused");
    // Window W was not evicted: other inputs are refused...
    let mut other_inputs = w.open();
    other_inputs.miners.pop();
    assert_eq!(
        refusal(&s.call(&Request::OpenWindow(other_inputs))),
        Some(ErrorCode::WindowReplayMismatch)
    );
    // ...and the same inputs give the same seed.
    let mut again = enclave.session();
    assert_eq!(honest_seed(&mut again, &w), seed);
}

#[test]
fn attack_reopen_the_window_with_the_same_inputs_gets_the_same_seed_and_scores() {
    let enclave = Enclave::start("same");
    let w = WindowWorld::new(W, now_ms() - 1_000);
    let mut s = enclave.session();
    let seed = honest_seed(&mut s, &w);
    let request = s.request_pages(W).unwrap();
    let (message, signature) = s.pages_and_finish(&w, W, &request).unwrap();
    // Evict the window's inputs (two are held), then score it again.
    evict_inputs(&mut s, &w, 1..=2);
    let mut again = enclave.session();
    assert!(matches!(
        again.open_and_load(&w, &w.open()),
        Response::WindowOpened { .. }
    ));
    assert_eq!(
        again.call(&Request::Finish { window: W }),
        Response::Statement {
            message: message.clone(),
            signature: signature.clone()
        }
    );
    let statement = SignedStatement::decode(&message, &signature).unwrap();
    assert_eq!(statement.message.payload.eval_seed, seed.to_vec());
}

#[test]
fn attack_reopen_with_another_blob_set_after_seeing_the_seed() {
    let enclave = Enclave::start("blobset");
    let w = WindowWorld::new(W, now_ms() - 1_000);
    let mut s = enclave.session();
    let seed = honest_seed(&mut s, &w);
    // Withholding after the seed is known is refused in the session...
    assert_eq!(
        refusal(&s.declare_missing(W, &[1])),
        Some(ErrorCode::OutOfOrder)
    );
    // ...and after evicting the window's inputs and re-opening it.
    evict_inputs(&mut s, &w, 1..=2);
    let mut again = enclave.session();
    again.open_and_load(&w, &w.open());
    again.declare_missing(W, &[1, 2]);
    assert_eq!(
        refusal(&again.request_pages(W).unwrap_err()),
        Some(ErrorCode::WindowReplayMismatch)
    );
    // The blob set that drew the seed still gets it (once the poisoned
    // inputs are evicted in turn).
    evict_inputs(&mut again, &w, 3..=4);
    let mut honest = enclave.session();
    assert_eq!(honest_seed(&mut honest, &w), seed);
}

#[test]
fn attack_ask_for_the_seed_before_every_blob_is_settled() {
    let enclave = Enclave::start("unsettled");
    let w = WindowWorld::new(W, now_ms() - 1_000);
    let mut s = enclave.session();
    s.open_and_load(&w, &w.open());
    s.upload(W, UploadKind::Gradient { uid: 1 }, &w.blob);
    assert_eq!(
        refusal(&s.request_pages(W).unwrap_err()),
        Some(ErrorCode::BlobsOutstanding)
    );
}

#[test]
fn two_enclaves_draw_different_seeds_for_the_same_inputs() {
    // The seed is keyed by a secret drawn at boot: what one enclave drew
    // tells nothing about another's, and neither is the host's to choose.
    let w = WindowWorld::new(W, now_ms() - 1_000);
    let a = honest_seed(&mut Enclave::start("two-a").session(), &w);
    let b = honest_seed(&mut Enclave::start("two-b").session(), &w);
    assert_ne!(a, b);
}
