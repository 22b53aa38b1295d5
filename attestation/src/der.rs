//! Just enough DER to describe certificates and to mint the simulator's.
//!
//! Chain validation itself is rustls-webpki's job. This module reads the
//! fields webpki does not expose (subject, validity, the leaf's P-384 point)
//! so that errors and the auditor's output can name certificates and times,
//! and it writes the handful of certificate shapes the simulated NSM needs.

use crate::error::{Error, Result};

const TAG_BOOLEAN: u8 = 0x01;
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_UTF8: u8 = 0x0c;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_CONTEXT_0: u8 = 0xa0;
const TAG_CONTEXT_3: u8 = 0xa3;

pub(crate) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub(crate) const OID_SECP384R1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
pub(crate) const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];

/// Attribute types we print by name; others print as dotted OIDs.
const NAME_ATTRIBUTES: &[(&[u8], &str)] = &[
    (&[0x55, 0x04, 0x03], "CN"),
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x07], "L"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x0a], "O"),
    (&[0x55, 0x04, 0x0b], "OU"),
];

/// Certificate fields read without validation (webpki validates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertInfo<'a> {
    pub(crate) subject: String,
    pub(crate) not_before_ms: u64,
    pub(crate) not_after_ms: u64,
    /// The uncompressed SEC1 point when the key is ECDSA P-384.
    pub(crate) p384_point: Option<&'a [u8]>,
}

struct Der<'a> {
    input: &'a [u8],
}

impl<'a> Der<'a> {
    fn tlv(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.input.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            // DER: long form only for >= 128, at most 4 length bytes here.
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in rest.get(..n)? {
                len = (len << 8) | usize::from(b);
            }
            rest = rest.get(n..)?;
            if len < 0x80 {
                return None;
            }
            len
        };
        let value = rest.get(..len)?;
        self.input = rest.get(len..)?;
        Some((tag, value))
    }

    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.tlv()? {
            (t, v) if t == tag => Some(v),
            _ => None,
        }
    }

    fn is_empty(&self) -> bool {
        self.input.is_empty()
    }
}

/// The tbsCertificate fields this crate reads, as content slices.
struct TbsFields<'a> {
    validity: &'a [u8],
    subject: &'a [u8],
    spki: &'a [u8],
}

fn tbs_fields(der: &[u8]) -> std::result::Result<TbsFields<'_>, &'static str> {
    let mut outer = Der { input: der };
    let cert = outer.expect(TAG_SEQUENCE).ok_or("not a SEQUENCE")?;
    if !outer.is_empty() {
        return Err("trailing bytes after the certificate");
    }
    let mut cert = Der { input: cert };
    let tbs = cert.expect(TAG_SEQUENCE).ok_or("no tbsCertificate")?;
    let mut tbs = Der { input: tbs };
    let (mut tag, _) = tbs.tlv().ok_or("empty tbsCertificate")?;
    if tag == TAG_CONTEXT_0 {
        tag = tbs.tlv().ok_or("no serial number")?.0;
    }
    if tag != TAG_INTEGER {
        return Err("no serial number");
    }
    tbs.expect(TAG_SEQUENCE).ok_or("no signature algorithm")?;
    tbs.expect(TAG_SEQUENCE).ok_or("no issuer")?;
    Ok(TbsFields {
        validity: tbs.expect(TAG_SEQUENCE).ok_or("no validity")?,
        subject: tbs.expect(TAG_SEQUENCE).ok_or("no subject")?,
        spki: tbs.expect(TAG_SEQUENCE).ok_or("no public key info")?,
    })
}

/// Reads subject, validity and key of a DER certificate.
pub(crate) fn cert_info(der: &[u8], index: usize) -> Result<CertInfo<'_>> {
    let bad = |reason| Error::BadCertificate { index, reason };
    let fields = tbs_fields(der).map_err(bad)?;
    let mut validity = Der {
        input: fields.validity,
    };
    let not_before_ms = read_time(&mut validity).ok_or(bad("bad notBefore"))?;
    let not_after_ms = read_time(&mut validity).ok_or(bad("bad notAfter"))?;
    let subject = render_name(fields.subject).ok_or(bad("bad subject name"))?;
    let p384_point = read_p384_point(fields.spki).ok_or(bad("bad subjectPublicKeyInfo"))?;
    Ok(CertInfo {
        subject,
        not_before_ms,
        not_after_ms,
        p384_point,
    })
}

