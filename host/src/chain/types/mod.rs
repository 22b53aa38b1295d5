//! Rust twins of the `vramhub` Move structs the host reads or encodes.
//!
//! Field order is the BCS layout: it must equal the Move declaration, field by
//! field (`docs/contracts.md` has the table). `UID`/`ID`/`address` are 32 raw
//! bytes; `Option<T>` is a 0/1 tag then `T`; `vector<u8>` is a ULEB128 length
//! then bytes.

mod hparams;
mod registries;
mod score_ledger;

pub use hparams::{HparamValues, HparamsObject, Segment, WindowTimes};
pub use registries::{
    Anchor, AnchorRef, BudgetChange, Commitment, DocumentRef, EnclaveConfigObject, EnclaveRecord,
    Enclaves, FieldObject, GradientRegistryObject, Image, PeerRecord, PeerRegistryObject,
    RoundStateObject, SignerRefusal, TableRef, ValidatorRecord, ValidatorRegistryObject,
};
pub use score_ledger::{
    ScoreLedgerObject, ScoresSubmitted, SubmissionKey, SubmissionRecord, SubmitArgs,
    MAX_SUBMIT_ENTRIES,
};
