//! The read-only reports: `status`, `scores`, `ratings`, `journal`.

use anyhow::{Context as _, Result};
use serde_json::json;
use vram_attestation::statement::SignedStatement;
use vram_attestation::time::rfc3339;
use vram_host::chain::types::HparamValues;
use vram_host::chain::Chain;
use vram_host::journal::Journal;
use vram_host::ratings::{entry_score, Gauntlet};
use vram_host::validator::status_word;

use super::{load, read_chain, ConfigArg, JournalArgs, ScoresArgs};
use crate::Outcome;

pub(crate) fn status(args: ConfigArg) -> Result<Outcome> {
    let cfg = load(&args.config)?;
    let chain = read_chain(&cfg, None)?;
    let hp = chain.hparams()?;
    let now = chain.now_ms()?;
    let window = hp.window_at(now);
    let times = hp.times(window).context("window before the schedule")?;
    let phase = if now < times.upload_deadline_ms {
        "upload"
    } else {
        "scoring"
    };
    let key = chain.enclave_key()?;
    let journal = Journal::open(&cfg.storage.journal)?;
    let recent: Vec<_> = journal
        .recent(5)?
        .into_iter()
        .map(|r| json!({"window": r.window, "state": r.state.as_str(), "outcome": r.outcome}))
        .collect();
    let body = json!({
        "chain": chain.name(),
        "validator": format!("0x{}", hex::encode(chain.validator())),
        "now_ms": now,
        "now": rfc3339(now),
        "window": window,
        "phase": phase,
        "upload_deadline_ms": times.upload_deadline_ms,
        "upload_deadline": rfc3339(times.upload_deadline_ms),
        "window_end_ms": times.end_ms,
        "window_end": rfc3339(times.end_ms),
        "hparams_version": hp.version,
        "enclave_key": key.map(hex::encode),
        "recent_windows": recent,
    });
    if args.json {
        println!("{body}");
        return Ok(Outcome::Done);
    }
    let field = |name: &str, value: String| println!("{name:<16} {value}");
    field("chain", chain.name());
    field("validator", format!("0x{}", hex::encode(chain.validator())));
    field("now", format!("{} ({now} ms)", rfc3339(now)));
    field("window", format!("{window} ({phase} phase)"));
    field(
        "upload deadline",
        format!(
            "{} ({} ms)",
            rfc3339(times.upload_deadline_ms),
            times.upload_deadline_ms
        ),
    );
    field(
        "window end",
        format!("{} ({} ms)", rfc3339(times.end_ms), times.end_ms),
    );
    field("hparams", format!("version {}", hp.version));
    field(
        "enclave key",
        body["enclave_key"].as_str().map_or(
            "none registered (run register-enclave)".into(),
            str::to_string,
        ),
    );
    if recent.is_empty() {
        field("recent windows", "none in this machine's journal".into());
    } else {
        println!("{:<8} {:<10} outcome", "window", "state");
        for r in &recent {
            println!(
                "{:<8} {:<10} {}",
                r["window"].as_u64().unwrap_or_default(),
                r["state"].as_str().unwrap_or(""),
                r["outcome"].as_str().unwrap_or("")
            );
        }
    }
    Ok(Outcome::Done)
}

pub(crate) fn scores(args: ScoresArgs) -> Result<Outcome> {
    let cfg = load(&args.common.config)?;
    let chain = read_chain(&cfg, None)?;
    let Some((bcs, signature)) = chain.submission(args.window)? else {
        if args.common.json {
            println!("{}", json!({"window": args.window, "submitted": false}));
        } else {
            println!(
                "no accepted statement of this validator for window {}",
                args.window
            );
        }
        return Ok(Outcome::Refused);
    };
    let signed = SignedStatement::decode(&bcs, &signature)?;
    let p = &signed.message.payload;
    let entries: Vec<_> = p
        .entries
        .iter()
        .map(|e| {
            let s = entry_score(e, p.loss_before_random);
            json!({"miner_uid": e.miner_uid, "status": status_word(e.status),
                "loss_before_own": e.loss_before_own as f64 / 1e9,
                "loss_after_own": e.loss_after_own as f64 / 1e9,
                "loss_after_random": e.loss_after_random as f64 / 1e9,
                "score": s.score, "own_beats_random": s.own_beats_random})
        })
        .collect();
    let body = json!({"window": p.window, "submitted": true,
        "timestamp_ms": signed.message.timestamp_ms,
        "timestamp": rfc3339(signed.message.timestamp_ms),
        "statement_sha256": hex::encode(vram_attestation::sha256(&bcs)),
        "loss_before_random": p.loss_before_random as f64 / 1e9, "entries": entries});
    if args.common.json {
        println!("{body}");
        return Ok(Outcome::Done);
    }
    println!(
        "window {}  signed {}  statement {}  base loss on random pages {:.6}",
        p.window,
        rfc3339(signed.message.timestamp_ms),
        &hex::encode(vram_attestation::sha256(&bcs))[..16],
        p.loss_before_random as f64 / 1e9
    );
    println!(
        "{:>6} {:<14} {:>11} {:>11} {:>11} {:>10}",
        "uid", "status", "before_own", "after_own", "after_rand", "score"
    );
    for e in &entries {
        println!(
            "{:>6} {:<14} {:>11.6} {:>11.6} {:>11.6} {:>10.6}",
            e["miner_uid"].as_u64().unwrap_or_default(),
            e["status"].as_str().unwrap_or(""),
            e["loss_before_own"].as_f64().unwrap_or(0.0),
            e["loss_after_own"].as_f64().unwrap_or(0.0),
            e["loss_after_random"].as_f64().unwrap_or(0.0),
            e["score"].as_f64().unwrap_or(0.0)
        );
    }
    if entries.is_empty() {
        println!("(no miner committed for this window)");
    }
    Ok(Outcome::Done)
}

