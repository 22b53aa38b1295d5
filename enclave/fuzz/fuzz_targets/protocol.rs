//! Frames and messages from a hostile host: arbitrary bytes through the
//! frame reader and the request decoder. Nothing may panic or over-allocate.
#![no_main]

use std::io::Read;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vram_enclave::protocol::{read_frame, Request, TimedRead};

struct Bytes<'a>(&'a [u8]);

impl Read for Bytes<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl TimedRead for Bytes<'_> {
    fn set_read_deadline(&mut self, _: Option<Duration>) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = Request::decode(data);
    let mut stream = Bytes(data);
    while let Ok(body) = read_frame(&mut stream, 1 << 16, None, Duration::from_secs(1)) {
        if let Ok(request) = Request::decode(&body) {
            // Whatever decodes must re-encode to something that decodes.
            assert!(Request::decode(&request.encode()).is_ok());
        }
    }
});