/// The subject Name of a certificate, DER-encoded with its header, as the
/// issuer field of the certificates it signs.
pub(crate) fn subject_der(der: &[u8]) -> Option<Vec<u8>> {
    tbs_fields(der)
        .ok()
        .map(|fields| tlv(TAG_SEQUENCE, fields.subject))
}

fn read_p384_point(spki: &[u8]) -> Option<Option<&[u8]>> {
    let mut spki = Der { input: spki };
    let alg = spki.expect(TAG_SEQUENCE)?;
    let key = spki.expect(TAG_BIT_STRING)?;
    let mut alg = Der { input: alg };
    let is_ec = alg.expect(TAG_OID)? == OID_EC_PUBLIC_KEY;
    let is_p384 = is_ec && alg.expect(TAG_OID) == Some(OID_SECP384R1);
    match key.split_first() {
        Some((0, point)) if is_p384 && point.len() == 97 && point.first() == Some(&4) => {
            Some(Some(point))
        }
        Some(_) => Some(None),
        None => None,
    }
}

fn render_name(name: &[u8]) -> Option<String> {
    let mut rdns = Der { input: name };
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let mut set = Der {
            input: rdns.expect(TAG_SET)?,
        };
        while !set.is_empty() {
            let mut atv = Der {
                input: set.expect(TAG_SEQUENCE)?,
            };
            let oid = atv.expect(TAG_OID)?;
            let (_, value) = atv.tlv()?;
            let key = NAME_ATTRIBUTES
                .iter()
                .find(|(o, _)| *o == oid)
                .map_or_else(|| dotted_oid(oid), |(_, n)| (*n).to_string());
            parts.push(format!("{key}={}", String::from_utf8_lossy(value)));
        }
    }
    Some(parts.join(", "))
}

