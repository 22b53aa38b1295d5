//! The `vramhub` transactions, built as Sui `TransactionData` (programmable
//! transactions) with the Sui Rust SDK types. Inputs are laid out the way the
//! official TypeScript SDK lays them out (first use order; an object used
//! twice is one input), so that the BCS bytes are identical to
//! `@mysten/sui`'s: `host/tests/sui_transactions.rs` compares them with
//! golden bytes that SDK produced offline.
//!
//! `--serialize-unsigned-transaction` prints [`to_base64`] of these: with an
//! explicit gas object, price and budget nothing touches the network.

use base64::Engine as _;
use serde::Serialize;
use sui_sdk_types::{
    Address, Argument, Command, Digest, GasPayment, Identifier, Input, MoveCall, ObjectReference,
    ProgrammableTransaction, SharedInput, Transaction, TransactionExpiration, TransactionKind,
};

use crate::chain::types::SubmitArgs;
use crate::error::{Error, Result};

/// A shared object: id and initial shared version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "SharedObjectJson")]
pub struct SharedObject {
    /// The object id.
    pub id: [u8; 32],
    /// Its initial shared version.
    pub initial_shared_version: u64,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SharedObjectJson {
    id: String,
    initial_shared_version: u64,
}

impl TryFrom<SharedObjectJson> for SharedObject {
    type Error = Error;

    fn try_from(j: SharedObjectJson) -> Result<Self> {
        Ok(Self {
            id: parse_address(&j.id)?,
            initial_shared_version: j.initial_shared_version,
        })
    }
}

/// Parses a Sui address or object id (`0x` + up to 64 hex digits).
pub fn parse_address(s: &str) -> Result<[u8; 32]> {
    s.parse::<Address>()
        .map(|a| a.into_inner())
        .map_err(|e| tx_err(format!("address {s:?}: {e}")))
}

/// An owned object reference: id, version, digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnedObject {
    /// The object id.
    pub id: [u8; 32],
    /// Its current version.
    pub version: u64,
    /// Its digest.
    pub digest: [u8; 32],
}

impl std::str::FromStr for OwnedObject {
    type Err = Error;

    /// `ID:VERSION:DIGEST` (digest in base58, as Sui prints it).
    fn from_str(s: &str) -> Result<Self> {
        let mut parts = s.split(':');
        let (Some(id), Some(version), Some(digest), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(tx_err(format!("object {s:?}: expected ID:VERSION:DIGEST")));
        };
        Ok(Self {
            id: parse_address(id)?,
            version: version
                .parse()
                .map_err(|_| tx_err(format!("object version {version:?}")))?,
            digest: digest
                .parse::<Digest>()
                .map_err(|e| tx_err(format!("object digest {digest:?}: {e}")))?
                .into_inner(),
        })
    }
}

impl OwnedObject {
    fn reference(&self) -> ObjectReference {
        ObjectReference::new(
            Address::new(self.id),
            self.version,
            Digest::new(self.digest),
        )
    }
}

/// The package and its shared objects (from the publish transaction), as a
/// JSON file: `{"package": "0x..", "enclave_config": {"id": "0x..",
/// "initial_shared_version": N}, ...}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// The `vramhub` package.
    #[serde(deserialize_with = "address_de")]
    pub package: [u8; 32],
    /// `enclave_registry::EnclaveConfig`.
    pub enclave_config: SharedObject,
    /// `validator_registry::ValidatorRegistry`.
    pub validators: SharedObject,
    /// `score_ledger::ScoreLedger`.
    pub ledger: SharedObject,
    /// `peer_registry::PeerRegistry`.
    pub peers: SharedObject,
    /// `gradient_registry::GradientRegistry`.
    pub gradients: SharedObject,
    /// `round_state::RoundState`.
    pub rounds: SharedObject,
    /// `hparams::Hparams`.
    pub hparams: SharedObject,
}

fn address_de<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<[u8; 32], D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    parse_address(&s).map_err(serde::de::Error::custom)
}

/// The clock, `0x6`, shared since genesis (version 1).
pub const CLOCK: SharedObject = SharedObject {
    id: {
        let mut id = [0u8; 32];
        id[31] = 6;
        id
    },
    initial_shared_version: 1,
};

