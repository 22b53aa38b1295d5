//! Verification of an attestation document against a pinned trust root.
//!
//! Order of checks, cheapest first so that a hostile document costs at most
//! one ECDSA verification before being refused: parse (bounded), read every
//! certificate's validity and the leaf key, the COSE signature under the leaf
//! key, validity of every certificate at the explicit time, then the chain to
//! the pinned root with rustls-webpki. Everything must pass.

use std::collections::BTreeMap;
use std::time::Duration;

use ring::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED};
use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{ExtendedKeyUsageValidator, KeyPurposeIdIter};

use crate::der::{self, CertInfo};
use crate::document::AttestationDocument;
use crate::error::{Error, Result};

/// SHA-256 of the DER of the AWS Nitro Enclaves root certificate (G1),
/// as published by AWS.
pub const AWS_NITRO_ROOT_G1_SHA256: &str =
    "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b";

const AWS_NITRO_ROOT_G1_PEM: &str = include_str!("../roots/aws_nitro_enclaves_root_g1.pem");

/// A certificate that chains must end at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustRoot {
    der: Vec<u8>,
    fingerprint: [u8; 32],
    is_aws: bool,
}

impl TrustRoot {
    /// The pinned AWS Nitro Enclaves root G1: the production trust root.
    pub fn aws_nitro() -> Result<Self> {
        let der = der::pem_certificate(AWS_NITRO_ROOT_G1_PEM).ok_or(Error::BadTrustRoot {
            reason: "embedded AWS root PEM does not decode".into(),
        })?;
        let root = Self::from_der(der)?;
        if hex::encode(root.fingerprint) != AWS_NITRO_ROOT_G1_SHA256 {
            return Err(Error::RootFingerprintMismatch {
                found: hex::encode(root.fingerprint),
                pinned: AWS_NITRO_ROOT_G1_SHA256,
            });
        }
        Ok(Self {
            is_aws: true,
            ..root
        })
    }

    /// A root from a PEM file's text (test roots of the simulated NSM).
    pub fn from_pem(pem: &str) -> Result<Self> {
        let der = der::pem_certificate(pem).ok_or(Error::BadTrustRoot {
            reason: "no CERTIFICATE block in the PEM text".into(),
        })?;
        Self::from_der(der)
    }

    /// A root from DER bytes.
    pub fn from_der(der: Vec<u8>) -> Result<Self> {
        let cert = CertificateDer::from(der.as_slice());
        webpki::anchor_from_trusted_cert(&cert).map_err(|e| Error::BadTrustRoot {
            reason: format!("{e:?}"),
        })?;
        let digest = ring::digest::digest(&ring::digest::SHA256, &der);
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(digest.as_ref());
        Ok(Self {
            der,
            fingerprint,
            is_aws: false,
        })
    }

    /// SHA-256 of the root's DER.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// True for the pinned AWS root.
    pub fn is_aws(&self) -> bool {
        self.is_aws
    }

    /// `aws`, or `sha256:<fingerprint>` for any other root.
    pub fn label(&self) -> String {
        if self.is_aws {
            "aws".into()
        } else {
            format!("sha256:{}", hex::encode(self.fingerprint))
        }
    }

    /// The root certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

/// Subject and validity of one certificate of a document's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSummary {
    /// The subject, e.g. `C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves`.
    pub subject: String,
    /// Start of validity, ms since the epoch.
    pub not_before_ms: u64,
    /// End of validity, ms since the epoch.
    pub not_after_ms: u64,
}

/// Every field of a document that verified, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAttestation {
    /// Issuing NSM's module id.
    pub module_id: String,
    /// Digest algorithm of the PCRs (`SHA384`).
    pub digest: String,
    /// Signing time, ms since the epoch.
    pub timestamp_ms: u64,
    /// PCR values by index.
    pub pcrs: BTreeMap<u8, Vec<u8>>,
    /// Leaf certificate, DER.
    pub certificate: Vec<u8>,
    /// Issuing chain, root first, DER each.
    pub cabundle: Vec<Vec<u8>>,
    /// The bound public key.
    pub public_key: Option<Vec<u8>>,
    /// The bound user data.
    pub user_data: Option<Vec<u8>>,
    /// The bound nonce.
    pub nonce: Option<Vec<u8>>,
    /// The chain as summaries: cabundle order, then the leaf.
    pub certificates: Vec<CertificateSummary>,
    /// Fingerprint of the root the chain verified to.
    pub root_fingerprint: [u8; 32],
    /// The time the chain was checked at.
    pub verified_at_ms: u64,
}

