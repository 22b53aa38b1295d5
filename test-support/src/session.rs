//! One window's worth of enclave inputs (the tiny checkpoint, synthetic
//! pages, an honest blob for miner 1 and a commitment for miner 2 whose
//! blob never arrives) and a protocol client that panics on transport
//! errors, for tests that drive an enclave.

// A transport failure in a test is the test's failure: panicking is right.
#![allow(clippy::expect_used)]

use std::io::{Read, Write};
use std::time::Duration;

use vram_enclave::codec::BlobMetadata;
use vram_enclave::dataset::{manifest, page_bytes};
use vram_enclave::eval::EvalParams;
use vram_enclave::protocol::{
    read_frame, write_frame, Bytes32, ErrorCode, MinerCommitment, OpenWindow, Page, PageRequest,
    Request, Response, TimedRead, Upload, UploadKind,
};

use crate::{affine_pages, honest_blob, TinyCheckpoint};

/// Tokens per page of the world.
pub const PAGE_LEN: usize = 33;

/// The world's scoring span: its window opens at the deadline (no reveal
/// phase, no seed margin) and may be signed until this much later.
pub const SCORING_SPAN_MS: u64 = 3_600_000;

/// The inputs of one window.
pub struct WindowWorld {
    /// The window.
    pub window: u64,
    /// Its upload deadline (Unix ms).
    pub deadline_ms: u64,
    /// Checkpoint weights.
    pub weights: Vec<u8>,
    /// Checkpoint `config.json`.
    pub config: Vec<u8>,
    /// Checkpoint identity.
    pub ckpt_hash: [u8; 32],
    /// The dataset's pages.
    pub pages: Vec<Vec<u32>>,
    /// The manifest.
    pub manifest: Vec<u8>,
    /// The dataset root.
    pub root: [u8; 32],
    /// Miner 1's honest blob.
    pub blob: Vec<u8>,
}

impl WindowWorld {
    /// Window `window` whose upload deadline is `deadline_ms`.
    pub fn new(window: u64, deadline_ms: u64) -> Self {
        let tiny = TinyCheckpoint::new(1).expect("tiny checkpoint");
        let pages = affine_pages(3, 16, PAGE_LEN);
        let (manifest, root) = manifest(&pages);
        let refs: Vec<&[u32]> = pages.iter().take(4).map(Vec::as_slice).collect();
        let blob = honest_blob(
            &tiny.load().expect("tiny checkpoint loads"),
            &refs,
            &BlobMetadata {
                window,
                miner_uid: 1,
                topk: 32,
                base_checkpoint: tiny.hash,
            },
        )
        .expect("honest blob");
        Self {
            window,
            deadline_ms,
            weights: tiny.weights,
            config: tiny.config_json,
            ckpt_hash: tiny.hash,
            pages,
            manifest,
            root,
            blob,
        }
    }

    /// The window's `OpenWindow` (its scoring span ends `SCORING_SPAN_MS`
    /// after the deadline): miners 1 (this blob) and 2 (0x22 × 32).
    pub fn open(&self) -> OpenWindow {
        OpenWindow {
            window: self.window,
            validator: Bytes32([0xaa; 32]),
            eval_params: EvalParams {
                learning_rate_e9: 2_000_000,
                topk: 32,
                page_len: PAGE_LEN as u64,
                own_pages: 2,
                random_pages: 2,
                max_scored: 16,
                upload_deadline_ms: self.deadline_ms,
                seed_margin_ms: 0,
                opens_at_ms: self.deadline_ms,
                scoring_end_ms: self.deadline_ms + SCORING_SPAN_MS,
            },
            checkpoint_hash: Bytes32(self.ckpt_hash),
            dataset_root: Bytes32(self.root),
            page_count: self.pages.len() as u64,
            miners: vec![
                MinerCommitment {
                    uid: 1,
                    gradient_hash: Bytes32(vram_attestation::sha256(&self.blob)),
                },
                MinerCommitment {
                    uid: 2,
                    gradient_hash: Bytes32([0x22; 32]),
                },
            ],
        }
    }
}

/// A protocol session over any stream.
pub struct Session<S>(pub S);

