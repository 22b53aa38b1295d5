//! The signed statement: the Nautilus vector reproduced through the same
//! generic IntentMessage path, and this project's golden vector.
//!
//! The golden bytes live in the Move tests, once: `GOLDEN_BCS` and
//! `GOLDEN_SIGNATURE` of `contracts/tests/score_ledger_tests.move`
//! (`golden_statement_verifies`) and `GOLDEN_KEY` of `test_world.move`. This
//! test reads those constants from the Move sources, so Rust and Move assert
//! the very same bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ring::signature::Ed25519KeyPair;
use serde::{Deserialize, Serialize};
use vram_attestation::statement::{
    ed25519_public_key, from_bcs, selection_key, to_bcs, verify_ed25519, EntryStatus,
    IntentMessage, ScoreEntry, SignedStatement, WindowScores,
};
use vram_attestation::{verify, Error, TrustRoot};

const NAUTILUS_DOC: &[u8] = include_bytes!("fixtures/nautilus_2025-04-15.cose");
const NAUTILUS_AT: u64 = 1_744_683_923_696;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Weather {
    location: String,
    temperature: u64,
}

#[test]
fn nautilus_vector_reproduces_and_verifies_with_the_attested_key() {
    let message = IntentMessage {
        intent: 0,
        timestamp_ms: 1_744_683_300_000,
        payload: Weather {
            location: "San Francisco".into(),
            temperature: 13,
        },
    };
    let bytes = to_bcs(&message).unwrap();
    assert_eq!(
        hex::encode(&bytes),
        "00a0743a37960100000d53616e204672616e636973636f0d00000000000000"
    );
    assert_eq!(from_bcs::<Weather>(&bytes).unwrap(), message);

    let att = verify(NAUTILUS_DOC, &TrustRoot::aws_nitro().unwrap(), NAUTILUS_AT).unwrap();
    let key = att.public_key.expect("the document binds a key");
    let signature = hex::decode(
        "77b6d8be225440d00f3d6eb52e91076a8927cebfb520e58c19daf31ecf06b379\
         8ec3d3ce9630a9eceee46d24f057794a60dd781657cb06d952269cfc5ae19500",
    )
    .unwrap();
    verify_ed25519(&key, &bytes, &signature).expect("signature by the attested key");
    let mut tampered = bytes.clone();
    tampered[20] ^= 1;
    assert_eq!(
        verify_ed25519(&key, &tampered, &signature),
        Err(Error::BadStatementSignature)
    );
}

/// A fixed key and statement: the golden vector shared with Move.
fn golden() -> (Ed25519KeyPair, IntentMessage<WindowScores>) {
    let key = vram_test_support::golden::golden_key();
    let message = vram_test_support::golden::golden_message(vec![0x33; 32]);
    (key, message)
}

/// The golden constant `module::name` of the Move package.
fn move_golden(module: &str, name: &str) -> String {
    let package = vram_test_support::MovePackage::contracts().unwrap();
    hex::encode(package.bytes(module, name).unwrap())
}

#[test]
fn golden_window_scores_vector() {
    let golden_bcs = move_golden("score_ledger_tests", "GOLDEN_BCS");
    let (key, message) = golden();
    assert_eq!(
        hex::encode(ed25519_public_key(&key)),
        move_golden("test_world", "GOLDEN_KEY")
    );
    let signed = SignedStatement::sign(message.clone(), &key).unwrap();
    assert_eq!(hex::encode(&signed.bcs), golden_bcs);
    assert_eq!(
        hex::encode(signed.signature),
        move_golden("score_ledger_tests", "GOLDEN_SIGNATURE")
    );
    signed.verify(&ed25519_public_key(&key)).unwrap();

    let decoded =
        SignedStatement::decode(&hex::decode(&golden_bcs).unwrap(), &signed.signature).unwrap();
    assert_eq!(decoded.message, message);
    let from_file = SignedStatement::from_file(&signed.to_file()).unwrap();
    assert_eq!(from_file, signed);
}

