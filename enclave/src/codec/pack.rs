//! 12-bit index packing: two indices in three bytes
//! (`b0 = i1 & 0xFF; b1 = (i1 >> 8) | ((i2 & 0x0F) << 4); b2 = i2 >> 4`).

/// Largest index a 12-bit field holds.
pub const MAX_INDEX: u16 = 0x0fff;

/// Packs indices (each <= [`MAX_INDEX`]); an odd count is padded with a zero.
pub fn pack12(indices: &[u16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(indices.len().div_ceil(2) * 3);
    for pair in indices.chunks(2) {
        let i1 = pair[0] & MAX_INDEX;
        let i2 = pair.get(1).copied().unwrap_or(0) & MAX_INDEX;
        out.push((i1 & 0xff) as u8);
        out.push(((i1 >> 8) | ((i2 & 0x0f) << 4)) as u8);
        out.push((i2 >> 4) as u8);
    }
    out
}

/// Unpacks `count` indices; returns the padding index too when `count` is
/// odd (it must be zero). `bytes` must hold exactly `ceil(count/2) * 3`.
pub fn unpack12(bytes: &[u8], count: usize) -> Option<(Vec<u16>, Option<u16>)> {
    if bytes.len() != count.div_ceil(2) * 3 {
        return None;
    }
    let mut out = Vec::with_capacity(count + 1);
    for t in bytes.chunks_exact(3) {
        let (b0, b1, b2) = (u16::from(t[0]), u16::from(t[1]), u16::from(t[2]));
        out.push(b0 | ((b1 & 0x0f) << 8));
        out.push((b1 >> 4) | (b2 << 4));
    }
    let padding = if count % 2 == 1 { out.pop() } else { None };
    Some((out, padding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_even_and_odd_counts() {
        for count in [0usize, 1, 2, 3, 15, 64] {
            let idx: Vec<u16> = (0..count).map(|i| ((i * 977) % 4096) as u16).collect();
            let packed = pack12(&idx);
            assert_eq!(packed.len(), count.div_ceil(2) * 3);
            let (back, pad) = unpack12(&packed, count).unwrap_or_default();
            assert_eq!(back, idx);
            assert_eq!(pad, if count % 2 == 1 { Some(0) } else { None });
        }
        assert_eq!(pack12(&[0xabc, 0x123]), vec![0xbc, 0x3a, 0x12]);
        assert!(unpack12(&[0, 0], 1).is_none());
    }
}
