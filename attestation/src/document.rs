//! Parsing of Nitro attestation documents (COSE_Sign1 over a CBOR map).
//!
//! Field types and limits follow AWS's NSM attestation specification. The
//! parsed [`AttestationDocument`] borrows from the input and is *unverified*:
//! nothing in it may be trusted until [`crate::verify`] accepts it.

use crate::cbor::{Len, Reader, Writer};
use crate::error::{Error, Result};

/// Largest document accepted. Real documents are about 4.5 KiB; the NSM
/// specification's field limits bound a legitimate one well below this.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;
/// Most certificates accepted in `cabundle` (AWS issues four).
pub const MAX_CABUNDLE: usize = 8;
const MAX_CERT_BYTES: usize = 1024;
const MAX_PUBLIC_KEY_BYTES: usize = 1024;
const MAX_USER_DATA_BYTES: usize = 512;
const MAX_NONCE_BYTES: usize = 512;
const MAX_MODULE_ID_BYTES: usize = 255;
const MAX_PCRS: usize = 32;

/// COSE algorithm identifier of ECDSA with SHA-384 (ES384).
const COSE_ALG_ES384: i128 = -35;
const COSE_TAG_SIGN1: u64 = 18;

/// An attestation document as parsed, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationDocument<'a> {
    pub(crate) protected: &'a [u8],
    pub(crate) payload: &'a [u8],
    pub(crate) signature: &'a [u8],
    /// Issuing NSM's module id.
    pub module_id: &'a str,
    /// Digest algorithm of the PCRs (always `SHA384` once parsed).
    pub digest: &'a str,
    /// Milliseconds since the Unix epoch at which the NSM signed.
    pub timestamp_ms: u64,
    /// PCR index and value, ascending by index.
    pub pcrs: Vec<(u8, &'a [u8])>,
    /// The leaf (signing) certificate, DER.
    pub certificate: &'a [u8],
    /// The issuing chain, root first, DER each.
    pub cabundle: Vec<&'a [u8]>,
    /// Public key the enclave bound into the document.
    pub public_key: Option<&'a [u8]>,
    /// User data the enclave bound into the document.
    pub user_data: Option<&'a [u8]>,
    /// Nonce the requester asked the enclave to bind.
    pub nonce: Option<&'a [u8]>,
}

#[derive(Clone, Copy)]
enum Field {
    ModuleId,
    Digest,
    Timestamp,
    Pcrs,
    Certificate,
    Cabundle,
    PublicKey,
    UserData,
    Nonce,
}

const FIELDS: &[(&str, Field)] = &[
    ("module_id", Field::ModuleId),
    ("digest", Field::Digest),
    ("timestamp", Field::Timestamp),
    ("pcrs", Field::Pcrs),
    ("certificate", Field::Certificate),
    ("cabundle", Field::Cabundle),
    ("public_key", Field::PublicKey),
    ("user_data", Field::UserData),
    ("nonce", Field::Nonce),
];

impl<'a> AttestationDocument<'a> {
    /// Parses a COSE_Sign1 attestation document, tagged (18) or untagged.
    pub fn parse(input: &'a [u8]) -> Result<Self> {
        if input.len() > MAX_DOCUMENT_BYTES {
            return Err(Error::InputTooLarge {
                len: input.len(),
                max: MAX_DOCUMENT_BYTES,
            });
        }
        let mut r = Reader::new(input);
        if let Some(tag) = r.optional_tag()? {
            if tag != COSE_TAG_SIGN1 {
                return Err(Error::UnexpectedTag { tag });
            }
        }
        let mut items = r.array_header()?;
        let mut elements: [&[u8]; 3] = [&[]; 3];
        let mut unprotected_seen = false;
        let mut count = 0u64;
        while r.next_item(&mut items)? {
            match count {
                0 => elements[0] = r.bytes()?,
                1 => {
                    let mut map = r.map_header()?;
                    if r.next_item(&mut map)? {
                        return Err(Error::UnprotectedHeaderNotEmpty);
                    }
                    unprotected_seen = true;
                }
                2 => elements[1] = r.bytes()?,
                3 => elements[2] = r.bytes()?,
                _ => return Err(Error::CoseArrayLength { found: count + 1 }),
            }
            count += 1;
        }
        if count != 4 || !unprotected_seen {
            return Err(Error::CoseArrayLength { found: count });
        }
        r.finish()?;
        let [protected, payload, signature] = elements;
        check_protected_header(protected)?;
        if signature.len() != 96 {
            return Err(Error::SignatureLength {
                len: signature.len(),
            });
        }
        let mut doc = parse_payload(payload)?;
        doc.protected = protected;
        doc.signature = signature;
        Ok(doc)
    }

