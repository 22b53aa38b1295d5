//! A hostile miner's blob: every violation of design.md §4.1 gets its typed
//! error, and random or mutated blobs never panic nor escape the budget.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use proptest::prelude::*;
use safetensors::tensor::{Dtype, TensorView};
use vram_enclave::codec::{pack12, read_blob, Layout, ModelShapes, FORMAT};
use vram_enclave::Error;

const TOPK: usize = 4;

fn shapes() -> ModelShapes {
    ModelShapes::new([("w".to_string(), vec![8, 6]), ("b".to_string(), vec![10])]).unwrap()
}

fn metadata() -> HashMap<String, String> {
    HashMap::from([
        ("format".into(), FORMAT.into()),
        ("window".into(), "3".into()),
        ("miner_uid".into(), "1".into()),
        ("topk".into(), TOPK.to_string()),
        ("chunk".into(), "64".into()),
        ("base_checkpoint".into(), "ab".repeat(32)),
    ])
}

type Tensors = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;

/// A valid raw-f32 blob's tensors for `shapes()`.
fn valid_tensors() -> Tensors {
    let mut out = Vec::new();
    for (name, shape) in [("w", vec![8usize, 6]), ("b", vec![10])] {
        let layout = Layout::new(name, &shape).unwrap();
        let k = layout.k(TOPK);
        let idx: Vec<u16> = (0..layout.chunks()).flat_map(|_| 0..k as u16).collect();
        out.push((
            format!("{name}.idx"),
            Dtype::U8,
            vec![layout.packed_index_bytes(TOPK)],
            pack12(&idx),
        ));
        let vals: Vec<u8> = (0..layout.index_count(TOPK))
            .flat_map(|i| (i as f32 * 0.5).to_le_bytes())
            .collect();
        out.push((
            format!("{name}.vals"),
            Dtype::F32,
            layout.vals_shape(TOPK),
            vals,
        ));
    }
    out
}

fn build(tensors: &Tensors, meta: HashMap<String, String>) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

fn read(tensors: &Tensors) -> Result<(), Error> {
    read_blob(&build(tensors, metadata()), &shapes(), TOPK).map(|_| ())
}

fn edit(f: impl FnOnce(&mut Tensors)) -> Tensors {
    let mut t = valid_tensors();
    f(&mut t);
    t
}

fn find(t: &mut Tensors, name: &str) -> usize {
    t.iter().position(|(n, ..)| n == name).unwrap()
}

#[test]
fn a_valid_blob_parses() {
    let blob = read_blob(&build(&valid_tensors(), metadata()), &shapes(), TOPK).unwrap();
    assert_eq!(blob.metadata.window, 3);
    assert_eq!(blob.params.len(), 2);
}

#[test]
fn structural_violations_have_typed_errors() {
    assert!(matches!(
        read(&edit(|t| {
            t.remove(0);
        })),
        Err(Error::MissingTensor { .. })
    ));
    assert!(matches!(
        read(&edit(|t| t.push((
            "w.extra".into(),
            Dtype::U8,
            vec![1],
            vec![0]
        )))),
        Err(Error::UnexpectedTensor { .. })
    ));
    assert!(matches!(
        read(&edit(|t| t.push((
            "other.idx".into(),
            Dtype::U8,
            vec![1],
            vec![0]
        )))),
        Err(Error::UnexpectedTensor { .. })
    ));
    assert!(matches!(
        read(&edit(|t| t.push((
            "w.qlut".into(),
            Dtype::F32,
            vec![256],
            vec![0; 1024]
        )))),
        Err(Error::UnexpectedTensor { .. })
    ));
    assert!(matches!(
        read(&edit(|t| {
            let i = find(t, "w.vals");
            let n = t[i].3.len() / 4;
            t[i] = ("w.vals".into(), Dtype::I32, t[i].2.clone(), vec![0; n * 4]);
        })),
        Err(Error::WrongDtype { .. })
    ));
    assert!(matches!(
        read(&edit(|t| {
            let i = find(t, "w.vals");
            t[i].2 = vec![t[i].2.iter().product()];
        })),
        Err(Error::WrongShape { .. })
    ));
    // U8 values without their lookup table.
    assert!(matches!(
        read(&edit(|t| {
            let i = find(t, "b.vals");
            let n: usize = t[i].2.iter().product();
            t[i] = ("b.vals".into(), Dtype::U8, t[i].2.clone(), vec![0; n]);
        })),
        Err(Error::MissingTensor { .. })
    ));
}