/// Who pays and how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gas {
    /// The sender (and gas owner).
    pub sender: [u8; 32],
    /// Gas coins.
    pub coins: Vec<OwnedObject>,
    /// Gas price (at least the reference gas price).
    pub price: u64,
    /// Budget, MIST.
    pub budget: u64,
}

/// A programmable transaction under construction.
#[derive(Default)]
struct Ptb {
    inputs: Vec<Input>,
    /// The object id of each input (`None` for pure values).
    objects: Vec<Option<[u8; 32]>>,
    commands: Vec<Command>,
}

fn tx_err(reason: impl std::fmt::Display) -> Error {
    Error::Transaction {
        reason: reason.to_string(),
    }
}

impl Ptb {
    fn pure<T: Serialize>(&mut self, value: &T) -> Result<Argument> {
        let bytes = bcs::to_bytes(value).map_err(tx_err)?;
        self.inputs.push(Input::Pure(bytes));
        self.objects.push(None);
        Ok(Argument::Input(self.index()?))
    }

    fn index(&self) -> Result<u16> {
        u16::try_from(self.inputs.len() - 1).map_err(|_| tx_err("too many inputs"))
    }

    fn object(&mut self, id: [u8; 32], input: Input) -> Result<Argument> {
        if let Some(i) = self.objects.iter().position(|o| *o == Some(id)) {
            return Ok(Argument::Input(
                u16::try_from(i).map_err(|_| tx_err("too many inputs"))?,
            ));
        }
        self.inputs.push(input);
        self.objects.push(Some(id));
        Ok(Argument::Input(self.index()?))
    }

    fn shared(&mut self, o: SharedObject, mutable: bool) -> Result<Argument> {
        let input = Input::Shared(SharedInput::new(
            Address::new(o.id),
            o.initial_shared_version,
            mutable,
        ));
        self.object(o.id, input)
    }

    fn owned(&mut self, o: OwnedObject) -> Result<Argument> {
        self.object(o.id, Input::ImmutableOrOwned(o.reference()))
    }

    fn call(
        &mut self,
        package: [u8; 32],
        module: &str,
        function: &str,
        arguments: Vec<Argument>,
    ) -> Result<Argument> {
        self.commands.push(Command::MoveCall(MoveCall {
            package: Address::new(package),
            module: Identifier::new(module).map_err(tx_err)?,
            function: Identifier::new(function).map_err(tx_err)?,
            type_arguments: Vec::new(),
            arguments,
        }));
        Ok(Argument::Result(
            u16::try_from(self.commands.len() - 1).map_err(|_| tx_err("too many commands"))?,
        ))
    }

    fn finish(self, gas: &Gas) -> Transaction {
        Transaction {
            kind: TransactionKind::ProgrammableTransaction(ProgrammableTransaction {
                inputs: self.inputs,
                commands: self.commands,
            }),
            sender: Address::new(gas.sender),
            gas_payment: GasPayment {
                objects: gas.coins.iter().map(OwnedObject::reference).collect(),
                owner: Address::new(gas.sender),
                price: gas.price,
                budget: gas.budget,
            },
            expiration: TransactionExpiration::None,
        }
    }
}

const FRAMEWORK: [u8; 32] = {
    let mut id = [0u8; 32];
    id[31] = 2;
    id
};

/// Production registration: `0x2::nitro_attestation::load_nitro_attestation(doc,
/// clock)`, its result passed to `enclave_registry::register_enclave` with the
/// document's SHA-256 and its Walrus blob id (empty if not stored).
pub fn register_enclave(
    d: &Deployment,
    gas: &Gas,
    document: &[u8],
    blob: Option<crate::walrus::BlobId>,
) -> Result<Transaction> {
    let mut p = Ptb::default();
    let doc = p.pure(&document)?;
    let clock = p.shared(CLOCK, false)?;
    p.call(
        FRAMEWORK,
        "nitro_attestation",
        "load_nitro_attestation",
        vec![doc, clock],
    )?;
    // The SDKs pass a destructured call result as NestedResult(command, 0).
    let loaded = Argument::NestedResult(0, 0);
    let config = p.shared(d.enclave_config, true)?;
    let validators = p.shared(d.validators, false)?;
    let sha = p.pure(&vram_attestation::sha256(document).to_vec())?;
    let blob = p.pure(&blob.map(|b| b.0.to_vec()).unwrap_or_default())?;
    p.call(
        d.package,
        "enclave_registry",
        "register_enclave",
        vec![config, validators, loaded, sha, blob, clock],
    )?;
    Ok(p.finish(gas))
}

