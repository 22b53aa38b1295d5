//! The host's side of the enclave protocol: connect over TCP, a Unix socket
//! or vsock, send a request, read the answer, all under a deadline.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use vram_enclave::protocol::{
    read_frame, write_frame, FrameError, OpenWindow, Page, PageRequest, Request, Response,
    TimedRead, Upload, UploadKind, DEFAULT_MAX_FRAME, PROTOCOL_VERSION,
};

use crate::error::{Error, Result};

/// Where the enclave listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `tcp:HOST:PORT`.
    Tcp(String),
    /// `unix:PATH`.
    Unix(PathBuf),
    /// `vsock:CID:PORT`.
    Vsock {
        /// The enclave's CID.
        cid: u32,
        /// The port.
        port: u32,
    },
}

impl std::str::FromStr for Endpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Config {
            reason: format!(
                "enclave endpoint {s:?}: use tcp:HOST:PORT, unix:PATH or vsock:CID:PORT"
            ),
        };
        if let Some(addr) = s.strip_prefix("tcp:") {
            return Ok(Self::Tcp(addr.to_string()));
        }
        if let Some(path) = s.strip_prefix("unix:") {
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("vsock:") {
            let (cid, port) = rest.split_once(':').ok_or_else(bad)?;
            return Ok(Self::Vsock {
                cid: cid.parse().map_err(|_| bad())?,
                port: port.parse().map_err(|_| bad())?,
            });
        }
        Err(bad())
    }
}

trait Stream: TimedRead + Write + Send {
    fn set_write_deadline(&mut self, timeout: Option<Duration>) -> std::io::Result<()>;
}

impl Stream for std::net::TcpStream {
    fn set_write_deadline(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.set_write_timeout(timeout)
    }
}

impl Stream for std::os::unix::net::UnixStream {
    fn set_write_deadline(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.set_write_timeout(timeout)
    }
}

impl Stream for vsock::VsockStream {
    fn set_write_deadline(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.set_write_timeout(timeout)
    }
}

/// A session with the enclave.
pub struct EnclaveClient {
    stream: Box<dyn Stream>,
    timeout: Duration,
    max_frame: u32,
}

/// What [`EnclaveClient::attest`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// The enclave's Ed25519 key.
    pub public_key: [u8; 32],
    /// The attestation document binding it.
    pub document: Vec<u8>,
    /// The nonce the document binds.
    pub nonce: [u8; 32],
}

fn transport(e: impl std::fmt::Display) -> Error {
    Error::Enclave {
        reason: e.to_string(),
    }
}

/// Bytes per upload chunk: a quarter of the default frame.
pub const UPLOAD_CHUNK: usize = (DEFAULT_MAX_FRAME / 4) as usize;

impl EnclaveClient {
    /// Connects; every later call must complete within `timeout`.
    pub fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<Self> {
        let stream: Box<dyn Stream> = match endpoint {
            Endpoint::Tcp(addr) => Box::new(std::net::TcpStream::connect(addr).map_err(transport)?),
            Endpoint::Unix(path) => {
                Box::new(std::os::unix::net::UnixStream::connect(path).map_err(transport)?)
            }
            Endpoint::Vsock { cid, port } => {
                Box::new(vsock::VsockStream::connect_with_cid_port(*cid, *port).map_err(transport)?)
            }
        };
        Ok(Self {
            stream,
            timeout,
            max_frame: DEFAULT_MAX_FRAME,
        })
    }

    /// Sends one request and reads its answer; an enclave refusal is
    /// [`Error::Refused`].
    pub fn call(&mut self, request: &Request) -> Result<Response> {
        self.stream
            .set_write_deadline(Some(self.timeout))
            .map_err(transport)?;
        write_frame(&mut self.stream, &request.encode()).map_err(transport)?;
        let body = read_frame(
            &mut self.stream,
            self.max_frame,
            Some(self.timeout),
            self.timeout,
        )
        .map_err(|e| match e {
            FrameError::Deadline => Error::Enclave {
                reason: format!("no answer within {:?}", self.timeout),
            },
            other => transport(other),
        })?;
        match Response::decode(&body).map_err(|e| transport(e.0))? {
            Response::Error { code, message } => Err(Error::Refused { code, message }),
            response => Ok(response),
        }
    }

