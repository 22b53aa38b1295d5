//! `gradient encode | decode | inspect | upload`.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use safetensors::SafeTensors;
use serde_json::{json, Value};
use vram_enclave::codec::{decode_param, encode_blob, read_blob, Bases, BlobMetadata};

use crate::{files, Outcome};

#[derive(Subcommand)]
pub(crate) enum GradientCommand {
    /// Compress a dense gradient into a blob (what a miner uploads).
    Encode(EncodeArgs),
    /// Validate a blob against a checkpoint and write the dense gradient.
    Decode(DecodeArgs),
    /// Describe a blob; with --checkpoint, validate it too.
    Inspect(InspectArgs),
    /// Store a blob on Walrus (as shards under a manifest when it is larger
    /// than one request) and print what to commit on chain.
    Upload(UploadArgs),
}

#[derive(Args)]
pub(crate) struct UploadArgs {
    /// The blob (`gradient encode --out`).
    blob: PathBuf,
    /// Walrus publisher base URLs, tried in turn.
    #[arg(long = "publisher", required = true)]
    publishers: Vec<String>,
    /// Epochs to store it for.
    #[arg(long, default_value_t = 1)]
    epochs: u32,
    /// The largest body one request carries (public publishers: 10 MiB).
    #[arg(long, default_value_t = vram_host::walrus::transport::DEFAULT_MAX_REQUEST_BYTES)]
    max_request_bytes: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct EncodeArgs {
    /// The checkpoint the gradient was computed on (its shapes and identity):
    /// a weights file, or a checkpoint directory (single or sharded).
    #[arg(long, value_name = "CKPT.safetensors")]
    checkpoint: PathBuf,
    /// The checkpoint's config.json (default: beside the checkpoint).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Dense f32 tensors named like the parameters.
    #[arg(long, value_name = "GRAD.safetensors")]
    grad: PathBuf,
    /// Where to write the blob.
    #[arg(long, value_name = "BLOB.safetensors")]
    out: PathBuf,
    /// Coefficients kept per chunk.
    #[arg(long, default_value_t = 32)]
    topk: usize,
    /// Store values as 8-bit codes with a lookup table (the default).
    #[arg(long, conflicts_with = "raw")]
    quantize: bool,
    /// Store values as f32.
    #[arg(long)]
    raw: bool,
    /// The window the gradient is for.
    #[arg(long, default_value_t = 0)]
    window: u64,
    /// The miner's uid.
    #[arg(long, default_value_t = 0)]
    miner_uid: u64,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct DecodeArgs {
    /// The checkpoint whose shapes the blob must match (weights file or
    /// checkpoint directory).
    #[arg(long, value_name = "CKPT.safetensors")]
    checkpoint: PathBuf,
    /// The blob.
    #[arg(long, value_name = "BLOB.safetensors")]
    blob: PathBuf,
    /// Where to write the dense gradient (f32, one tensor per parameter).
    #[arg(long, value_name = "DENSE.safetensors")]
    out: PathBuf,
    /// Require this topk (default: the blob's own).
    #[arg(long)]
    topk: Option<usize>,
}

#[derive(Args)]
pub(crate) struct InspectArgs {
    /// The blob.
    #[arg(value_name = "BLOB.safetensors")]
    blob: PathBuf,
    /// Validate against this checkpoint's shapes.
    #[arg(long, value_name = "CKPT.safetensors")]
    checkpoint: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(cmd: GradientCommand) -> Result<Outcome> {
    match cmd {
        GradientCommand::Encode(a) => encode(a),
        GradientCommand::Decode(a) => decode(a),
        GradientCommand::Inspect(a) => inspect(a),
        GradientCommand::Upload(a) => upload(a),
    }
}

fn encode(args: EncodeArgs) -> Result<Outcome> {
    let info = files::checkpoint_info(&args.checkpoint, args.config.as_deref())?;
    let base = info.hash.context(
        "no config.json beside the checkpoint (pass --config): the blob must name the checkpoint identity",
    )?;
    let grads = files::dense_tensors(&args.grad)?;
    for (name, layout) in info.shapes.params() {
        if let Some((shape, _)) = grads.get(name) {
            if *shape != layout.shape {
                bail!(
                    "gradient {name} has shape {shape:?}, the checkpoint {:?}",
                    layout.shape
                );
            }
        }
    }
    let metadata = BlobMetadata {
        window: args.window,
        miner_uid: args.miner_uid,
        topk: args.topk,
        base_checkpoint: base,
    };
    let blob = encode_blob(
        &info.shapes,
        grads.iter().map(|(n, (_, v))| (n.as_str(), v.as_slice())),
        !args.raw,
        &metadata,
    )?;
    std::fs::write(&args.out, &blob)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let summary = json!({
        "out": args.out.display().to_string(),
        "bytes": blob.len(),
        "params": info.shapes.numel(),
        "quantized": !args.raw,
        "topk": args.topk,
        "base_checkpoint": hex::encode(base),
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "wrote {} ({} bytes for {} parameters)",
            args.out.display(),
            blob.len(),
            info.shapes.numel()
        );
    }
    Ok(Outcome::Done)
}

/// The topk a blob declares, without validating anything else.
fn declared_topk(bytes: &[u8]) -> Option<usize> {
    let (_, meta) = SafeTensors::read_metadata(bytes).ok()?;
    meta.metadata().as_ref()?.get("topk")?.parse().ok()
}

fn decode(args: DecodeArgs) -> Result<Outcome> {
    let info = files::checkpoint_info(&args.checkpoint, None)?;
    let bytes = files::read(&args.blob)?;
    let topk = args.topk.or_else(|| declared_topk(&bytes)).unwrap_or(32);
    let blob = match read_blob(&bytes, &info.shapes, topk) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("malformed blob: {e}");
            return Ok(Outcome::Refused);
        }
    };
    let mut bases = Bases::new();
    let dense = blob
        .params
        .iter()
        .map(|p| {
            bases.prepare(p.layout.n1);
            bases.prepare(p.layout.n2);
            Ok((
                p.name.clone(),
                p.layout.shape.clone(),
                decode_param(p, &bases)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    files::write_dense(&args.out, &dense)?;
    println!("wrote {} ({} parameters)", args.out.display(), dense.len());
    Ok(Outcome::Done)
}

fn inspect(args: InspectArgs) -> Result<Outcome> {
    let bytes = files::read(&args.blob)?;
    let (_, header) = match SafeTensors::read_metadata(&bytes) {
        Ok(h) => h,
        Err(e) => {
            if args.json {
                println!(
                    "{}",
                    json!({"valid": false, "error": format!("not safetensors: {e}")})
                );
            }
            eprintln!("malformed blob: not safetensors: {e}");
            return Ok(Outcome::Refused);
        }
    };
    let mut tensors: Vec<(String, Value)> = header
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            (
                name,
                json!({"dtype": format!("{:?}", t.dtype), "shape": t.shape}),
            )
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let metadata = header.metadata().clone().unwrap_or_default();
    let mut out = json!({
        "bytes": bytes.len(),
        "metadata": metadata,
        "tensors": tensors.into_iter().collect::<serde_json::Map<_, _>>(),
    });
    let mut refused = false;
    if let (Some(ckpt), Some(map)) = (&args.checkpoint, out.as_object_mut()) {
        let info = files::checkpoint_info(ckpt, None)?;
        let topk = declared_topk(&bytes).unwrap_or(32);
        let verdict = read_blob(&bytes, &info.shapes, topk);
        refused = verdict.is_err();
        map.insert("valid".into(), json!(verdict.is_ok()));
        map.insert(
            "error".into(),
            json!(verdict.as_ref().err().map(ToString::to_string)),
        );
        map.insert("budget_bytes".into(), json!(info.shapes.blob_budget(topk)));
    }
    if args.json {
        println!("{out}");
    } else {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(if refused {
        Outcome::Refused
    } else {
        Outcome::Done
    })
}

fn upload(args: UploadArgs) -> Result<Outcome> {
    let bytes = std::fs::read(&args.blob)
        .with_context(|| format!("cannot read {}", args.blob.display()))?;
    // Publishers only: the client needs an aggregator list, never used here.
    let walrus = vram_host::walrus::WalrusClient::new(
        &args.publishers,
        &args.publishers,
        vram_host::walrus::RetryPolicy::default(),
    )?
    .with_max_request_bytes(args.max_request_bytes);
    let id = walrus.store_content(&bytes, args.epochs)?;
    let sha = vram_attestation::sha256(&bytes);
    let summary = json!({
        "blob_id": id.to_string(),
        "blob_id_hex": hex::encode(id.0),
        "sha256": hex::encode(sha),
        "size": bytes.len(),
        "sharded": bytes.len() as u64 > walrus.max_request_bytes(),
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "stored {} bytes{}: commit blob id {} (0x{}) with sha256 {}",
            bytes.len(),
            if summary["sharded"] == true {
                " as shards under a manifest"
            } else {
                ""
            },
            id,
            hex::encode(id.0),
            hex::encode(sha)
        );
    }
    Ok(Outcome::Done)
}
