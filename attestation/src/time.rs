//! Times for people beside times for scripts: RFC 3339 (UTC) from and to
//! Unix milliseconds, for every command that shows or takes a time.

use crate::der::{civil_from_secs, days_from_civil};

/// `2025-04-15T10:00:00Z`, with `.mmm` when the milliseconds are not zero.
pub fn rfc3339(ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil_from_secs(ms / 1000);
    let frac = ms % 1000;
    if frac == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:03}Z")
    }
}

/// A time given as Unix milliseconds (digits only) or RFC 3339
/// (`2025-04-15T10:00:00Z`, `2025-04-15T12:00:00.5+02:00`; a space may
/// stand for the `T`). `None` if it is neither or before 1970.
pub fn parse_time(text: &str) -> Option<u64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut scaled = format!("{:0<3}", &frac[..digits.min(3)]);
        scaled.truncate(3);
        millis = scaled.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let rb = rest.as_bytes();
            if rest.len() != 6 || rb[3] != b':' {
                return None;
            }
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 60 + om)
        }
    };
    let secs =
        days_from_civil(y, mo, d) * 86_400 + h * 3_600 + mi * 60 + s.min(59) - offset_min * 60;
    u64::try_from(secs.checked_mul(1000)?.checked_add(millis)?).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn times_round_trip_and_offsets_apply() {
        let ms = 1_744_711_200_000; // 2025-04-15T10:00:00Z
        assert_eq!(rfc3339(ms), "2025-04-15T10:00:00Z");
        assert_eq!(rfc3339(ms + 123), "2025-04-15T10:00:00.123Z");
        assert_eq!(parse_time("2025-04-15T10:00:00Z"), Some(ms));
        assert_eq!(parse_time("2025-04-15T12:00:00+02:00"), Some(ms));
        assert_eq!(parse_time("2025-04-15 10:00:00.5Z"), Some(ms + 500));
        assert_eq!(parse_time(&ms.to_string()), Some(ms));
        assert_eq!(parse_time(&rfc3339(ms + 7)), Some(ms + 7));
        for bad in [
            "",
            "2025-04-15",
            "2025-13-01T00:00:00Z",
            "2025-04-15T10:00:00",
            "1969-12-31T23:59:59Z",
            "x025-04-15T10:00:00Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