#[test]
fn index_and_value_violations_have_typed_errors() {
    let with_idx = |idx: Vec<u16>| {
        edit(|t| {
            let i = find(t, "w.idx");
            t[i].3 = pack12(&idx);
        })
    };
    let layout = Layout::new("w", &[8, 6]).unwrap();
    let count = layout.index_count(TOPK);
    let mut out_of_range: Vec<u16> = (0..count as u16).map(|i| i % 4).collect();
    out_of_range[2] = 48;
    assert!(matches!(
        read(&with_idx(out_of_range)),
        Err(Error::IndexOutOfRange { index: 48, .. })
    ));
    let mut duplicate: Vec<u16> = (0..count as u16).map(|i| i % 4).collect();
    duplicate[1] = 0;
    assert!(matches!(
        read(&with_idx(duplicate)),
        Err(Error::DuplicateIndex { index: 0, .. })
    ));
    // `b` has 1 chunk of 10 with k = 4: an even count, so no padding; use
    // a shape with an odd count to check the padding rule.
    let odd = ModelShapes::new([("v".to_string(), vec![3])]).unwrap();
    let idx = pack12(&[0, 1, 2]);
    let mut bad_pad = idx.clone();
    bad_pad[5] = 0x10;
    for (bytes, ok) in [(idx, true), (bad_pad, false)] {
        let tensors: Tensors = vec![
            ("v.idx".into(), Dtype::U8, vec![6], bytes),
            (
                "v.vals".into(),
                Dtype::F32,
                vec![1, 3],
                [1f32, 2.0, 3.0]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            ),
        ];
        let r = read_blob(&build(&tensors, metadata()), &odd, TOPK);
        assert_eq!(r.is_ok(), ok, "{r:?}");
        if !ok {
            assert!(matches!(r, Err(Error::BadPadding { .. })));
        }
    }
    assert!(matches!(
        read(&edit(|t| {
            let i = find(t, "b.vals");
            t[i].3[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
        })),
        Err(Error::NonFinite { position: 1, .. })
    ));
    // F16 values are accepted and converted.
    let f16 = edit(|t| {
        let i = find(t, "b.vals");
        let n: usize = t[i].2.iter().product();
        t[i] = (
            "b.vals".into(),
            Dtype::F16,
            t[i].2.clone(),
            (0..n)
                .flat_map(|_| half::f16::from_f32(0.25).to_le_bytes())
                .collect(),
        );
    });
    let blob = read_blob(&build(&f16, metadata()), &shapes(), TOPK).unwrap();
    assert!(blob
        .params
        .iter()
        .find(|p| p.name == "b")
        .unwrap()
        .values
        .iter()
        .all(|&v| v == 0.25));
}

#[test]
fn metadata_violations_have_typed_errors() {
    let with = |key: &str, value: Option<&str>| {
        let mut m = metadata();
        match value {
            Some(v) => m.insert(key.into(), v.into()),
            None => m.remove(key),
        };
        read_blob(&build(&valid_tensors(), m), &shapes(), TOPK).map(|_| ())
    };
    assert!(matches!(
        with("format", Some("pickle")),
        Err(Error::BadMetadata { key: "format", .. })
    ));
    assert!(matches!(
        with("topk", Some("8")),
        Err(Error::BadMetadata { key: "topk", .. })
    ));
    assert!(matches!(
        with("chunk", Some("32")),
        Err(Error::BadMetadata { key: "chunk", .. })
    ));
    assert!(matches!(
        with("window", Some("-1")),
        Err(Error::BadMetadata { key: "window", .. })
    ));
    assert!(matches!(
        with("base_checkpoint", Some("zz")),
        Err(Error::BadMetadata {
            key: "base_checkpoint",
            ..
        })
    ));
    assert!(matches!(
        with("miner_uid", None),
        Err(Error::BadMetadata {
            key: "miner_uid",
            ..
        })
    ));
    assert!(matches!(
        with("comment", Some("hi")),
        Err(Error::BadMetadata {
            key: "__metadata__",
            ..
        })
    ));
}

#[test]
fn oversized_and_lying_containers_are_refused_before_allocation() {
    let budget = shapes().blob_budget(TOPK);
    assert!(matches!(
        read_blob(&vec![0u8; budget + 1], &shapes(), TOPK),
        Err(Error::BlobTooLarge { .. })
    ));
    // A header length of 2^63.
    let mut lying = vec![0u8; 64];
    lying[..8].copy_from_slice(&(1u64 << 63).to_le_bytes());
    assert!(matches!(
        read_blob(&lying, &shapes(), TOPK),
        Err(Error::BadContainer { .. })
    ));
    let valid = build(&valid_tensors(), metadata());
    assert!(matches!(
        read_blob(&valid[..valid.len() - 1], &shapes(), TOPK),
        Err(Error::BadContainer { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_blob(&bytes, &shapes(), TOPK);
    }

    #[test]
    fn mutated_blobs_never_panic_and_stay_in_shape(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)
    ) {
        let mut bytes = build(&valid_tensors(), metadata());
        for (pos, byte) in edits {
            let len = bytes.len();
            bytes[pos % len] = byte;
        }
        if let Ok(blob) = read_blob(&bytes, &shapes(), TOPK) {
            for p in &blob.params {
                prop_assert_eq!(p.indices.len(), p.layout.index_count(TOPK));
                prop_assert_eq!(p.values.len(), p.layout.index_count(TOPK));
                prop_assert!(p.values.iter().all(|v| v.is_finite()));
                prop_assert!(p.indices.iter().all(|&i| usize::from(i) < p.layout.totalk()));
            }
        }
    }
}
