//! The real AWS documents in `fixtures/` (see `fixtures/SOURCE.md`) against
//! the pinned AWS root, at, before and after their validity.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vram_attestation::{verify, AttestationDocument, Error, Policy, TrustRoot};

const NAUTILUS: &[u8] = include_bytes!("fixtures/nautilus_2025-04-15.cose");
const NAUTILUS_AT: u64 = 1_744_683_923_696;
const DEBUG: &[u8] = include_bytes!("fixtures/debug_mode_2022-10-12.cose");
const DEBUG_AT: u64 = 1_665_582_606_081;
const HOUR: u64 = 3_600_000;

const PCR0: &str = "cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a2";
const PCR2: &str = "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a";
const PUBLIC_KEY: &str = "e8e62201dbe293b703c759f653107acbc2c911fa1d2e66f2c747bec95971a2af";

fn aws() -> TrustRoot {
    TrustRoot::aws_nitro().expect("the embedded root matches its pin")
}

#[test]
fn nautilus_document_verifies_at_its_timestamp() {
    let att = verify(NAUTILUS, &aws(), NAUTILUS_AT).expect("valid");
    assert_eq!(att.module_id, "i-06e4b98c6549ff803-enc0196373b195fb723");
    assert_eq!(att.digest, "SHA384");
    assert_eq!(att.timestamp_ms, NAUTILUS_AT);
    assert_eq!(att.pcrs.len(), 16);
    assert_eq!(hex::encode(&att.pcrs[&0]), PCR0);
    assert_eq!(hex::encode(&att.pcrs[&1]), PCR0);
    assert_eq!(hex::encode(&att.pcrs[&2]), PCR2);
    assert_eq!(
        att.public_key.as_deref().map(hex::encode).as_deref(),
        Some(PUBLIC_KEY)
    );
    assert_eq!(att.user_data, None);
    assert_eq!(att.nonce, None);
    assert_eq!(att.certificates.len(), 5);
    assert_eq!(
        att.certificates[0].subject,
        "C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves"
    );
    // The leaf: 2025-04-15 02:17:47 .. 05:17:50 UTC.
    assert_eq!(att.certificates[4].not_before_ms, 1_744_683_467_000);
    assert_eq!(att.certificates[4].not_after_ms, 1_744_694_270_000);

    let policy = Policy::new()
        .expect_pcr(0, hex::decode(PCR0).unwrap())
        .unwrap()
        .expect_pcr(2, hex::decode(PCR2).unwrap())
        .unwrap()
        .expect_public_key(hex::decode(PUBLIC_KEY).unwrap())
        .max_age_ms(60_000);
    policy
        .check(&att, NAUTILUS_AT + 1_000)
        .expect("policy holds");
}

#[test]
fn nautilus_document_is_refused_an_hour_early_and_four_hours_late() {
    match verify(NAUTILUS, &aws(), NAUTILUS_AT - HOUR) {
        // The instance certificate (index 3) was issued 42 minutes before
        // the document, so it is the first of the chain not yet valid.
        Err(Error::CertNotValidYet { index: 3, .. }) => {}
        other => panic!("expected the chain to be not yet valid, got {other:?}"),
    }
    match verify(NAUTILUS, &aws(), NAUTILUS_AT + 4 * HOUR) {
        Err(Error::CertExpired { index: 4, .. }) => {}
        other => panic!("expected the leaf to be expired, got {other:?}"),
    }
}

#[test]
fn debug_mode_document_needs_explicit_permission() {
    let att = verify(DEBUG, &aws(), DEBUG_AT).expect("the chain itself is valid");
    assert_eq!(Policy::new().check(&att, DEBUG_AT), Err(Error::DebugMode));
    Policy::new()
        .allow_debug(true)
        .check(&att, DEBUG_AT)
        .expect("allowed explicitly");
}

#[test]
fn wrong_pcr_nonce_key_and_age_are_refused() {
    let att = verify(NAUTILUS, &aws(), NAUTILUS_AT).unwrap();
    let wrong = vec![0x11; 48];
    match Policy::new()
        .expect_pcr(1, wrong.clone())
        .unwrap()
        .check(&att, NAUTILUS_AT)
    {
        Err(Error::PcrMismatch { index: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        Policy::new().expect_pcr(5, wrong.clone()).err(),
        Some(Error::PcrNotPinnable { index: 5 })
    );
    assert!(matches!(
        Policy::new()
            .expect_nonce(vec![1, 2, 3])
            .check(&att, NAUTILUS_AT),
        Err(Error::NonceMismatch { .. })
    ));
    assert!(matches!(
        Policy::new()
            .expect_public_key(vec![0; 32])
            .check(&att, NAUTILUS_AT),
        Err(Error::PublicKeyMismatch { .. })
    ));
    assert!(matches!(
        Policy::new()
            .max_age_ms(1_000)
            .check(&att, NAUTILUS_AT + 2_000),
        Err(Error::TooOld { age_ms: 2_000, .. })
    ));
    assert!(matches!(
        Policy::new().max_age_ms(1_000).check(&att, NAUTILUS_AT - 1),
        Err(Error::FromTheFuture { .. })
    ));
}

#[test]
fn tagged_documents_parse_like_untagged_ones() {
    let mut tagged = vec![0xd2];
    tagged.extend_from_slice(NAUTILUS);
    verify(&tagged, &aws(), NAUTILUS_AT).expect("tag 18 accepted");
    let mut other_tag = vec![0xd1];
    other_tag.extend_from_slice(NAUTILUS);
    assert_eq!(
        AttestationDocument::parse(&other_tag).err(),
        Some(Error::UnexpectedTag { tag: 17 })
    );
}

#[test]
fn trailing_bytes_are_refused() {
    let mut doc = NAUTILUS.to_vec();
    doc.push(0);
    assert!(matches!(
        AttestationDocument::parse(&doc),
        Err(Error::TrailingBytes { count: 1, .. })
    ));
}

#[test]
fn a_chain_to_another_root_is_refused() {
    let sim = vram_attestation::SimulatedNsm::ephemeral().unwrap();
    let root = sim.trust_root().unwrap();
    assert!(matches!(
        verify(NAUTILUS, &root, NAUTILUS_AT),
        Err(Error::UntrustedChain { .. })
    ));
}
