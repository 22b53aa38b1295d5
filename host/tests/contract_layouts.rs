//! The Rust twins of the Move structs, byte for byte, against the vectors the
//! Move tests assert. Each vector is written once, as a constant in the Move
//! tests, and read from there (`vram_test_support::MovePackage`):
//! - `EVAL_PARAMS_BCS`, `EVAL_PARAMS_HASH`, `GOLDEN_VALUES_BCS`:
//!   `contracts/tests/hparams_tests.move`;
//! - `SUBMIT_SIGNATURE`: `contracts/tests/test_world.move`, the golden
//!   statement of `attestation/tests/statement.rs` with the real eval-params
//!   hash of window 42 under the default Hparams, as `submit_scores`
//!   rebuilds it;
//! - the AWS documents and what they say: `contracts/tests/attestation_fixtures.move`.
//!
//! Change a Move struct, its twin here and `docs/contracts.md` together.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use vram_attestation::sha256;
use vram_attestation::statement::{
    ed25519_public_key, to_bcs, EntryStatus, ScoreEntry, SignedStatement,
};
use vram_host::chain::types::{
    Anchor, Commitment, EnclaveConfigObject, EnclaveRecord, Enclaves, HparamValues, HparamsObject,
    Image, ScoresSubmitted, Segment, SubmissionKey, SubmitArgs, TableRef,
};

use common::{eval_params_hash, move_hex, submit_signature};
use vram_attestation::AttestationDocument;
use vram_test_support::MovePackage;

