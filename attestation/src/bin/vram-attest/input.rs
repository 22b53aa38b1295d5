//! Reading the tool's inputs: documents, roots, hex arguments, times.

use std::io::Read as _;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _, Result};
use vram_attestation::{decode_document_input, TrustRoot, MAX_DOCUMENT_BYTES};

use crate::TrustArgs;

/// Hex text of a document is twice its size; anything larger is refused
/// before it is read whole.
const MAX_INPUT_BYTES: u64 = 4 * MAX_DOCUMENT_BYTES as u64;

/// Reads a file (or `-` for stdin) up to `max` bytes.
pub(crate) fn read_bounded(path: &str, max: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let reader: Box<dyn std::io::Read> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("cannot open {path}"))?)
    };
    reader
        .take(max + 1)
        .read_to_end(&mut out)
        .with_context(|| format!("cannot read {path}"))?;
    if out.len() as u64 > max {
        bail!("{path} is larger than {max} bytes");
    }
    Ok(out)
}

/// Reads a document file: the outer result is I/O (exit 2), the inner one
/// whether the bytes are a raw, hex or base64 document (invalid, exit 1).
pub(crate) fn read_document(path: &str) -> Result<Result<Vec<u8>, String>> {
    let bytes = read_bounded(path, MAX_INPUT_BYTES)?;
    Ok(decode_document_input(&bytes).map_err(|e| format!("{path}: {e}")))
}

/// The trust root named by `--root`.
pub(crate) fn trust_root(spec: &str) -> Result<TrustRoot> {
    if spec == "aws" {
        return Ok(TrustRoot::aws_nitro()?);
    }
    let pem = read_bounded(spec, 64 * 1024)?;
    let pem = String::from_utf8(pem).map_err(|_| anyhow!("{spec} is not PEM text"))?;
    TrustRoot::from_pem(&pem).with_context(|| spec.to_string())
}

/// Parses `IDX=HEX` PCR arguments.
pub(crate) fn pcr_arg(spec: &str) -> Result<(u8, Vec<u8>)> {
    let (index, value) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("--pcr takes IDX=HEX, got {spec:?}"))?;
    let index: u8 = index
        .trim()
        .parse()
        .map_err(|_| anyhow!("--pcr index {index:?} is not a number"))?;
    let bytes = hex_arg("--pcr", value)?;
    // Nitro PCRs are SHA-384 registers: a shorter value can never match and
    // is a typo, not a policy.
    if bytes.len() != 48 {
        return Err(anyhow!(
            "--pcr {index} is {} bytes; a PCR is 48 bytes (96 hex digits, SHA-384)",
            bytes.len()
        ));
    }
    Ok((index, bytes))
}

/// Decodes a hex argument (an optional `0x` prefix is accepted).
pub(crate) fn hex_arg(name: &str, value: &str) -> Result<Vec<u8>> {
    let value = value.trim();
    let value = value.strip_prefix("0x").unwrap_or(value);
    hex::decode(value).map_err(|e| anyhow!("{name} is not hex: {e}"))
}

pub(crate) fn now_ms() -> Result<u64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("system clock is before 1970")?
        .as_millis() as u64)
}

/// Where the verification time came from.
#[derive(Clone, Copy)]
pub(crate) enum TimeSource {
    Explicit,
    Now,
    Document,
}

impl TimeSource {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Explicit => "explicit",
            Self::Now => "now",
            Self::Document => "document",
        }
    }
}

/// The verification time from `--at`/`--now`, else the document's own.
pub(crate) fn verification_time(args: &TrustArgs, document_ms: u64) -> Result<(u64, TimeSource)> {
    Ok(match (args.at, args.now) {
        (Some(at), _) => (at, TimeSource::Explicit),
        (None, true) => (now_ms()?, TimeSource::Now),
        (None, false) => (document_ms, TimeSource::Document),
    })
}
