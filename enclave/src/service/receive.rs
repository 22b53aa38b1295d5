//! Receiving a window's bodies: the checkpoint, the manifest and the
//! gradient blobs, each streamed, capped and checked against the hash the
//! window committed to. Before the seed, each blob is validated as it
//! completes (cheap) and only its verdict is kept; blobs the host cannot
//! deliver are declared missing. After the seed, only the blob the enclave
//! asked for is taken, and kept until `NextGradient` evaluates it.

use std::sync::Arc;

use crate::model::Checkpoint;
use crate::protocol::{ErrorCode, Response, Upload, UploadKind, MAX_WEIGHTS_FILES};

use super::{
    refuse, Enclave, Phase, Receiving, Refusal, State, Stream, Verdict, WindowState,
    MAX_CONFIG_BYTES,
};
use crate::eval::{check_blob, Outcome};

/// A finished body and its SHA-256.
type Body = (Vec<u8>, [u8; 32]);

/// Feeds one chunk to the stream in `slot` (opened on the first chunk with
/// the cap `limit`): the progress answer, and the body once complete (the
/// slot is then empty again).
fn feed(
    slot: &mut Option<Stream>,
    upload: &Upload,
    limit: u64,
) -> Result<(Response, Option<Body>), Refusal> {
    let stream = match slot {
        Some(s) => s,
        None => slot.insert(Stream::new(upload.total, limit)?),
    };
    let complete = stream.push(upload.offset, upload.total, &upload.data)?;
    let response = Response::Uploaded {
        received: stream.received(),
        total: stream.total(),
        complete,
    };
    let body = if complete {
        slot.take().map(Stream::finish)
    } else {
        None
    };
    Ok((response, body))
}

/// Where a checkpoint part goes: refused once the checkpoint is loaded.
fn checkpoint_part(w: &mut WindowState) -> Result<&mut Receiving, Refusal> {
    if w.checkpoint.is_some() {
        return refuse(
            ErrorCode::DuplicateUpload,
            "the checkpoint is already loaded",
        );
    }
    receiving(w)
}

fn receiving(w: &mut WindowState) -> Result<&mut Receiving, Refusal> {
    match &mut w.phase {
        Phase::Receiving(r) => Ok(r),
        Phase::Evaluating(_) => refuse(
            ErrorCode::OutOfOrder,
            "the seed exists: the window's inputs are fixed",
        ),
    }
}

impl Enclave {
    pub(super) fn upload(&self, state: &mut State, upload: Upload) -> Result<Response, Refusal> {
        let State {
            windows,
            checkpoints,
            ..
        } = state;
        let w = windows.get_mut(&upload.window).ok_or((
            ErrorCode::UnknownWindow,
            format!("window {} is not open", upload.window),
        ))?;
        match upload.kind {
            UploadKind::CheckpointWeights { file, files } => {
                self.receive_weights(w, checkpoints, file, files, &upload)
            }
            UploadKind::CheckpointConfig => Self::receive_config(w, checkpoints, &upload),
            UploadKind::Manifest => Self::receive_manifest(w, &upload),
            UploadKind::Gradient { uid } => Self::receive_gradient(w, uid, &upload),
        }
    }

