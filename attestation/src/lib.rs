//! The chain of trust of the validator appliance, and its test-mode stand-in.
//!
//! **Trust level: used by everyone** (enclave, host, auditors); no I/O
//! beyond reading files and, for the simulator, the running executable.
//!
//! - [`AttestationDocument`]: strict, bounded parsing of Nitro attestation
//!   documents (COSE_Sign1, ES384, definite or indefinite CBOR).
//! - [`verify`]: the chain from the leaf through the cabundle to a pinned
//!   [`TrustRoot`] (by default the AWS Nitro root G1) at an explicit time,
//!   and the ES384 signature over the payload exactly as received.
//! - [`Policy`]: PCRs, production mode, freshness, nonce, public key.
//! - [`statement`]: the Ed25519-signed `IntentMessage<WindowScores>` (BCS).
//! - [`Nsm`]: the NSM interface, with [`SimulatedNsm`] for test mode and,
//!   with feature `nitro`, `HardwareNsm` for `/dev/nsm`.

mod cbor;
mod der;
mod document;
mod eif;
mod error;
mod nsm;
mod policy;
mod simulator;
pub mod statement;
pub mod time;
mod verify;

pub use document::{decode_document_input, AttestationDocument, MAX_CABUNDLE, MAX_DOCUMENT_BYTES};
pub use eif::{measure_eif, EifMeasurements, EIF_HEADER_LEN, EIF_MAGIC};
pub use error::{Error, Result};
#[cfg(feature = "nitro")]
pub use nsm::HardwareNsm;
pub use nsm::{
    AttestRequest, Nsm, NsmDescription, MAX_NSM_NONCE, MAX_NSM_PUBLIC_KEY, MAX_NSM_USER_DATA,
};
pub use policy::{Policy, PINNABLE_PCRS};
pub use simulator::{measure_current_exe, pcr_extend, SimulatedNsm};
pub use verify::{
    sha256, summarize_certificates, verify, CertificateSummary, TrustRoot, VerifiedAttestation,
    Verifier, AWS_NITRO_ROOT_G1_SHA256,
};
