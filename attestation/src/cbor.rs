//! A strict, schema-driven CBOR reader and a small writer.
//!
//! General-purpose CBOR libraries build a value tree before the caller can
//! check it, allocate from attacker-chosen lengths and silently keep the last
//! of duplicate keys. This reader instead walks the input in place: the caller
//! asks for the item it expects, strings are borrowed slices, no recursion
//! happens, and every length is checked against the bytes that remain.
//! Indefinite-length arrays and maps are accepted (newer NSM firmware emits
//! them); indefinite-length strings are refused because they cannot be
//! borrowed and no NSM emits them.

use crate::error::{Error, Result};

const MAJOR_UINT: u8 = 0;
const MAJOR_NINT: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;

const BREAK: u8 = 0xff;

/// The length of an array or map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Len {
    /// A definite count of elements (pairs, for maps).
    Definite(u64),
    /// Terminated by a break byte.
    Indefinite,
}

/// Iterates the elements of an array or the pairs of a map of either length
/// kind; the caller reads each element itself.
pub(crate) struct Items {
    remaining: Len,
}

/// A cursor over CBOR input.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }

    /// Fails unless the whole input has been consumed.
    pub(crate) fn finish(&self) -> Result<()> {
        let count = self.input.len() - self.pos;
        if count == 0 {
            Ok(())
        } else {
            Err(Error::TrailingBytes {
                offset: self.pos,
                count,
            })
        }
    }

    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .input
            .get(self.pos)
            .ok_or(Error::Truncated { offset: self.pos })?;
        self.pos += 1;
        Ok(b)
    }

    fn peek(&self) -> Result<u8> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(Error::Truncated { offset: self.pos })
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8]> {
        let rest = self.input.len() - self.pos;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= rest)
            .ok_or(Error::Truncated {
                offset: self.input.len(),
            })?;
        let out = &self.input[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    /// Reads an initial byte and its argument. `None` is the indefinite marker.
    fn header(&mut self) -> Result<(u8, Option<u64>, usize)> {
        let offset = self.pos;
        let initial = self.byte()?;
        let major = initial >> 5;
        let info = initial & 0x1f;
        let arg = match info {
            0..=23 => Some(u64::from(info)),
            24 => Some(u64::from(self.byte()?)),
            25 => Some(u64::from(u16::from_be_bytes(self.array()?))),
            26 => Some(u64::from(u32::from_be_bytes(self.array()?))),
            27 => Some(u64::from_be_bytes(self.array()?)),
            31 => None,
            _ => {
                return Err(Error::MalformedCbor {
                    offset,
                    reason: "reserved additional information",
                })
            }
        };
        Ok((major, arg, offset))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let slice = self.take(N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    fn definite(&mut self, major: u8, expected: &'static str) -> Result<u64> {
        let (m, arg, offset) = self.header()?;
        if m != major {
            return Err(Error::UnexpectedCborType { offset, expected });
        }
        arg.ok_or(Error::MalformedCbor {
            offset,
            reason: "indefinite length where a definite one is required",
        })
    }

    /// An unsigned integer.
    pub(crate) fn uint(&mut self) -> Result<u64> {
        self.definite(MAJOR_UINT, "unsigned integer")
    }

    /// Any integer, as i128 so that every CBOR integer fits.
    pub(crate) fn int(&mut self) -> Result<i128> {
        let (major, arg, offset) = self.header()?;
        let expected = "integer";
        let value = arg.ok_or(Error::UnexpectedCborType { offset, expected })?;
        match major {
            MAJOR_UINT => Ok(i128::from(value)),
            MAJOR_NINT => Ok(-1 - i128::from(value)),
            _ => Err(Error::UnexpectedCborType { offset, expected }),
        }
    }

    /// A definite-length byte string, borrowed.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.definite(MAJOR_BYTES, "definite-length byte string")?;
        self.take(len)
    }

    /// A definite-length UTF-8 text string, borrowed.
    pub(crate) fn text(&mut self) -> Result<&'a str> {
        let offset = self.pos;
        let len = self.definite(MAJOR_TEXT, "definite-length text string")?;
        let raw = self.take(len)?;
        std::str::from_utf8(raw).map_err(|_| Error::MalformedCbor {
            offset,
            reason: "text string is not UTF-8",
        })
    }

    /// A byte string or null.
    pub(crate) fn bytes_or_null(&mut self) -> Result<Option<&'a [u8]>> {
        if self.peek()? == 0xf6 {
            self.pos += 1;
            return Ok(None);
        }
        match self.bytes() {
            Ok(b) => Ok(Some(b)),
            Err(Error::UnexpectedCborType { offset, .. }) => Err(Error::UnexpectedCborType {
                offset,
                expected: "byte string or null",
            }),
            Err(e) => Err(e),
        }
    }

    /// A tag number if one comes next; the tagged item follows it.
    pub(crate) fn optional_tag(&mut self) -> Result<Option<u64>> {
        if self.peek()? >> 5 != MAJOR_TAG {
            return Ok(None);
        }
        Ok(Some(self.definite(MAJOR_TAG, "tag")?))
    }

    fn container(&mut self, major: u8, expected: &'static str) -> Result<Items> {
        let (m, arg, offset) = self.header()?;
        if m != major {
            return Err(Error::UnexpectedCborType { offset, expected });
        }
        Ok(Items {
            remaining: arg.map_or(Len::Indefinite, Len::Definite),
        })
    }

    /// The header of an array; read its elements with [`Reader::next_item`].
    pub(crate) fn array_header(&mut self) -> Result<Items> {
        self.container(MAJOR_ARRAY, "array")
    }

    /// The header of a map; read key and value per [`Reader::next_item`].
    pub(crate) fn map_header(&mut self) -> Result<Items> {
        self.container(MAJOR_MAP, "map")
    }

    /// True while `items` has another element (pair); consumes the break byte
    /// of an indefinite container when it arrives.
    pub(crate) fn next_item(&mut self, items: &mut Items) -> Result<bool> {
        match &mut items.remaining {
            Len::Definite(0) => Ok(false),
            Len::Definite(n) => {
                *n -= 1;
                Ok(true)
            }
            Len::Indefinite => {
                if self.peek()? == BREAK {
                    self.pos += 1;
                    Ok(false)
                } else {
                    Ok(true)
                }
            }
        }
    }

    /// The declared length of a container, if definite.
    pub(crate) fn declared(items: &Items) -> Len {
        items.remaining
    }
}

