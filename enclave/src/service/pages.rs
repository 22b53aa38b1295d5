//! Which pages a window evaluates (design.md §4.2): a miner's own pages follow
//! from public inputs, the shared random pages from the enclave's seed.

use ring::digest::{Context, SHA256};

fn index(parts: &[&[u8]], page_count: u64) -> u64 {
    let mut ctx = Context::new(&SHA256);
    for p in parts {
        ctx.update(p);
    }
    let digest = ctx.finish();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    u64::from_le_bytes(first) % page_count
}

/// Page `j` of miner `uid`'s own pages in `window`:
/// `u64le(sha256("vram-own" || root || le64(window) || le64(uid) || le64(j))[..8]) % page_count`.
pub fn own_pages(root: &[u8; 32], window: u64, uid: u64, count: u64, page_count: u64) -> Vec<u64> {
    (0..count)
        .map(|j| {
            index(
                &[
                    b"vram-own",
                    root,
                    &window.to_le_bytes(),
                    &uid.to_le_bytes(),
                    &j.to_le_bytes(),
                ],
                page_count,
            )
        })
        .collect()
}

/// Random page `j`: `u64le(sha256("vram-random" || seed || le64(j))[..8]) % page_count`.
pub fn random_pages(seed: &[u8; 32], count: u64, page_count: u64) -> Vec<u64> {
    (0..count)
        .map(|j| index(&[b"vram-random", seed, &j.to_le_bytes()], page_count))
        .collect()
}
