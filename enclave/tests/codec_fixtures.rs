//! Agreement with Templar's own codec (fixtures/TEMPLAR_CODEC.md): DCT
//! bases, top-k selection, packing, quantisation, decoding, aggregation and
//! the sign-SGD step, on every case of the reference file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use safetensors::tensor::{Dtype, SafeTensors};
use serde::Deserialize;
use vram_enclave::codec::{
    aggregate, compress, decode_param, dequantize, pack12, quantize, read_blob, write_blob, Bases,
    Basis, BlobMetadata, Layout, ModelShapes, SparseParam,
};

const TENSORS: &[u8] = include_bytes!("fixtures/templar_reference.safetensors");
const INDEX: &str = include_str!("fixtures/templar_reference.json");
/// Relative tolerance for float results, against each tensor's largest magnitude.
const REL: f32 = 1e-5;

#[derive(Deserialize)]
struct Index {
    topk: usize,
    sign_sgd_lr: f32,
    cases: BTreeMap<String, Case>,
}

#[derive(Deserialize)]
struct Case {
    shape: Vec<usize>,
    xshape: Vec<usize>,
    totalk: usize,
    k: usize,
}

struct Fixture<'a> {
    st: SafeTensors<'a>,
}

impl Fixture<'_> {
    fn f32(&self, name: &str) -> Vec<f32> {
        let t = self.st.tensor(name).unwrap();
        assert_eq!(t.dtype(), Dtype::F32, "{name}");
        t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }
    fn i64(&self, name: &str) -> Vec<u16> {
        let t = self.st.tensor(name).unwrap();
        assert_eq!(t.dtype(), Dtype::I64, "{name}");
        t.data()
            .chunks_exact(8)
            .map(|b| u16::try_from(i64::from_le_bytes(b.try_into().unwrap())).unwrap())
            .collect()
    }
    fn u8(&self, name: &str) -> Vec<u8> {
        self.st.tensor(name).unwrap().data().to_vec()
    }
    fn sparse(
        &self,
        case: &str,
        layout: &Layout,
        k: usize,
        idx: &str,
        vals: Vec<f32>,
    ) -> SparseParam {
        SparseParam {
            name: case.to_string(),
            layout: layout.clone(),
            k,
            indices: self.i64(&format!("{case}.{idx}")),
            values: vals,
        }
    }
}

fn load() -> (Index, Fixture<'static>) {
    let index: Index = serde_json::from_str(INDEX).unwrap();
    (
        index,
        Fixture {
            st: SafeTensors::deserialize(TENSORS).unwrap(),
        },
    )
}

fn assert_close(what: &str, ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    let scale = theirs
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    let worst = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= REL * scale,
        "{what}: max error {worst} vs scale {scale}"
    );
}

fn bases_for(layout: &Layout) -> Bases {
    let mut bases = Bases::new();
    bases.prepare(layout.n1);
    bases.prepare(layout.n2);
    bases
}

#[test]
fn dct_bases_match_templar() {
    let (_, fx) = load();
    for n in [3usize, 5, 48, 50, 64] {
        let theirs = fx.f32(&format!("basis.B.{n}"));
        let ours: Vec<f32> = (0..n).flat_map(|k| Basis::new(n).row(k).to_vec()).collect();
        assert_close(&format!("basis {n}"), &ours, &theirs);
    }
}

#[test]
fn layouts_match_templar_xshapes() {
    let (index, _) = load();
    for (name, case) in &index.cases {
        let l = Layout::new(name, &case.shape).unwrap();
        assert_eq!(l.totalk(), case.totalk, "{name}");
        assert_eq!(l.k(index.topk), case.k, "{name}");
        let xshape = if case.shape.len() == 2 {
            vec![l.rows, l.cols, l.n1, l.n2]
        } else {
            vec![l.cols, l.n2]
        };
        assert_eq!(xshape, case.xshape, "{name}");
    }
}

#[test]
fn selection_and_values_match_templar() {
    let (index, fx) = load();
    for (name, case) in &index.cases {
        let grad = fx.f32(&format!("{name}.grad"));
        let mut bases = Bases::new();
        let ours = compress(name, &case.shape, &grad, index.topk, &mut bases).unwrap();
        let theirs_idx = fx.i64(&format!("{name}.idx"));
        // Index sets must be equal; any difference must be a genuine near-tie.
        let mismatches = ours
            .indices
            .iter()
            .zip(&theirs_idx)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            mismatches, 0,
            "{name}: {mismatches} selected indices differ"
        );
        assert_close(
            &format!("{name} vals"),
            &ours.values,
            &fx.f32(&format!("{name}.vals")),
        );
        if theirs_idx.len() % 2 == 0 {
            assert_eq!(
                pack12(&theirs_idx),
                fx.u8(&format!("{name}.idx_packed12")),
                "{name} packing"
            );
        }
    }
}

