//! Synthetic kernels, cmdlines and ramdisks go through AWS's EIF builder;
//! `measure_eif` must report the PCRs the builder reports, for unsigned and
//! signed images, x86_64 and aarch64 flags, one to four ramdisks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use aws_nitro_enclaves_image_format::defs::{EIF_HDR_ARCH_ARM64, EifBuildInfo, EifIdentityInfo};
use aws_nitro_enclaves_image_format::utils::EifBuilder;
use aws_nitro_enclaves_image_format::utils::eif_signer::SignKeyData;
use sha2::{Digest, Sha384};
use vram_attestation::measure_eif;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("vram-eif-peer-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Deterministic filler bytes.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn identity() -> EifIdentityInfo {
    EifIdentityInfo {
        img_name: "synthetic".into(),
        img_version: "0".into(),
        build_info: EifBuildInfo {
            build_time: "2026-01-01T00:00:00Z".into(),
            build_tool: "peer-check".into(),
            build_tool_version: "0".into(),
            img_os: "none".into(),
            img_kernel: "none".into(),
        },
        docker_info: serde_json::json!({}),
        custom_info: serde_json::json!({"note": "synthetic image"}),
    }
}

struct Case {
    kernel: usize,
    cmdline: &'static str,
    ramdisks: Vec<usize>,
    arm64: bool,
}

fn build(
    case: &Case,
    seed: u64,
    sign: Option<(&Path, &Path)>,
) -> (Vec<u8>, std::collections::BTreeMap<String, String>) {
    let d = dir();
    let kernel = d.join(format!("kernel-{seed}"));
    std::fs::write(&kernel, bytes(seed, case.kernel)).unwrap();
    let sign_info = sign.map(|(key, cert)| SignKeyData::new(key.to_str().unwrap(), cert).unwrap());
    let mut builder = EifBuilder::new(
        &kernel,
        case.cmdline.to_string(),
        sign_info,
        Sha384::new(),
        if case.arm64 { EIF_HDR_ARCH_ARM64 } else { 0 },
        identity(),
    );
    for (i, len) in case.ramdisks.iter().enumerate() {
        let path = d.join(format!("ramdisk-{seed}-{i}"));
        std::fs::write(&path, bytes(seed * 31 + i as u64, *len)).unwrap();
        builder.add_ramdisk(&path);
    }
    let out = d.join(format!("image-{seed}.eif"));
    let mut file = std::fs::File::create(&out).unwrap();
    let measurements = builder.write_to(&mut file);
    drop(file);
    (std::fs::read(&out).unwrap(), measurements)
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            kernel: 1,
            cmdline: "",
            ramdisks: vec![1],
            arm64: false,
        },
        Case {
            kernel: 4096,
            cmdline: "reboot=k panic=30 pci=off nomodules console=ttyS0",
            ramdisks: vec![1000, 70_000],
            arm64: false,
        },
        Case {
            kernel: 123_457,
            cmdline: "init=/init",
            ramdisks: vec![300_001, 17, 4096, 65_537],
            arm64: true,
        },
        Case {
            kernel: 2_000_000,
            cmdline: "x",
            ramdisks: vec![1_500_000, 2_500_000],
            arm64: false,
        },
    ]
}

fn check(bytes: &[u8], peer: &std::collections::BTreeMap<String, String>, signed: bool) {
    let m = measure_eif(bytes).unwrap();
    assert_eq!(hex::encode(m.pcr0), peer["PCR0"].to_lowercase(), "PCR0");
    assert_eq!(hex::encode(m.pcr1), peer["PCR1"].to_lowercase(), "PCR1");
    assert_eq!(hex::encode(m.pcr2), peer["PCR2"].to_lowercase(), "PCR2");
    match (signed, peer.get("PCR8"), m.pcr8) {
        (true, Some(p8), Some(ours)) => assert_eq!(hex::encode(ours), p8.to_lowercase(), "PCR8"),
        (false, None, None) => {}
        other => panic!("PCR8 presence differs: {other:?}"),
    }
}

#[test]
fn unsigned_images_measure_as_the_builder_says() {
    for (i, case) in cases().iter().enumerate() {
        let (bytes, peer) = build(case, 10 + i as u64, None);
        check(&bytes, &peer, false);
        // One flipped byte in a measured section changes the file's CRC:
        // refused, never mismeasured.
        let mut tampered = bytes.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(measure_eif(&tampered).is_err());
        // Truncations are refused.
        for cut in [0, 100, 548, 560, bytes.len() / 2, bytes.len() - 1] {
            assert!(measure_eif(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}

#[test]
fn signed_images_also_measure_pcr8() {
    let d = dir();
    let (key, cert) = (d.join("key.pem"), d.join("cert.pem"));
    let ok = std::process::Command::new("openssl")
        .args(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out"])
        .arg(&key)
        .status()
        .unwrap()
        .success()
        && std::process::Command::new("openssl")
            .args([
                "req",
                "-new",
                "-x509",
                "-sha384",
                "-days",
                "3650",
                "-subj",
                "/CN=vram peer check",
                "-key",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .status()
            .unwrap()
            .success();
    assert!(ok, "openssl could not make a test signing key");
    for (i, case) in cases().iter().take(3).enumerate() {
        let (bytes, peer) = build(case, 50 + i as u64, Some((&key, &cert)));
        check(&bytes, &peer, true);
    }
}
