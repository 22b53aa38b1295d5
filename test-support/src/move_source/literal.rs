//! Move literals: byte strings (`x"…"`, `b"…"`), integers and booleans.

use super::{fold_whitespace, Value};

pub(super) fn parse_value(value: &str) -> std::result::Result<Value, String> {
    if let Some(body) = quoted(value, "x\"") {
        let digits: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() % 2 != 0 {
            return Err(format!(
                "odd number of hex digits ({}) in the byte string",
                digits.len()
            ));
        }
        return hex::decode(&digits)
            .map(Value::Bytes)
            .map_err(|e| format!("bad hex: {e}"));
    }
    if let Some(body) = quoted(value, "b\"") {
        return unescape(body).map(Value::Bytes);
    }
    match value {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        _ => {}
    }
    if value.starts_with(|c: char| c.is_ascii_digit()) {
        return parse_integer(value).map(Value::Integer);
    }
    Ok(Value::Other(fold_whitespace(value)))
}

fn quoted<'a>(value: &'a str, open: &str) -> Option<&'a str> {
    value.strip_prefix(open)?.strip_suffix('"')
}

fn unescape(body: &str) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(body.len());
    let mut chars = body.bytes();
    while let Some(c) = chars.next() {
        if c != b'\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b't') => out.push(b'\t'),
            Some(b'0') => out.push(0),
            Some(b'\\') => out.push(b'\\'),
            Some(b'"') => out.push(b'"'),
            Some(b'x') => {
                let hi = chars.next().ok_or("truncated \\x escape")?;
                let lo = chars.next().ok_or("truncated \\x escape")?;
                let byte = hex::decode([hi, lo]).map_err(|e| format!("bad \\x escape: {e}"))?;
                out.extend(byte);
            }
            other => return Err(format!("unknown escape {other:?}")),
        }
    }
    Ok(out)
}

fn parse_integer(value: &str) -> std::result::Result<u128, String> {
    let mut digits: String = value.chars().filter(|&c| c != '_').collect();
    for suffix in ["u8", "u16", "u32", "u64", "u128", "u256"] {
        if let Some(stripped) = digits.strip_suffix(suffix) {
            digits = stripped.to_owned();
            break;
        }
    }
    let parsed = match digits.strip_prefix("0x") {
        Some(hex) => u128::from_str_radix(hex, 16),
        None => digits.parse(),
    };
    parsed.map_err(|e| format!("bad integer literal {value:?}: {e}"))
}