fn u64le(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

#[test]
fn eval_params_bcs_and_hash_match_move() {
    // Window 42 under the defaults, a budget of 256 (the default
    // max_scored): its timeline and the budget are in the params.
    let params = HparamValues::defaults().eval_params(42 * 600_000 + 480_000, 256);
    let bytes = bcs::to_bytes(&params).unwrap();
    // learning_rate_e9, topk, page_len, own_pages, random_pages, max_scored,
    // upload_deadline_ms, seed_margin_ms, opens_at_ms, scoring_end_ms: ten
    // u64s (design §4.4).
    let expected: Vec<u8> = [
        1_000_000u64,
        32,
        1025,
        4,
        8,
        256,
        25_680_000,
        10_000,
        25_720_000,
        26_280_000,
    ]
    .iter()
    .flat_map(|v| v.to_le_bytes())
    .collect();
    assert_eq!(bytes, expected);
    assert_eq!(
        hex::encode(&bytes),
        move_hex("hparams_tests", "EVAL_PARAMS_BCS")
    );
    assert_eq!(hex::encode(sha256(&bytes)), eval_params_hash());
}

#[test]
fn hparams_values_layout_matches_move() {
    // `defaults().with_dataset(0x22 * 32, 1000, 0x44 * 32)` in the Move test.
    let mut values = HparamValues::defaults();
    values.dataset_root = vec![0x22; 32];
    values.dataset_pages = 1000;
    values.dataset_blob = vec![0x44; 32];
    let bytes = bcs::to_bytes(&values).unwrap();
    assert_eq!(bytes, values_bcs(&values));
    assert_eq!(
        hex::encode(&bytes),
        move_hex("hparams_tests", "GOLDEN_VALUES_BCS")
    );
    assert_eq!(bcs::from_bytes::<HparamValues>(&bytes).unwrap(), values);
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
    out.extend(u64le(v.max_scored));
    out.extend(u64le(v.seed_margin_ms));
    out.push(v.dataset_blob.len() as u8);
    out.extend(&v.dataset_blob);
    out.extend(u64le(v.scoring_span_ms));
    out.extend(u64le(v.reveal_ms));
    out
}

#[test]
fn hparams_object_layout_is_field_by_field() {
    let mut next_values = HparamValues::defaults();
    next_values.dataset_root = vec![0x22; 32];
    next_values.dataset_pages = 1000;
    next_values.dataset_blob = vec![0x44; 32];
    // `Hparams { id, version, segments: vector<Segment> }`: every segment kept.
    let object = HparamsObject {
        id: [0x99; 32],
        version: 1,
        segments: vec![
            Segment {
                start_window: 0,
                start_ms: 0,
                values: HparamValues::defaults(),
            },
            Segment {
                start_window: 1,
                start_ms: 600_000,
                values: next_values.clone(),
            },
        ],
    };
    let mut expected = vec![0x99; 32]; // UID: 32 bytes
    expected.extend(u64le(1));
    expected.push(2); // vector length
    expected.extend(u64le(0));
    expected.extend(u64le(0));
    expected.extend(values_bcs(&HparamValues::defaults()));
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
    assert_eq!(times.reveal_end_ms, 42 * 600_000 + 510_000);
    assert_eq!(times.opens_at_ms, 42 * 600_000 + 520_000);
    assert_eq!(times.scoring_end_ms, 43 * 600_000 + 480_000);
    assert_eq!(times.sign_by_ms, 43 * 600_000 + 470_000);
    // `hparams::eval_params_hash(42, 256)` of the Move test world (whose
    // values differ from these only outside EvalParams).
    assert_eq!(
        hex::encode(object.eval_params_hash(42, 256).unwrap()),
        eval_params_hash()
    );
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
        document_sha256: vec![0xdd; 32],
        document_blob: Vec::new(),
    };
    let mut expected = vec![32];
    expected.extend([0xea; 32]);
    expected.extend(u64le(3));
    expected.extend(u64le(5));
    expected.push(1);
    expected.push(32);
    expected.extend([0xdd; 32]);
    expected.push(0); // no blob
    assert_eq!(record.document().unwrap().blob, None);
    // `round_state::Anchor { checkpoint_hash, checkpoint_blob }`.
    let anchor = Anchor {
        checkpoint_hash: vec![0x11; 32],
        checkpoint_blob: vec![0x12; 32],
    };
    assert_eq!(
        bcs::to_bytes(&anchor).unwrap(),
        [vec![32], vec![0x11; 32], vec![32], vec![0x12; 32]].concat()
    );
    assert_eq!(anchor.checked(7).unwrap().checkpoint_blob.0, [0x12; 32]);
    let short = Anchor {
        checkpoint_blob: vec![1],
        ..anchor.clone()
    };
    assert!(short.checked(7).is_err(), "a blob id is 32 bytes");
    assert_eq!(bcs::to_bytes(&record).unwrap(), expected);
    // `Enclaves { latest, previous: Option }`.
    let enclaves = Enclaves {
        latest: record.clone(),
        previous: Some(record.clone()),
    };
    assert_eq!(
        bcs::to_bytes(&enclaves).unwrap(),
        [expected.clone(), vec![1], expected.clone()].concat()
    );
    // `Image` and `EnclaveConfig { id, current, next, version, test_mode_open, enclaves }`.
    let image = Image {
        version: 2,
        pcr0: vec![1; 48],
        pcr1: vec![2; 48],
        pcr2: vec![3; 48],
        effective_ms: 9,
    };
    let mut image_bcs = u64le(2);
    for b in 1..=3u8 {
        image_bcs.push(48);
        image_bcs.extend([b; 48]);
    }
    image_bcs.extend(u64le(9));
    assert_eq!(bcs::to_bytes(&image).unwrap(), image_bcs);
    let config = EnclaveConfigObject {
        id: [0x77; 32],
        current: image.clone(),
        next: None,
        version: 2,
        test_mode_open: false,
        enclaves: TableRef {
            id: [0x78; 32],
            size: 1,
        },
    };
    let config_bcs = [
        vec![0x77; 32],
        image_bcs,
        vec![0],
        u64le(2),
        vec![0],
        vec![0x78; 32],
        u64le(1),
    ]
    .concat();
    assert_eq!(bcs::to_bytes(&config).unwrap(), config_bcs);

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

    // `gradient_registry::Committed { miner_uid, commitment }` is read as the
    // tuple `(u64, Commitment)`: the same bytes.
    assert_eq!(
        bcs::to_bytes(&(5u64, commitment.clone())).unwrap(),
        [u64le(5), expected.clone()].concat()
    );
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
        test_mode: true,
        statement_sha256: vec![0x5a; 32],
        entries: 3,
        scored: 1,
    };
    let mut expected = u64le(42);
    expected.extend([0xaa; 32]);
    expected.push(32);
    expected.extend([0xea; 32]);
    expected.push(1);
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
    assert_eq!(hex::encode(signed.signature), submit_signature());
    signed.verify(&ed25519_public_key(&key)).unwrap();
    assert_eq!(signed.bcs, to_bcs(&message).unwrap());

    // The arguments the host passes for it, as the Move test passes them.
    let args = SubmitArgs::new(message.timestamp_ms, &message.payload, &signed.signature).unwrap();
    assert_eq!(args.miner_uids, vec![1, 2, 5]);
    assert_eq!(args.statuses, vec![0, 1, 2]);
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
    // 2000 entries, whatever their statuses (the hashes do not travel), and
    // every vector argument under Sui's 16 KiB pure-argument limit.
    message.payload.entries.truncate(2000);
    for e in &mut message.payload.entries {
        e.status = EntryStatus::Scored as u8;
        e.gradient_hash = vec![1; 32];
    }
    let args = SubmitArgs::new(0, &message.payload, &[0; 64]).unwrap();
    for bytes in [
        bcs::to_bytes(&args.miner_uids).unwrap(),
        bcs::to_bytes(&args.losses_before_own).unwrap(),
        bcs::to_bytes(&args.statuses).unwrap(),
    ] {
        assert!(bytes.len() <= 16 * 1024, "{} bytes", bytes.len());
    }
    assert_eq!(bcs::to_bytes(&args.miner_uids).unwrap().len(), 16_002);
}