/// Appends CBOR items to a buffer, always in shortest form.
#[derive(Default)]
pub(crate) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    fn head(&mut self, major: u8, value: u64) {
        let m = major << 5;
        match value {
            0..=23 => self.out.push(m | value as u8),
            24..=0xff => self.out.extend_from_slice(&[m | 24, value as u8]),
            0x100..=0xffff => {
                self.out.push(m | 25);
                self.out.extend_from_slice(&(value as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                self.out.push(m | 26);
                self.out.extend_from_slice(&(value as u32).to_be_bytes());
            }
            _ => {
                self.out.push(m | 27);
                self.out.extend_from_slice(&value.to_be_bytes());
            }
        }
    }

    pub(crate) fn uint(&mut self, v: u64) -> &mut Self {
        self.head(MAJOR_UINT, v);
        self
    }

    /// A negative integer `-1 - n`.
    #[cfg(test)]
    pub(crate) fn nint(&mut self, n: u64) -> &mut Self {
        self.head(MAJOR_NINT, n);
        self
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.head(MAJOR_BYTES, b.len() as u64);
        self.out.extend_from_slice(b);
        self
    }

    pub(crate) fn text(&mut self, s: &str) -> &mut Self {
        self.head(MAJOR_TEXT, s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
        self
    }

    pub(crate) fn null(&mut self) -> &mut Self {
        self.out.push(0xf6);
        self
    }

    pub(crate) fn bytes_or_null(&mut self, b: Option<&[u8]>) -> &mut Self {
        match b {
            Some(b) => self.bytes(b),
            None => self.null(),
        }
    }

    pub(crate) fn array(&mut self, len: u64) -> &mut Self {
        self.head(MAJOR_ARRAY, len);
        self
    }

    pub(crate) fn map(&mut self, len: u64) -> &mut Self {
        self.head(MAJOR_MAP, len);
        self
    }

    pub(crate) fn indefinite_array(&mut self) -> &mut Self {
        self.out.push((MAJOR_ARRAY << 5) | 31);
        self
    }

    pub(crate) fn indefinite_map(&mut self) -> &mut Self {
        self.out.push((MAJOR_MAP << 5) | 31);
        self
    }

    pub(crate) fn end(&mut self) -> &mut Self {
        self.out.push(BREAK);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_and_reader_round_trip_both_length_kinds() -> Result<()> {
        let mut w = Writer::new();
        w.indefinite_map()
            .text("a")
            .uint(500)
            .text("b")
            .array(2)
            .nint(34)
            .bytes(&[1, 2, 3])
            .end();
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        let mut map = r.map_header()?;
        assert!(r.next_item(&mut map)?);
        assert_eq!(r.text()?, "a");
        assert_eq!(r.uint()?, 500);
        assert!(r.next_item(&mut map)?);
        assert_eq!(r.text()?, "b");
        let mut arr = r.array_header()?;
        assert_eq!(Reader::declared(&arr), Len::Definite(2));
        assert!(r.next_item(&mut arr)?);
        assert_eq!(r.int()?, -35);
        assert!(r.next_item(&mut arr)?);
        assert_eq!(r.bytes()?, &[1, 2, 3]);
        assert!(!r.next_item(&mut arr)?);
        assert!(!r.next_item(&mut map)?);
        r.finish()
    }

    #[test]
    fn lengths_beyond_the_input_are_refused_without_allocating() {
        // A byte string claiming 2^64-1 bytes.
        let input = [0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];
        let err = Reader::new(&input).bytes().err();
        assert_eq!(err, Some(Error::Truncated { offset: 10 }));
    }

    #[test]
    fn indefinite_strings_and_reserved_info_are_refused() {
        assert!(matches!(
            Reader::new(&[0x5f, 0x41, 0x00, 0xff]).bytes(),
            Err(Error::MalformedCbor { offset: 0, .. })
        ));
        assert!(matches!(
            Reader::new(&[0x1c]).uint(),
            Err(Error::MalformedCbor { offset: 0, .. })
        ));
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let mut r = Reader::new(&[0x01, 0x02]);
        assert_eq!(r.uint().ok(), Some(1));
        assert_eq!(
            r.finish(),
            Err(Error::TrailingBytes {
                offset: 1,
                count: 1
            })
        );
    }
}
