//! `measure-eif`: the PCRs an enclave image boots with, computed from the
//! file alone (no nitro-cli), and the measurements file `verify` takes.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;
use vram_attestation::{measure_eif, sha256};

use crate::Outcome;

#[derive(Args)]
pub(crate) struct MeasureArgs {
    /// The enclave image file.
    #[arg(value_name = "FILE.eif")]
    eif: PathBuf,
    /// Label the output as an entry of eif/measurements.json for this release.
    #[arg(long, value_name = "NAME")]
    release: Option<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// `eif/measurements.json`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MeasurementsFile {
    format: String,
    releases: Vec<Release>,
}

/// One published image.
#[derive(Serialize, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct Release {
    release: String,
    eif_sha256: String,
    #[serde(rename = "PCR0")]
    pcr0: String,
    #[serde(rename = "PCR1")]
    pcr1: String,
    #[serde(rename = "PCR2")]
    pcr2: String,
    #[serde(rename = "PCR8", default, skip_serializing_if = "Option::is_none")]
    pcr8: Option<String>,
}

pub(crate) const MEASUREMENTS_FORMAT: &str = "vram-measurements/1";

/// The PCRs a `--measurements` file pins: (index, value) for PCR0/1/2 (and 8).
pub(crate) fn pinned_pcrs(path: &Path, release: Option<&str>) -> Result<Vec<(u8, Vec<u8>)>> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: MeasurementsFile = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a measurements file", path.display()))?;
    if file.format != MEASUREMENTS_FORMAT {
        bail!(
            "{}: format {:?}, expected {MEASUREMENTS_FORMAT}",
            path.display(),
            file.format
        );
    }
    let entry = match release {
        Some(name) => file
            .releases
            .iter()
            .find(|r| r.release == name)
            .with_context(|| format!("{} has no release {name:?}", path.display()))?,
        None => file.releases.last().with_context(|| {
            format!(
                "{} lists no release yet: nothing is pinned to compare with. Build the \
                     image (eif/build-eif.sh) and compare its PCRs, or pass them with --pcr",
                path.display()
            )
        })?,
    };
    let mut out = Vec::new();
    for (index, value) in [
        (0u8, Some(&entry.pcr0)),
        (1, Some(&entry.pcr1)),
        (2, Some(&entry.pcr2)),
        (8, entry.pcr8.as_ref()),
    ] {
        if let Some(hex_value) = value {
            let bytes = hex::decode(hex_value)
                .with_context(|| format!("PCR{index} of {}", entry.release))?;
            if bytes.len() != 48 {
                bail!("PCR{index} of {} is not 48 bytes", entry.release);
            }
            out.push((index, bytes));
        }
    }
    Ok(out)
}

pub(crate) fn measure(args: MeasureArgs) -> Result<Outcome> {
    let bytes =
        std::fs::read(&args.eif).with_context(|| format!("cannot read {}", args.eif.display()))?;
    let m = match measure_eif(&bytes) {
        Ok(m) => m,
        Err(e) => {
            if args.json {
                println!("{}", json!({"valid": false, "error": e.to_string()}));
            } else {
                eprintln!("{}: {e}", args.eif.display());
            }
            return Ok(Outcome::Invalid);
        }
    };
    let release = Release {
        release: args.release.clone().unwrap_or_default(),
        eif_sha256: hex::encode(sha256(&bytes)),
        pcr0: hex::encode(m.pcr0),
        pcr1: hex::encode(m.pcr1),
        pcr2: hex::encode(m.pcr2),
        pcr8: m.pcr8.map(hex::encode),
    };
    if args.release.is_some() {
        println!("{}", serde_json::to_string_pretty(&release)?);
        return Ok(Outcome::Valid);
    }
    let sections: Vec<_> = m
        .sections
        .iter()
        .map(|(kind, size)| {
            let name = match kind {
                1 => "kernel",
                2 => "cmdline",
                3 => "ramdisk",
                4 => "signature",
                _ => "metadata",
            };
            json!({"type": name, "size": size})
        })
        .collect();
    if args.json {
        println!(
            "{}",
            json!({"valid": true, "eif_sha256": release.eif_sha256, "version": m.version,
                "arch": if m.flags & 1 != 0 { "aarch64" } else { "x86_64" },
                "PCR0": release.pcr0, "PCR1": release.pcr1, "PCR2": release.pcr2,
                "PCR8": release.pcr8, "crc32": format!("{:08x}", m.crc32), "sections": sections})
        );
    } else {
        println!("PCR0 {}", release.pcr0);
        println!("PCR1 {}", release.pcr1);
        println!("PCR2 {}", release.pcr2);
        if let Some(p8) = &release.pcr8 {
            println!("PCR8 {p8}");
        }
        println!(
            "sha256 {}  version {}  sections {}",
            release.eif_sha256,
            m.version,
            m.sections.len()
        );
    }
    Ok(Outcome::Valid)
}
