//! The model and the evaluator on the `tiny` preset: loading, determinism,
//! the sign-SGD step on honest and noisy gradients, and the statuses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vram_enclave::codec::{encode_blob, BlobMetadata};
use vram_enclave::eval::{EvalParams, Evaluator, MinerInput, Outcome};
use vram_enclave::model::{
    checkpoint_hash, init_weights, Checkpoint, GptConfig, LlamaConfig, ModelConfig, SplitMix64,
};
use vram_enclave::Error;
use vram_test_support::{affine_pages, TinyCheckpoint};

const PAGE_LEN: usize = 33;

fn checkpoint() -> (Checkpoint, Vec<u8>, Vec<u8>) {
    let tiny = TinyCheckpoint::new(1).unwrap();
    (tiny.load().unwrap(), tiny.weights, tiny.config_json)
}

/// Pages of an affine sequence `t' = (a t + b) mod 256`: learnable structure.
fn pages(seed: u64, count: usize) -> Vec<Vec<u32>> {
    affine_pages(seed, count, PAGE_LEN)
}

fn refs(pages: &[Vec<u32>]) -> Vec<&[u32]> {
    pages.iter().map(Vec::as_slice).collect()
}

fn params() -> EvalParams {
    EvalParams {
        learning_rate_e9: 2_000_000, // 2e-3
        topk: 32,
        page_len: PAGE_LEN as u64,
        own_pages: 4,
        random_pages: 4,
        max_scored: 16,
        upload_deadline_ms: 0,
        seed_margin_ms: 0,
        opens_at_ms: 0,
        scoring_end_ms: 600_000,
    }
}

fn blob(
    ckpt: &Checkpoint,
    grads: &[(String, Vec<f32>)],
    window: u64,
    uid: u64,
    base: [u8; 32],
) -> Vec<u8> {
    let meta = BlobMetadata {
        window,
        miner_uid: uid,
        topk: 32,
        base_checkpoint: base,
    };
    let grads = grads.iter().map(|(n, g)| (n.as_str(), g.as_slice()));
    encode_blob(ckpt.shapes(), grads, true, &meta).unwrap()
}

#[test]
fn checkpoint_loads_and_losses_are_deterministic() {
    let (ckpt, weights, config) = checkpoint();
    assert_eq!(ckpt.hash(), checkpoint_hash(&weights, &config));
    let data = pages(5, 6);
    let eval = Evaluator::new(&ckpt, 4);
    let loss = eval.loss(&refs(&data)).unwrap();
    // An untrained model is close to uniform over 256 tokens.
    assert!((loss - 256f64.ln()).abs() < 0.3, "loss {loss}");
    assert_eq!(loss.to_bits(), eval.loss(&refs(&data)).unwrap().to_bits());
    let (again, _, _) = checkpoint();
    let other = Evaluator::new(&again, 4);
    assert_eq!(loss.to_bits(), other.loss(&refs(&data)).unwrap().to_bits());
    // Batch size changes nothing but memory: rows never mix, and the row
    // losses are summed in order.
    let batched = Evaluator::new(&ckpt, 1).loss(&refs(&data)).unwrap();
    assert_eq!(batched.to_bits(), loss.to_bits());
}

/// The forward pass lends its working buffers again without clearing them
/// (every value is written before it is read): what a page computes must
/// not depend on what the pages before it left there.
#[test]
fn losses_do_not_depend_on_the_pages_before() {
    let llama = ModelConfig::Llama(LlamaConfig::tiny());
    let llama = Checkpoint::from_tensors(llama.clone(), init_weights(&llama, 3), [0; 32]).unwrap();
    for ckpt in [checkpoint().0, llama] {
        let first = pages(11, 3);
        let fresh = ckpt.page_sums(&refs(&first)).unwrap();
        // More and longer pages, then fewer and shorter: other values in
        // every buffer, and buffers of other sizes.
        for (seed, count, len) in [(12, 5, PAGE_LEN + 20), (13, 1, 9)] {
            let other = affine_pages(seed, count, len);
            ckpt.page_sums(&refs(&other)).unwrap();
            let again = ckpt.page_sums(&refs(&first)).unwrap();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&again), bits(&fresh), "{}", ckpt.config().family());
        }
    }
}

