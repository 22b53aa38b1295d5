//! Opening a window: the checks on `OpenWindow`, the clock gate (design
//! §2.1) and the record that fixes the window's inputs (§2.2).

use std::collections::BTreeMap;

use vram_attestation::sha256;
use vram_attestation::statement::MAX_ENTRIES;

use crate::protocol::{ErrorCode, OpenWindow, Response};

use super::{refuse, Enclave, Refusal, State, WindowState};

impl Enclave {
    pub(super) fn open_window(
        &self,
        state: &mut State,
        open: OpenWindow,
    ) -> Result<Response, Refusal> {
        if open.miners.len() > MAX_ENTRIES {
            return refuse(
                ErrorCode::BadRequest,
                format!(
                    "{} miners, at most {MAX_ENTRIES} (what the chain takes)",
                    open.miners.len()
                ),
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
        let window = open.window;
        let now = self.now_ms();
        let opens_at = open.eval_params.opens_at_ms();
        if now < opens_at {
            return refuse(
                ErrorCode::TooEarly,
                format!(
                    "window {window} opens at {opens_at} (upload deadline + seed margin), \
                     the enclave's clock reads {now}"
                ),
            );
        }
        let expires_ms = opens_at.saturating_add(self.config.record_ttl_ms);
        if now >= expires_ms {
            return refuse(
                ErrorCode::WindowExpired,
                format!("window {window} could be opened until {expires_ms}; it is {now}"),
            );
        }
        let inputs_digest = sha256(&crate::protocol::encode(&open));
        state.records.admit(
            window,
            inputs_digest,
            expires_ms,
            now,
            self.config.max_records,
        )?;
        if !state.windows.contains_key(&window) {
            while state.windows.len() >= self.config.max_open_windows {
                state.windows.pop_first();
            }
            let checkpoint = state
                .checkpoints
                .iter()
                .find(|c| c.hash() == open.checkpoint_hash.0)
                .cloned();
            let eval_params_hash = sha256(
                &bcs::to_bytes(&open.eval_params)
                    .map_err(|e| (ErrorCode::Internal, e.to_string()))?,
            );
            state.windows.insert(
                window,
                WindowState {
                    open,
                    eval_params_hash,
                    weights: None,
                    config: None,
                    weights_files: 0,
                    finished_weights: Vec::new(),
                    finished_config: None,
                    checkpoint,
                    manifest_upload: None,
                    manifest: None,
                    gradient_uploads: BTreeMap::new(),
                    verdicts: BTreeMap::new(),
                    request: None,
                    selected: Vec::new(),
                    progress: None,
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
}
