//! `capacity`: how many miners this machine scores in the network's scoring
//! phase at its evaluation parameters, measured (design §3: a validator scores
//! the first `max_scored` valid blobs in the seed's order, so `max_scored`
//! should not exceed what fits).

use std::time::Instant;

use anyhow::{Context as _, Result};
use clap::Args;
use serde_json::json;
use vram_enclave::codec::write_blob;
use vram_enclave::eval::{check_blob, Evaluator, MinerInput};
use vram_enclave::model::{init_weights, Checkpoint, SplitMix64};
use vram_host::chain::types::HparamValues;

use crate::bench::{emit, preset, random_blob, set_threads};
use crate::Outcome;

#[derive(Args)]
pub(crate) struct CapacityArgs {
    /// Model shapes: tiny or gpt2-124m.
    #[arg(long, default_value = "tiny")]
    preset: String,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Miners to time (the figure is their mean).
    #[arg(long, default_value_t = 3)]
    sample: usize,
    /// Room left before the window ends to submit, ms (the `run` default).
    #[arg(long, default_value_t = 5_000)]
    submit_margin_ms: u64,
    /// Also write the JSON to this file (`loop.capacity_file` for `run`).
    #[arg(long)]
    save: Option<std::path::PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: CapacityArgs) -> Result<Outcome> {
    let threads = set_threads(args.threads)?;
    let cfg = preset(&args.preset)?;
    let values = HparamValues::defaults();
    // A page is at most the model's context plus one token.
    let page_len = (values.page_len as usize).min(cfg.block_size() + 1);
    let checkpoint = Checkpoint::from_tensors(cfg.clone(), init_weights(&cfg, 1), [9; 32])?;
    let mut params = values.eval_params(0);
    params.page_len = page_len as u64;
    let mut rng = SplitMix64::new(5);
    let mut page = || -> Vec<u32> {
        (0..page_len)
            .map(|_| (rng.next_u64() % cfg.vocab_size() as u64) as u32)
            .collect()
    };
    let random: Vec<Vec<u32>> = (0..params.random_pages).map(|_| page()).collect();
    let sample = args.sample.max(1);
    let own: Vec<Vec<Vec<u32>>> = (0..sample)
        .map(|_| (0..params.own_pages).map(|_| page()).collect())
        .collect();
    let random_refs: Vec<&[u32]> = random.iter().map(Vec::as_slice).collect();
    let batch_pages = if args.preset == "tiny" { 16 } else { 1 };
    let evaluator = Evaluator::new(&checkpoint, batch_pages);
    let topk = params.topk as usize;
    let blobs: Vec<Vec<u8>> = (0..sample)
        .map(|uid| {
            let mut blob = random_blob(checkpoint.shapes(), topk, 100 + uid as u64);
            blob.metadata.miner_uid = uid as u64;
            blob.metadata.base_checkpoint = checkpoint.hash();
            write_blob(&blob.params, true, &blob.metadata).context("encoding a blob")
        })
        .collect::<Result<_>>()?;

    // Validation on arrival, every committed blob.
    let start = Instant::now();
    for (uid, blob) in blobs.iter().enumerate() {
        check_blob(&checkpoint, blob, uid as u64, 0, topk)
            .map_err(|o| anyhow::anyhow!("a valid blob was refused: {o:?}"))?;
    }
    let validate_ms = start.elapsed().as_secs_f64() * 1e3 / sample as f64;

    // The base loss on the random pages, once per window.
    let start = Instant::now();
    evaluator.base_losses(&random_refs, &[])?;
    let random_base_ms = start.elapsed().as_secs_f64() * 1e3;

    // Per miner: base loss on its own pages, then step and losses after.
    let own_refs: Vec<(u64, Vec<&[u32]>)> = own
        .iter()
        .enumerate()
        .map(|(uid, pages)| (uid as u64, pages.iter().map(Vec::as_slice).collect()))
        .collect();
    let start = Instant::now();
    let (_, before) = evaluator.base_losses(&random_refs, &own_refs)?;
    let own_base_ms = (start.elapsed().as_secs_f64() * 1e3 - random_base_ms) / sample as f64;
    let start = Instant::now();
    for (uid, pages) in &own_refs {
        let miner = MinerInput {
            uid: *uid,
            own_pages: pages.clone(),
            blob: Some(&blobs[*uid as usize]),
        };
        let before = before.get(uid).copied().unwrap_or_default();
        evaluator.score_one(0, &params, &miner, before, &random_refs)?;
    }
    let step_ms = start.elapsed().as_secs_f64() * 1e3 / sample as f64;

    let phase_ms = (values.window_duration_ms - values.put_window_open_ms)
        .saturating_sub(values.seed_margin_ms)
        .saturating_sub(args.submit_margin_ms) as f64;
    let per_miner_ms = own_base_ms + step_ms;
    let fit = ((phase_ms - random_base_ms).max(0.0) / per_miner_ms).floor() as u64;
    let report = json!({
            "preset": args.preset,
            "threads": threads,
            "eval_params": {"page_len": page_len, "own_pages": params.own_pages,
                "random_pages": params.random_pages, "topk": params.topk},
            "scoring_phase_ms": phase_ms,
            "validate_ms_per_blob": validate_ms,
            "random_base_ms": random_base_ms,
            "own_base_ms_per_miner": own_base_ms,
            "step_and_losses_ms_per_miner": step_ms,
            "per_miner_ms": per_miner_ms,
            "own_base_share": own_base_ms / per_miner_ms,
            "miners_fit": fit,
            "max_scored": values.max_scored,
            "max_scored_fits": values.max_scored <= fit,
            "blobs_validated_in_phase": (phase_ms / validate_ms).floor() as u64,
    });
    if let Some(path) = &args.save {
        std::fs::write(path, report.to_string())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    emit(args.json, report)
}
