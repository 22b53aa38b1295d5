//! Measurements of an enclave image file (EIF), by AWS's definitions and
//! without nitro-cli: the PCRs an enclave booted from the image reports.
//!
//! Layout (big-endian): a 548-byte header (magic `.eif`, version, flags,
//! default memory and CPUs, reserved, section count, 32 section offsets, 32
//! section sizes, unused, CRC-32 of everything else), then sections, each a
//! 12-byte header (type, flags, size) and its data. Types: 1 kernel,
//! 2 cmdline, 3 ramdisk, 4 signature, 5 metadata.
//!
//! - PCR0 (image): SHA-384 over kernel, cmdline and every ramdisk, in file
//!   order, then extended into a zero register: `SHA-384(0^48 || digest)`.
//! - PCR1 (kernel and bootstrap): kernel, cmdline, first ramdisk.
//! - PCR2 (application): every ramdisk after the first.
//! - PCR8 (signed images): the DER of the signing certificate in the
//!   signature section.
//!
//! Every size is checked against the bytes that remain before anything is
//! sliced; the section headers must agree with the header's table; the
//! CRC is checked.

use ring::digest::{Context, SHA384};

use crate::error::{Error, Result};

/// `.eif`.
pub const EIF_MAGIC: [u8; 4] = *b".eif";
/// Header bytes.
pub const EIF_HEADER_LEN: usize = 548;
const SECTION_HEADER_LEN: usize = 12;
const MAX_SECTIONS: usize = 32;

/// What [`measure_eif`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EifMeasurements {
    /// Format version.
    pub version: u16,
    /// Header flags (bit 0: aarch64).
    pub flags: u16,
    /// PCR0: the image.
    pub pcr0: [u8; 48],
    /// PCR1: kernel, cmdline and bootstrap ramdisk.
    pub pcr1: [u8; 48],
    /// PCR2: the application ramdisks.
    pub pcr2: [u8; 48],
    /// PCR8: the signing certificate, for signed images.
    pub pcr8: Option<[u8; 48]>,
    /// Sections by type, in file order: (type, size).
    pub sections: Vec<(u16, u64)>,
    /// The header's CRC-32, which matched.
    pub crc32: u32,
}

fn bad(offset: usize, reason: &'static str) -> Error {
    Error::EifMalformed {
        offset: offset as u64,
        reason,
    }
}

fn be16(b: &[u8], at: usize) -> Result<u16> {
    b.get(at..at + 2)
        .map(|s| u16::from_be_bytes([s[0], s[1]]))
        .ok_or(bad(at, "truncated"))
}

fn be32(b: &[u8], at: usize) -> Result<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(bad(at, "truncated"))
}

fn be64(b: &[u8], at: usize) -> Result<u64> {
    b.get(at..at + 8)
        .map(|s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_be_bytes(a)
        })
        .ok_or(bad(at, "truncated"))
}

/// Measures an EIF held in memory.
pub fn measure_eif(image: &[u8]) -> Result<EifMeasurements> {
    if image.len() < EIF_HEADER_LEN {
        return Err(bad(image.len(), "shorter than the EIF header"));
    }
    if image[..4] != EIF_MAGIC {
        return Err(bad(0, "not an EIF (magic is not .eif)"));
    }
    let version = be16(image, 4)?;
    let flags = be16(image, 6)?;
    let num_sections = be16(image, 26)? as usize;
    if num_sections > MAX_SECTIONS {
        return Err(bad(26, "more than 32 sections"));
    }
    let offsets = (0..MAX_SECTIONS)
        .map(|i| be64(image, 28 + 8 * i))
        .collect::<Result<Vec<_>>>()?;
    let sizes = (0..MAX_SECTIONS)
        .map(|i| be64(image, 28 + 8 * MAX_SECTIONS + 8 * i))
        .collect::<Result<Vec<_>>>()?;
    let crc_at = EIF_HEADER_LEN - 4;
    let header_crc = be32(image, crc_at)?;
    let mut crc = Crc32::new();
    crc.update(&image[..crc_at]);

    let (mut image_h, mut boot_h, mut app_h) = (
        Context::new(&SHA384),
        Context::new(&SHA384),
        Context::new(&SHA384),
    );
    let mut pcr8 = None;
    let mut sections = Vec::new();
    let mut ramdisks = 0usize;
    let mut at = EIF_HEADER_LEN;
    while at < image.len() {
        let index = sections.len();
        if index >= num_sections {
            return Err(bad(at, "bytes after the last section"));
        }
        let header = image
            .get(at..at + SECTION_HEADER_LEN)
            .ok_or(bad(at, "truncated section header"))?;
        let kind = be16(header, 0)?;
        let size = be64(header, 4)?;
        if offsets[index] != at as u64 || sizes[index] != size {
            return Err(bad(at, "section disagrees with the header's table"));
        }
        let start = at + SECTION_HEADER_LEN;
        let len = usize::try_from(size).map_err(|_| bad(at, "section size overflows"))?;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= image.len())
            .ok_or(bad(at, "section runs past the end of the file"))?;
        let data = &image[start..end];
        crc.update(header);
        crc.update(data);
        match kind {
            1 | 2 => {
                image_h.update(data);
                boot_h.update(data);
            }
            3 => {
                image_h.update(data);
                if ramdisks == 0 {
                    boot_h.update(data);
                } else {
                    app_h.update(data);
                }
                ramdisks += 1;
            }
            4 => {
                let der = signing_certificate_der(data)
                    .ok_or(bad(start, "unreadable signature section"))?;
                let mut h = Context::new(&SHA384);
                h.update(&der);
                pcr8 = Some(extend(h));
            }
            5 => {}
            _ => return Err(bad(at, "unknown section type")),
        }
        sections.push((kind, size));
        at = end;
    }
    if sections.len() != num_sections {
        return Err(bad(at, "fewer sections than the header lists"));
    }
    if !sections.iter().any(|(k, _)| *k == 1) || ramdisks == 0 {
        return Err(bad(EIF_HEADER_LEN, "no kernel or no ramdisk"));
    }
    let computed = crc.finish();
    if computed != header_crc {
        return Err(Error::EifCrcMismatch {
            header: header_crc,
            computed,
        });
    }
    Ok(EifMeasurements {
        version,
        flags,
        pcr0: extend(image_h),
        pcr1: extend(boot_h),
        pcr2: extend(app_h),
        pcr8,
        sections,
        crc32: computed,
    })
}