fn dotted_oid(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in oid {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn read_time(der: &mut Der<'_>) -> Option<u64> {
    let (tag, value) = der.tlv()?;
    let text = std::str::from_utf8(value).ok()?;
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, digits.len()) {
        (TAG_UTC_TIME, 12) => {
            let yy: i64 = digits.get(..2)?.parse().ok()?;
            (
                if yy < 50 { 2000 + yy } else { 1900 + yy },
                digits.get(2..)?,
            )
        }
        (TAG_GENERALIZED_TIME, 14) => (digits.get(..4)?.parse().ok()?, digits.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    u64::try_from(secs).ok()?.checked_mul(1_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date and time of a Unix time in seconds.
pub(crate) fn civil_from_secs(secs: u64) -> (i64, i64, i64, i64, i64, i64) {
    let secs = secs as i64;
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, tod / 3_600, (tod % 3_600) / 60, tod % 60)
}

// === Writing ===

pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(TAG_SEQUENCE, &parts.concat())
}

/// A positive INTEGER from big-endian magnitude bytes.
pub(crate) fn integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = magnitude.iter().copied().skip_while(|&b| b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|&b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(&trimmed);
    tlv(TAG_INTEGER, &content)
}

pub(crate) fn oid(der_body: &[u8]) -> Vec<u8> {
    tlv(TAG_OID, der_body)
}

pub(crate) fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = vec![0u8];
    content.extend_from_slice(bytes);
    tlv(TAG_BIT_STRING, &content)
}

/// A Name of `O=..., CN=...` attributes as UTF8Strings.
pub(crate) fn name(org: &str, common_name: &str) -> Vec<u8> {
    let rdn = |oid_body: &[u8], value: &str| {
        tlv(
            TAG_SET,
            &seq(&[&oid(oid_body), &tlv(TAG_UTF8, value.as_bytes())]),
        )
    };
    seq(&[
        &rdn(&[0x55, 0x04, 0x0a], org),
        &rdn(&[0x55, 0x04, 0x03], common_name),
    ])
}

/// UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5).
pub(crate) fn time(secs: u64) -> Vec<u8> {
    let (y, mo, d, h, mi, s) = civil_from_secs(secs);
    if (1950..2050).contains(&y) {
        let text = format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100);
        tlv(TAG_UTC_TIME, text.as_bytes())
    } else {
        let text = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z");
        tlv(TAG_GENERALIZED_TIME, text.as_bytes())
    }
}

/// SubjectPublicKeyInfo of an uncompressed P-384 point.
pub(crate) fn p384_spki(point: &[u8]) -> Vec<u8> {
    seq(&[
        &seq(&[&oid(OID_EC_PUBLIC_KEY), &oid(OID_SECP384R1)]),
        &bit_string(point),
    ])
}

/// The v3 extensions of a CA (with a path length) or of a leaf.
pub(crate) fn extensions(ca_path_len: Option<u8>) -> Vec<u8> {
    let critical = tlv(TAG_BOOLEAN, &[0xff]);
    let (constraints, usage): (Vec<u8>, &[u8]) = match ca_path_len {
        // keyCertSign | cRLSign (bits 5 and 6) and digitalSignature (bit 0).
        Some(len) => (
            seq(&[&tlv(TAG_BOOLEAN, &[0xff]), &integer(&[len])]),
            &[0x01, 0x86],
        ),
        // digitalSignature only.
        None => (seq(&[]), &[0x07, 0x80]),
    };
    let usage = tlv(TAG_BIT_STRING, usage);
    let ext = |oid_body: &[u8], value: &[u8]| {
        seq(&[&oid(oid_body), &critical, &tlv(TAG_OCTET_STRING, value)])
    };
    tlv(
        TAG_CONTEXT_3,
        &seq(&[
            &ext(OID_BASIC_CONSTRAINTS, &constraints),
            &ext(OID_KEY_USAGE, &usage),
        ]),
    )
}

/// The explicit `[0] INTEGER 2` marking a v3 certificate.
pub(crate) fn version_v3() -> Vec<u8> {
    tlv(TAG_CONTEXT_0, &integer(&[2]))
}

/// Decodes the body of the first CERTIFICATE block of a PEM text.
pub(crate) fn pem_certificate(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let begin = "-----BEGIN CERTIFICATE-----";
    let start = pem.find(begin)? + begin.len();
    let end = pem.get(start..)?.find("-----END CERTIFICATE-----")? + start;
    let body: String = pem
        .get(start..end)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// Encodes DER as a PEM CERTIFICATE block.
pub(crate) fn certificate_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_time_round_trips() {
        for secs in [
            0u64,
            951_782_400,
            1_744_683_467,
            2_524_608_000,
            4_102_444_799,
        ] {
            let (y, m, d, h, mi, s) = civil_from_secs(secs);
            let back = days_from_civil(y, m, d) * 86_400 + h * 3_600 + mi * 60 + s;
            assert_eq!(back as u64, secs);
            let mut der = Der { input: &time(secs) };
            assert_eq!(read_time(&mut der), Some(secs * 1_000));
        }
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(integer(&[0, 0, 5]), vec![0x02, 0x01, 0x05]);
        assert_eq!(integer(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(integer(&[]), vec![0x02, 0x01, 0x00]);
    }

    #[test]
    fn long_lengths_encode_and_decode() {
        let content = vec![7u8; 300];
        let encoded = tlv(TAG_OCTET_STRING, &content);
        assert_eq!(&encoded[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let mut der = Der { input: &encoded };
        assert_eq!(der.expect(TAG_OCTET_STRING), Some(&content[..]));
    }

    #[test]
    fn non_minimal_long_lengths_are_refused() {
        let mut der = Der {
            input: &[0x04, 0x81, 0x05, 1, 2, 3, 4, 5],
        };
        assert_eq!(der.tlv(), None);
    }

    #[test]
    fn oids_render_dotted() {
        assert_eq!(dotted_oid(OID_ECDSA_SHA384), "1.2.840.10045.4.3.3");
    }
}
