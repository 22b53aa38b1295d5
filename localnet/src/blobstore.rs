//! A local blob store that serves a directory over the Walrus HTTP API
//! (aggregator `GET /v1/blobs/{id}`, publisher `PUT /v1/blobs?epochs=N`), so
//! that the host's real Walrus client works unchanged in local mode. Served
//! by axum on its own one-thread runtime.
//!
//! **A stand-in, not Walrus**: no erasure coding, no storage nodes, and blob
//! ids are the base64url SHA-256 of the bytes (Walrus derives them from its
//! encoding). Loopback only. Uploads above the request cap get 413, as
//! public publishers answer above 10 MiB.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use vram_attestation::sha256;

use crate::error::{Error, Result};
use vram_host::walrus::BlobId;

/// A running local blob store.
pub struct BlobStore {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

fn store_err(reason: impl Into<String>) -> Error {
    Error::BlobStore {
        reason: reason.into(),
    }
}

impl BlobStore {
    /// Serves `dir` on `bind` (a loopback address; port 0 picks one), taking
    /// uploads of at most `max_blob_bytes`.
    pub fn start(dir: &Path, bind: &str, max_blob_bytes: u64) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let listener =
            std::net::TcpListener::bind(bind).map_err(|e| store_err(format!("{bind}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| store_err(e.to_string()))?;
        if !addr.ip().is_loopback() {
            return Err(store_err("the local blob store listens on loopback only"));
        }
        listener
            .set_nonblocking(true)
            .map_err(|e| store_err(e.to_string()))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| store_err(format!("runtime: {e}")))?;
        let limit = usize::try_from(max_blob_bytes).unwrap_or(usize::MAX);
        let app = axum::Router::new()
            .route("/v1/blobs/{id}", get(read_blob))
            .route("/v1/blobs", put(write_blob))
            .layer(DefaultBodyLimit::max(limit))
            .with_state(Arc::new(dir.to_path_buf()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Base URL, for the Walrus client (aggregator and publisher alike).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for BlobStore {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Where blob `id` lives under `dir`: the bundle's layout, so a bundle's
/// `blobs/` folder is a blob store's folder.
pub use vram_host::bundle::blob_path;

/// The id the local store assigns to `bytes`.
pub fn local_blob_id(bytes: &[u8]) -> BlobId {
    BlobId(sha256(bytes))
}

fn text(status: StatusCode, message: &'static str) -> Response {
    (status, message).into_response()
}

async fn read_blob(State(dir): State<Arc<PathBuf>>, UrlPath(id): UrlPath<String>) -> Response {
    let Ok(id) = id.parse::<BlobId>() else {
        return text(StatusCode::BAD_REQUEST, "bad blob id");
    };
    match tokio::fs::read(blob_path(&dir, &id)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(_) => text(StatusCode::NOT_FOUND, "blob not found"),
    }
}

async fn write_blob(State(dir): State<Arc<PathBuf>>, body: Bytes) -> Response {
    let id = local_blob_id(&body);
    let path = blob_path(&dir, &id);
    let answer = if path.exists() {
        serde_json::json!({"alreadyCertified": {"blobId": id.to_string(), "endEpoch": u32::MAX}})
    } else {
        let tmp = dir.join(format!(".{id}.tmp"));
        let written = async {
            tokio::fs::write(&tmp, &body).await?;
            tokio::fs::rename(&tmp, &path).await
        };
        if written.await.is_err() {
            return text(StatusCode::INTERNAL_SERVER_ERROR, "cannot store the blob");
        }
        serde_json::json!({"newlyCreated": {"blobObject": {
            "blobId": id.to_string(), "size": body.len(),
            "encodingType": "local-sha256 (stand-in, not Walrus)"}}})
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}
