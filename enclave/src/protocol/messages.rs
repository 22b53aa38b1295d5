//! The messages of the enclave protocol (docs/protocol.md), CBOR via serde.
//! Decoding is bounded by the frame (the body is fully in memory and capped)
//! and strict: unknown fields, duplicate fields and trailing bytes are
//! refused.

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::eval::EvalParams;

/// The protocol version of these messages (4: `EvalParams` carries the
/// window's timeline, `NextGradient` no host deadline; 3: weights files are
/// numbered, `CheckpointWeights{file, files}`).
pub const PROTOCOL_VERSION: u32 = 4;

/// 32 bytes (hashes, keys, addresses), encoded as a CBOR byte string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes32(pub [u8; 32]);

impl Serialize for Bytes32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = serde_bytes::ByteBuf::deserialize(d)?;
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| serde::de::Error::invalid_length(bytes.len(), &"32 bytes"))?;
        Ok(Self(array))
    }
}

/// A miner's on-chain gradient commitment for the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinerCommitment {
    /// The miner.
    pub uid: u64,
    /// SHA-256 of the committed blob.
    pub gradient_hash: Bytes32,
}

/// Everything a window's statement is about, as the host read it on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenWindow {
    /// The window.
    pub window: u64,
    /// The account that will submit the statement.
    pub validator: Bytes32,
    /// The network's evaluation parameters.
    pub eval_params: EvalParams,
    /// The anchored checkpoint's identity.
    pub checkpoint_hash: Bytes32,
    /// SHA-256 of the dataset manifest.
    pub dataset_root: Bytes32,
    /// Pages in the manifest.
    pub page_count: u64,
    /// Every commitment for the window, ascending by uid (miners that
    /// committed nothing are absent, as in the statement).
    pub miners: Vec<MinerCommitment>,
}

/// Most weights files a checkpoint may have (a 70B model ships in 30).
pub const MAX_WEIGHTS_FILES: u32 = 1024;

/// What an upload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UploadKind {
    /// One of the checkpoint's safetensors files: `file` of `files` (one
    /// file, or the shards of `model.safetensors.index.json` in its order),
    /// sent in order, each complete before the next begins.
    CheckpointWeights {
        /// Its position, from 0.
        file: u32,
        /// How many weights files the checkpoint has (the same in every
        /// upload of the window).
        files: u32,
    },
    /// The checkpoint's `config.json`.
    CheckpointConfig,
    /// The dataset manifest: `page_count` SHA-256 hashes, concatenated.
    Manifest,
    /// A miner's gradient blob.
    Gradient {
        /// The miner.
        uid: u64,
    },
}

/// One chunk of a streamed body; chunks arrive in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// The window the upload belongs to.
    pub window: u64,
    /// What is uploaded.
    pub kind: UploadKind,
    /// Position of this chunk in the body.
    pub offset: u64,
    /// Size of the whole body (the same in every chunk).
    pub total: u64,
    /// The chunk.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// A page of tokens (`u32` little-endian).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Index in the manifest.
    pub index: u64,
    /// `page_len` tokens, 4 bytes each.
    #[serde(with = "serde_bytes")]
    pub tokens: Vec<u8>,
}

/// Host to enclave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Versions, public key and an attestation document binding `nonce`.
    Describe {
        /// At most 512 bytes.
        #[serde(with = "serde_bytes")]
        nonce: Vec<u8>,
    },
    /// Liveness and state summary.
    Health,
    /// Opens (or resumes, with identical inputs) a window.
    OpenWindow(OpenWindow),
    /// A chunk of a checkpoint, manifest or gradient.
    Upload(Upload),
    /// Declares committed blobs the host could not fetch. Every committed
    /// miner needs a blob or this before the seed exists.
    DeclareMissing {
        /// The window.
        window: u64,
        /// The miners, each committed and without a complete blob.
        uids: Vec<u64>,
    },
    /// Derives the window's seed once every committed blob arrived or was
    /// declared missing, and lists the pages to send.
    RequestPages {
        /// The window.
        window: u64,
    },
    /// Evaluates the blob uploaded since the last call, if any, and names
    /// the next valid blob to upload in the seed's order; none once
    /// `min(max_scored, valid)` are scored. Nothing the host says stops it
    /// early: past `scoring_end_ms - seed_margin_ms` by the enclave's own
    /// clock it refuses, and signs nothing for the window.
    NextGradient {
        /// The window.
        window: u64,
    },
    /// Pages the enclave asked for.
    Pages {
        /// The window.
        window: u64,
        /// The pages.
        pages: Vec<Page>,
    },
    /// Scores the window and returns the signed statement (the same one on
    /// every call).
    Finish {
        /// The window.
        window: u64,
    },
}

/// The pages a window needs, derived from public inputs and the seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageRequest {
    /// The evaluation seed: HMAC of the window's inputs under the enclave's
    /// boot secret.
    pub seed: Bytes32,
    /// Shared random pages, from the seed.
    pub random: Vec<u64>,
    /// The own pages of each miner that will be scored (the first
    /// `max_scored` valid blobs in the seed's order), from
    /// `(dataset_root, window, uid)`.
    pub own: Vec<(u64, Vec<u64>)>,
}

impl PageRequest {
    /// Every page the request names, random and own, each once, ascending:
    /// what a host must send.
    pub fn pages(&self) -> BTreeSet<u64> {
        self.random
            .iter()
            .chain(self.own.iter().flat_map(|(_, p)| p))
            .copied()
            .collect()
    }
}

