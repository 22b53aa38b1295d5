//! Every single-byte change of the real document is refused, and nothing
//! panics: all 255 alternatives of every byte (signature, payload, headers),
//! checked by a verifier that has already seen the genuine chain, so the
//! known-chain shortcut is exercised as hard as the full path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use vram_attestation::{verify, TrustRoot, Verifier};

const NAUTILUS: &[u8] = include_bytes!("fixtures/nautilus_2025-04-15.cose");
const AT: u64 = 1_744_683_923_696;

fn warm_verifier() -> Verifier {
    let verifier = Verifier::new(TrustRoot::aws_nitro().unwrap());
    verifier
        .verify(NAUTILUS, AT)
        .expect("the genuine document verifies");
    verifier
}

#[test]
fn every_single_byte_change_is_refused() {
    let verifier = warm_verifier();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let positions: Vec<usize> = (0..NAUTILUS.len()).collect();
    let accepted: Vec<(usize, u8)> = std::thread::scope(|scope| {
        let handles: Vec<_> = positions
            .chunks(NAUTILUS.len().div_ceil(threads))
            .map(|chunk| {
                let verifier = &verifier;
                scope.spawn(move || {
                    let mut doc = NAUTILUS.to_vec();
                    let mut accepted = Vec::new();
                    for &pos in chunk {
                        let original = doc[pos];
                        for delta in 1..=255u8 {
                            doc[pos] = original ^ delta;
                            if verifier.verify(&doc, AT).is_ok() {
                                accepted.push((pos, doc[pos]));
                            }
                        }
                        doc[pos] = original;
                    }
                    accepted
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("no verification panics"))
            .collect()
    });
    assert!(
        accepted.is_empty(),
        "mutations accepted (position, byte): {accepted:?}"
    );
}

#[test]
fn every_truncation_is_refused() {
    let verifier = warm_verifier();
    for len in 0..NAUTILUS.len() {
        assert!(
            verifier.verify(&NAUTILUS[..len], AT).is_err(),
            "prefix {len}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn mutated_documents_never_verify(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8)
    ) {
        let mut doc = NAUTILUS.to_vec();
        for (pos, byte, kind) in edits {
            let pos = pos % (doc.len() + 1);
            match kind {
                0 if pos < doc.len() => doc[pos] ^= byte | 1,
                1 => doc.insert(pos, byte),
                _ if pos < doc.len() => { doc.remove(pos); }
                _ => doc.push(byte),
            }
        }
        prop_assume!(doc != NAUTILUS);
        let root = TrustRoot::aws_nitro().unwrap();
        prop_assert!(verify(&doc, &root, AT).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let root = TrustRoot::aws_nitro().unwrap();
        prop_assert!(verify(&bytes, &root, AT).is_err());
    }
}
