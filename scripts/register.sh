#!/usr/bin/env bash
# Registers the running enclave's key for this validator: starts or reaches
# the enclave, verifies its attestation, and registers the key on chain
# (production: the attestation document, verified by Sui itself; test mode:
# the TestModeCap path). With --print, only prints the unsigned transaction
# for signing elsewhere (needs --gas, --gas-price, --gas-budget).
#
# Usage: scripts/register.sh [--config FILE] [--print --gas ID:V:D
#            --gas-price N --gas-budget N [--test-cap ID:V:D]] [--json]
set -euo pipefail
cd "$(dirname "$0")/.."

args=()
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --config|--gas|--gas-price|--gas-budget|--test-cap) args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
        --print) args+=(--serialize-unsigned-transaction); shift ;;
        --json) args+=(--json); shift ;;
        *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
    esac
done
bin="target/release/vram-validator"
[ -x "$bin" ] || cargo build --release --locked -q -p vram-validator
exec "$bin" register-enclave "${args[@]}"
