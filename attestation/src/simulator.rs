//! The simulated NSM of test mode.
//!
//! It owns a P-384 test root and intermediate (made here, optionally kept in
//! a state directory so that a restarted enclave keeps the same root) and
//! issues a fresh three-hour leaf per document, like the real NSM. Documents
//! are byte-compatible with real ones: untagged COSE_Sign1, indefinite-length
//! payload map in the NSM's key order, sixteen 48-byte PCRs. They verify only
//! when the test root is supplied explicitly: under the pinned AWS root the
//! chain check fails.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ring::digest::{Context, SHA384};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{
    EcdsaKeyPair, KeyPair as _, ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
};

use crate::cbor::Writer;
use crate::der;
use crate::document::{sig_structure, PROTECTED_ES384};
use crate::error::{Error, Result};
use crate::nsm::{AttestRequest, Nsm, NsmDescription};
use crate::verify::TrustRoot;

const PCR_COUNT: u8 = 16;
const LEAF_VALIDITY_S: u64 = 3 * 3_600;
const CA_BACKDATE_S: u64 = 86_400;
const CA_VALIDITY_S: u64 = 20 * 365 * 86_400;
const ORG: &str = "vram test mode (NOT AWS)";

struct Authority {
    der: Vec<u8>,
    pkcs8: Vec<u8>,
    name: Vec<u8>,
}

