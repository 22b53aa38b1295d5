//! The dataset format (design.md §4.2): pages of `u32` tokens, little-endian; the
//! manifest is the SHA-256 of every page, concatenated; its own SHA-256 is the
//! dataset root.

use vram_attestation::sha256;

/// A page's wire form: its tokens, 4 bytes each, little-endian.
pub fn page_bytes(tokens: &[u32]) -> Vec<u8> {
    tokens.iter().flat_map(|t| t.to_le_bytes()).collect()
}

/// The manifest of `pages` and its root.
pub fn manifest(pages: &[Vec<u32>]) -> (Vec<u8>, [u8; 32]) {
    let manifest: Vec<u8> = pages.iter().flat_map(|p| sha256(&page_bytes(p))).collect();
    let root = sha256(&manifest);
    (manifest, root)
}