    /// Weights files arrive in identity order, one at a time, under one cap
    /// over all of them.
    fn receive_weights(
        &self,
        w: &mut WindowState,
        cache: &mut Vec<Arc<Checkpoint>>,
        file: u32,
        files: u32,
        upload: &Upload,
    ) -> Result<Response, Refusal> {
        let r = checkpoint_part(w)?;
        if files == 0 || files > MAX_WEIGHTS_FILES {
            return refuse(
                ErrorCode::BadRequest,
                format!("{files} weights files (1 to {MAX_WEIGHTS_FILES})"),
            );
        }
        if r.weights_files != 0 && r.weights_files != files {
            return refuse(
                ErrorCode::BadRequest,
                format!(
                    "{files} weights files; this window's first upload said {}",
                    r.weights_files
                ),
            );
        }
        // The expected file is the first not yet complete.
        let next = r.finished_weights.len() as u32;
        if file != next || file >= files {
            return refuse(
                if file < next {
                    ErrorCode::DuplicateUpload
                } else {
                    ErrorCode::UploadOutOfOrder
                },
                format!("weights file {file} of {files}; expected file {next}"),
            );
        }
        let used: u64 = r.finished_weights.iter().map(|(b, _)| b.len() as u64).sum();
        let limit = self.config.max_checkpoint_bytes.saturating_sub(used);
        // The count binds once a chunk passes the checks above, even if the
        // stream then refuses its offset or length.
        r.weights_files = files;
        let (response, body) = feed(&mut r.weights, upload, limit)?;
        if let Some(body) = body {
            r.finished_weights.push(body);
            Self::load_checkpoint(w, cache)?;
        }
        Ok(response)
    }

    fn receive_config(
        w: &mut WindowState,
        cache: &mut Vec<Arc<Checkpoint>>,
        upload: &Upload,
    ) -> Result<Response, Refusal> {
        let r = checkpoint_part(w)?;
        if r.finished_config.is_some() {
            return refuse(ErrorCode::DuplicateUpload, "that part is already complete");
        }
        let (response, body) = feed(&mut r.config, upload, MAX_CONFIG_BYTES)?;
        if body.is_some() {
            r.finished_config = body;
            Self::load_checkpoint(w, cache)?;
        }
        Ok(response)
    }

