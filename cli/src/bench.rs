//! `bench eval`, `bench codec` and `bench gemm`: throughput and memory of the enclave's
//! work, on deterministic synthetic weights and data, as JSON.

use std::time::Instant;

use anyhow::{anyhow, Context as _, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use vram_enclave::codec::{
    compress, decode_param, read_blob, write_blob, Bases, BlobMetadata, GradientBlob, ModelShapes,
    SparseParam,
};
use vram_enclave::eval::Evaluator;
use vram_enclave::model::engine::gemm::{par_matmul, Init, Packed};
use vram_enclave::model::{
    init_weights, set_simd_level, simd_level_name, Checkpoint, ModelConfig, SimdLevel, SplitMix64,
    EVALUATOR_VERSION,
};

use crate::Outcome;

#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Forward pass and mean cross-entropy, tokens per second; then one
    /// sign-SGD step and the process's peak memory.
    Eval(EvalArgs),
    /// Encode and decode throughput of the gradient codec.
    Codec(CodecArgs),
    /// The evaluator's matrix product `C[m, n] = A[m, k] · W[n, k]ᵀ` (a
    /// linear layer), GFLOP/s: the rate the forward pass is built on.
    Gemm(GemmArgs),
}

#[derive(Args)]
pub(crate) struct GemmArgs {
    /// Rows of A (tokens).
    #[arg(long, default_value_t = 2048)]
    m: usize,
    /// Outputs (rows of W).
    #[arg(long, default_value_t = 2048)]
    n: usize,
    /// Inputs (the reduction depth).
    #[arg(long, default_value_t = 2048)]
    k: usize,
    /// Timed repetitions (after one warm-up).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    #[command(flatten)]
    run: RunArgs,
}

/// How a kernel benchmark runs and reports.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// Force a SIMD level: best, avx2 or scalar (losses are identical).
    #[arg(long, default_value = "best")]
    simd: String,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

impl RunArgs {
    /// Starts the thread pool and sets the SIMD level; the thread count.
    fn apply(&self) -> Result<usize> {
        let threads = set_threads(self.threads)?;
        set_simd_level(match self.simd.as_str() {
            "best" => SimdLevel::Best,
            "avx2" => SimdLevel::Avx2,
            "scalar" => SimdLevel::Scalar,
            other => return Err(anyhow!("--simd {other:?}: best, avx2 or scalar")),
        });
        Ok(threads)
    }
}

#[derive(Args)]
pub(crate) struct EvalArgs {
    /// Model shapes: tiny, gpt2-124m, llama-tiny or tinyllama-1.1b.
    #[arg(long)]
    preset: String,
    /// Tokens to evaluate (rounded up to whole pages of the context length;
    /// default 2048, 65536 for the tiny presets).
    #[arg(long)]
    tokens: Option<usize>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args)]