/// The Move tests embed the attestation fixtures as hex constants, and the
/// facts the registration checks read from them (`enclave_registry_tests`
/// registers those facts without the native verifier): both must be what the
/// documents say.
#[test]
fn move_fixture_documents_equal_the_rust_fixtures() {
    let package = MovePackage::contracts().unwrap();
    let fx = |name: &str| package.bytes("attestation_fixtures", name).unwrap();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../attestation/tests/fixtures");
    let nautilus = std::fs::read(dir.join("nautilus_2025-04-15.cose")).unwrap();
    let debug = std::fs::read(dir.join("debug_mode_2022-10-12.cose")).unwrap();
    assert_eq!(fx("NAUTILUS_DOC"), nautilus);
    assert_eq!(fx("DEBUG_DOC"), debug);

    let doc = AttestationDocument::parse(&nautilus).unwrap();
    assert_eq!(
        package
            .integer("attestation_fixtures", "NAUTILUS_AT")
            .unwrap(),
        u128::from(doc.timestamp_ms)
    );
    for (index, name) in [
        (0, "NAUTILUS_PCR0"),
        (1, "NAUTILUS_PCR1"),
        (2, "NAUTILUS_PCR2"),
    ] {
        assert_eq!(doc.pcr(index), Some(fx(name).as_slice()), "{name}");
    }
    assert_eq!(doc.public_key, Some(fx("NAUTILUS_KEY").as_slice()));

    let doc = AttestationDocument::parse(&debug).unwrap();
    assert_eq!(
        package.integer("attestation_fixtures", "DEBUG_AT").unwrap(),
        u128::from(doc.timestamp_ms)
    );
    for index in 0..3 {
        let pcr = doc.pcr(index).unwrap();
        assert!(pcr.iter().all(|&b| b == 0), "debug-mode PCR{index} is zero");
    }
}
