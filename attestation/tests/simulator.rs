//! The simulated NSM: documents shaped like real ones that verify only under
//! the test root, with the running binary measured into PCR0-2.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vram_attestation::{
    measure_current_exe, verify, AttestRequest, AttestationDocument, Error, Nsm, Policy,
    SimulatedNsm, TrustRoot, Verifier,
};

const NOW: u64 = 1_800_000_000_000;

#[test]
fn simulated_documents_verify_under_the_test_root_only() {
    let nsm = SimulatedNsm::ephemeral().unwrap();
    let key = [9u8; 32];
    let doc = nsm
        .attest_at(
            &AttestRequest {
                public_key: Some(&key),
                user_data: Some(b"window 7"),
                nonce: Some(&[1, 2, 3]),
            },
            NOW,
        )
        .unwrap();

    let test_root = TrustRoot::from_pem(&nsm.test_root_pem()).unwrap();
    assert_eq!(test_root, nsm.trust_root().unwrap());
    let att = verify(&doc, &test_root, NOW).unwrap();
    assert_eq!(att.public_key.as_deref(), Some(&key[..]));
    assert_eq!(att.user_data.as_deref(), Some(&b"window 7"[..]));
    assert_eq!(att.nonce.as_deref(), Some(&[1u8, 2, 3][..]));
    Policy::new()
        .expect_pcr(0, measure_current_exe().unwrap().to_vec())
        .unwrap()
        .expect_nonce(vec![1, 2, 3])
        .expect_public_key(key.to_vec())
        .max_age_ms(1_000)
        .check(&att, NOW)
        .expect("a simulated document is production-shaped (PCR0 is not zero)");

    match verify(&doc, &TrustRoot::aws_nitro().unwrap(), NOW) {
        Err(Error::UntrustedChain { root, .. }) => assert_eq!(root, "aws"),
        other => panic!("a simulated document must fail under the AWS root: {other:?}"),
    }
    // The leaf lives three hours, like the real NSM's.
    assert!(verify(&doc, &test_root, NOW + 3 * 3_600_000 + 1_000).is_err());
}

#[test]
fn simulated_documents_are_shaped_like_real_ones() {
    let nsm = SimulatedNsm::ephemeral().unwrap();
    let doc = nsm.attest_at(&AttestRequest::default(), NOW).unwrap();
    // Untagged array(4), protected {1: -35}, empty unprotected map.
    assert_eq!(&doc[..6], &[0x84, 0x44, 0xa1, 0x01, 0x38, 0x22]);
    assert_eq!(doc[6], 0xa0);
    let parsed = AttestationDocument::parse(&doc).unwrap();
    assert_eq!(parsed.pcrs.len(), 16);
    assert!(parsed.pcrs.iter().all(|(_, v)| v.len() == 48));
    assert_eq!(parsed.cabundle.len(), 2);
    assert_eq!(parsed.public_key, None);
    // The payload is an indefinite-length map whose keys come in the NSM's
    // order: find them in sequence after the 0xbf header.
    let payload_start = doc.windows(2).position(|w| w == [0xbf, 0x69]).unwrap();
    let mut cursor = payload_start;
    for key in [
        "module_id",
        "digest",
        "timestamp",
        "pcrs",
        "certificate",
        "cabundle",
        "public_key",
        "user_data",
        "nonce",
    ] {
        let found = doc[cursor..]
            .windows(key.len())
            .position(|w| w == key.as_bytes())
            .unwrap_or_else(|| panic!("{key} after offset {cursor}"));
        cursor += found + key.len();
    }
    assert_eq!(
        parsed.pcr(0),
        Some(&measure_current_exe().unwrap()[..]),
        "PCR0 measures the running binary"
    );
}

#[test]
fn state_dir_keeps_the_test_root_across_restarts() {
    let dir = vram_test_support::TempDir::new("sim-state").unwrap();
    let first = SimulatedNsm::with_state_dir(&dir).unwrap();
    let second = SimulatedNsm::with_state_dir(&dir).unwrap();
    assert_eq!(first.test_root_pem(), second.test_root_pem());
    assert_eq!(
        std::fs::read_to_string(dir.join("test-root.pem")).unwrap(),
        first.test_root_pem()
    );
    // A document from the restarted simulator verifies under the first root.
    let doc = second.attest_at(&AttestRequest::default(), NOW).unwrap();
    verify(&doc, &first.trust_root().unwrap(), NOW).unwrap();

    std::fs::remove_file(dir.join("intermediate.der")).unwrap();
    assert!(matches!(
        SimulatedNsm::with_state_dir(&dir),
        Err(Error::SimulatorState { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nsm_trait_limits_randomness_and_description() {
    let nsm: Box<dyn Nsm> = Box::new(SimulatedNsm::ephemeral().unwrap());
    let big = vec![0u8; 513];
    assert_eq!(
        nsm.attest(&AttestRequest {
            nonce: Some(&big),
            ..AttestRequest::default()
        })
        .err(),
        Some(Error::NsmInputTooLarge {
            field: "nonce",
            len: 513,
            max: 512
        })
    );
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    nsm.fill_random(&mut a).unwrap();
    nsm.fill_random(&mut b).unwrap();
    assert_ne!(a, b);
    let description = nsm.describe().unwrap();
    assert!(description.simulated);
    assert_eq!(description.digest, "SHA384");
}

#[test]
fn a_known_chain_still_checks_every_leaf() {
    let nsm = SimulatedNsm::ephemeral().unwrap();
    let verifier = Verifier::new(nsm.trust_root().unwrap());
    let first = nsm.attest_at(&AttestRequest::default(), NOW).unwrap();
    verifier.verify(&first, NOW).unwrap();
    // A leaf from another simulator, spliced under this chain, is refused
    // even though the verifier has accepted this bundle before. ECDSA
    // signatures vary in DER length, so draw foreign leaves until one has
    // the genuine leaf's length and can be spliced in place.
    let genuine_doc = AttestationDocument::parse(&first).unwrap();
    let other = SimulatedNsm::ephemeral().unwrap();
    let foreign = (0..200)
        .map(|_| other.attest_at(&AttestRequest::default(), NOW).unwrap())
        .find(|doc| {
            AttestationDocument::parse(doc).unwrap().certificate.len()
                == genuine_doc.certificate.len()
        })
        .expect("a same-length foreign leaf within 200 draws");
    let foreign_leaf = AttestationDocument::parse(&foreign)
        .unwrap()
        .certificate
        .to_vec();
    let at = first
        .windows(genuine_doc.certificate.len())
        .position(|w| w == genuine_doc.certificate)
        .unwrap();
    let mut spliced = first.clone();
    spliced[at..at + foreign_leaf.len()].copy_from_slice(&foreign_leaf);
    assert!(verifier.verify(&spliced, NOW).is_err());
    let second = nsm.attest_at(&AttestRequest::default(), NOW + 5).unwrap();
    verifier.verify(&second, NOW + 5).unwrap();
}
