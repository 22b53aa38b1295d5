//! A local blob store that serves a directory over the Walrus HTTP API
//! (aggregator `GET /v1/blobs/{id}`, publisher `PUT /v1/blobs?epochs=N`), so
//! that the host's real Walrus client works unchanged in local mode.
//!
//! **A stand-in, not Walrus**: no erasure coding, no storage nodes, and blob
//! ids are the base64url SHA-256 of the bytes (Walrus derives them from its
//! encoding). Loopback only; one thread per connection, bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use vram_attestation::sha256;

use crate::error::{Error, Result};
use vram_host::walrus::BlobId;

const MAX_CONNECTIONS: usize = 64;
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// A running local blob store.
pub struct BlobStore {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
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
        let listener = TcpListener::bind(bind).map_err(|e| store_err(format!("{bind}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| store_err(e.to_string()))?;
        if !addr.ip().is_loopback() {
            return Err(store_err("the local blob store listens on loopback only"));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let dir = Arc::new(dir.to_path_buf());
        let active = Arc::new(AtomicUsize::new(0));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                    active.fetch_sub(1, Ordering::SeqCst);
                    let _ = respond(&stream, 503, "text/plain", b"busy");
                    continue;
                }
                let (dir, active) = (Arc::clone(&dir), Arc::clone(&active));
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
                    let _ = handle(&stream, &dir, max_blob_bytes);
                    active.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Ok(Self {
            addr,
            stop,
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
        self.stop.store(true, Ordering::SeqCst);
        // Unblock accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
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

fn handle(stream: &TcpStream, dir: &Path, max_blob: u64) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length: Option<u64> = None;
    let mut header_bytes = request_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        header_bytes += n;
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if header_bytes > MAX_HEADER_BYTES {
            return respond(stream, 431, "text/plain", b"headers too large");
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            content_length = v.trim().parse().ok();
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", p) if p.starts_with("/v1/blobs/") => {
            let Ok(id) = p["/v1/blobs/".len()..].parse::<BlobId>() else {
                return respond(stream, 400, "text/plain", b"bad blob id");
            };
            match std::fs::read(blob_path(dir, &id)) {
                Ok(bytes) => respond(stream, 200, "application/octet-stream", &bytes),
                Err(_) => respond(stream, 404, "text/plain", b"blob not found"),
            }
        }
        ("PUT", "/v1/blobs") => {
            let Some(len) = content_length else {
                return respond(stream, 411, "text/plain", b"content-length required");
            };
            if len > max_blob {
                return respond(stream, 413, "text/plain", b"blob too large");
            }
            let mut body = vec![0u8; len as usize];
            reader.read_exact(&mut body)?;
            let id = local_blob_id(&body);
            let path = blob_path(dir, &id);
            let answer = if path.exists() {
                serde_json::json!({"alreadyCertified": {"blobId": id.to_string(), "endEpoch": u32::MAX}})
            } else {
                let tmp = dir.join(format!(".{id}.tmp"));
                std::fs::write(&tmp, &body)?;
                std::fs::rename(&tmp, &path)?;
                serde_json::json!({"newlyCreated": {"blobObject": {
                    "blobId": id.to_string(), "size": len,
                    "encodingType": "local-sha256 (stand-in, not Walrus)"}}})
            };
            respond(
                stream,
                200,
                "application/json",
                answer.to_string().as_bytes(),
            )
        }
        _ => respond(stream, 404, "text/plain", b"not found"),
    }
}

fn respond(mut stream: &TcpStream, status: u16, kind: &str, body: &[u8]) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}
