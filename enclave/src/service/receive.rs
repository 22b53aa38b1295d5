//! Receiving a window's bodies: the checkpoint, the manifest and the
//! gradient blobs, each streamed, capped and checked against the hash the
//! window committed to.

use std::sync::Arc;

use crate::model::Checkpoint;
use crate::protocol::{ErrorCode, Response, Upload, UploadKind};

use super::{refuse, Enclave, Refusal, State, Stream, WindowState, MAX_CONFIG_BYTES};

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
    pub(super) fn load_checkpoint(
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
}