pub(crate) struct CodecArgs {
    /// Model shapes: tiny, gpt2-124m, llama-tiny or tinyllama-1.1b.
    #[arg(long, default_value = "tiny")]
    preset: String,
    /// Coefficients per chunk.
    #[arg(long, default_value_t = 32)]
    topk: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(cmd: BenchCommand) -> Result<Outcome> {
    match cmd {
        BenchCommand::Eval(a) => eval(a),
        BenchCommand::Codec(a) => codec(a),
        BenchCommand::Gemm(a) => gemm(a),
    }
}

fn gemm(args: GemmArgs) -> Result<Outcome> {
    let threads = args.run.apply()?;
    anyhow::ensure!(
        args.m > 0 && args.n > 0 && args.k > 0 && args.reps > 0,
        "--m, --n, --k and --reps must be positive"
    );
    let (best, median) = gemm_gflops(args.m, args.n, args.k, args.reps);
    emit(
        args.run.json,
        json!({
            "m": args.m,
            "n": args.n,
            "k": args.k,
            "simd": simd_level_name(),
            "threads": threads,
            "reps": args.reps,
            "gflops": median,
            "best_gflops": best,
        }),
    )
}

pub(crate) fn preset(name: &str) -> Result<ModelConfig> {
    ModelConfig::preset(name).ok_or_else(|| {
        anyhow!(
            "unknown preset {name:?} ({})",
            ModelConfig::PRESETS.join(", ")
        )
    })
}

/// The evaluator's GEMM rate on `m x n x k`, GFLOP/s: (best, median) of
/// `reps` timed runs after a warm-up.
fn gemm_gflops(m: usize, n: usize, k: usize, reps: usize) -> (f64, f64) {
    let mut rng = SplitMix64::new(17);
    let a: Vec<f32> = (0..m * k).map(|_| rng.next_normal() as f32).collect();
    let w_rows: Vec<f32> = (0..n * k).map(|_| rng.next_normal() as f32).collect();
    let mut w = Packed::zeros(n, k);
    w.set_rows(0, &w_rows);
    let mut c = vec![0f32; m * n];
    par_matmul(&a, m, &w, &mut c, Init::Zero);
    let mut rates: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let start = Instant::now();
            par_matmul(&a, m, &w, &mut c, Init::Zero);
            2.0 * (m * n * k) as f64 / start.elapsed().as_secs_f64() / 1e9
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    (rates[rates.len() - 1], rates[rates.len() / 2])
}

/// This machine's fp32 GEMM rate through the evaluator's own kernel, on
/// `2048^3`, GFLOP/s (best of 3): the peak the forward pass is measured
/// against.
fn gemm_peak_gflops() -> f64 {
    gemm_gflops(2048, 2048, 2048, 3).0
}

/// Sets the worker count for rayon and candle (which reads the same
/// variable); must run before either starts its pool.
pub(crate) fn set_threads(threads: Option<usize>) -> Result<usize> {
    let n = threads
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1);
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .context("thread pool already started")?;
    Ok(n)
}

/// Peak resident memory of this process, MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    status_mib("VmHWM:")
}

/// Current resident memory of this process, MiB (Linux `VmRSS`).
fn rss_mib() -> Option<f64> {
    status_mib("VmRSS:")
}

fn status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub(crate) fn emit(json: bool, value: serde_json::Value) -> Result<Outcome> {
    if json {
        println!("{value}");
    } else {
        println!("{}", serde_json::to_string_pretty(&value)?);
    }
    Ok(Outcome::Done)
}

/// A valid random selection for every parameter: what an arbitrary miner
/// could send, without paying for an encode.
pub(crate) fn random_blob(shapes: &ModelShapes, topk: usize, seed: u64) -> GradientBlob {
    let mut rng = SplitMix64::new(seed);
    let params = shapes
        .params()
        .iter()
        .map(|(name, layout)| {
            let k = layout.k(topk);
            let totalk = layout.totalk() as u64;
            let mut indices = Vec::with_capacity(layout.index_count(topk));
            for _ in 0..layout.chunks() {
                let mut chosen: Vec<u16> = Vec::with_capacity(k);
                while chosen.len() < k {
                    let i = (rng.next_u64() % totalk) as u16;
                    if !chosen.contains(&i) {
                        chosen.push(i);
                    }
                }
                chosen.sort_unstable();
                indices.extend(chosen);
            }
            let values = (0..indices.len())
                .map(|_| rng.next_normal() as f32)
                .collect();
            SparseParam {
                name: name.clone(),
                layout: layout.clone(),
                k,
                indices,
                values,
            }
        })
        .collect();
    GradientBlob {
        metadata: BlobMetadata {
            window: 0,
            miner_uid: 0,
            topk,
            base_checkpoint: [0; 32],
        },
        params,
    }
}

