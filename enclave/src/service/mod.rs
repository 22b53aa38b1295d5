//! The enclave service: the state machine behind the protocol. It trusts
//! nothing the host says: every input is checked against a hash the host
//! committed to in `OpenWindow` (which the chain checks in turn). A window
//! opens only inside its scoring span by the enclave's own clock, every
//! committed blob arrives or is declared missing before the seed exists, the
//! seed is an HMAC of the inputs under a boot secret, a statement scores
//! exactly `min(max_scored, valid)` miners and is signed before the span's
//! last moment or not at all, and a window's statement, once signed, is the
//! only one this key will ever sign for it (design §2).

mod evaluate;
mod open;
mod pages;
mod receive;
mod records;
mod score;
mod server;
mod upload;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::hmac;
use ring::signature::Ed25519KeyPair;
use vram_attestation::statement::ed25519_public_key;
use vram_attestation::{AttestRequest, Nsm};

use crate::model::Checkpoint;
use crate::protocol::{
    Bytes32, ErrorCode, OpenWindow, PageRequest, Request, Response, PROTOCOL_VERSION,
};
use records::Records;

pub use pages::{own_pages, random_pages};
pub use server::{serve, session, Listener};
use upload::Stream;

/// A refusal: its code and a message for the host's logs.
pub(crate) type Refusal = (ErrorCode, String);

/// User data bound into every attestation document of this enclave.
pub const ATTESTATION_USER_DATA: &[u8] = b"vram-enclave/1";
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// Limits and timeouts of the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Largest frame accepted.
    pub max_frame: u32,
    /// How long a connection may sit idle between frames.
    pub idle_timeout: Duration,
    /// How long one frame may take to arrive once begun.
    pub frame_timeout: Duration,
    /// Largest checkpoint (weights) accepted.
    pub max_checkpoint_bytes: u64,
    /// Largest manifest (pages) accepted.
    pub max_page_count: u64,
    /// Pages per forward pass.
    pub batch_pages: usize,
    /// Windows whose inputs are held at once.
    pub max_open_windows: usize,
    /// Live window records held at once (an honest host needs one or two);
    /// a record lives until its window's `scoring_end_ms` by the enclave's
    /// clock and is never dropped before.
    pub max_records: usize,
    /// Concurrent connections.
    pub max_sessions: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            max_frame: crate::protocol::DEFAULT_MAX_FRAME,
            idle_timeout: Duration::from_secs(600),
            frame_timeout: Duration::from_secs(30),
            max_checkpoint_bytes: 4 << 30,
            max_page_count: 1 << 24,
            batch_pages: 8,
            max_open_windows: 2,
            // A record lives one scoring span (at most a window): an honest
            // host holds one or two; 256 leave room for a host that opens
            // windows of other (forged) parameters, at most ~46 MB of
            // 2000-entry statements.
            max_records: 256,
            max_sessions: 8,
        }
    }
}

/// What the enclave concluded about one committed blob.
#[derive(Debug, Clone)]
enum Verdict {
    /// Parsed and made for this window, miner and checkpoint. The bytes are
    /// not kept: the host uploads the blob again when its turn comes.
    Valid,
    /// Failed validation.
    Malformed,
    /// Made for another window or checkpoint.
    Stale,
    /// Declared missing by the host.
    Missing,
}

/// A window the enclave works on. What every phase needs sits here; what
/// only one phase needs sits in its variant of [`Phase`]. Once signed, the
/// window is dropped: its statement lives on in its record (`records.rs`).
struct WindowState {
    open: OpenWindow,
    eval_params_hash: [u8; 32],
    checkpoint: Option<Arc<Checkpoint>>,
    /// The dataset manifest's page hashes, once uploaded.
    manifest: Option<Vec<[u8; 32]>>,
    /// Each committed blob's verdict (or missing declaration).
    verdicts: BTreeMap<u64, Verdict>,
    phase: Phase,
}

/// Where a window is.
enum Phase {
    /// Before the seed: the checkpoint, the manifest and every committed
    /// blob arrive, or blobs are declared missing.
    Receiving(Box<Receiving>),
    /// The seed exists and the blob set is fixed: the pages, then the
    /// selected blobs one at a time, then the statement.
    Evaluating(Box<Evaluating>),
}

/// The bodies in flight before the seed.
#[derive(Default)]
struct Receiving {
    /// The weights file being received (the first not yet complete).
    weights: Option<Stream>,
    config: Option<Stream>,
    /// The weights files the host announced (0 before the first upload).
    weights_files: u32,
    /// Complete weights files, in order, with their SHA-256.
    finished_weights: Vec<(Vec<u8>, [u8; 32])>,
    finished_config: Option<(Vec<u8>, [u8; 32])>,
    manifest: Option<Stream>,
    gradients: BTreeMap<u64, Stream>,
}

/// The seed's consequences and the evaluation.
struct Evaluating {
    request: PageRequest,
    /// The miners to score, in the seed's order: the first
    /// `min(max_scored, valid)` valid ones.
    selected: Vec<u64>,
    pages: BTreeMap<u64, Vec<u32>>,
    /// Begun at the first `NextGradient` (the base loss on the random pages).
    progress: Option<score::Progress>,
    /// The blob the enclave asked for (`Progress::asked`), as it streams in.
    upload: Option<Stream>,
}

