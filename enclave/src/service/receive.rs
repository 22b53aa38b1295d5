//! Receiving a window's bodies: the checkpoint, the manifest and the
//! gradient blobs, each streamed, capped and checked against the hash the
//! window committed to. Each blob is validated as it completes (cheap) and
//! only its verdict is kept, with the bytes of a valid one; blobs the host
//! cannot deliver are declared missing, all before the seed exists.

use std::sync::Arc;

use crate::model::Checkpoint;
use crate::protocol::{ErrorCode, Response, Upload, UploadKind, MAX_WEIGHTS_FILES};

use super::{refuse, Enclave, Refusal, State, Stream, Verdict, WindowState, MAX_CONFIG_BYTES};
use crate::eval::{check_blob, Outcome};

impl Enclave {
    pub(super) fn upload(&self, state: &mut State, upload: Upload) -> Result<Response, Refusal> {
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
        let checkpoint_part = matches!(
            upload.kind,
            UploadKind::CheckpointWeights { .. } | UploadKind::CheckpointConfig
        );
        if checkpoint_part && w.checkpoint.is_some() {
            return refuse(
                ErrorCode::DuplicateUpload,
                "the checkpoint is already loaded",
            );
        }
        match upload.kind {
            UploadKind::CheckpointWeights { file, files } => {
                if files == 0 || files > MAX_WEIGHTS_FILES {
                    return refuse(
                        ErrorCode::BadRequest,
                        format!("{files} weights files (1 to {MAX_WEIGHTS_FILES})"),
                    );
                }
                if w.weights_files != 0 && w.weights_files != files {
                    return refuse(
                        ErrorCode::BadRequest,
                        format!(
                            "{files} weights files; this window's first upload said {}",
                            w.weights_files
                        ),
                    );
                }
                // Files arrive in identity order, one at a time: the
                // expected one is the first not yet complete.
                let next = w.finished_weights.len() as u32;
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
                // One cap over all files together.
                let used: u64 = w.finished_weights.iter().map(|(b, _)| b.len() as u64).sum();
                let limit = max_checkpoint.saturating_sub(used);
                let stream = match &mut w.weights {
                    Some(s) => s,
                    None => w.weights.insert(Stream::new(upload.total, limit)?),
                };
                // The count binds once a chunk passes the checks above,
                // even if the stream then refuses its offset or length.
                w.weights_files = files;
                let complete = stream.push(upload.offset, upload.total, &upload.data)?;
                let response = progress(stream, complete);
                if complete {
                    if let Some(s) = w.weights.take() {
                        w.finished_weights.push(s.finish());
                    }
                    Self::load_checkpoint(w, checkpoints)?;
                }
                Ok(response)
            }
            UploadKind::CheckpointConfig => {
                if w.finished_config.is_some() {
                    return refuse(ErrorCode::DuplicateUpload, "that part is already complete");
                }
                let stream = match &mut w.config {
                    Some(s) => s,
                    None => w
                        .config
                        .insert(Stream::new(upload.total, MAX_CONFIG_BYTES)?),
                };
                let complete = stream.push(upload.offset, upload.total, &upload.data)?;
                let response = progress(stream, complete);
                if complete {
                    if let Some(s) = w.config.take() {
                        w.finished_config = Some(s.finish());
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
                    .map(|m| m.gradient_hash)
                    .ok_or((
                        ErrorCode::UnknownMiner,
                        format!("miner {uid} has no commitment in this window"),
                    ))?;
                let checkpoint = w.checkpoint.as_ref().ok_or((
                    ErrorCode::OutOfOrder,
                    "upload the checkpoint before gradients".to_string(),
                ))?;
                // Before the seed every committed blob arrives once; after it,
                // only the blob the enclave asked for (`NextGradient`).
                let evaluating = w.request.is_some();
                if evaluating {
                    let asked = w.progress.as_ref().and_then(|p| p.asked);
                    if asked != Some(uid) {
                        return refuse(
                            ErrorCode::OutOfOrder,
                            format!("miner {uid}'s gradient was not asked for (NextGradient)"),
                        );
                    }
                } else if w.verdicts.contains_key(&uid) {
                    return refuse(
                        ErrorCode::DuplicateUpload,
                        format!("miner {uid}'s gradient is already complete or declared missing"),
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
                        if evaluating {
                            // Evaluated by the next `NextGradient`.
                            if let Some(p) = w.progress.as_mut() {
                                p.asked = None;
                                p.pending = Some((uid, bytes));
                            }
                            return Ok(response);
                        }
                        // Validated now; only the verdict is kept.
                        let verdict = match check_blob(checkpoint, &bytes, uid, w.open.window, topk)
                        {
                            Ok(_) => Verdict::Valid,
                            Err(Outcome::Stale(_)) => Verdict::Stale,
                            Err(_) => Verdict::Malformed,
                        };
                        w.verdicts.insert(uid, verdict);
                    }
                }
                Ok(response)
            }
        }
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
        if w.request.is_some() {
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
        for &uid in uids {
            w.gradient_uploads.remove(&uid);
            w.verdicts.insert(uid, Verdict::Missing);
        }
        Ok(Response::MissingDeclared {
            outstanding: outstanding(w),
        })
    }

    /// Once both parts arrived: check the identity, load, cache.
    pub(super) fn load_checkpoint(
        w: &mut WindowState,
        cache: &mut Vec<Arc<Checkpoint>>,
    ) -> Result<(), Refusal> {
        let Some((config, ch)) = &w.finished_config else {
            return Ok(());
        };
        if w.weights_files == 0 || w.finished_weights.len() != w.weights_files as usize {
            return Ok(());
        }
        let hashes: Vec<[u8; 32]> = w.finished_weights.iter().map(|(_, h)| *h).collect();
        if crate::model::combine_checkpoint_hashes(&hashes, ch) != w.open.checkpoint_hash.0 {
            w.finished_weights = Vec::new();
            w.weights_files = 0;
            w.finished_config = None;
            return refuse(
                ErrorCode::CheckpointHashMismatch,
                "the checkpoint does not hash to the window's checkpoint hash",
            );
        }
        let files: Vec<&[u8]> = w
            .finished_weights
            .iter()
            .map(|(b, _)| b.as_slice())
            .collect();
        let loaded = Checkpoint::load_files(&files, config);
        w.finished_weights = Vec::new();
        w.weights_files = 0;
        w.finished_config = None;
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
