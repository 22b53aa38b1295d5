//! Opening a window: the checks on `OpenWindow`, the clock gate (design
//! §2.1) and the record that fixes the window's inputs (§2.2).

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
        let p = &open.eval_params;
        if now < p.opens_at_ms {
            return refuse(
                ErrorCode::TooEarly,
                format!(
                    "window {window} opens at {} (upload deadline, reveal phase and seed \
                     margin), the enclave's clock reads {now}",
                    p.opens_at_ms
                ),
            );
        }
        let sign_by = p.sign_by_ms();
        let signed = state
            .records
            .get(window)
            .is_some_and(|r| r.statement.is_some());
        if now >= sign_by && !signed {
            return refuse(
                ErrorCode::WindowExpired,
                format!(
                    "window {window} had to be signed by {sign_by} (scoring end less the seed \
                     margin); it is {now}: nothing is signed for it"
                ),
            );
        }
        // The record lives as long as the chain accepts the window's
        // statement: nothing the host does drops it earlier.
        let inputs_digest = sha256(&crate::protocol::encode(&open));
        state.records.admit(
            window,
            inputs_digest,
            p.scoring_end_ms,
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
            state
                .windows
                .insert(window, WindowState::new(open, eval_params_hash, checkpoint));
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
