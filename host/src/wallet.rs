//! The validator's Sui account key (Ed25519), from the places Sui wallets
//! keep it: a `suiprivkey1...` string, a BIP-39 mnemonic (derived at
//! `m/44'/784'/0'/0'/0'` with SLIP-0010, as the Sui CLI and SDKs do), or an
//! entry of the Sui CLI's `sui.keystore`. Signatures are Sui's: Ed25519 over
//! the Blake2b-256 of the intent-prefixed transaction, serialised as
//! `flag || signature || public key`, base64.
//!
//! Agreement with the TypeScript SDK (address, `suiprivkey`, and the
//! signature of a transaction) is tested in `tests/wallet.rs`.

use std::path::Path;

use ring::hmac;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_crypto::SuiSigner as _;
use sui_sdk_types::Transaction;

use crate::error::{Error, Result};

/// The derivation path of Sui's first Ed25519 account.
pub const SUI_ED25519_PATH: [u32; 5] = [44, 784, 0, 0, 0];

fn key_err(reason: impl Into<String>) -> Error {
    Error::Wallet {
        reason: reason.into(),
    }
}

/// An Ed25519 Sui account.
pub struct Wallet {
    key: Ed25519PrivateKey,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Wallet(0x{})", hex::encode(self.address()))
    }
}

impl Wallet {
    /// From a `suiprivkey1...` string (Bech32, Ed25519 flag).
    pub fn from_suiprivkey(s: &str) -> Result<Self> {
        Ed25519PrivateKey::from_suiprivkey(s.trim())
            .map(|key| Self { key })
            .map_err(|e| key_err(format!("suiprivkey: {e}")))
    }

    /// From a BIP-39 mnemonic (English, checksum checked) and optional
    /// passphrase, at `m/44'/784'/0'/0'/0'`.
    pub fn from_mnemonic(phrase: &str, passphrase: &str) -> Result<Self> {
        let words = phrase
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        let mnemonic = bip39::Mnemonic::parse_normalized(&words)
            .map_err(|e| key_err(format!("mnemonic: {e}")))?;
        let seed = mnemonic.to_seed_normalized(passphrase);
        let secret = slip10_ed25519(&seed, &SUI_ED25519_PATH);
        Ok(Self {
            key: Ed25519PrivateKey::new(secret),
        })
    }

    /// From the Sui CLI's `sui.keystore` (a JSON list of base64 `flag ||
    /// key` entries): the Ed25519 entry whose address is `address`, or the
    /// only Ed25519 entry when no address is given.
    pub fn from_keystore(path: &Path, address: Option<&[u8; 32]>) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| key_err(format!("{}: {e}", path.display())))?;
        let entries: Vec<String> =
            serde_json::from_str(&text).map_err(|e| key_err(format!("{}: {e}", path.display())))?;
        let wallets: Vec<Wallet> = entries
            .iter()
            .filter_map(|e| Ed25519PrivateKey::from_base64(e).ok())
            .map(|key| Wallet { key })
            .collect();
        let mut matching = wallets
            .into_iter()
            .filter(|w| address.is_none_or(|a| &w.address() == a));
        match (matching.next(), matching.next(), address) {
            (Some(w), None, _) | (Some(w), Some(_), Some(_)) => Ok(w),
            (Some(_), Some(_), None) => Err(key_err(format!(
                "{} holds several Ed25519 keys: name the sender",
                path.display()
            ))),
            (None, _, _) => Err(key_err(format!(
                "{} holds no matching Ed25519 key",
                path.display()
            ))),
        }
    }

    /// From the environment: `VRAMHUB_PRIVATE_KEY` (suiprivkey) or
    /// `VRAMHUB_MNEMONIC` (with `VRAMHUB_MNEMONIC_PASSPHRASE`).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        if let Some(key) = env("VRAMHUB_PRIVATE_KEY") {
            return Self::from_suiprivkey(&key).map(Some);
        }
        if let Some(phrase) = env("VRAMHUB_MNEMONIC") {
            let pass = env("VRAMHUB_MNEMONIC_PASSPHRASE").unwrap_or_default();
            return Self::from_mnemonic(&phrase, &pass).map(Some);
        }
        Ok(None)
    }

    /// The account's address: Blake2b-256 of `0x00 || public key`.
    pub fn address(&self) -> [u8; 32] {
        self.key.public_key().derive_address().into_inner()
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.public_key().into_inner()
    }

    /// `suiprivkey1...` for this key (what `sui keytool export` prints).
    pub fn to_suiprivkey(&self) -> Result<String> {
        self.key.to_suiprivkey().map_err(|e| key_err(e.to_string()))
    }

    /// Signs `tx`; returns Sui's serialised signature, base64.
    pub fn sign_transaction(&self, tx: &Transaction) -> Result<String> {
        self.key
            .sign_transaction(tx)
            .map(|s| s.to_base64())
            .map_err(|e| key_err(format!("signing: {e}")))
    }
}

/// SLIP-0010 for Ed25519: every level hardened.
fn slip10_ed25519(seed: &[u8], path: &[u32]) -> [u8; 32] {
    let split = |tag: hmac::Tag| {
        let bytes = tag.as_ref();
        let mut key = [0u8; 32];
        let mut chain = [0u8; 32];
        key.copy_from_slice(&bytes[..32]);
        chain.copy_from_slice(&bytes[32..64]);
        (key, chain)
    };
    let (mut key, mut chain) = split(hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA512, b"ed25519 seed"),
        seed,
    ));
    for index in path {
        let mut data = Vec::with_capacity(37);
        data.push(0);
        data.extend_from_slice(&key);
        data.extend_from_slice(&(index | 0x8000_0000).to_be_bytes());
        (key, chain) = split(hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA512, &chain),
            &data,
        ));
    }
    key
}
