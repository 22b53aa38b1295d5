//! The enclave service: the state machine behind the protocol. It trusts
//! nothing the host says: every input is checked against a hash the host
//! committed to in `OpenWindow` (which the chain checks in turn), the seed
//! is drawn once per window, and a window's statement, once signed, is the
//! only one this key will ever sign for it.

mod pages;
mod server;
mod upload;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::signature::Ed25519KeyPair;
use vram_attestation::statement::{
    ed25519_public_key, EntryStatus, IntentMessage, ScoreEntry, SignedStatement, WindowScores,
    INTENT_WINDOW_SCORES, MAX_ENTRIES,
};
use vram_attestation::{sha256, AttestRequest, Nsm};

use crate::eval::{loss_to_u64, Evaluator, MinerInput};
use crate::model::Checkpoint;
use crate::protocol::{
    Bytes32, ErrorCode, OpenWindow, PageRequest, Request, Response, Upload, UploadKind,
    PROTOCOL_VERSION,
};

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
    /// Windows whose seed and statement are remembered.
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
            max_records: 4096,
            max_sessions: 8,
        }
    }
}

/// What this key has committed to for a window: kept after the window's
/// inputs are dropped, so that it can never be opened again with other
/// inputs, draw another seed or sign another statement.
struct Record {
    inputs_digest: [u8; 32],
    seed: Option<[u8; 32]>,
    statement: Option<(Vec<u8>, Vec<u8>)>,
}

struct WindowState {
    open: OpenWindow,
    weights: Option<Stream>,
    config: Option<Stream>,
    finished_weights: Option<(Vec<u8>, [u8; 32])>,
    finished_config: Option<(Vec<u8>, [u8; 32])>,
    checkpoint: Option<Arc<Checkpoint>>,
    manifest_upload: Option<Stream>,
    manifest: Option<Vec<[u8; 32]>>,
    gradient_uploads: BTreeMap<u64, Stream>,
    gradients: BTreeMap<u64, (Vec<u8>, [u8; 32])>,
    request: Option<PageRequest>,
    pages: BTreeMap<u64, Vec<u32>>,
}

#[derive(Default)]
struct State {
    records: BTreeMap<u64, Record>,
    windows: BTreeMap<u64, WindowState>,
    checkpoints: Vec<Arc<Checkpoint>>,
}

/// The enclave: its key, its NSM and its windows.
pub struct Enclave {
    nsm: Box<dyn Nsm>,
    key: Ed25519KeyPair,
    public_key: [u8; 32],
    simulated: bool,
    config: ServiceConfig,
    state: Mutex<State>,
}