/// Extends a zero register with the measurement: `SHA-384(0^48 || digest)`.
fn extend(h: Context) -> [u8; 48] {
    let digest = h.finish();
    let mut register = Context::new(&SHA384);
    register.update(&[0u8; 48]);
    register.update(digest.as_ref());
    let mut out = [0u8; 48];
    out.copy_from_slice(register.finish().as_ref());
    out
}

/// The DER of the first signature's PEM certificate. The section is CBOR:
/// an array of maps `{signing_certificate, signature}`, whose byte fields a
/// serde serialiser writes either as CBOR bytes or as arrays of integers.
fn signing_certificate_der(section: &[u8]) -> Option<Vec<u8>> {
    let mut r = crate::cbor::Reader::new(section);
    let mut items = r.array_header().ok()?;
    if !r.next_item(&mut items).ok()? {
        return None;
    }
    let mut fields = r.map_header().ok()?;
    let mut pem = None;
    while r.next_item(&mut fields).ok()? {
        let key = r.text().ok()?;
        let value = byte_field(&mut r)?;
        if key == "signing_certificate" {
            pem = Some(value);
        }
    }
    let pem = String::from_utf8(pem?).ok()?;
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .ok()
}

fn byte_field(r: &mut crate::cbor::Reader<'_>) -> Option<Vec<u8>> {
    if let Ok(bytes) = r.clone().bytes() {
        let _ = r.bytes();
        return Some(bytes.to_vec());
    }
    let mut items = r.array_header().ok()?;
    let mut out = Vec::new();
    while r.next_item(&mut items).ok()? {
        out.push(u8::try_from(r.uint().ok()?).ok()?);
    }
    Some(out)
}

/// CRC-32 (IEEE 802.3, reflected, as the EIF header uses).
struct Crc32 {
    table: [u32; 256],
    value: u32,
}

impl Crc32 {
    fn new() -> Self {
        let mut table = [0u32; 256];
        for (i, slot) in table.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        Self {
            table,
            value: 0xFFFF_FFFF,
        }
    }

    fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.value =
                self.table[((self.value ^ u32::from(b)) & 0xFF) as usize] ^ (self.value >> 8);
        }
    }

    fn finish(&self) -> u32 {
        self.value ^ 0xFFFF_FFFF
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        let mut c = Crc32::new();
        c.update(b"123456789");
        assert_eq!(c.finish(), 0xCBF4_3926);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn arbitrary_headers_never_panic(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let mut image = b".eif".to_vec();
            image.extend_from_slice(&tail);
            let _ = measure_eif(&image);
        }
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        assert!(measure_eif(b"").is_err());
        assert!(measure_eif(&[0u8; 600]).is_err());
        let mut header = vec![0u8; EIF_HEADER_LEN];
        header[..4].copy_from_slice(b".eif");
        header[27] = 33;
        assert!(measure_eif(&header).is_err());
    }
}
