//! Framing: a u32 big-endian length, then that many bytes of CBOR. The
//! length is checked against the configured maximum before anything is
//! allocated, and a whole frame must arrive before its deadline.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

/// Default largest frame (checkpoint chunks are at most a quarter of it).
pub const DEFAULT_MAX_FRAME: u32 = 16 << 20;

/// Why a frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// The peer closed the stream between frames.
    Closed,
    /// The stream ended inside a frame.
    Truncated {
        /// Bytes of the frame (length prefix included) that arrived.
        got: usize,
    },
    /// The announced length is zero or over the maximum.
    BadLength {
        /// The announced length.
        len: u32,
        /// The maximum.
        max: u32,
    },
    /// The frame did not arrive completely within the deadline.
    Deadline,
    /// The transport failed.
    Io(std::io::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed => write!(f, "peer closed the stream"),
            Self::Truncated { got } => write!(f, "stream ended inside a frame after {got} bytes"),
            Self::BadLength { len, max } => write!(f, "frame length {len} outside 1..={max}"),
            Self::Deadline => write!(f, "frame not received before its deadline"),
            Self::Io(e) => write!(f, "transport: {e}"),
        }
    }
}

/// A stream whose reads can be bounded in time.
pub trait TimedRead: Read {
    /// Bounds the next reads (`None`: no bound).
    fn set_read_deadline(&mut self, timeout: Option<Duration>) -> std::io::Result<()>;
}

impl<T: TimedRead + ?Sized> TimedRead for Box<T> {
    fn set_read_deadline(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        (**self).set_read_deadline(timeout)
    }
}

impl TimedRead for std::net::TcpStream {
    fn set_read_deadline(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.set_read_timeout(timeout)
    }
}

impl TimedRead for std::os::unix::net::UnixStream {
    fn set_read_deadline(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.set_read_timeout(timeout)
    }
}

/// Reads exactly `buf.len()` bytes before `deadline`; `got` counts the
/// frame's bytes read so far, for error reports.
fn read_exact_by<R: TimedRead>(
    r: &mut R,
    buf: &mut [u8],
    deadline: Option<Instant>,
    got: &mut usize,
) -> Result<(), FrameError> {
    let mut filled = 0;
    while filled < buf.len() {
        if let Some(deadline) = deadline {
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or(FrameError::Deadline)?;
            r.set_read_deadline(Some(left.max(Duration::from_millis(1))))
                .map_err(FrameError::Io)?;
        }
        match r.read(&mut buf[filled..]) {
            Ok(0) if *got == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Truncated { got: *got }),
            Ok(n) => {
                filled += n;
                *got += n;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(FrameError::Deadline)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(())
}

/// Reads one frame's body. The deadline starts with the first byte, so an
/// idle connection may wait between frames up to `idle`, but a frame that
/// has begun must finish within `per_frame`.
pub fn read_frame<R: TimedRead>(
    r: &mut R,
    max: u32,
    idle: Option<Duration>,
    per_frame: Duration,
) -> Result<Vec<u8>, FrameError> {
    let mut got = 0;
    let mut first = [0u8; 1];
    let idle_deadline = idle.map(|d| Instant::now() + d);
    read_exact_by(r, &mut first, idle_deadline, &mut got)?;
    let deadline = Some(Instant::now() + per_frame);
    let mut rest = [0u8; 3];
    read_exact_by(r, &mut rest, deadline, &mut got)?;
    let len = u32::from_be_bytes([first[0], rest[0], rest[1], rest[2]]);
    if len == 0 || len > max {
        return Err(FrameError::BadLength { len, max });
    }
    let mut body = vec![0u8; len as usize];
    read_exact_by(r, &mut body, deadline, &mut got)?;
    Ok(body)
}

/// Writes one frame.
pub fn write_frame<W: Write>(w: &mut W, body: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(body.len())
        .map_err(|_| std::io::Error::new(ErrorKind::InvalidInput, "frame over 4 GiB"))?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    w.write_all(&out)?;
    w.flush()
}