#[test]
fn bad_checkpoints_and_pages_are_refused() {
    let (ckpt, weights, _) = checkpoint();
    let mut cfg = GptConfig::tiny();
    cfg.n_layer = 3;
    let err = Checkpoint::load(&weights, &serde_json::to_vec(&cfg).unwrap()).unwrap_err();
    assert!(matches!(err, Error::BadCheckpoint { .. }), "{err}");
    assert!(matches!(
        Checkpoint::load(b"junk", b"{}"),
        Err(Error::BadConfig { .. })
    ));

    let eval = Evaluator::new(&ckpt, 4);
    let mut bad = pages(1, 2);
    bad[1][3] = 256;
    assert!(matches!(
        eval.loss(&refs(&bad)),
        Err(Error::BadPage { index: 1, .. })
    ));
    let uneven = [vec![1u32; 10], vec![1u32; 11]];
    assert!(matches!(
        eval.loss(&refs(&uneven)),
        Err(Error::BadPage { index: 1, .. })
    ));
    // Across batches, and through the checkpoint directly: an error naming
    // the page, never a panic.
    assert!(matches!(
        Evaluator::new(&ckpt, 1).loss(&refs(&uneven)),
        Err(Error::BadPage { index: 1, .. })
    ));
    let short_first = [vec![1u32; 11], vec![1u32; 10]];
    for pages in [&uneven, &short_first] {
        assert!(matches!(
            ckpt.loss_sum(&refs(pages)),
            Err(Error::BadPage { index: 1, .. })
        ));
    }
    assert!(matches!(ckpt.loss_sum(&[]), Err(Error::BadPage { .. })));
    assert!(matches!(ckpt.logits(&[256]), Err(Error::BadPage { .. })));
}

#[test]
fn honest_gradients_lower_the_loss_and_statuses_are_typed() {
    let (ckpt, _, _) = checkpoint();
    let window = 12;
    let own = pages(100, 4);
    let random = pages(200, 4);
    let (_, grads) = vram_train::loss_gradients(&ckpt, &refs(&own)).unwrap();
    let honest = blob(&ckpt, &grads, window, 1, ckpt.hash());

    let mut rng = SplitMix64::new(9);
    let noise: Vec<(String, Vec<f32>)> = grads
        .iter()
        .map(|(n, g)| {
            (
                n.clone(),
                g.iter().map(|_| rng.next_normal() as f32).collect(),
            )
        })
        .collect();
    let lazy = blob(&ckpt, &noise, window, 2, ckpt.hash());
    let stale = blob(&ckpt, &grads, window - 1, 4, ckpt.hash());
    let foreign = blob(&ckpt, &grads, window, 5, [7; 32]);
    let copycat = honest.clone();

    let own_refs = refs(&own);
    fn miner<'a>(uid: u64, own: &[&'a [u32]], blob: Option<&'a [u8]>) -> MinerInput<'a> {
        MinerInput {
            uid,
            own_pages: own.to_vec(),
            blob,
        }
    }
    let miners = vec![
        miner(1, &own_refs, Some(&honest)),
        miner(2, &own_refs, Some(&lazy)),
        miner(3, &own_refs, None),
        miner(4, &own_refs, Some(&stale)),
        miner(5, &own_refs, Some(&foreign)),
        miner(6, &own_refs, Some(b"not a safetensors blob".as_slice())),
        miner(7, &own_refs, Some(&copycat)),
    ];
    let eval = Evaluator::new(&ckpt, 4);
    let result = eval
        .evaluate_window(window, &params(), &refs(&random), &miners)
        .unwrap();

    let r = &result.miners;
    assert_eq!(r[0].outcome, Outcome::Scored);
    assert!(
        r[0].loss_after_own < r[0].loss_before_own - 0.01,
        "honest step: {} -> {}",
        r[0].loss_before_own,
        r[0].loss_after_own
    );
    assert_eq!(r[1].outcome, Outcome::Scored);
    assert!(
        r[1].loss_after_own > r[0].loss_after_own,
        "noise must do worse than the honest step"
    );
    assert_eq!(r[2].outcome, Outcome::Missing);
    assert!(matches!(r[3].outcome, Outcome::Stale(_)));
    assert!(matches!(r[4].outcome, Outcome::Stale(_)));
    assert!(matches!(
        r[5].outcome,
        Outcome::Malformed(Error::BadContainer { .. })
    ));
    // Another miner's blob names that miner's uid.
    assert!(matches!(
        r[6].outcome,
        Outcome::Malformed(Error::BadMetadata {
            key: "miner_uid",
            ..
        })
    ));

    // The working weights are back at the base, bit for bit.
    let after = eval.loss(&refs(&random)).unwrap();
    assert_eq!(after.to_bits(), result.loss_before_random.to_bits());
    // And the whole window is reproducible.
    let again = eval
        .evaluate_window(window, &params(), &refs(&random), &miners)
        .unwrap();
    assert_eq!(again, result);
}

#[test]
fn unsorted_miners_and_bad_parameters_are_refused() {
    let (ckpt, _, _) = checkpoint();
    let eval = Evaluator::new(&ckpt, 4);
    let random = pages(1, 2);
    let miners = vec![
        MinerInput {
            uid: 2,
            own_pages: refs(&random),
            blob: None,
        },
        MinerInput {
            uid: 2,
            own_pages: refs(&random),
            blob: None,
        },
    ];
    assert!(matches!(
        eval.evaluate_window(1, &params(), &refs(&random), &miners),
        Err(Error::BadEvalParams { .. })
    ));
    let mut p = params();
    p.page_len = 1000;
    assert!(matches!(
        eval.evaluate_window(1, &p, &refs(&random), &[]),
        Err(Error::BadEvalParams { .. })
    ));
}
