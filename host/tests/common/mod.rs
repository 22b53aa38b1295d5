//! The golden world shared by the host's integration tests and the Move
//! tests: the statement the Move tests submit (window 42, validator
//! 0xaa..aa, entries for miners 1, 2 and 5), its `submit_scores` arguments,
//! and the deployment the TypeScript golden transactions use.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use vram_attestation::statement::{IntentMessage, WindowScores};
use vram_host::chain::sui_tx::{Deployment, SharedObject};
use vram_host::chain::types::SubmitArgs;

#[allow(unused_imports)]
pub use vram_test_support::golden::golden_key;

/// See `vram_test_support::golden::move_hex`.
pub fn move_hex(module: &str, name: &str) -> String {
    vram_test_support::golden::move_hex(module, name).unwrap()
}

/// See `vram_test_support::golden::eval_params_hash`.
pub fn eval_params_hash() -> String {
    vram_test_support::golden::eval_params_hash().unwrap()
}

/// See `vram_test_support::golden::submit_signature`.
pub fn submit_signature() -> String {
    vram_test_support::golden::submit_signature().unwrap()
}

/// See `vram_test_support::golden::submit_message`.
pub fn submit_message() -> IntentMessage<WindowScores> {
    vram_test_support::golden::submit_message().unwrap()
}

/// The `submit_scores` arguments of [`submit_message`], with its signature.
pub fn golden_args() -> SubmitArgs {
    let m = submit_message();
    SubmitArgs::new(
        m.timestamp_ms,
        &m.payload,
        &hex::decode(submit_signature()).unwrap(),
    )
    .unwrap()
}

/// A shared object of the fixed deployment.
pub fn shared(byte: u8, version: u64) -> SharedObject {
    SharedObject {
        id: [byte; 32],
        initial_shared_version: version,
    }
}

/// The deployment of `tests/fixtures/sui/deployment.json`.
pub fn deployment() -> Deployment {
    Deployment {
        package: [0xa1; 32],
        enclave_config: shared(0xe1, 11),
        validators: shared(0xe2, 12),
        ledger: shared(0xe3, 13),
        peers: shared(0xe4, 14),
        gradients: shared(0xe5, 15),
        rounds: shared(0xe6, 16),
        hparams: shared(0xe7, 17),
    }
}