impl WindowState {
    fn new(
        open: OpenWindow,
        eval_params_hash: [u8; 32],
        checkpoint: Option<Arc<Checkpoint>>,
    ) -> Self {
        Self {
            open,
            eval_params_hash,
            checkpoint,
            manifest: None,
            verdicts: BTreeMap::new(),
            phase: Phase::Receiving(Box::default()),
        }
    }

    fn evaluating(&self) -> Option<&Evaluating> {
        match &self.phase {
            Phase::Evaluating(e) => Some(e),
            Phase::Receiving(_) => None,
        }
    }
}

#[derive(Default)]
struct State {
    records: Records,
    windows: BTreeMap<u64, WindowState>,
    checkpoints: Vec<Arc<Checkpoint>>,
}

/// The enclave: its key, its NSM and its windows.
pub struct Enclave {
    nsm: Box<dyn Nsm>,
    key: Ed25519KeyPair,
    /// 32 bytes of NSM randomness drawn at boot; keys the seed's HMAC and
    /// never leaves the enclave.
    boot_secret: hmac::Key,
    /// Unix ms: the system clock (kvm-clock in a Nitro enclave, which the
    /// parent cannot set).
    clock: fn() -> u64,
    public_key: [u8; 32],
    simulated: bool,
    config: ServiceConfig,
    state: Mutex<State>,
}

fn refuse<T>(code: ErrorCode, message: impl Into<String>) -> Result<T, Refusal> {
    Err((code, message.into()))
}

/// The system clock in Unix ms.
pub fn system_clock_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Enclave {
    /// Boots on the system clock: the signing key and the boot secret come
    /// from NSM randomness and never leave.
    pub fn new(nsm: Box<dyn Nsm>, config: ServiceConfig) -> vram_attestation::Result<Self> {
        Self::with_clock(nsm, config, system_clock_ms)
    }

    /// Boots on `clock` (Unix ms), for tests that move time.
    pub fn with_clock(
        nsm: Box<dyn Nsm>,
        config: ServiceConfig,
        clock: fn() -> u64,
    ) -> vram_attestation::Result<Self> {
        let mut seed = [0u8; 32];
        nsm.fill_random(&mut seed)?;
        let key = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| vram_attestation::Error::Crypto("Ed25519 key from seed"))?;
        nsm.fill_random(&mut seed)?;
        let boot_secret = hmac::Key::new(hmac::HMAC_SHA256, &seed);
        seed.fill(0);
        let simulated = nsm.describe()?.simulated;
        Ok(Self {
            public_key: ed25519_public_key(&key),
            nsm,
            key,
            boot_secret,
            clock,
            simulated,
            config,
            state: Mutex::new(State::default()),
        })
    }

    fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    /// The statement-signing public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The service limits.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// Answers one request. Refusals are responses: the session goes on.
    pub fn handle(&self, request: Request) -> Response {
        let Ok(mut state) = self.state.lock() else {
            return Response::error(ErrorCode::Internal, "state lock poisoned");
        };
        let result = match request {
            Request::Describe { nonce } => self.describe(&nonce),
            Request::Health => Ok(Response::Health {
                protocol_version: PROTOCOL_VERSION,
                windows: state.windows.keys().copied().collect(),
                checkpoints: state
                    .checkpoints
                    .iter()
                    .map(|c| Bytes32(c.hash()))
                    .collect(),
                clock_ms: self.now_ms(),
            }),
            Request::OpenWindow(open) => self.open_window(&mut state, open),
            Request::Upload(upload) => self.upload(&mut state, upload),
            Request::DeclareMissing { window, uids } => {
                Self::declare_missing(&mut state, window, &uids)
            }
            Request::RequestPages { window } => self.request_pages(&mut state, window),
            Request::NextGradient { window } => self.next_gradient(&mut state, window),
            Request::Pages { window, pages } => Self::pages(&mut state, window, pages),
            Request::Finish { window } => self.finish(&mut state, window),
        };
        result.unwrap_or_else(|(code, message)| Response::Error { code, message })
    }

    fn describe(&self, nonce: &[u8]) -> Result<Response, Refusal> {
        if nonce.len() > vram_attestation::MAX_NSM_NONCE {
            return refuse(
                ErrorCode::BadRequest,
                format!("nonce of {} bytes, at most 512", nonce.len()),
            );
        }
        let attestation = self
            .nsm
            .attest(&AttestRequest {
                public_key: Some(&self.public_key),
                user_data: Some(ATTESTATION_USER_DATA),
                nonce: Some(nonce),
            })
            .map_err(|e| (ErrorCode::Nsm, e.to_string()))?;
        Ok(Response::Describe {
            protocol_version: PROTOCOL_VERSION,
            enclave_version: env!("CARGO_PKG_VERSION").to_string(),
            public_key: Bytes32(self.public_key),
            attestation,
            simulated: self.simulated,
        })
    }
}