/// Summaries of a parsed document's certificates (cabundle order, then the
/// leaf) without verifying anything; for inspection.
pub fn summarize_certificates(doc: &AttestationDocument<'_>) -> Result<Vec<CertificateSummary>> {
    chain_infos(doc).map(|infos| infos.into_iter().map(summary).collect())
}

fn chain_infos<'a>(doc: &AttestationDocument<'a>) -> Result<Vec<CertInfo<'a>>> {
    doc.cabundle
        .iter()
        .chain(std::iter::once(&doc.certificate))
        .enumerate()
        .map(|(i, der)| der::cert_info(der, i))
        .collect()
}

fn summary(info: CertInfo<'_>) -> CertificateSummary {
    CertificateSummary {
        subject: info.subject,
        not_before_ms: info.not_before_ms,
        not_after_ms: info.not_after_ms,
    }
}

/// Nitro certificates carry no extended key usage, and a document's purpose
/// is fixed by its format, not by EKU: any (or no) EKU is accepted.
struct AnyUsage;

impl ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for id in iter {
            id?;
        }
        Ok(())
    }
}

/// Verifies a raw document at time `at_ms` (ms since the epoch) against
/// `root`. Apply a [`crate::Policy`] to the result before trusting its PCRs,
/// key or nonce.
pub fn verify(document: &[u8], root: &TrustRoot, at_ms: u64) -> Result<VerifiedAttestation> {
    let doc = AttestationDocument::parse(document)?;
    let infos = chain_infos(&doc)?;
    let leaf_index = infos.len() - 1;
    let leaf_point = infos
        .get(leaf_index)
        .and_then(|leaf| leaf.p384_point)
        .ok_or(Error::LeafKeyNotP384)?;

    UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, leaf_point)
        .verify(&doc.signed_bytes(), doc.signature())
        .map_err(|_| Error::BadSignature)?;

    for (index, info) in infos.iter().enumerate() {
        if at_ms < info.not_before_ms {
            return Err(Error::CertNotValidYet {
                index,
                subject: info.subject.clone(),
                time_ms: at_ms,
                not_before_ms: info.not_before_ms,
            });
        }
        if at_ms > info.not_after_ms {
            return Err(Error::CertExpired {
                index,
                subject: info.subject.clone(),
                time_ms: at_ms,
                not_after_ms: info.not_after_ms,
            });
        }
    }

    let root_der = CertificateDer::from(root.der());
    let anchor = webpki::anchor_from_trusted_cert(&root_der).map_err(|e| Error::BadTrustRoot {
        reason: format!("{e:?}"),
    })?;
    let leaf_der = CertificateDer::from(doc.certificate);
    let untrusted = |e: webpki::Error| Error::UntrustedChain {
        root: root.label(),
        reason: format!("{e:?}"),
    };
    let leaf = webpki::EndEntityCert::try_from(&leaf_der).map_err(untrusted)?;
    let intermediates: Vec<CertificateDer<'_>> = doc
        .cabundle
        .iter()
        .map(|c| CertificateDer::from(*c))
        .collect();
    let time = UnixTime::since_unix_epoch(Duration::from_millis(at_ms));
    leaf.verify_for_usage(
        &[webpki::ring::ECDSA_P384_SHA384],
        &[anchor],
        &intermediates,
        time,
        AnyUsage,
        None,
        None,
    )
    .map_err(untrusted)?;

    Ok(VerifiedAttestation {
        module_id: doc.module_id.to_string(),
        digest: doc.digest.to_string(),
        timestamp_ms: doc.timestamp_ms,
        pcrs: doc.pcrs.iter().map(|(i, v)| (*i, v.to_vec())).collect(),
        certificate: doc.certificate.to_vec(),
        cabundle: doc.cabundle.iter().map(|c| c.to_vec()).collect(),
        public_key: doc.public_key.map(<[u8]>::to_vec),
        user_data: doc.user_data.map(<[u8]>::to_vec),
        nonce: doc.nonce.map(<[u8]>::to_vec),
        certificates: infos.into_iter().map(summary).collect(),
        root_fingerprint: root.fingerprint(),
        verified_at_ms: at_ms,
    })
}
