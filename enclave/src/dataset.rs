//! The dataset format (DESIGN 4.2): pages of `u32` tokens, little-endian; the
//! manifest is the SHA-256 of every page, concatenated; its own SHA-256 is the
//! dataset root.

use ring::digest::{digest, SHA256};

/// A page's wire form: its tokens, 4 bytes each, little-endian.
pub fn page_bytes(tokens: &[u32]) -> Vec<u8> {
    tokens.iter().flat_map(|t| t.to_le_bytes()).collect()
}

/// The manifest of `pages` and its root.
pub fn manifest(pages: &[Vec<u32>]) -> (Vec<u8>, [u8; 32]) {
    let manifest: Vec<u8> = pages
        .iter()
        .flat_map(|p| digest(&SHA256, &page_bytes(p)).as_ref().to_vec())
        .collect();
    let mut root = [0u8; 32];
    root.copy_from_slice(digest(&SHA256, &manifest).as_ref());
    (manifest, root)
}