fn refuse<T>(code: ErrorCode, message: impl Into<String>) -> Result<T, Refusal> {
    Err((code, message.into()))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Enclave {
    /// Boots: the signing key comes from NSM randomness and never leaves.
    pub fn new(nsm: Box<dyn Nsm>, config: ServiceConfig) -> vram_attestation::Result<Self> {
        let mut seed = [0u8; 32];
        nsm.fill_random(&mut seed)?;
        let key = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| vram_attestation::Error::Crypto("Ed25519 key from seed"))?;
        seed.fill(0);
        let simulated = nsm.describe()?.simulated;
        Ok(Self {
            public_key: ed25519_public_key(&key),
            nsm,
            key,
            simulated,
            config,
            state: Mutex::new(State::default()),
        })
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
            }),
            Request::OpenWindow(open) => self.open_window(&mut state, open),
            Request::Upload(upload) => self.upload(&mut state, upload),
            Request::RequestPages { window } => self.request_pages(&mut state, window),
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

    fn open_window(&self, state: &mut State, open: OpenWindow) -> Result<Response, Refusal> {
        if open.miners.len() > MAX_ENTRIES {
            return refuse(
                ErrorCode::BadRequest,
                format!("{} miners, at most {MAX_ENTRIES}", open.miners.len()),
            );
        }
        if open.miners.windows(2).any(|w| w[0].uid >= w[1].uid) {
            return refuse(
                ErrorCode::DuplicateMiner,
                "miners must be ascending by uid without repeats",
            );
        }
        if open.page_count == 0 || open.page_count > self.config.max_page_count {
            return refuse(
                ErrorCode::BadRequest,
                format!(
                    "page_count {} outside 1..={}",
                    open.page_count, self.config.max_page_count
                ),
            );
        }
        // The model's block size is not known yet; page_len is checked
        // against it once the checkpoint loads.
        open.eval_params
            .validate(usize::MAX - 1)
            .map_err(|e| (ErrorCode::BadRequest, e.to_string()))?;
        let inputs_digest = sha256(&crate::protocol::encode(&open));
        let window = open.window;
        match state.records.get(&window) {
            Some(record) if record.inputs_digest != inputs_digest => {
                return refuse(
                    ErrorCode::WindowReplayMismatch,
                    format!("window {window} was opened with other inputs"),
                );
            }
            Some(_) => {}
            None => {
                if state.records.len() >= self.config.max_records {
                    // Oldest windows can no longer be submitted on chain.
                    state.records.pop_first();
                }
                state.records.insert(
                    window,
                    Record {
                        inputs_digest,
                        seed: None,
                        statement: None,
                    },
                );
            }
        }
        if !state.windows.contains_key(&window) {
            while state.windows.len() >= self.config.max_open_windows {
                state.windows.pop_first();
            }
            let checkpoint = state
                .checkpoints
                .iter()
                .find(|c| c.hash() == open.checkpoint_hash.0)
                .cloned();
            state.windows.insert(
                window,
                WindowState {
                    open,
                    weights: None,
                    config: None,
                    finished_weights: None,
                    finished_config: None,
                    checkpoint,
                    manifest_upload: None,
                    manifest: None,
                    gradient_uploads: BTreeMap::new(),
                    gradients: BTreeMap::new(),
                    request: None,
                    pages: BTreeMap::new(),
                },
            );
        }
        let w = state
            .windows
            .get(&window)
            .ok_or((ErrorCode::Internal, "window vanished".to_string()))?;
        Ok(Response::WindowOpened {
            window,
            need_checkpoint: w.checkpoint.is_none(),
            need_manifest: w.manifest.is_none(),
        })
    }

    fn upload(&self, state: &mut State, upload: Upload) -> Result<Response, Refusal> {
        let max_checkpoint = self.config.max_checkpoint_bytes;
        let State {
            windows,
            checkpoints,
            ..
        } = state;
        let w = windows.get_mut(&upload.window).ok_or((
            ErrorCode::UnknownWindow,
            format!("window {} is not open", upload.window),
        ))?;
        let progress = |s: &Stream, complete: bool| Response::Uploaded {
            received: s.received(),
            total: s.total(),
            complete,
        };
        match upload.kind {
            UploadKind::CheckpointWeights | UploadKind::CheckpointConfig => {
                if w.checkpoint.is_some() {
                    return refuse(
                        ErrorCode::DuplicateUpload,
                        "the checkpoint is already loaded",
                    );
                }
                let is_weights = upload.kind == UploadKind::CheckpointWeights;
                let (slot, finished, limit) = if is_weights {
                    (&mut w.weights, &mut w.finished_weights, max_checkpoint)
                } else {
                    (&mut w.config, &mut w.finished_config, MAX_CONFIG_BYTES)
                };
                if finished.is_some() {
                    return refuse(ErrorCode::DuplicateUpload, "that part is already complete");
                }
                let stream = match slot {
                    Some(s) => s,
                    None => slot.insert(Stream::new(upload.total, limit)?),
                };
                let complete = stream.push(upload.offset, upload.total, &upload.data)?;
                let response = progress(stream, complete);
                if complete {
                    if let Some(s) = slot.take() {
                        *finished = Some(s.finish());
                    }
                    Self::load_checkpoint(w, checkpoints)?;
                }
                Ok(response)
            }
            UploadKind::Manifest => {
                if w.manifest.is_some() {
                    return refuse(
                        ErrorCode::DuplicateUpload,
                        "the manifest is already complete",
                    );
                }
                let size = w.open.page_count.saturating_mul(32);
                if upload.total != size {
                    return refuse(
                        ErrorCode::BadRequest,
                        format!("a manifest of {} pages is {size} bytes", w.open.page_count),
                    );
                }
                let stream = match &mut w.manifest_upload {
                    Some(s) => s,
                    None => w.manifest_upload.insert(Stream::new(upload.total, size)?),
                };
                let complete = stream.push(upload.offset, upload.total, &upload.data)?;
                let response = progress(stream, complete);
                if complete {
                    if let Some(s) = w.manifest_upload.take() {
                        let (bytes, hash) = s.finish();
                        if hash != w.open.dataset_root.0 {
                            return refuse(
                                ErrorCode::ManifestMismatch,
                                "the manifest does not hash to the dataset root",
                            );
                        }
                        w.manifest = Some(
                            bytes
                                .chunks_exact(32)
                                .map(|c| {
                                    let mut h = [0u8; 32];
                                    h.copy_from_slice(c);
                                    h
                                })
                                .collect(),
                        );
                    }
                }
                Ok(response)
            }
            UploadKind::Gradient { uid } => {
                let committed = w
                    .open
                    .miners
                    .iter()
                    .find(|m| m.uid == uid)
                    .and_then(|m| m.gradient_hash)
                    .ok_or((
                        ErrorCode::UnknownMiner,
                        format!("miner {uid} has no commitment in this window"),
                    ))?;
                let checkpoint = w.checkpoint.as_ref().ok_or((
                    ErrorCode::OutOfOrder,
                    "upload the checkpoint before gradients".to_string(),
                ))?;
                if w.gradients.contains_key(&uid) {
                    return refuse(
                        ErrorCode::DuplicateUpload,
                        format!("miner {uid}'s gradient is already complete"),
                    );
                }
                let topk = usize::try_from(w.open.eval_params.topk).unwrap_or(usize::MAX);
                let budget = checkpoint.shapes().blob_budget(topk) as u64;
                let stream = match w.gradient_uploads.get_mut(&uid) {
                    Some(s) => s,
                    None => w
                        .gradient_uploads
                        .entry(uid)
                        .or_insert(Stream::new(upload.total, budget)?),
                };
                let complete = stream.push(upload.offset, upload.total, &upload.data)?;
                let response = progress(stream, complete);
                if complete {
                    if let Some(s) = w.gradient_uploads.remove(&uid) {
                        let (bytes, hash) = s.finish();
                        if hash != committed.0 {
                            return refuse(
                                ErrorCode::GradientHashMismatch,
                                format!("miner {uid}'s blob does not match its commitment"),
                            );
                        }
                        w.gradients.insert(uid, (bytes, hash));
                    }
                }
                Ok(response)
            }
        }
    }

    /// Once both parts arrived: check the identity, load, cache.
    fn load_checkpoint(
        w: &mut WindowState,
        cache: &mut Vec<Arc<Checkpoint>>,
    ) -> Result<(), Refusal> {
        let (Some((weights, wh)), Some((config, ch))) = (&w.finished_weights, &w.finished_config)
        else {
            return Ok(());
        };
        if crate::model::combine_checkpoint_hashes(wh, ch) != w.open.checkpoint_hash.0 {
            w.finished_weights = None;
            w.finished_config = None;
            return refuse(
                ErrorCode::CheckpointHashMismatch,
                "the checkpoint does not hash to the window's checkpoint hash",
            );
        }
        let loaded = Checkpoint::load(weights, config);
        w.finished_weights = None;
        w.finished_config = None;
        let checkpoint = Arc::new(loaded.map_err(|e| (ErrorCode::BadCheckpoint, e.to_string()))?);
        w.open
            .eval_params
            .validate(checkpoint.config().block_size)
            .map_err(|e| (ErrorCode::BadRequest, e.to_string()))?;
        cache.retain(|c| c.hash() != checkpoint.hash());
        if cache.len() >= 2 {
            cache.remove(0);
        }
        cache.push(Arc::clone(&checkpoint));
        w.checkpoint = Some(checkpoint);
        Ok(())
    }

    fn request_pages(&self, state: &mut State, window: u64) -> Result<Response, Refusal> {
        let State {
            windows, records, ..
        } = state;
        let w = windows.get_mut(&window).ok_or((
            ErrorCode::UnknownWindow,
            format!("window {window} is not open"),
        ))?;
        if w.checkpoint.is_none() || w.manifest.is_none() {
            return refuse(
                ErrorCode::OutOfOrder,
                "upload the checkpoint and the manifest first",
            );
        }
        if let Some(request) = &w.request {
            return Ok(Response::PagesNeeded(request.clone()));
        }
        let record = records.get_mut(&window).ok_or((
            ErrorCode::Internal,
            "no record for an open window".to_string(),
        ))?;
        let seed = match record.seed {
            Some(seed) => seed,
            None => {
                let mut seed = [0u8; 32];
                self.nsm
                    .fill_random(&mut seed)
                    .map_err(|e| (ErrorCode::Nsm, e.to_string()))?;
                record.seed = Some(seed);
                seed
            }
        };
        let p = &w.open.eval_params;
        let request = PageRequest {
            seed: Bytes32(seed),
            random: random_pages(&seed, p.random_pages, w.open.page_count),
            own: w
                .open
                .miners
                .iter()
                .filter(|m| m.gradient_hash.is_some())
                .map(|m| {
                    (
                        m.uid,
                        own_pages(
                            &w.open.dataset_root.0,
                            window,
                            m.uid,
                            p.own_pages,
                            w.open.page_count,
                        ),
                    )
                })
                .collect(),
        };
        w.request = Some(request.clone());
        Ok(Response::PagesNeeded(request))
    }

    fn pages(
        state: &mut State,
        window: u64,
        pages: Vec<crate::protocol::Page>,
    ) -> Result<Response, Refusal> {
        let w = state.windows.get_mut(&window).ok_or((
            ErrorCode::UnknownWindow,
            format!("window {window} is not open"),
        ))?;
        let (Some(request), Some(manifest), Some(checkpoint)) =
            (&w.request, &w.manifest, &w.checkpoint)
        else {
            return refuse(ErrorCode::OutOfOrder, "request pages first");
        };
        let wanted = request.pages();
        let page_len = w.open.eval_params.page_len as usize;
        let vocab = checkpoint.config().vocab_size;
        for page in pages {
            if !wanted.contains(&page.index) {
                return refuse(
                    ErrorCode::PageNotRequested,
                    format!("page {} was not requested", page.index),
                );
            }
            if page.tokens.len() != page_len * 4 {
                return refuse(
                    ErrorCode::BadPage,
                    format!(
                        "page {} has {} bytes, expected {}",
                        page.index,
                        page.tokens.len(),
                        page_len * 4
                    ),
                );
            }
            let expected = manifest
                .get(page.index as usize)
                .ok_or((ErrorCode::Internal, "index outside manifest".to_string()))?;
            if sha256(&page.tokens) != *expected {
                return refuse(
                    ErrorCode::PageHashMismatch,
                    format!("page {} does not match the manifest", page.index),
                );
            }
            let tokens: Vec<u32> = page
                .tokens
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if let Some(t) = tokens.iter().find(|&&t| t as usize >= vocab) {
                return refuse(
                    ErrorCode::BadPage,
                    format!("page {} has token {t} outside the vocabulary", page.index),
                );
            }
            w.pages.insert(page.index, tokens);
        }
        let outstanding = wanted.iter().filter(|i| !w.pages.contains_key(i)).count() as u64;
        Ok(Response::PagesAccepted { outstanding })
    }

    fn finish(&self, state: &mut State, window: u64) -> Result<Response, Refusal> {
        if let Some((message, signature)) =
            state.records.get(&window).and_then(|r| r.statement.clone())
        {
            return Ok(Response::Statement { message, signature });
        }
        let w = state.windows.get(&window).ok_or((
            ErrorCode::UnknownWindow,
            format!("window {window} is not open"),
        ))?;
        let (Some(request), Some(checkpoint)) = (&w.request, &w.checkpoint) else {
            return refuse(ErrorCode::OutOfOrder, "request and send pages first");
        };
        let missing = request
            .random
            .iter()
            .chain(request.own.iter().flat_map(|(_, p)| p))
            .filter(|i| !w.pages.contains_key(i))
            .count();
        if missing > 0 {
            return refuse(
                ErrorCode::PagesMissing,
                format!("{missing} requested pages have not arrived"),
            );
        }
        let page = |i: &u64| w.pages.get(i).map(Vec::as_slice).unwrap_or_default();
        let random: Vec<&[u32]> = request.random.iter().map(page).collect();
        let miners: Vec<MinerInput<'_>> = w
            .open
            .miners
            .iter()
            .map(|m| MinerInput {
                uid: m.uid,
                own_pages: request
                    .own
                    .iter()
                    .find(|(uid, _)| *uid == m.uid)
                    .map(|(_, idx)| idx.iter().map(page).collect())
                    .unwrap_or_default(),
                blob: w.gradients.get(&m.uid).map(|(b, _)| b.as_slice()),
            })
            .collect();
        let evaluation = Evaluator::new(checkpoint, self.config.batch_pages)
            .evaluate_window(window, &w.open.eval_params, &random, &miners)
            .map_err(|e| (ErrorCode::Internal, e.to_string()))?;
        let eval_params_hash = sha256(
            &bcs::to_bytes(&w.open.eval_params)
                .map_err(|e| (ErrorCode::Internal, e.to_string()))?,
        );
        let entries = evaluation
            .miners
            .iter()
            .map(|r| {
                let status = r.outcome.status();
                let gradient_hash = match status {
                    EntryStatus::Missing => Vec::new(),
                    _ => w
                        .gradients
                        .get(&r.uid)
                        .map(|(_, h)| h.to_vec())
                        .unwrap_or_default(),
                };
                ScoreEntry {
                    miner_uid: r.uid,
                    gradient_hash,
                    status: status as u8,
                    loss_before_own: loss_to_u64(r.loss_before_own),
                    loss_after_own: loss_to_u64(r.loss_after_own),
                    loss_after_random: loss_to_u64(r.loss_after_random),
                }
            })
            .collect();
        let message = IntentMessage {
            intent: INTENT_WINDOW_SCORES,
            timestamp_ms: now_ms(),
            payload: WindowScores {
                window,
                validator: w.open.validator.0,
                checkpoint_hash: w.open.checkpoint_hash.0.to_vec(),
                dataset_root: w.open.dataset_root.0.to_vec(),
                eval_params_hash: eval_params_hash.to_vec(),
                eval_seed: request.seed.0.to_vec(),
                loss_before_random: loss_to_u64(evaluation.loss_before_random),
                entries,
            },
        };
        let signed = SignedStatement::sign(message, &self.key)
            .map_err(|e| (ErrorCode::Internal, e.to_string()))?;
        let out = (signed.bcs, signed.signature.to_vec());
        if let Some(record) = state.records.get_mut(&window) {
            record.statement = Some(out.clone());
        }
        // The inputs are no longer needed: the statement is final.
        state.windows.remove(&window);
        Ok(Response::Statement {
            message: out.0,
            signature: out.1,
        })
    }
}