/// A software NSM for test mode. Nothing it signs passes a production check.
pub struct SimulatedNsm {
    root: Authority,
    intermediate: Authority,
    module_id: String,
    pcrs: Vec<[u8; 48]>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SimulatedNsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedNsm")
            .field("module_id", &self.module_id)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn crypto<E>(what: &'static str) -> impl FnOnce(E) -> Error {
    move |_| Error::Crypto(what)
}

/// `SHA384(previous || SHA384(data))`: how the NSM extends a PCR.
pub fn pcr_extend(previous: &[u8; 48], data: &[u8]) -> [u8; 48] {
    let measured = ring::digest::digest(&SHA384, data);
    let mut ctx = Context::new(&SHA384);
    ctx.update(previous);
    ctx.update(measured.as_ref());
    let mut out = [0u8; 48];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The PCR value of a register extended once with the running executable:
/// what the simulator reports as PCR0, PCR1 and PCR2.
pub fn measure_current_exe() -> Result<[u8; 48]> {
    let path = std::env::current_exe().map_err(|e| Error::Nsm {
        request: "measure",
        reason: format!("cannot locate the running executable: {e}"),
    })?;
    let bytes = fs::read(&path).map_err(|e| Error::Nsm {
        request: "measure",
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    Ok(pcr_extend(&[0u8; 48], &bytes))
}

impl SimulatedNsm {
    /// A simulator with a new test root that lives as long as it does.
    pub fn ephemeral() -> Result<Self> {
        let rng = SystemRandom::new();
        let (root, intermediate) = new_authorities(&rng, now_ms() / 1_000)?;
        Self::assemble(root, intermediate, rng)
    }

    /// A simulator whose test root and intermediate are kept in `dir`
    /// (created on first use, reused afterwards).
    pub fn with_state_dir(dir: &Path) -> Result<Self> {
        let rng = SystemRandom::new();
        let files = StateFiles::new(dir);
        let (root, intermediate) = match files.load()? {
            Some(loaded) => loaded,
            None => {
                let made = new_authorities(&rng, now_ms() / 1_000)?;
                files.store(&made.0, &made.1)?;
                made
            }
        };
        Self::assemble(root, intermediate, rng)
    }

    fn assemble(root: Authority, intermediate: Authority, rng: SystemRandom) -> Result<Self> {
        let mut id = [0u8; 8];
        rng.fill(&mut id).map_err(crypto("random"))?;
        let image = measure_current_exe()?;
        let mut pcrs = vec![[0u8; 48]; usize::from(PCR_COUNT)];
        for pcr in pcrs.iter_mut().take(3) {
            *pcr = image;
        }
        Ok(Self {
            root,
            intermediate,
            module_id: format!("i-5100000000000000-enc{}", hex::encode(id)),
            pcrs,
            rng,
        })
    }

    /// Overrides PCR `index` (0..16) in subsequent documents.
    pub fn set_pcr(&mut self, index: u8, value: [u8; 48]) -> Result<()> {
        let slot = self
            .pcrs
            .get_mut(usize::from(index))
            .ok_or(Error::InvalidField {
                field: "pcrs",
                reason: format!("the simulator has PCRs 0..{PCR_COUNT}, not {index}"),
            })?;
        *slot = value;
        Ok(())
    }

    /// The PCR values documents will carry.
    pub fn pcrs(&self) -> &[[u8; 48]] {
        &self.pcrs
    }

    /// The test root, PEM, for verifiers that opt in to test mode.
    pub fn test_root_pem(&self) -> String {
        der::certificate_pem(&self.root.der)
    }

    /// The test root as a trust root.
    pub fn trust_root(&self) -> Result<TrustRoot> {
        TrustRoot::from_der(self.root.der.clone())
    }

    /// A document signed at `timestamp_ms`.
    pub fn attest_at(&self, request: &AttestRequest<'_>, timestamp_ms: u64) -> Result<Vec<u8>> {
        request.check_limits()?;
        let leaf_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &self.rng)
            .map_err(crypto("leaf key generation"))?;
        let leaf_key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P384_SHA384_FIXED_SIGNING,
            leaf_pkcs8.as_ref(),
            &self.rng,
        )
        .map_err(crypto("leaf key"))?;
        let not_before = timestamp_ms / 1_000;
        let leaf_name = der::name(ORG, &format!("{}.simulated", self.module_id));
        let leaf = issue(
            &self.intermediate,
            &leaf_name,
            leaf_key.public_key().as_ref(),
            (not_before, not_before + LEAF_VALIDITY_S),
            None,
            &self.rng,
        )?;

        let mut w = Writer::new();
        w.indefinite_map()
            .text("module_id")
            .text(&self.module_id)
            .text("digest")
            .text("SHA384")
            .text("timestamp")
            .uint(timestamp_ms)
            .text("pcrs")
            .indefinite_map();
        for (index, value) in self.pcrs.iter().enumerate() {
            w.uint(index as u64).bytes(value);
        }
        w.end()
            .text("certificate")
            .bytes(&leaf)
            .text("cabundle")
            .indefinite_array()
            .bytes(&self.root.der)
            .bytes(&self.intermediate.der)
            .end()
            .text("public_key")
            .bytes_or_null(request.public_key)
            .text("user_data")
            .bytes_or_null(request.user_data)
            .text("nonce")
            .bytes_or_null(request.nonce)
            .end();
        let payload = w.into_bytes();

        let signature = leaf_key
            .sign(&self.rng, &sig_structure(&PROTECTED_ES384, &payload))
            .map_err(crypto("document signature"))?;
        let mut cose = Writer::new();
        cose.array(4)
            .bytes(&PROTECTED_ES384)
            .map(0)
            .bytes(&payload)
            .bytes(signature.as_ref());
        Ok(cose.into_bytes())
    }
}

impl Nsm for SimulatedNsm {
    fn attest(&self, request: &AttestRequest<'_>) -> Result<Vec<u8>> {
        self.attest_at(request, now_ms())
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<()> {
        self.rng.fill(out).map_err(crypto("random"))
    }

    fn describe(&self) -> Result<NsmDescription> {
        Ok(NsmDescription {
            version: (1, 0, 0),
            module_id: self.module_id.clone(),
            max_pcrs: 32,
            locked_pcrs: vec![0, 1, 2, 3, 4],
            digest: "SHA384".into(),
            simulated: true,
        })
    }
}

fn new_authorities(rng: &SystemRandom, now_s: u64) -> Result<(Authority, Authority)> {
    let validity = (now_s.saturating_sub(CA_BACKDATE_S), now_s + CA_VALIDITY_S);
    let root_pkcs8 = generate_ca_key(rng)?;
    let root_name = der::name(ORG, "vram simulated NSM test root");
    let root_point = ca_public_point(&root_pkcs8, rng)?;
    let provisional = Authority {
        der: Vec::new(),
        pkcs8: root_pkcs8,
        name: root_name.clone(),
    };
    let root_der = issue(
        &provisional,
        &root_name,
        &root_point,
        validity,
        Some(2),
        rng,
    )?;
    let root = Authority {
        der: root_der,
        ..provisional
    };

    let inter_pkcs8 = generate_ca_key(rng)?;
    let inter_name = der::name(ORG, "vram simulated NSM intermediate");
    let inter_point = ca_public_point(&inter_pkcs8, rng)?;
    let inter_der = issue(&root, &inter_name, &inter_point, validity, Some(0), rng)?;
    Ok((
        root,
        Authority {
            der: inter_der,
            pkcs8: inter_pkcs8,
            name: inter_name,
        },
    ))
}

fn generate_ca_key(rng: &SystemRandom) -> Result<Vec<u8>> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, rng)
        .map(|doc| doc.as_ref().to_vec())
        .map_err(crypto("CA key generation"))
}

fn ca_public_point(pkcs8: &[u8], rng: &SystemRandom) -> Result<Vec<u8>> {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8, rng)
        .map(|k| k.public_key().as_ref().to_vec())
        .map_err(crypto("CA key"))
}