    /// Version, public key and an attestation document binding `nonce`.
    pub fn describe(&mut self, nonce: &[u8]) -> Result<Response> {
        self.call(&Request::Describe {
            nonce: nonce.to_vec(),
        })
    }

    /// Asks for an attestation document bound to a fresh random nonce;
    /// returns the enclave's key, the document and the nonce (verifying the
    /// document is the caller's job).
    pub fn attest(&mut self) -> Result<Attestation> {
        let mut nonce = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce).map_err(
            |_| Error::Enclave {
                reason: "no randomness for the nonce".into(),
            },
        )?;
        match self.describe(&nonce)? {
            Response::Describe {
                protocol_version, ..
            } if protocol_version != PROTOCOL_VERSION => Err(Error::Enclave {
                reason: format!(
                    "the enclave speaks protocol {protocol_version}, this host {PROTOCOL_VERSION}: \
                     run the enclave image built from the same release"
                ),
            }),
            Response::Describe {
                public_key,
                attestation,
                ..
            } => Ok(Attestation {
                public_key: public_key.0,
                document: attestation,
                nonce,
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// Opens a window; returns (need_checkpoint, need_manifest).
    pub fn open_window(&mut self, open: &OpenWindow) -> Result<(bool, bool)> {
        match self.call(&Request::OpenWindow(open.clone()))? {
            Response::WindowOpened {
                need_checkpoint,
                need_manifest,
                ..
            } => Ok((need_checkpoint, need_manifest)),
            other => Err(unexpected(&other)),
        }
    }

    /// Streams a body in chunks.
    pub fn upload(&mut self, window: u64, kind: UploadKind, body: &[u8]) -> Result<()> {
        let total = body.len() as u64;
        let mut offset = 0usize;
        for chunk in body.chunks(UPLOAD_CHUNK) {
            let request = Request::Upload(Upload {
                window,
                kind,
                offset: offset as u64,
                total,
                data: chunk.to_vec(),
            });
            match self.call(&request)? {
                Response::Uploaded { .. } => offset += chunk.len(),
                other => return Err(unexpected(&other)),
            }
        }
        Ok(())
    }

    /// The enclave's clock (Unix ms), from its health answer.
    pub fn clock_ms(&mut self) -> Result<u64> {
        match self.call(&Request::Health)? {
            Response::Health { clock_ms, .. } => Ok(clock_ms),
            other => Err(unexpected(&other)),
        }
    }

    /// Declares committed blobs that could not be fetched; returns how many
    /// committed blobs are still outstanding.
    pub fn declare_missing(&mut self, window: u64, uids: &[u64]) -> Result<u64> {
        let request = Request::DeclareMissing {
            window,
            uids: uids.to_vec(),
        };
        match self.call(&request)? {
            Response::MissingDeclared { outstanding } => Ok(outstanding),
            other => Err(unexpected(&other)),
        }
    }

    /// Asks which pages the window needs (derives the seed on first call).
    pub fn request_pages(&mut self, window: u64) -> Result<PageRequest> {
        match self.call(&Request::RequestPages { window })? {
            Response::PagesNeeded(request) => Ok(request),
            other => Err(unexpected(&other)),
        }
    }

    /// Sends pages; returns how many requested pages are still missing.
    pub fn send_pages(&mut self, window: u64, pages: Vec<Page>) -> Result<u64> {
        match self.call(&Request::Pages { window, pages })? {
            Response::PagesAccepted { outstanding } => Ok(outstanding),
            other => Err(unexpected(&other)),
        }
    }

    /// Evaluates the blob uploaded last (if any) and names the next one to
    /// upload; `None` once the budget is scored. Past the window's last
    /// moment to sign the enclave refuses (`WindowExpired`).
    pub fn next_gradient(&mut self, window: u64) -> Result<Option<u64>> {
        match self.call(&Request::NextGradient { window })? {
            Response::GradientNeeded { uid, .. } => Ok(uid),
            other => Err(unexpected(&other)),
        }
    }

    /// Scores the window; returns the BCS statement and its signature.
    pub fn finish(&mut self, window: u64) -> Result<(Vec<u8>, Vec<u8>)> {
        match self.call(&Request::Finish { window })? {
            Response::Statement { message, signature } => Ok((message, signature)),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(response: &Response) -> Error {
    Error::Enclave {
        reason: format!("unexpected answer {response:?}"),
    }
}
