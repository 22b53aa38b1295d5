//! The one error type of this crate.

use thiserror::Error;

/// Everything that can go wrong while parsing or verifying an attestation
/// document, applying a policy, handling a statement or talking to an NSM.
///
/// Variants carry the context an operator or auditor needs to act on them
/// (which PCR, which certificate, which times). Times are milliseconds since
/// the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    // === Enclave image files ===
    /// An EIF is malformed at this offset.
    #[error("EIF malformed at offset {offset}: {reason}")]
    EifMalformed {
        /// Byte offset in the file.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// An EIF's CRC-32 does not match its contents.
    #[error("EIF CRC-32 mismatch: header {header:#010x}, contents {computed:#010x}")]
    EifCrcMismatch {
        /// The header's value.
        header: u32,
        /// What the contents give.
        computed: u32,
    },

    // === Input framing ===
    /// The input is larger than this parser accepts.
    #[error("input of {len} bytes exceeds the limit of {max} bytes")]
    InputTooLarge {
        /// Bytes received.
        len: usize,
        /// Bytes accepted at most.
        max: usize,
    },
    /// The input ended in the middle of a value.
    #[error("input truncated at offset {offset}")]
    Truncated {
        /// Byte offset where more input was expected.
        offset: usize,
    },
    /// Bytes follow the complete value.
    #[error("{count} trailing bytes after the value ending at offset {offset}")]
    TrailingBytes {
        /// Byte offset where the value ended.
        offset: usize,
        /// How many bytes follow it.
        count: usize,
    },
    /// The CBOR is not well formed, or uses an encoding this parser refuses.
    #[error("malformed CBOR at offset {offset}: {reason}")]
    MalformedCbor {
        /// Byte offset of the offending item.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A CBOR item has another type than the format requires there.
    #[error("at offset {offset}: expected {expected}")]
    UnexpectedCborType {
        /// Byte offset of the offending item.
        offset: usize,
        /// What the format requires.
        expected: &'static str,
    },
    /// The text was neither raw document bytes, hex nor base64.
    #[error("input is not a raw, hex or base64 encoded document")]
    UnrecognisedEncoding,

    // === COSE_Sign1 ===
    /// The document carries a CBOR tag other than 18 (COSE_Sign1).
    #[error("unexpected CBOR tag {tag}; a COSE_Sign1 is tag 18 or untagged")]
    UnexpectedTag {
        /// The tag found.
        tag: u64,
    },
    /// The COSE_Sign1 array does not have exactly four elements.
    #[error("COSE_Sign1 must have 4 elements, found {found}")]
    CoseArrayLength {
        /// Elements found.
        found: u64,
    },
    /// The protected header is not exactly `{1: -35}` (ES384).
    #[error("protected header is not exactly {{alg: ES384}}: {reason}")]
    ProtectedHeader {
        /// What is wrong.
        reason: &'static str,
    },
    /// The unprotected header is not the empty map.
    #[error("unprotected header must be an empty map")]
    UnprotectedHeaderNotEmpty,
    /// The signature is not 96 bytes (raw r || s for P-384).
    #[error("COSE signature is {len} bytes, ES384 needs 96")]
    SignatureLength {
        /// Length found.
        len: usize,
    },

    // === Attestation payload ===
    /// A map key appears twice.
    #[error("duplicate key {key} in {map}")]
    DuplicateKey {
        /// The map.
        map: &'static str,
        /// The repeated key.
        key: String,
    },
    /// The payload has a field the NSM specification does not define.
    #[error("unknown field {name:?} in attestation payload")]
    UnknownField {
        /// The field's name (lossy UTF-8, truncated).
        name: String,
    },
    /// A mandatory payload field is absent.
    #[error("mandatory field {field} is missing")]
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// A field's value breaks the NSM specification's limits.
    #[error("field {field} is invalid: {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The digest algorithm is not SHA384.
    #[error("digest is {found:?}, expected SHA384")]
    UnsupportedDigest {
        /// The digest named by the document.
        found: String,
    },

    // === Certificates ===
    /// A certificate's DER could not be parsed.
    #[error("certificate {index} is malformed: {reason}")]
    BadCertificate {
        /// Position in the chain: 0 is cabundle[0] (the root), the leaf last.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A certificate in the chain is not yet valid at the verification time.
    #[error("certificate {index} ({subject}) is not valid before {not_before_ms}, verification time is {time_ms}")]
    CertNotValidYet {
        /// Position in the chain: 0 is cabundle[0], the leaf last.
        index: usize,
        /// The certificate's subject.
        subject: String,
        /// Verification time.
        time_ms: u64,
        /// Start of validity.
        not_before_ms: u64,
    },
    /// A certificate in the chain has expired at the verification time.
    #[error(
        "certificate {index} ({subject}) expired at {not_after_ms}, verification time is {time_ms}"
    )]
    CertExpired {
        /// Position in the chain: 0 is cabundle[0], the leaf last.
        index: usize,
        /// The certificate's subject.
        subject: String,
        /// Verification time.
        time_ms: u64,
        /// End of validity.
        not_after_ms: u64,
    },
    /// The chain from the leaf does not lead to the trusted root.
    #[error("certificate chain does not verify to the trusted root ({root}): {reason}")]
    UntrustedChain {
        /// The trust root in use (`aws` or a file's fingerprint).
        root: String,
        /// What the path builder reported.
        reason: String,
    },
    /// The leaf's key is not a P-384 ECDSA key.
    #[error("leaf certificate key is not ECDSA P-384")]
    LeafKeyNotP384,
    /// The COSE signature does not verify under the leaf certificate's key.
    #[error("COSE_Sign1 signature does not verify under the leaf certificate key")]
    BadSignature,
    /// A trust root could not be loaded.
    #[error("trust root is invalid: {reason}")]
    BadTrustRoot {
        /// What is wrong.
        reason: String,
    },
    /// The embedded AWS root does not have the pinned fingerprint.
    #[error("embedded AWS root has fingerprint {found}, pinned is {pinned}")]
    RootFingerprintMismatch {
        /// SHA-256 of the DER found.
        found: String,
        /// SHA-256 pinned in the source.
        pinned: &'static str,
    },

    // === Policy ===
    /// A policy names a PCR that policies may not pin.
    #[error("PCR{index} cannot be pinned by a policy (allowed: 0, 1, 2, 3, 4, 8)")]
    PcrNotPinnable {
        /// The PCR index.
        index: u8,
    },
    /// The policy expects a PCR that the document lacks.
    #[error("PCR{index} is required by the policy but absent from the document")]
    PcrMissing {
        /// The PCR index.
        index: u8,
    },
    /// A PCR differs from the policy's expected value.
    #[error("PCR{index} is {found}, expected {expected}")]
    PcrMismatch {
        /// The PCR index.
        index: u8,
        /// Value in the document (hex).
        found: String,
        /// Value the policy requires (hex).
        expected: String,
    },
    /// PCR0 is all zeros: the enclave runs in debug mode, where the host can
    /// read its memory.
    #[error("PCR0 is all zeros: the enclave runs in debug mode (refused unless debug is allowed)")]
    DebugMode,
    /// The document is older than the policy allows.
    #[error(
        "document timestamp {timestamp_ms} is {age_ms} ms old, the policy allows {max_age_ms} ms"
    )]
    TooOld {
        /// The document's timestamp.
        timestamp_ms: u64,
        /// Its age at verification time.
        age_ms: u64,
        /// The policy's maximum.
        max_age_ms: u64,
    },
    /// The document's timestamp lies after the verification time.
    #[error("document timestamp {timestamp_ms} is after the verification time {time_ms}")]
    FromTheFuture {
        /// The document's timestamp.
        timestamp_ms: u64,
        /// Verification time.
        time_ms: u64,
    },
    /// The nonce differs from the expected one.
    #[error("nonce mismatch: document has {found}, expected {expected}")]
    NonceMismatch {
        /// Nonce in the document (hex, or `null`).
        found: String,
        /// Expected nonce (hex).
        expected: String,
    },
    /// The public key differs from the expected one.
    #[error("public key mismatch: document has {found}, expected {expected}")]
    PublicKeyMismatch {
        /// Key in the document (hex, or `null`).
        found: String,
        /// Expected key (hex).
        expected: String,
    },

    // === Statements ===
    /// BCS decoding of a statement failed.
    #[error("statement is not valid BCS: {reason}")]
    StatementEncoding {
        /// The decoder's message.
        reason: String,
    },
    /// The statement decodes but breaks a rule of the format.
    #[error("statement is invalid: {reason}")]
    InvalidStatement {
        /// What is wrong.
        reason: String,
    },
    /// An Ed25519 public key is not 32 bytes.
    #[error("Ed25519 public key must be 32 bytes, got {len}")]
    Ed25519KeyLength {
        /// Length received.
        len: usize,
    },
    /// An Ed25519 signature is not 64 bytes.
    #[error("Ed25519 signature must be 64 bytes, got {len}")]
    Ed25519SignatureLength {
        /// Length received.
        len: usize,
    },
    /// The Ed25519 signature does not verify.
    #[error("Ed25519 signature does not verify under the given public key")]
    BadStatementSignature,
    /// The document has no public key to verify a statement with.
    #[error("the attestation document carries no public key")]
    NoPublicKey,

    // === NSM ===
    /// The NSM refused or failed a request.
    #[error("NSM request {request} failed: {reason}")]
    Nsm {
        /// The request.
        request: &'static str,
        /// What the NSM or the simulator reported.
        reason: String,
    },
    /// A request to the NSM exceeds its field limits.
    #[error("NSM {field} is {len} bytes, the limit is {max}")]
    NsmInputTooLarge {
        /// The field.
        field: &'static str,
        /// Length received.
        len: usize,
        /// Length allowed.
        max: usize,
    },
    /// The simulator's state directory is unusable.
    #[error("simulator state in {path}: {reason}")]
    SimulatorState {
        /// The directory.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A cryptographic primitive failed (key generation, signing).
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