fn eval(args: EvalArgs) -> Result<Outcome> {
    let threads = args.run.apply()?;
    let cfg = preset(&args.preset)?;
    let small = cfg.block_size() <= 64;
    let tokens = args.tokens.unwrap_or(if small { 1 << 16 } else { 2048 });
    let checkpoint = Checkpoint::from_tensors(cfg.clone(), init_weights(&cfg, 1), [0; 32])?;
    let model_mib = (cfg.numel() * 4) as f64 / (1024.0 * 1024.0);
    let loaded_rss_mib = rss_mib();

    let t = cfg.block_size().min(tokens);
    let pages_n = tokens.div_ceil(t).max(1);
    let mut rng = SplitMix64::new(7);
    let pages: Vec<Vec<u32>> = (0..pages_n)
        .map(|_| {
            (0..=t)
                .map(|_| (rng.next_u64() % cfg.vocab_size() as u64) as u32)
                .collect()
        })
        .collect();
    let refs: Vec<&[u32]> = pages.iter().map(Vec::as_slice).collect();
    let batch_pages = if small { 16 } else { 1 };
    let evaluator = Evaluator::new(&checkpoint, batch_pages);

    evaluator.loss(&refs[..batch_pages.min(refs.len())])?;
    let start = Instant::now();
    let loss = evaluator.loss(&refs)?;
    let forward_s = start.elapsed().as_secs_f64();
    let peak_rss_forward = peak_rss_mib();

    let blob = random_blob(checkpoint.shapes(), 32, 3);
    let start = Instant::now();
    evaluator.apply_sign_step(&blob, 4e-4)?;
    let step_s = start.elapsed().as_secs_f64();
    evaluator.loss(&refs[..batch_pages.min(refs.len())])?;

    let peak = gemm_peak_gflops();
    let tokens_done = pages_n * t;
    let gflops = cfg.flops_per_token(t) * tokens_done as f64 / forward_s / 1e9;
    emit(
        args.run.json,
        json!({
            "preset": args.preset,
            "family": cfg.family(),
            "evaluator": EVALUATOR_VERSION,
            "simd": simd_level_name(),
            "threads": threads,
            "tokens": tokens_done,
            "context": t,
            "tokens_per_s": tokens_done as f64 / forward_s,
            "gflops": gflops,
            "gemm_peak_gflops": peak,
            "peak_fraction": gflops / peak,
            "loss": loss,
            "loss_bits": format!("{:016x}", loss.to_bits()),
            "forward_s": forward_s,
            "batch_pages": batch_pages,
            "step_s": step_s,
            "model_params": cfg.numel(),
            "model_mib": model_mib,
            "loaded_rss_mib": loaded_rss_mib,
            "forward_peak_rss_mib": peak_rss_forward,
            "peak_rss_mib": peak_rss_mib(),
        }),
    )
}

fn codec(args: CodecArgs) -> Result<Outcome> {
    let threads = set_threads(args.threads)?;
    let cfg = preset(&args.preset)?;
    let shapes = ModelShapes::new(cfg.parameter_shapes())?;
    let mut rng = SplitMix64::new(11);
    let grads: Vec<(String, Vec<usize>, Vec<f32>)> = shapes
        .params()
        .iter()
        .map(|(name, l)| {
            (
                name.clone(),
                l.shape.clone(),
                (0..l.numel()).map(|_| rng.next_normal() as f32).collect(),
            )
        })
        .collect();

    let mut bases = Bases::new();
    let start = Instant::now();
    let params = grads
        .iter()
        .map(|(name, shape, g)| compress(name, shape, g, args.topk, &mut bases))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let encode_s = start.elapsed().as_secs_f64();
    let meta = BlobMetadata {
        window: 0,
        miner_uid: 0,
        topk: args.topk,
        base_checkpoint: [0; 32],
    };
    let blob = write_blob(&params, true, &meta)?;

    let start = Instant::now();
    let parsed = read_blob(&blob, &shapes, args.topk)?;
    let read_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut checksum = 0f64;
    for p in &parsed.params {
        let dense = decode_param(p, &bases)?;
        checksum += dense.iter().map(|&v| f64::from(v)).sum::<f64>();
    }
    let idct_s = start.elapsed().as_secs_f64();
    let n = shapes.numel() as f64;
    emit(
        args.json,
        json!({
            "preset": args.preset,
            "threads": threads,
            "topk": args.topk,
            "params": shapes.numel(),
            "blob_bytes": blob.len(),
            "encode_s": encode_s,
            "encode_params_per_s": n / encode_s,
            "read_blob_s": read_s,
            "idct_s": idct_s,
            "decode_params_per_s": n / (read_s + idct_s),
            "checksum": checksum,
        }),
    )
}