/// A certificate for `subject_point` signed by `issuer`.
fn issue(
    issuer: &Authority,
    subject_name: &[u8],
    subject_point: &[u8],
    (not_before, not_after): (u64, u64),
    ca_path_len: Option<u8>,
    rng: &SystemRandom,
) -> Result<Vec<u8>> {
    let mut serial = [0u8; 16];
    rng.fill(&mut serial).map_err(crypto("random"))?;
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let alg = der::seq(&[&der::oid(der::OID_ECDSA_SHA384)]);
    let tbs = der::seq(&[
        &der::version_v3(),
        &der::integer(&serial),
        &alg,
        &issuer.name,
        &der::seq(&[&der::time(not_before), &der::time(not_after)]),
        subject_name,
        &der::p384_spki(subject_point),
        &der::extensions(ca_path_len),
    ]);
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &issuer.pkcs8, rng)
        .map_err(crypto("issuer key"))?;
    let signature = key
        .sign(rng, &tbs)
        .map_err(crypto("certificate signature"))?;
    Ok(der::seq(&[
        &tbs,
        &alg,
        &der::bit_string(signature.as_ref()),
    ]))
}

struct StateFiles {
    dir: PathBuf,
}

const STATE_FILES: [&str; 4] = [
    "root.pk8",
    "root.der",
    "intermediate.pk8",
    "intermediate.der",
];

impl StateFiles {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::SimulatorState {
            path: self.dir.display().to_string(),
            reason: reason.into(),
        }
    }

    fn load(&self) -> Result<Option<(Authority, Authority)>> {
        let present: Vec<bool> = STATE_FILES
            .iter()
            .map(|f| self.dir.join(f).exists())
            .collect();
        if present.iter().all(|p| !p) {
            return Ok(None);
        }
        if !present.iter().all(|p| *p) {
            return Err(self.error("incomplete state: expected all of root.pk8, root.der, intermediate.pk8, intermediate.der"));
        }
        let read =
            |f: &str| fs::read(self.dir.join(f)).map_err(|e| self.error(format!("{f}: {e}")));
        let rng = SystemRandom::new();
        let authority = |key: &str, cert: &str, index: usize| -> Result<Authority> {
            let pkcs8 = read(key)?;
            let der = read(cert)?;
            let point = ca_public_point(&pkcs8, &rng)
                .map_err(|_| self.error(format!("{key} is not a P-384 key")))?;
            let info = der::cert_info(&der, index)?;
            if info.p384_point != Some(point.as_slice()) {
                return Err(self.error(format!("{cert} does not match {key}")));
            }
            Ok(Authority {
                name: der::subject_der(&der)
                    .ok_or_else(|| self.error(format!("{cert} has no subject")))?,
                der,
                pkcs8,
            })
        };
        Ok(Some((
            authority("root.pk8", "root.der", 0)?,
            authority("intermediate.pk8", "intermediate.der", 1)?,
        )))
    }

    fn store(&self, root: &Authority, intermediate: &Authority) -> Result<()> {
        fs::create_dir_all(&self.dir).map_err(|e| self.error(e.to_string()))?;
        for (name, bytes) in [
            ("root.pk8", &root.pkcs8),
            ("root.der", &root.der),
            ("intermediate.pk8", &intermediate.pkcs8),
            ("intermediate.der", &intermediate.der),
        ] {
            write_private(&self.dir.join(name), bytes)
                .map_err(|e| self.error(format!("{name}: {e}")))?;
        }
        fs::write(
            self.dir.join("test-root.pem"),
            der::certificate_pem(&root.der),
        )
        .map_err(|e| self.error(format!("test-root.pem: {e}")))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Verifier;

    const NOW: u64 = 1_800_000_000_000;

    /// A leaf signed by a foreign key, presented under a bundle the verifier
    /// has already accepted (same names, genuine certificates): the
    /// known-chain shortcut must still check the leaf's signature.
    #[test]
    fn forged_leaf_under_a_known_bundle_is_refused() -> Result<()> {
        let genuine = SimulatedNsm::ephemeral()?;
        let verifier = Verifier::new(genuine.trust_root()?);
        verifier.verify(&genuine.attest_at(&AttestRequest::default(), NOW)?, NOW)?;

        let attacker = SimulatedNsm::ephemeral()?;
        let forger = SimulatedNsm {
            root: Authority {
                der: genuine.root.der.clone(),
                pkcs8: attacker.root.pkcs8.clone(),
                name: genuine.root.name.clone(),
            },
            intermediate: Authority {
                der: genuine.intermediate.der.clone(),
                pkcs8: attacker.intermediate.pkcs8.clone(),
                name: genuine.intermediate.name.clone(),
            },
            module_id: genuine.module_id.clone(),
            pcrs: genuine.pcrs.clone(),
            rng: SystemRandom::new(),
        };
        let forged = forger.attest_at(&AttestRequest::default(), NOW)?;
        assert!(matches!(
            verifier.verify(&forged, NOW),
            Err(Error::UntrustedChain { .. })
        ));
        Ok(())
    }
}