    fn receive_manifest(w: &mut WindowState, upload: &Upload) -> Result<Response, Refusal> {
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
        let root = w.open.dataset_root.0;
        let r = receiving(w)?;
        let (response, body) = feed(&mut r.manifest, upload, size)?;
        if let Some((bytes, hash)) = body {
            if hash != root {
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
        Ok(response)
    }

    /// Before the seed every committed blob arrives once and is validated;
    /// after it, only the blob the enclave asked for (`NextGradient`).
    fn receive_gradient(
        w: &mut WindowState,
        uid: u64,
        upload: &Upload,
    ) -> Result<Response, Refusal> {
        let committed = w
            .open
            .miners
            .iter()
            .find(|m| m.uid == uid)
            .map(|m| m.gradient_hash)
            .ok_or((
                ErrorCode::UnknownMiner,
                format!("miner {uid} has no commitment in this window"),
            ))?;
        let checkpoint = Arc::clone(w.checkpoint.as_ref().ok_or((
            ErrorCode::OutOfOrder,
            "upload the checkpoint before gradients".to_string(),
        ))?);
        let topk = usize::try_from(w.open.eval_params.topk).unwrap_or(usize::MAX);
        let budget = checkpoint.shapes().blob_budget(topk) as u64;
        let window = w.open.window;
        let (response, body) = match &mut w.phase {
            Phase::Evaluating(e) => {
                let asked = e.progress.as_ref().and_then(|p| p.asked);
                if asked != Some(uid) {
                    return refuse(
                        ErrorCode::OutOfOrder,
                        format!("miner {uid}'s gradient was not asked for (NextGradient)"),
                    );
                }
                feed(&mut e.upload, upload, budget)?
            }
            Phase::Receiving(r) => {
                if w.verdicts.contains_key(&uid) {
                    return refuse(
                        ErrorCode::DuplicateUpload,
                        format!("miner {uid}'s gradient is already complete or declared missing"),
                    );
                }
                let mut slot = r.gradients.remove(&uid);
                let fed = feed(&mut slot, upload, budget);
                if let Some(s) = slot {
                    r.gradients.insert(uid, s);
                }
                fed?
            }
        };
        let Some((bytes, hash)) = body else {
            return Ok(response);
        };
        if hash != committed.0 {
            return refuse(
                ErrorCode::GradientHashMismatch,
                format!("miner {uid}'s blob does not match its commitment"),
            );
        }
        match &mut w.phase {
            Phase::Evaluating(e) => {
                // Evaluated by the next `NextGradient`.
                if let Some(p) = e.progress.as_mut() {
                    p.asked = None;
                    p.pending = Some((uid, bytes));
                }
            }
            Phase::Receiving(_) => {
                // Validated now; only the verdict is kept.
                let verdict = match check_blob(&checkpoint, &bytes, uid, window, topk) {
                    Ok(_) => Verdict::Valid,
                    Err(Outcome::Stale(_)) => Verdict::Stale,
                    Err(_) => Verdict::Malformed,
                };
                w.verdicts.insert(uid, verdict);
            }
        }
        Ok(response)
    }

    /// Marks committed blobs the host could not fetch as missing. Refused
    /// for a blob that already arrived: withholding is decided before the
    /// seed, and a delivered blob cannot be taken back.
    pub(super) fn declare_missing(
        state: &mut State,
        window: u64,
        uids: &[u64],
    ) -> Result<Response, Refusal> {
        let w = state.windows.get_mut(&window).ok_or((
            ErrorCode::UnknownWindow,
            format!("window {window} is not open"),
        ))?;
        if w.evaluating().is_some() {
            return refuse(
                ErrorCode::OutOfOrder,
                "the seed exists: the blob set is fixed",
            );
        }
        for &uid in uids {
            if !w.open.miners.iter().any(|m| m.uid == uid) {
                return refuse(
                    ErrorCode::UnknownMiner,
                    format!("miner {uid} has no commitment in this window"),
                );
            }
            if w.verdicts.contains_key(&uid) {
                return refuse(
                    ErrorCode::DuplicateUpload,
                    format!("miner {uid}'s gradient already arrived or was declared missing"),
                );
            }
        }
        let r = receiving(w)?;
        for &uid in uids {
            r.gradients.remove(&uid);
        }
        for &uid in uids {
            w.verdicts.insert(uid, Verdict::Missing);
        }
        Ok(Response::MissingDeclared {
            outstanding: outstanding(w),
        })
    }

    /// Once both parts arrived: check the identity, load, cache (the last
    /// two checkpoints).
    fn load_checkpoint(
        w: &mut WindowState,
        cache: &mut Vec<Arc<Checkpoint>>,
    ) -> Result<(), Refusal> {
        let expected = w.open.checkpoint_hash.0;
        let r = receiving(w)?;
        let Some((_, config_hash)) = &r.finished_config else {
            return Ok(());
        };
        if r.weights_files == 0 || r.finished_weights.len() != r.weights_files as usize {
            return Ok(());
        }
        let hashes: Vec<[u8; 32]> = r.finished_weights.iter().map(|(_, h)| *h).collect();
        let matches = crate::model::combine_checkpoint_hashes(&hashes, config_hash) == expected;
        let weights = std::mem::take(&mut r.finished_weights);
        let config = r.finished_config.take();
        r.weights_files = 0;
        if !matches {
            return refuse(
                ErrorCode::CheckpointHashMismatch,
                "the checkpoint does not hash to the window's checkpoint hash",
            );
        }
        let files: Vec<&[u8]> = weights.iter().map(|(b, _)| b.as_slice()).collect();
        let config = config.map(|(b, _)| b).unwrap_or_default();
        let loaded = Checkpoint::load_files(&files, &config);
        drop(weights);
        let checkpoint = Arc::new(loaded.map_err(|e| (ErrorCode::BadCheckpoint, e.to_string()))?);
        w.open
            .eval_params
            .validate(checkpoint.config().block_size())
            .map_err(|e| (ErrorCode::BadRequest, e.to_string()))?;
        cache.retain(|c| c.hash() != checkpoint.hash());
        if cache.len() >= 2 {
            cache.remove(0);
        }
        cache.push(Arc::clone(&checkpoint));
        w.checkpoint = Some(checkpoint);
        Ok(())
    }
}

/// Committed miners with neither a verdict nor a missing declaration.
pub(super) fn outstanding(w: &WindowState) -> u64 {
    w.open
        .miners
        .iter()
        .filter(|m| !w.verdicts.contains_key(&m.uid))
        .count() as u64
}
