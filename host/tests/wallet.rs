//! Wallet keys agree with the TypeScript SDK (`fixtures/sui/wallet.mjs`):
//! the mnemonic's address, public key and suiprivkey, and the signature of
//! the golden submit_scores transaction.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use vram_host::wallet::Wallet;

fn vectors() -> Vec<serde_json::Value> {
    serde_json::from_str(include_str!("fixtures/sui/wallet.json")).unwrap()
}

fn golden_submit() -> sui_sdk_types::Transaction {
    let json: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/sui/golden.json")).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(json["submit_scores"].as_str().unwrap())
        .unwrap();
    bcs::from_bytes(&bytes).unwrap()
}

#[test]
fn mnemonics_derive_the_sdk_s_accounts_and_signatures() {
    let tx = golden_submit();
    for v in vectors() {
        let w = Wallet::from_mnemonic(v["mnemonic"].as_str().unwrap(), "").unwrap();
        assert_eq!(format!("0x{}", hex::encode(w.address())), v["address"]);
        assert_eq!(hex::encode(w.public_key()), v["public_key"]);
        assert_eq!(w.to_suiprivkey().unwrap(), v["suiprivkey"]);
        assert_eq!(
            w.sign_transaction(&tx).unwrap(),
            v["submit_scores_signature"]
        );

        let again = Wallet::from_suiprivkey(v["suiprivkey"].as_str().unwrap()).unwrap();
        assert_eq!(again.address(), w.address());
    }
}

#[test]
fn keystores_and_environment() {
    let v = &vectors()[0];
    let w = Wallet::from_mnemonic(v["mnemonic"].as_str().unwrap(), "").unwrap();
    let other = Wallet::from_mnemonic(vectors()[1]["mnemonic"].as_str().unwrap(), "").unwrap();
    // The Sui CLI keystore format: base64 of flag (0 = Ed25519) || key.
    let entry = |sk: &str| {
        let key = sui_crypto::ed25519::Ed25519PrivateKey::from_suiprivkey(sk).unwrap();
        key.to_base64()
    };
    let dir = vram_test_support::TempDir::new("keystore").unwrap();
    let path = dir.join("sui.keystore");
    let entries = vec![
        entry(v["suiprivkey"].as_str().unwrap()),
        entry(vectors()[1]["suiprivkey"].as_str().unwrap()),
    ];
    std::fs::write(&path, serde_json::to_vec(&entries).unwrap()).unwrap();
    assert!(
        Wallet::from_keystore(&path, None).is_err(),
        "two keys, no sender"
    );
    let picked = Wallet::from_keystore(&path, Some(&other.address())).unwrap();
    assert_eq!(picked.address(), other.address());
    assert!(Wallet::from_keystore(&path, Some(&[9; 32])).is_err());
    let _ = std::fs::remove_file(&path);

    let env = |name: &str| {
        (name == "VRAMHUB_MNEMONIC").then(|| v["mnemonic"].as_str().unwrap().to_string())
    };
    assert_eq!(
        Wallet::from_env(env).unwrap().unwrap().address(),
        w.address()
    );
    assert!(Wallet::from_env(|_| None).unwrap().is_none());

    // Typos are caught by the BIP-39 checksum, not turned into another account.
    let typo = v["mnemonic"].as_str().unwrap().replace("film", "film film");
    assert!(Wallet::from_mnemonic(&typo, "").is_err());
    let swapped = v["mnemonic"]
        .as_str()
        .unwrap()
        .replace("crazy soon", "soon crazy");
    assert!(Wallet::from_mnemonic(&swapped, "").is_err());
    assert!(Wallet::from_suiprivkey("suiprivkey1qqqq").is_err());
}
