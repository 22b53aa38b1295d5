//! Accepting connections: one thread per session, a cap on sessions, the
//! same code above every transport.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::Enclave;
use crate::protocol::{
    read_frame, write_frame, ErrorCode, FrameError, Request, Response, TimedRead,
};

/// A bound listening socket.
pub enum Listener {
    /// TCP (test mode: loopback only).
    Tcp(std::net::TcpListener),
    /// A Unix socket (test mode).
    Unix(std::os::unix::net::UnixListener),
    /// vsock (inside a Nitro enclave).
    Vsock(vsock::VsockListener),
}

impl TimedRead for vsock::VsockStream {
    fn set_read_deadline(&mut self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
        self.set_read_timeout(timeout)
    }
}

/// Serves sessions until the listener fails. Each session runs on its own
/// thread; connections beyond the configured cap are closed at once.
pub fn serve(enclave: Arc<Enclave>, listener: Listener) -> std::io::Result<()> {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        match &listener {
            Listener::Tcp(l) => {
                let (stream, _) = l.accept()?;
                spawn(&enclave, &active, stream);
            }
            Listener::Unix(l) => {
                let (stream, _) = l.accept()?;
                spawn(&enclave, &active, stream);
            }
            Listener::Vsock(l) => {
                let (stream, _) = l.accept()?;
                spawn(&enclave, &active, stream);
            }
        }
    }
}

fn spawn<S>(enclave: &Arc<Enclave>, active: &Arc<AtomicUsize>, stream: S)
where
    S: TimedRead + Write + Send + 'static,
{
    if active.fetch_add(1, Ordering::SeqCst) >= enclave.config().max_sessions {
        active.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let enclave = Arc::clone(enclave);
    let active = Arc::clone(active);
    std::thread::spawn(move || {
        session(&enclave, stream);
        active.fetch_sub(1, Ordering::SeqCst);
    });
}

/// Runs one session: frames in, responses out. A frame that does not decode
/// earns an error response and the session goes on; a broken frame (bad
/// length, truncated, too slow) closes the session after a final error.
pub fn session<S: TimedRead + Write>(enclave: &Enclave, mut stream: S) {
    let cfg = enclave.config();
    loop {
        let response = match read_frame(
            &mut stream,
            cfg.max_frame,
            Some(cfg.idle_timeout),
            cfg.frame_timeout,
        ) {
            Ok(body) => match Request::decode(&body) {
                Ok(request) => enclave.handle(request),
                Err(e) => Response::error(ErrorCode::BadMessage, e.0),
            },
            Err(FrameError::BadLength { len, max }) => {
                let refusal = Response::error(
                    ErrorCode::BadMessage,
                    format!("frame length {len} outside 1..={max}"),
                );
                let _ = write_frame(&mut stream, &refusal.encode());
                return;
            }
            Err(_) => return,
        };
        if write_frame(&mut stream, &response.encode()).is_err() {
            return;
        }
    }
}