    /// The COSE `Sig_structure` the NSM signed: built from the protected
    /// header and payload bytes exactly as received.
    pub fn signed_bytes(&self) -> Vec<u8> {
        sig_structure(self.protected, self.payload)
    }

    /// The raw 96-byte r || s signature.
    pub fn signature(&self) -> &'a [u8] {
        self.signature
    }

    /// The value of PCR `index`, if present.
    pub fn pcr(&self, index: u8) -> Option<&'a [u8]> {
        self.pcrs.iter().find(|(i, _)| *i == index).map(|(_, v)| *v)
    }
}

/// `Sig_structure = ["Signature1", protected, external_aad = h'', payload]`
/// (RFC 9052 section 4.4).
pub(crate) fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.array(4)
        .text("Signature1")
        .bytes(protected)
        .bytes(&[])
        .bytes(payload);
    w.into_bytes()
}

/// The protected header of every Nitro document: `{1: -35}` (alg: ES384).
pub(crate) const PROTECTED_ES384: [u8; 4] = [0xa1, 0x01, 0x38, 0x22];

fn check_protected_header(protected: &[u8]) -> Result<()> {
    let bad = |reason| Error::ProtectedHeader { reason };
    let mut r = Reader::new(protected);
    let mut map = r.map_header().map_err(|_| bad("not a map"))?;
    if !r.next_item(&mut map)? {
        return Err(bad("empty"));
    }
    if r.int().map_err(|_| bad("key is not an integer"))? != 1 {
        return Err(bad("only the alg label (1) is allowed"));
    }
    if r.int().map_err(|_| bad("alg is not an integer"))? != COSE_ALG_ES384 {
        return Err(bad("alg is not ES384 (-35)"));
    }
    if r.next_item(&mut map)? {
        return Err(bad("more than one entry"));
    }
    r.finish()
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidField {
        field,
        reason: reason.into(),
    }
}

fn sized<'a>(field: &'static str, value: &'a [u8], min: usize, max: usize) -> Result<&'a [u8]> {
    if (min..=max).contains(&value.len()) {
        Ok(value)
    } else {
        Err(invalid(
            field,
            format!("{} bytes, allowed {min}..={max}", value.len()),
        ))
    }
}

