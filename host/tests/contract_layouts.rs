//! The Rust twins of the Move structs, byte for byte, and the vectors the Move
//! tests share with Rust:
//! - `EVAL_PARAMS_*`: `contracts/tests/hparams_tests.move` (`eval_params_hash_matches_rust`);
//! - `SUBMIT_SIGNATURE`: `contracts/tests/test_world.move` (`SUBMIT_SIGNATURE`),
//!   the golden statement of `attestation/tests/statement.rs` with the real
//!   eval-params hash of the default Hparams, as `submit_scores` rebuilds it.
//!
//! Change a Move struct, its twin here and `docs/contracts.md` together.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use vram_attestation::sha256;
use vram_attestation::statement::{
    ed25519_public_key, to_bcs, EntryStatus, ScoreEntry, SignedStatement,
};
use vram_host::chain::types::{
    Commitment, CommitmentKey, EnclaveRecord, HparamValues, HparamsObject, ScoresSubmitted,
    Segment, SubmissionKey, SubmitArgs,
};

const EVAL_PARAMS_BCS: &str =
    "40420f00000000002000000000000000010400000000000004000000000000000800000000000000";
use common::{EVAL_PARAMS_HASH, SUBMIT_SIGNATURE};

fn u64le(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

#[test]
fn eval_params_bcs_and_hash_match_move() {
    let params = HparamValues::defaults().eval_params();
    let bytes = bcs::to_bytes(&params).unwrap();
    // learning_rate_e9, topk, page_len, own_pages, random_pages: five u64s.
    let expected: Vec<u8> = [1_000_000u64, 32, 1025, 4, 8]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(bytes, expected);
    assert_eq!(hex::encode(&bytes), EVAL_PARAMS_BCS);
    assert_eq!(hex::encode(sha256(&bytes)), EVAL_PARAMS_HASH);
}

fn values_bcs(v: &HparamValues) -> Vec<u8> {
    let mut out = Vec::new();
    for x in [
        v.window_duration_ms,
        v.put_window_open_ms,
        v.topk_compression,
        v.top_g,
        v.openskill_beta_e9,
        v.openskill_tau_e9,
        v.emission_per_window,
        v.checkpoint_frequency,
        v.min_miner_stake,
        v.min_validator_stake,
        v.validator_offset,
        v.gauntlet_gamma_e9,
        v.sync_threshold,
        v.learning_rate_e9,
        v.page_len,
        v.own_pages,
        v.random_pages,
    ] {
        out.extend(u64le(x));
    }
    out.push(v.dataset_root.len() as u8);
    out.extend(&v.dataset_root);
    out.extend(u64le(v.dataset_pages));
    out
}

#[test]
fn hparams_object_layout_is_field_by_field() {
    let mut next_values = HparamValues::defaults();
    next_values.dataset_root = vec![0x22; 32];
    next_values.dataset_pages = 1000;
    let object = HparamsObject {
        id: [0x99; 32],
        version: 1,
        current: Segment {
            start_window: 0,
            start_ms: 0,
            values: HparamValues::defaults(),
        },
        next: Some(Segment {
            start_window: 1,
            start_ms: 600_000,
            values: next_values.clone(),
        }),
    };
    let mut expected = vec![0x99; 32]; // UID: 32 bytes
    expected.extend(u64le(1));
    expected.extend(u64le(0));
    expected.extend(u64le(0));
    expected.extend(values_bcs(&HparamValues::defaults()));
    expected.push(1); // Option::some
    expected.extend(u64le(1));
    expected.extend(u64le(600_000));
    expected.extend(values_bcs(&next_values));
    let bytes = bcs::to_bytes(&object).unwrap();
    assert_eq!(bytes, expected);
    assert_eq!(bcs::from_bytes::<HparamsObject>(&bytes).unwrap(), object);

    // The window arithmetic of the Move module, on this object.
    assert_eq!(object.window_at(599_999), 0);
    assert_eq!(object.window_at(600_000), 1);
    let times = object.times(42).unwrap();
    assert_eq!(times.start_ms, 42 * 600_000);
    assert_eq!(times.upload_deadline_ms, 42 * 600_000 + 480_000);
    assert_eq!(times.end_ms, 43 * 600_000);
    assert_eq!(
        object.segment_for_window(1).unwrap().values.dataset_root,
        vec![0x22; 32]
    );
    assert!(
        HparamValues::defaults().validate().is_err(),
        "no dataset yet"
    );
    next_values.validate().unwrap();
}

#[test]
fn registry_records_and_keys() {
    let record = EnclaveRecord {
        public_key: vec![0xea; 32],
        config_version: 3,
        registered_ms: 5,
        test_mode: true,
    };
    let mut expected = vec![32];
    expected.extend([0xea; 32]);
    expected.extend(u64le(3));
    expected.extend(u64le(5));
    expected.push(1);
    assert_eq!(bcs::to_bytes(&record).unwrap(), expected);

    let commitment = Commitment {
        blob_id: vec![0xb1; 32],
        sha256: vec![1; 32],
        committed_ms: 7,
    };
    let mut expected = vec![32];
    expected.extend([0xb1; 32]);
    expected.push(32);
    expected.extend([1; 32]);
    expected.extend(u64le(7));
    assert_eq!(bcs::to_bytes(&commitment).unwrap(), expected);

    let key = CommitmentKey {
        window: 42,
        miner_uid: 5,
    };
    assert_eq!(bcs::to_bytes(&key).unwrap(), [u64le(42), u64le(5)].concat());
    let key = SubmissionKey {
        window: 42,
        validator: [0xaa; 32],
    };
    assert_eq!(
        bcs::to_bytes(&key).unwrap(),
        [u64le(42), vec![0xaa; 32]].concat()
    );

    let event = ScoresSubmitted {
        window: 42,
        validator: [0xaa; 32],
        enclave_public_key: vec![0xea; 32],
        statement_sha256: vec![0x5a; 32],
        entries: 3,
        scored: 1,
    };
    let mut expected = u64le(42);
    expected.extend([0xaa; 32]);
    expected.push(32);
    expected.extend([0xea; 32]);
    expected.push(32);
    expected.extend([0x5a; 32]);
    expected.extend(u64le(3));
    expected.extend(u64le(1));
    assert_eq!(bcs::to_bytes(&event).unwrap(), expected);
}

#[test]
fn submit_vector_for_move() {
    let (key, message) = (common::golden_key(), common::submit_message());
    let signed = SignedStatement::sign(message.clone(), &key).unwrap();
    assert_eq!(hex::encode(signed.signature), SUBMIT_SIGNATURE);
    signed.verify(&ed25519_public_key(&key)).unwrap();
    assert_eq!(signed.bcs, to_bcs(&message).unwrap());

    // The arguments the host passes for it, as the Move test passes them.
    let args = SubmitArgs::new(message.timestamp_ms, &message.payload, &signed.signature).unwrap();
    assert_eq!(args.miner_uids, vec![1, 2, 5]);
    assert_eq!(args.statuses, vec![0, 1, 2]);
    assert_eq!(
        args.gradient_hashes,
        [vec![1u8; 32], vec![5u8; 32]].concat()
    );
    assert_eq!(args.losses_before_own, vec![4_100_000_000, 0, 0]);
    assert_eq!(args.losses_after_own, vec![4_000_000_000, 0, 0]);
    assert_eq!(args.losses_after_random, vec![4_150_000_000, 0, 0]);
    assert_eq!(args.checkpoint_hash, vec![0x11; 32]);
}

#[test]
fn submit_args_refuse_what_the_contract_cannot_take() {
    let mut message = common::submit_message();
    message.payload.entries = (0..2001)
        .map(|uid| ScoreEntry {
            miner_uid: uid,
            gradient_hash: vec![],
            status: EntryStatus::Missing as u8,
            loss_before_own: 0,
            loss_after_own: 0,
            loss_after_random: 0,
        })
        .collect();
    assert!(SubmitArgs::new(0, &message.payload, &[0; 64]).is_err());
    message.payload.entries.truncate(513);
    for e in &mut message.payload.entries {
        e.status = EntryStatus::Scored as u8;
        e.gradient_hash = vec![1; 32];
    }
    assert!(SubmitArgs::new(0, &message.payload, &[0; 64]).is_err());
    message.payload.entries.truncate(512);
    assert!(SubmitArgs::new(0, &message.payload, &[0; 64]).is_ok());
}

/// The Move tests embed the attestation fixtures as hex constants.
#[test]
fn move_fixture_documents_equal_the_rust_fixtures() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let source =
        std::fs::read_to_string(root.join("contracts/tests/attestation_fixtures.move")).unwrap();
    for (constant, file) in [
        ("NAUTILUS_DOC", "nautilus_2025-04-15.cose"),
        ("DEBUG_DOC", "debug_mode_2022-10-12.cose"),
    ] {
        let start = source
            .find(&format!("const {constant}: vector<u8>"))
            .unwrap();
        let hex_start = source[start..].find("x\"").unwrap() + start + 2;
        let hex_end = source[hex_start..].find('"').unwrap() + hex_start;
        let bytes = std::fs::read(root.join("attestation/tests/fixtures").join(file)).unwrap();
        assert_eq!(
            &source[hex_start..hex_end],
            hex::encode(bytes),
            "{constant}"
        );
    }
    let world = std::fs::read_to_string(root.join("contracts/tests/test_world.move")).unwrap();
    assert!(
        world.contains(SUBMIT_SIGNATURE),
        "test_world.move carries SUBMIT_SIGNATURE"
    );
}
