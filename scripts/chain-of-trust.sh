#!/usr/bin/env bash
# The chain of trust with the auditor's tool alone: a real AWS Nitro
# attestation document verified against the pinned AWS root, an expired and a
# debug-mode one refused, a test-mode (simulated NSM) document that verifies
# only under its own test root, and the verification cost.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: scripts/chain-of-trust.sh [--out-dir DIR]"
    echo "  Builds vram-attest and walks the chain of trust; writes into DIR (default: a temp dir)."
}
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out-dir) out="${2:?--out-dir needs a value}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[ -n "$out" ] || out="$(mktemp -d)"
mkdir -p "$out"

cargo build --release --locked -q -p vram-attestation --bin vram-attest
attest=target/release/vram-attest
doc=attestation/tests/fixtures/nautilus_2025-04-15.cose

echo "== 1. A real AWS Nitro document, verified against the pinned AWS root at its own timestamp"
"$attest" verify "$doc" --pcr 0=cbe1afb6ed0ff89f10295af0b802247ec5670da8f886e71a4226373b032c322f4e42c9c98288e7211682b258684505a2

echo "== 2. The same document four hours later: its leaf certificate has expired"
if "$attest" verify "$doc" --at 1744698323696; then echo "unexpectedly valid" >&2; exit 1; fi

echo "== 3. A debug-mode enclave's document: refused by default"
if "$attest" verify attestation/tests/fixtures/debug_mode_2022-10-12.cose; then echo "unexpectedly valid" >&2; exit 1; fi

echo "== 4. A simulated (test-mode) document binding an enclave key"
"$attest" simulate --out-dir "$out" --public-key ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c

echo "== 5. ... refused under the AWS root"
if "$attest" verify "$out/document.cose"; then echo "unexpectedly valid" >&2; exit 1; fi

echo "== 6. ... valid only under the test root, with the key bound"
"$attest" verify "$out/document.cose" --root "$out/test-root.pem" --now --max-age-ms 60000 \
    --public-key ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c

echo "== 7. Verification cost"
"$attest" bench "$doc" --iterations 200
echo "done: files in $out"