fn parse_payload(payload: &[u8]) -> Result<AttestationDocument<'_>> {
    let mut r = Reader::new(payload);
    let mut map = r.map_header()?;
    let mut seen = 0u16;
    let mut doc = AttestationDocument {
        protected: &[],
        payload,
        signature: &[],
        module_id: "",
        digest: "",
        timestamp_ms: 0,
        pcrs: Vec::new(),
        certificate: &[],
        cabundle: Vec::new(),
        public_key: None,
        user_data: None,
        nonce: None,
    };
    while r.next_item(&mut map)? {
        let key = r.text()?;
        let (bit, field) = FIELDS
            .iter()
            .enumerate()
            .find(|(_, (name, _))| *name == key)
            .map(|(i, (_, f))| (1u16 << i, *f))
            .ok_or_else(|| Error::UnknownField {
                name: key.chars().take(64).collect(),
            })?;
        if seen & bit != 0 {
            return Err(Error::DuplicateKey {
                map: "attestation payload",
                key: key.to_string(),
            });
        }
        seen |= bit;
        match field {
            Field::ModuleId => {
                let id = r.text()?;
                if id.is_empty() || id.len() > MAX_MODULE_ID_BYTES {
                    return Err(invalid("module_id", format!("{} bytes", id.len())));
                }
                doc.module_id = id;
            }
            Field::Digest => {
                let digest = r.text()?;
                if digest != "SHA384" {
                    return Err(Error::UnsupportedDigest {
                        found: digest.chars().take(64).collect(),
                    });
                }
                doc.digest = digest;
            }
            Field::Timestamp => {
                doc.timestamp_ms = r.uint()?;
                if doc.timestamp_ms == 0 {
                    return Err(invalid("timestamp", "zero"));
                }
            }
            Field::Pcrs => doc.pcrs = parse_pcrs(&mut r)?,
            Field::Certificate => {
                doc.certificate = sized("certificate", r.bytes()?, 1, MAX_CERT_BYTES)?;
            }
            Field::Cabundle => {
                let mut items = r.array_header()?;
                while r.next_item(&mut items)? {
                    if doc.cabundle.len() == MAX_CABUNDLE {
                        return Err(invalid(
                            "cabundle",
                            format!("more than {MAX_CABUNDLE} certificates"),
                        ));
                    }
                    doc.cabundle
                        .push(sized("cabundle", r.bytes()?, 1, MAX_CERT_BYTES)?);
                }
                if doc.cabundle.is_empty() {
                    return Err(invalid("cabundle", "empty"));
                }
            }
            Field::PublicKey => {
                doc.public_key = r
                    .bytes_or_null()?
                    .map(|k| sized("public_key", k, 1, MAX_PUBLIC_KEY_BYTES))
                    .transpose()?;
            }
            Field::UserData => {
                doc.user_data = r
                    .bytes_or_null()?
                    .map(|d| sized("user_data", d, 0, MAX_USER_DATA_BYTES))
                    .transpose()?;
            }
            Field::Nonce => {
                doc.nonce = r
                    .bytes_or_null()?
                    .map(|n| sized("nonce", n, 0, MAX_NONCE_BYTES))
                    .transpose()?;
            }
        }
    }
    r.finish()?;
    for (i, (name, field)) in FIELDS.iter().enumerate() {
        let optional = matches!(field, Field::PublicKey | Field::UserData | Field::Nonce);
        if !optional && seen & (1 << i) == 0 {
            return Err(Error::MissingField { field: name });
        }
    }
    Ok(doc)
}

fn parse_pcrs<'a>(r: &mut Reader<'a>) -> Result<Vec<(u8, &'a [u8])>> {
    let mut map = r.map_header()?;
    if let Len::Definite(n) = Reader::declared(&map) {
        if n == 0 || n > MAX_PCRS as u64 {
            return Err(invalid("pcrs", format!("{n} entries, allowed 1..=32")));
        }
    }
    let mut pcrs: Vec<(u8, &[u8])> = Vec::new();
    while r.next_item(&mut map)? {
        if pcrs.len() == MAX_PCRS {
            return Err(invalid("pcrs", "more than 32 entries"));
        }
        let index = r.uint()?;
        let index = u8::try_from(index)
            .ok()
            .filter(|&i| usize::from(i) < MAX_PCRS)
            .ok_or_else(|| invalid("pcrs", format!("index {index} out of range 0..32")))?;
        if pcrs.iter().any(|(i, _)| *i == index) {
            return Err(Error::DuplicateKey {
                map: "pcrs",
                key: index.to_string(),
            });
        }
        let value = r.bytes()?;
        if ![32, 48, 64].contains(&value.len()) {
            return Err(invalid(
                "pcrs",
                format!("PCR{index} is {} bytes, allowed 32, 48 or 64", value.len()),
            ));
        }
        pcrs.push((index, value));
    }
    if pcrs.is_empty() {
        return Err(invalid("pcrs", "no entries"));
    }
    pcrs.sort_by_key(|(i, _)| *i);
    Ok(pcrs)
}

