#!/usr/bin/env bash
# The test command of the README: every crate's unit and integration tests.
# Long runs (fuzzing, soak) are separate commands; see docs/attestation.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