/// Why a request was refused. Stable names: hosts and tests match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The frame was not valid CBOR of a known message.
    BadMessage,
    /// A field is out of its range.
    BadRequest,
    /// The request does not fit the window's current state.
    OutOfOrder,
    /// No such window is open.
    UnknownWindow,
    /// The window was opened before with other inputs.
    WindowReplayMismatch,
    /// A miner appears twice, or miners are not ascending.
    DuplicateMiner,
    /// No commitment for that miner.
    UnknownMiner,
    /// That body was already received completely.
    DuplicateUpload,
    /// A chunk's offset or total does not continue the upload.
    UploadOutOfOrder,
    /// The body is larger than allowed for its kind.
    UploadTooLarge,
    /// The checkpoint does not hash to the window's checkpoint hash.
    CheckpointHashMismatch,
    /// The checkpoint does not load.
    BadCheckpoint,
    /// The manifest does not hash to the dataset root.
    ManifestMismatch,
    /// The blob does not hash to the miner's commitment.
    GradientHashMismatch,
    /// The page was not asked for.
    PageNotRequested,
    /// The page does not hash to its manifest entry.
    PageHashMismatch,
    /// The page has the wrong length or out-of-vocabulary tokens.
    BadPage,
    /// Finish before every requested page arrived.
    PagesMissing,
    /// The enclave's clock is before the window's `opens_at_ms`.
    TooEarly,
    /// The enclave's clock is past the window's last moment to sign
    /// (`scoring_end_ms - seed_margin_ms`): nothing is signed for it.
    WindowExpired,
    /// `Finish` before `min(max_scored, valid)` blobs were scored: the
    /// enclave signs no shorter statement.
    BudgetNotScored,
    /// The enclave holds as many live window records as it may.
    TooManyWindows,
    /// Some committed blob has neither arrived nor been declared missing.
    BlobsOutstanding,
    /// The NSM refused.
    Nsm,
    /// An internal failure; the session stays usable.
    Internal,
}

/// Enclave to host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Answer to [`Request::Describe`].
    Describe {
        /// [`PROTOCOL_VERSION`].
        protocol_version: u32,
        /// The enclave crate's version.
        enclave_version: String,
        /// The Ed25519 key that signs statements.
        public_key: Bytes32,
        /// The attestation document binding the key and the nonce.
        #[serde(with = "serde_bytes")]
        attestation: Vec<u8>,
        /// True under the simulated NSM (test mode).
        simulated: bool,
    },
    /// Answer to [`Request::Health`].
    Health {
        /// [`PROTOCOL_VERSION`].
        protocol_version: u32,
        /// Windows the enclave holds state for.
        windows: Vec<u64>,
        /// Checkpoints loaded and cached.
        checkpoints: Vec<Bytes32>,
        /// The enclave's clock (Unix ms), which gates when windows open.
        clock_ms: u64,
    },
    /// Answer to [`Request::OpenWindow`].
    WindowOpened {
        /// The window.
        window: u64,
        /// The checkpoint must be uploaded (it is not cached).
        need_checkpoint: bool,
        /// The manifest must be uploaded.
        need_manifest: bool,
    },
    /// Answer to [`Request::Upload`].
    Uploaded {
        /// Bytes received so far.
        received: u64,
        /// The body's size.
        total: u64,
        /// True once the body arrived and checked out.
        complete: bool,
    },
    /// Answer to [`Request::DeclareMissing`].
    MissingDeclared {
        /// Committed miners with neither a blob nor a declaration yet.
        outstanding: u64,
    },
    /// Answer to [`Request::RequestPages`].
    PagesNeeded(PageRequest),
    /// Answer to [`Request::NextGradient`].
    GradientNeeded {
        /// The miner whose blob to upload next; `None` when evaluation is
        /// over (call `Finish`).
        uid: Option<u64>,
        /// Miners evaluated so far.
        evaluated: u64,
    },
    /// Answer to [`Request::Pages`].
    PagesAccepted {
        /// Requested pages still missing.
        outstanding: u64,
    },
    /// Answer to [`Request::Finish`]: the BCS statement and its signature.
    Statement {
        /// `bcs(IntentMessage<WindowScores>)`.
        #[serde(with = "serde_bytes")]
        message: Vec<u8>,
        /// Ed25519 signature over `message`.
        #[serde(with = "serde_bytes")]
        signature: Vec<u8>,
    },
    /// The request was refused; the session stays usable.
    Error {
        /// What kind of refusal.
        code: ErrorCode,
        /// Details for logs.
        message: String,
    },
}

/// A message that does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, DecodeError> {
    let mut rest = body;
    let value = ciborium::from_reader(&mut rest).map_err(|e| DecodeError(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError(format!("{} trailing bytes", rest.len())));
    }
    Ok(value)
}

/// CBOR of any message part (also what the service hashes inputs over).
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and every message serialises.
    if ciborium::into_writer(value, &mut out).is_err() {
        out.clear();
    }
    out
}

impl Request {
    /// Decodes a frame body.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        decode(body)
    }

    /// Encodes as a frame body.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }
}

impl Response {
    /// Decodes a frame body.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        decode(body)
    }

    /// Encodes as a frame body.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// A refusal.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
        }
    }
}