/// Accepts a document as raw bytes, or as hex or base64 text of them
/// (whitespace ignored), and returns the raw bytes.
pub fn decode_document_input(input: &[u8]) -> Result<Vec<u8>> {
    use base64::Engine as _;
    // Raw documents start with an array(4) or tag 18 header byte, neither
    // of which is printable text.
    if matches!(input.first(), Some(0x84 | 0x9f | 0xd2)) {
        return Ok(input.to_vec());
    }
    let text: Vec<u8> = input
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if text.len() > 2 * MAX_DOCUMENT_BYTES + 8 {
        return Err(Error::InputTooLarge {
            len: text.len(),
            max: 2 * MAX_DOCUMENT_BYTES,
        });
    }
    if let Ok(raw) = hex::decode(&text) {
        return Ok(raw);
    }
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    engines
        .iter()
        .find_map(|e| e.decode(&text).ok())
        .ok_or(Error::UnrecognisedEncoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload with every field, definite or indefinite, optionally with
    /// one field replaced or one extra pair appended.
    fn payload(indefinite: bool, edit: impl Fn(&str, &mut Writer) -> bool) -> Vec<u8> {
        let mut w = Writer::new();
        if indefinite {
            w.indefinite_map();
        } else {
            w.map(9);
        }
        type FieldWriter<'f> = (&'f str, &'f dyn Fn(&mut Writer));
        let fields: [FieldWriter<'_>; 9] = [
            ("module_id", &|w| {
                w.text("i-0123-enc4567");
            }),
            ("digest", &|w| {
                w.text("SHA384");
            }),
            ("timestamp", &|w| {
                w.uint(1_700_000_000_000);
            }),
            ("pcrs", &|w| {
                w.map(2).uint(0).bytes(&[1; 48]).uint(1).bytes(&[2; 48]);
            }),
            ("certificate", &|w| {
                w.bytes(&[0x30; 10]);
            }),
            ("cabundle", &|w| {
                w.array(1).bytes(&[0x30; 10]);
            }),
            ("public_key", &|w| {
                w.bytes(&[7; 32]);
            }),
            ("user_data", &|w| {
                w.null();
            }),
            ("nonce", &|w| {
                w.null();
            }),
        ];
        for (name, write) in fields {
            w.text(name);
            if !edit(name, &mut w) {
                write(&mut w);
            }
        }
        if indefinite {
            w.end();
        }
        w.into_bytes()
    }

    fn cose(payload: &[u8]) -> Vec<u8> {
        let mut w = Writer::new();
        w.array(4)
            .bytes(&PROTECTED_ES384)
            .map(0)
            .bytes(payload)
            .bytes(&[0; 96]);
        w.into_bytes()
    }

    fn parse_with(edit: impl Fn(&str, &mut Writer) -> bool) -> Result<()> {
        AttestationDocument::parse(&cose(&payload(false, edit))).map(|_| ())
    }

    #[test]
    fn definite_and_indefinite_payloads_parse_alike() -> Result<()> {
        let a = cose(&payload(false, |_, _| false));
        let b = cose(&payload(true, |_, _| false));
        let (a, b) = (
            AttestationDocument::parse(&a)?,
            AttestationDocument::parse(&b)?,
        );
        assert_eq!(a.module_id, b.module_id);
        assert_eq!(a.pcrs, b.pcrs);
        assert_eq!(a.public_key, Some(&[7u8; 32][..]));
        assert_eq!(a.nonce, None);
        Ok(())
    }

    #[test]
    fn field_violations_have_typed_errors() {
        let replace = |field: &'static str, f: fn(&mut Writer)| {
            parse_with(move |name, w| {
                if name == field {
                    f(w);
                    true
                } else {
                    false
                }
            })
        };
        assert_eq!(
            replace("digest", |w| {
                w.text("SHA256");
            }),
            Err(Error::UnsupportedDigest {
                found: "SHA256".into()
            })
        );
        assert!(matches!(
            replace("pcrs", |w| {
                w.map(1).uint(0).bytes(&[1; 47]);
            }),
            Err(Error::InvalidField { field: "pcrs", .. })
        ));
        assert!(matches!(
            replace("pcrs", |w| {
                w.map(1).uint(32).bytes(&[1; 48]);
            }),
            Err(Error::InvalidField { field: "pcrs", .. })
        ));
        assert!(matches!(
            replace("pcrs", |w| {
                w.map(0);
            }),
            Err(Error::InvalidField { field: "pcrs", .. })
        ));
        assert_eq!(
            replace("pcrs", |w| {
                w.map(2).uint(3).bytes(&[1; 48]).uint(3).bytes(&[1; 48]);
            }),
            Err(Error::DuplicateKey {
                map: "pcrs",
                key: "3".into()
            })
        );
        assert!(matches!(
            replace("user_data", |w| {
                w.bytes(&[0; 513]);
            }),
            Err(Error::InvalidField {
                field: "user_data",
                ..
            })
        ));
        assert!(matches!(
            replace("certificate", |w| {
                w.bytes(&[0; 1025]);
            }),
            Err(Error::InvalidField {
                field: "certificate",
                ..
            })
        ));
        assert!(matches!(
            replace("cabundle", |w| {
                w.array(0);
            }),
            Err(Error::InvalidField {
                field: "cabundle",
                ..
            })
        ));
        assert!(matches!(
            replace("timestamp", |w| {
                w.text("now");
            }),
            Err(Error::UnexpectedCborType { .. })
        ));
        assert!(matches!(
            replace("public_key", |w| {
                w.uint(5);
            }),
            Err(Error::UnexpectedCborType {
                expected: "byte string or null",
                ..
            })
        ));
    }

    #[test]
    fn duplicate_unknown_and_missing_keys_are_refused() {
        let mut w = Writer::new();
        w.indefinite_map();
        for _ in 0..2 {
            w.text("module_id").text("x");
        }
        w.end();
        assert_eq!(
            AttestationDocument::parse(&cose(&w.into_bytes())).err(),
            Some(Error::DuplicateKey {
                map: "attestation payload",
                key: "module_id".into()
            })
        );
        let mut w = Writer::new();
        w.map(1).text("extension").uint(1);
        assert_eq!(
            AttestationDocument::parse(&cose(&w.into_bytes())).err(),
            Some(Error::UnknownField {
                name: "extension".into()
            })
        );
        let mut w = Writer::new();
        w.map(1).text("module_id").text("x");
        assert_eq!(
            AttestationDocument::parse(&cose(&w.into_bytes())).err(),
            Some(Error::MissingField { field: "digest" })
        );
    }

    #[test]
    fn cose_envelope_violations_are_refused() {
        let good = payload(false, |_, _| false);
        let envelope = |protected: &[u8], unprotected_empty: bool, sig_len: usize| {
            let mut w = Writer::new();
            w.array(4).bytes(protected);
            if unprotected_empty {
                w.map(0);
            } else {
                w.map(1).uint(4).bytes(b"kid");
            }
            w.bytes(&good).bytes(&vec![0; sig_len]);
            AttestationDocument::parse(&w.into_bytes()).map(|_| ())
        };
        // ES256 (-7) instead of ES384.
        assert!(matches!(
            envelope(&[0xa1, 0x01, 0x26], true, 96),
            Err(Error::ProtectedHeader { .. })
        ));
        assert!(matches!(
            envelope(&[0xa2, 0x01, 0x38, 0x22, 0x04, 0x00], true, 96),
            Err(Error::ProtectedHeader { .. })
        ));
        assert_eq!(
            envelope(&PROTECTED_ES384, false, 96),
            Err(Error::UnprotectedHeaderNotEmpty)
        );
        assert_eq!(
            envelope(&PROTECTED_ES384, true, 64),
            Err(Error::SignatureLength { len: 64 })
        );
        let mut three = Writer::new();
        three.array(3).bytes(&PROTECTED_ES384).map(0).bytes(&good);
        assert_eq!(
            AttestationDocument::parse(&three.into_bytes()).err(),
            Some(Error::CoseArrayLength { found: 3 })
        );
        assert!(matches!(
            AttestationDocument::parse(&vec![0u8; MAX_DOCUMENT_BYTES + 1]),
            Err(Error::InputTooLarge { .. })
        ));
    }

    #[test]
    fn text_encodings_of_a_document_are_decoded() -> Result<()> {
        use base64::Engine as _;
        let raw = cose(&payload(false, |_, _| false));
        let hex_text = format!("{}\n", hex::encode(&raw));
        assert_eq!(decode_document_input(hex_text.as_bytes())?, raw);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        assert_eq!(decode_document_input(b64.as_bytes())?, raw);
        assert_eq!(decode_document_input(&raw)?, raw);
        assert_eq!(
            decode_document_input(b"not a document!"),
            Err(Error::UnrecognisedEncoding)
        );
        Ok(())
    }
}