/// Test-mode registration of a simulated enclave's key.
pub fn register_test_enclave(
    d: &Deployment,
    gas: &Gas,
    test_cap: OwnedObject,
    public_key: &[u8],
    document: &crate::chain::types::DocumentRef,
) -> Result<Transaction> {
    let mut p = Ptb::default();
    let config = p.shared(d.enclave_config, true)?;
    let cap = p.owned(test_cap)?;
    let validators = p.shared(d.validators, false)?;
    let key = p.pure(&public_key)?;
    let sha = p.pure(&document.sha256.to_vec())?;
    let blob = p.pure(&document.blob.map(|b| b.0.to_vec()).unwrap_or_default())?;
    let clock = p.shared(CLOCK, false)?;
    p.call(
        d.package,
        "enclave_registry",
        "register_test_enclave",
        vec![config, cap, validators, key, sha, blob, clock],
    )?;
    Ok(p.finish(gas))
}

/// `score_ledger::submit_scores` with the statement's parallel vectors.
pub fn submit_scores(d: &Deployment, gas: &Gas, a: &SubmitArgs) -> Result<Transaction> {
    let mut p = Ptb::default();
    let mut args = vec![
        p.shared(d.ledger, true)?,
        p.shared(d.enclave_config, false)?,
        p.shared(d.validators, false)?,
        p.shared(d.gradients, false)?,
        p.shared(d.rounds, false)?,
        p.shared(d.hparams, false)?,
    ];
    args.push(p.pure(&a.window)?);
    args.push(p.pure(&a.timestamp_ms)?);
    args.push(p.pure(&a.checkpoint_hash)?);
    args.push(p.pure(&a.dataset_root)?);
    args.push(p.pure(&a.eval_seed)?);
    args.push(p.pure(&a.loss_before_random)?);
    args.push(p.pure(&a.miner_uids)?);
    args.push(p.pure(&a.statuses)?);
    args.push(p.pure(&a.losses_before_own)?);
    args.push(p.pure(&a.losses_after_own)?);
    args.push(p.pure(&a.losses_after_random)?);
    args.push(p.pure(&a.signature)?);
    args.push(p.shared(CLOCK, false)?);
    p.call(d.package, "score_ledger", "submit_scores", args)?;
    Ok(p.finish(gas))
}

/// `validator_registry::set_budget(validators, hparams, budget, clock)`.
pub fn set_budget(d: &Deployment, gas: &Gas, budget: u64) -> Result<Transaction> {
    let mut p = Ptb::default();
    let args = vec![
        p.shared(d.validators, true)?,
        p.shared(d.hparams, false)?,
        p.pure(&budget)?,
        p.shared(CLOCK, false)?,
    ];
    p.call(d.package, "validator_registry", "set_budget", args)?;
    Ok(p.finish(gas))
}

/// The BCS bytes of the unsigned `TransactionData`.
pub fn to_bytes(tx: &Transaction) -> Result<Vec<u8>> {
    bcs::to_bytes(tx).map_err(tx_err)
}

/// Base64 of the unsigned `TransactionData`, as `sui client ...
/// --serialize-unsigned-transaction` prints it.
pub fn to_base64(tx: &Transaction) -> Result<String> {
    Ok(base64::engine::general_purpose::STANDARD.encode(to_bytes(tx)?))
}

/// The transaction digest Sui will report (Blake2b-256 over the intent
/// `TransactionData::` prefix and the bytes), base58.
pub fn digest(tx: &Transaction) -> String {
    tx.digest().to_string()
}
