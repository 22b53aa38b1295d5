//! Before evaluating a window: the seed (once every committed blob arrived or
//! was declared missing), the budgeted selection, and the pages it needs
//! (own pages from public inputs, random pages from the seed). Evaluation
//! itself and the statement are in `score.rs`.

use std::collections::BTreeMap;

use vram_attestation::sha256;
use vram_attestation::statement::seed_order;

use crate::protocol::{Bytes32, ErrorCode, PageRequest, Response};

use super::receive::outstanding;
use super::records::{blob_set_digest, eval_seed, window_inputs_digest};
use super::{own_pages, random_pages, refuse, Enclave, Evaluating, Phase, Refusal, State, Verdict};

impl Enclave {
    pub(super) fn request_pages(
        &self,
        state: &mut State,
        window: u64,
    ) -> Result<Response, Refusal> {
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
        if let Some(e) = w.evaluating() {
            return Ok(Response::PagesNeeded(e.request.clone()));
        }
        let pending = outstanding(w);
        if pending > 0 {
            return refuse(
                ErrorCode::BlobsOutstanding,
                format!("{pending} committed blobs have neither arrived nor been declared missing"),
            );
        }
        let record = records.get_mut(window).ok_or((
            ErrorCode::WindowExpired,
            format!("window {window}'s record expired"),
        ))?;
        let blob_set = blob_set_digest(w.open.miners.iter().map(|m| {
            let delivered = !matches!(w.verdicts.get(&m.uid), Some(Verdict::Missing));
            (m.uid, delivered)
        }));
        match record.blob_set {
            Some(fixed) if fixed != blob_set => {
                return refuse(
                    ErrorCode::WindowReplayMismatch,
                    format!("window {window}'s seed was derived with another blob set"),
                );
            }
            Some(_) => {}
            None => record.blob_set = Some(blob_set),
        }
        let seed = eval_seed(
            &self.boot_secret,
            &window_inputs_digest(&w.open, &w.eval_params_hash)?,
        );
        let p = &w.open.eval_params;
        // Budgeted selection (design §4.4): the valid blobs in ascending
        // order of sha256(seed || le64(uid)); exactly the first
        // min(max_scored, valid) are scored.
        let valid = w
            .verdicts
            .iter()
            .filter(|(_, v)| matches!(v, Verdict::Valid))
            .map(|(&uid, _)| uid);
        let budget = usize::try_from(p.max_scored).unwrap_or(usize::MAX);
        let mut selected = seed_order(&seed, valid);
        selected.truncate(budget);
        let request = PageRequest {
            seed: Bytes32(seed),
            random: random_pages(&seed, p.random_pages, w.open.page_count),
            own: selected
                .iter()
                .map(|&uid| {
                    (
                        uid,
                        own_pages(
                            &w.open.dataset_root.0,
                            window,
                            uid,
                            p.own_pages,
                            w.open.page_count,
                        ),
                    )
                })
                .collect(),
        };
        // Whatever was still streaming before the seed is dropped with the
        // receiving phase.
        w.phase = Phase::Evaluating(Box::new(Evaluating {
            request: request.clone(),
            selected,
            pages: BTreeMap::new(),
            progress: None,
            upload: None,
        }));
        Ok(Response::PagesNeeded(request))
    }

    pub(super) fn pages(
        state: &mut State,
        window: u64,
        pages: Vec<crate::protocol::Page>,
    ) -> Result<Response, Refusal> {
        let w = state.windows.get_mut(&window).ok_or((
            ErrorCode::UnknownWindow,
            format!("window {window} is not open"),
        ))?;
        let (Phase::Evaluating(e), Some(manifest), Some(checkpoint)) =
            (&mut w.phase, &w.manifest, &w.checkpoint)
        else {
            return refuse(ErrorCode::OutOfOrder, "request pages first");
        };
        let wanted = e.request.pages();
        let page_len = w.open.eval_params.page_len as usize;
        let vocab = checkpoint.config().vocab_size();
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
            e.pages.insert(page.index, tokens);
        }
        let outstanding = wanted.iter().filter(|i| !e.pages.contains_key(i)).count() as u64;
        Ok(Response::PagesAccepted { outstanding })
    }
}
