//! The enclave protocol (design.md §4.3, docs/protocol.md): length-prefixed CBOR
//! frames over one byte stream (vsock, or TCP / Unix socket in test mode).

mod frame;
mod messages;

pub use frame::{read_frame, write_frame, FrameError, TimedRead, DEFAULT_MAX_FRAME};
pub use messages::{
    encode, Bytes32, DecodeError, ErrorCode, MinerCommitment, OpenWindow, Page, PageRequest,
    Request, Response, Upload, UploadKind, MAX_WEIGHTS_FILES, PROTOCOL_VERSION,
};