impl<S: TimedRead + Read + Write> Session<S> {
    /// One request, one response.
    pub fn call(&mut self, request: &Request) -> Response {
        write_frame(&mut self.0, &request.encode()).expect("write frame");
        let body = read_frame(
            &mut self.0,
            1 << 24,
            Some(Duration::from_secs(30)),
            Duration::from_secs(30),
        )
        .expect("read frame");
        Response::decode(&body).expect("decode response")
    }

    /// Uploads `body` as `kind` for `window` in 100 kB chunks; the last
    /// response (or the first refusal).
    pub fn upload(&mut self, window: u64, kind: UploadKind, body: &[u8]) -> Response {
        let mut last = Response::error(ErrorCode::BadRequest, "empty body");
        for (i, chunk) in body.chunks(100_000).enumerate() {
            last = self.call(&Request::Upload(Upload {
                window,
                kind,
                offset: (i * 100_000) as u64,
                total: body.len() as u64,
                data: chunk.to_vec(),
            }));
            if matches!(last, Response::Error { .. }) {
                break;
            }
        }
        last
    }

    /// Opens the world's window and uploads the checkpoint and the manifest;
    /// the window's answer to `OpenWindow`.
    pub fn open_and_load(&mut self, w: &WindowWorld, open: &OpenWindow) -> Response {
        let opened = self.call(&Request::OpenWindow(open.clone()));
        if let Response::WindowOpened {
            need_checkpoint,
            need_manifest,
            ..
        } = opened
        {
            if need_checkpoint {
                self.upload(
                    open.window,
                    UploadKind::CheckpointWeights { file: 0, files: 1 },
                    &w.weights,
                );
                self.upload(open.window, UploadKind::CheckpointConfig, &w.config);
            }
            if need_manifest {
                self.upload(open.window, UploadKind::Manifest, &w.manifest);
            }
        }
        opened
    }

    /// Declares `uids` missing.
    pub fn declare_missing(&mut self, window: u64, uids: &[u64]) -> Response {
        self.call(&Request::DeclareMissing {
            window,
            uids: uids.to_vec(),
        })
    }

    /// The page request (the seed), or the refusal.
    pub fn request_pages(&mut self, window: u64) -> Result<PageRequest, Response> {
        match self.call(&Request::RequestPages { window }) {
            Response::PagesNeeded(request) => Ok(request),
            other => Err(other),
        }
    }

    /// Sends every page `request` names.
    pub fn send_pages(&mut self, w: &WindowWorld, window: u64, request: &PageRequest) -> Response {
        let pages = request
            .pages()
            .into_iter()
            .map(|index| Page {
                index,
                tokens: page_bytes(&w.pages[index as usize]),
            })
            .collect();
        self.call(&Request::Pages { window, pages })
    }

    /// Uploads each blob the enclave asks for (`NextGradient`) until it asks
    /// for none; how many it evaluated, or the refusal.
    pub fn evaluate(&mut self, w: &WindowWorld, window: u64) -> Result<u64, Response> {
        let mut uploaded = 0;
        loop {
            match self.call(&Request::NextGradient { window }) {
                Response::GradientNeeded { uid: None, .. } => return Ok(uploaded),
                Response::GradientNeeded { uid: Some(1), .. } => {
                    self.upload(window, UploadKind::Gradient { uid: 1 }, &w.blob);
                    uploaded += 1;
                }
                other => return Err(other),
            }
        }
    }

    /// Sends every page `request` names, evaluates, then finishes: the
    /// statement's (BCS, signature), or the refusal.
    pub fn pages_and_finish(
        &mut self,
        w: &WindowWorld,
        window: u64,
        request: &PageRequest,
    ) -> Result<(Vec<u8>, Vec<u8>), Response> {
        self.send_pages(w, window, request);
        self.evaluate(w, window)?;
        match self.call(&Request::Finish { window }) {
            Response::Statement { message, signature } => Ok((message, signature)),
            other => Err(other),
        }
    }
}

/// The refusal code of a response, if it is one.
pub fn refusal(response: &Response) -> Option<ErrorCode> {
    match response {
        Response::Error { code, .. } => Some(*code),
        _ => None,
    }
}