#[test]
fn decoding_matches_templar() {
    let (index, fx) = load();
    for (name, case) in &index.cases {
        let layout = Layout::new(name, &case.shape).unwrap();
        let bases = bases_for(&layout);
        let raw = fx.sparse(
            name,
            &layout,
            case.k,
            "idx",
            fx.f32(&format!("{name}.vals")),
        );
        assert_close(
            &format!("{name} decoded"),
            &decode_param(&raw, &bases).unwrap(),
            &fx.f32(&format!("{name}.decoded")),
        );

        let lut: [f32; 256] = fx.f32(&format!("{name}.q_lookup")).try_into().unwrap();
        let shift = fx.f32(&format!("{name}.q_shift"))[0];
        let q_vals = dequantize(&fx.u8(&format!("{name}.q_vals")), &lut, shift);
        let quantized = fx.sparse(name, &layout, case.k, "q_idx", q_vals);
        let decoded_q = decode_param(&quantized, &bases).unwrap();
        let theirs_q = fx.f32(&format!("{name}.decoded_q"));
        assert_close(&format!("{name} decoded_q"), &decoded_q, &theirs_q);

        // sign-SGD: exact wherever the decoded value is not near zero.
        let param = fx.f32(&format!("{name}.param"));
        let after = fx.f32(&format!("{name}.after_sign_sgd"));
        let scale = theirs_q.iter().fold(0f32, |m, v| m.max(v.abs()));
        let mut compared = 0;
        for ((&w, &d), &expected) in param.iter().zip(&decoded_q).zip(&after) {
            if d.abs() > 1e-4 * scale {
                let sign = if d > 0.0 { 1.0 } else { -1.0 };
                assert_eq!(w - index.sign_sgd_lr * sign, expected, "{name} sign-SGD");
                compared += 1;
            }
        }
        assert!(
            compared * 10 >= param.len() * 9,
            "{name}: too few values compared"
        );
    }
}

#[test]
fn quantisation_matches_templar() {
    let (_, fx) = load();
    let (index, _) = load();
    for name in index.cases.keys() {
        let vals = fx.f32(&format!("{name}.vals"));
        let q = quantize(&vals);
        assert_eq!(q.q, fx.u8(&format!("{name}.q_vals")), "{name} bins");
        assert_close(
            &format!("{name} lut"),
            &q.lut,
            &fx.f32(&format!("{name}.q_lookup")),
        );
        let shift = fx.f32(&format!("{name}.q_shift"))[0];
        assert!(
            (q.shift - shift).abs() <= REL * shift.abs().max(1e-3),
            "{name} shift {} vs {shift}",
            q.shift
        );
    }
}

#[test]
fn aggregation_matches_templar() {
    let (index, fx) = load();
    for (name, case) in &index.cases {
        let layout = Layout::new(name, &case.shape).unwrap();
        let bases = bases_for(&layout);
        let miners: Vec<SparseParam> = ["", "peer1.", "peer2."]
            .iter()
            .map(|p| {
                let vals = fx.f32(&format!("{name}.{p}vals"));
                fx.sparse(name, &layout, case.k, &format!("{p}idx"), vals)
            })
            .collect();
        let refs: Vec<&SparseParam> = miners.iter().collect();
        assert_close(
            &format!("{name} aggregated"),
            &aggregate(&refs, &bases).unwrap(),
            &fx.f32(&format!("{name}.aggregated_3peers")),
        );
    }
}

#[test]
fn blobs_round_trip_raw_and_quantised() {
    let (index, fx) = load();
    let shapes = ModelShapes::new(
        index
            .cases
            .iter()
            .map(|(n, c)| (n.clone(), c.shape.clone())),
    )
    .unwrap();
    let mut bases = Bases::new();
    let params: Vec<SparseParam> = index
        .cases
        .iter()
        .map(|(name, case)| {
            compress(
                name,
                &case.shape,
                &fx.f32(&format!("{name}.grad")),
                index.topk,
                &mut bases,
            )
            .unwrap()
        })
        .collect();
    let meta = BlobMetadata {
        window: 7,
        miner_uid: 3,
        topk: index.topk,
        base_checkpoint: [9; 32],
    };
    let raw = write_blob(&params, false, &meta).unwrap();
    let back = read_blob(&raw, &shapes, index.topk).unwrap();
    assert_eq!(back.metadata, meta);
    assert_eq!(back.params, params);

    let quantised = write_blob(&params, true, &meta).unwrap();
    let back = read_blob(&quantised, &shapes, index.topk).unwrap();
    for (ours, original) in back.params.iter().zip(&params) {
        assert_eq!(ours.indices, original.indices);
        let q = quantize(&original.values);
        assert_eq!(ours.values, dequantize(&q.q, &q.lut, q.shift));
    }
}