pub(crate) fn ratings(args: ConfigArg) -> Result<Outcome> {
    let cfg = load(&args.config)?;
    let chain = read_chain(&cfg, None)?;
    let journal = Journal::open(&cfg.storage.journal)?;
    let hp = chain.hparams()?;
    let mut windows: Vec<u64> = journal
        .recent(usize::MAX >> 1)?
        .into_iter()
        .map(|r| r.window)
        .collect();
    windows.sort_unstable();
    // The chain keeps every Hparams segment: each window is rated under the
    // values in force for it.
    let registered = chain.miners()?;
    let mut gauntlet = Gauntlet::new();
    let mut rated = 0;
    let mut skipped = Vec::new();
    for w in windows {
        if let Some((bcs, sig)) = chain.submission(w)? {
            let Some(segment) = hp.segment_for_window(w) else {
                skipped.push(w);
                continue;
            };
            let signed = SignedStatement::decode(&bcs, &sig)?;
            gauntlet.apply(&signed.message.payload, &segment.values, &registered)?;
            rated += 1;
        }
    }
    if !skipped.is_empty() {
        tracing::warn!(
            ?skipped,
            "windows before the Hparams the chain still holds are not rated"
        );
    }
    let mut standings: Vec<_> = gauntlet.standings().into_iter().collect();
    standings.sort_by(|a, b| b.1.ordinal.total_cmp(&a.1.ordinal));
    let top = gauntlet.top_g(
        &standings.iter().map(|(u, _)| *u).collect::<Vec<_>>(),
        hp.values_at_ms(chain.now_ms()?)
            .map_or(HparamValues::defaults().top_g, |v| v.top_g) as usize,
    );
    if args.json {
        let miners: Vec<_> = standings
            .iter()
            .map(|(uid, s)| {
                json!({"uid": uid, "mu": s.mu, "sigma": s.sigma, "ordinal": s.ordinal,
                "gauntlet": s.gauntlet, "windows": s.windows})
            })
            .collect();
        println!(
            "{}",
            json!({"windows_rated": rated, "top_g": top, "miners": miners})
        );
    } else {
        println!("{rated} windows rated; top_g = {top:?}");
        println!(
            "{:>5} {:>9} {:>8} {:>9} {:>8}",
            "uid", "mu", "sigma", "ordinal", "windows"
        );
        for (uid, s) in &standings {
            println!(
                "{uid:>5} {:>9.3} {:>8.3} {:>9.3} {:>8}",
                s.mu, s.sigma, s.ordinal, s.windows
            );
        }
    }
    Ok(Outcome::Done)
}

pub(crate) fn journal(args: JournalArgs) -> Result<Outcome> {
    let cfg = load(&args.common.config)?;
    let journal = Journal::open(&cfg.storage.journal)?;
    let rows: Vec<_> = journal
        .recent(args.limit)?
        .into_iter()
        .map(|r| {
            json!({"window": r.window, "state": r.state.as_str(),
                "statement_sha256": r.statement_sha256.map(hex::encode),
                "tx_digest": r.tx_digest, "outcome": r.outcome})
        })
        .collect();
    if args.common.json {
        println!("{}", json!({"windows": rows}));
    } else {
        for r in &rows {
            println!(
                "window {:>6}  {:<10}  {}",
                r["window"].as_u64().unwrap_or_default(),
                r["state"].as_str().unwrap_or(""),
                r["outcome"]
                    .as_str()
                    .or(r["tx_digest"].as_str())
                    .unwrap_or("")
            );
        }
    }
    Ok(Outcome::Done)
}