#[test]
fn bcs_layout_is_field_by_field() {
    let (_, message) = golden();
    let bytes = to_bcs(&message).unwrap();
    let mut expected = vec![1u8];
    expected.extend_from_slice(&1_763_700_000_000u64.to_le_bytes());
    expected.extend_from_slice(&42u64.to_le_bytes());
    expected.extend_from_slice(&[0xaa; 32]); // address: fixed 32 bytes, no length
    for fill in [0x11u8, 0x22, 0x33, 0x44] {
        expected.push(32); // vector<u8>: ULEB128 length, then bytes
        expected.extend_from_slice(&[fill; 32]);
    }
    expected.extend_from_slice(&4_200_000_000u64.to_le_bytes());
    expected.push(3); // entries
    assert_eq!(&bytes[..expected.len()], expected.as_slice());
    let first_entry = &bytes[expected.len()..];
    assert_eq!(&first_entry[..8], &1u64.to_le_bytes());
    assert_eq!(first_entry[8], 32);
    assert_eq!(first_entry[8 + 33], EntryStatus::Scored as u8);
}

#[test]
fn tampering_and_malformed_statements_are_refused() {
    let (key, message) = golden();
    let signed = SignedStatement::sign(message.clone(), &key).unwrap();
    let public = ed25519_public_key(&key);

    let mut bytes = signed.bcs.clone();
    // A byte of the timestamp: still a well-formed statement.
    bytes[1] ^= 1;
    let tampered = SignedStatement::decode(&bytes, &signed.signature).unwrap();
    assert_eq!(tampered.verify(&public), Err(Error::BadStatementSignature));

    let mut trailing = signed.bcs.clone();
    trailing.push(0);
    assert!(matches!(
        SignedStatement::decode(&trailing, &signed.signature),
        Err(Error::StatementEncoding { .. })
    ));
    assert!(matches!(
        SignedStatement::decode(&signed.bcs[..signed.bcs.len() - 1], &signed.signature),
        Err(Error::StatementEncoding { .. })
    ));
    assert_eq!(
        signed.verify(&public[..31]),
        Err(Error::Ed25519KeyLength { len: 31 })
    );

    let mut unsorted = message.clone();
    unsorted.payload.entries.swap(0, 1);
    assert!(matches!(
        SignedStatement::sign(unsorted, &key),
        Err(Error::InvalidStatement { .. })
    ));
    let mut duplicate = message.clone();
    duplicate.payload.entries[1].miner_uid = 1;
    assert!(matches!(
        SignedStatement::sign(duplicate, &key),
        Err(Error::InvalidStatement { .. })
    ));
    let mut bad_status = message.clone();
    bad_status.payload.entries[0].status = 9;
    assert!(matches!(
        SignedStatement::sign(bad_status, &key),
        Err(Error::InvalidStatement { .. })
    ));
    let mut missing_with_hash = message.clone();
    missing_with_hash.payload.entries[1].gradient_hash = vec![0; 32];
    assert!(matches!(
        SignedStatement::sign(missing_with_hash, &key),
        Err(Error::InvalidStatement { .. })
    ));
    let mut short_seed = message;
    short_seed.payload.eval_seed = vec![0; 31];
    assert!(matches!(
        SignedStatement::sign(short_seed, &key),
        Err(Error::InvalidStatement { .. })
    ));
}

#[test]
fn unscored_entries_carry_no_losses_and_scored_ones_lead_the_seed_order() {
    let (key, message) = golden();
    // Miner 5 (malformed) with a loss.
    let mut lossy = message.clone();
    lossy.payload.entries[2].loss_after_random = 1;
    assert!(matches!(
        SignedStatement::sign(lossy, &key),
        Err(Error::InvalidStatement { .. })
    ));
    // sha256(0x44.. || le64(1)) < sha256(0x44.. || le64(5)): scoring 1 and
    // deferring 5 is a prefix of the seed's order; the reverse is not.
    let mut budgeted = message.clone();
    budgeted.payload.entries[2].status = EntryStatus::NotEvaluated as u8;
    assert!(SignedStatement::sign(budgeted.clone(), &key).is_ok());
    assert!(
        selection_key(&budgeted.payload.eval_seed, 1)
            < selection_key(&budgeted.payload.eval_seed, 5)
    );
    let mut skipped = message;
    let scored = skipped.payload.entries[0].clone();
    skipped.payload.entries[0] = ScoreEntry {
        status: EntryStatus::NotEvaluated as u8,
        loss_before_own: 0,
        loss_after_own: 0,
        loss_after_random: 0,
        ..scored.clone()
    };
    skipped.payload.entries[2] = ScoreEntry {
        miner_uid: 5,
        gradient_hash: vec![5; 32],
        ..scored
    };
    assert!(matches!(
        SignedStatement::sign(skipped, &key),
        Err(Error::InvalidStatement { .. })
    ));
}
