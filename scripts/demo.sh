#!/usr/bin/env bash
# The README's main job: the whole appliance on one machine, nothing to
# configure. Builds the release binaries, then runs `vram-validator demo`:
# a local blob store (Walrus HTTP API over a directory), the embedded ledger
# (the Move package's checks in SQLite), a vram-enclave process with the
# simulated NSM, eight miners (three honest, lazy, copycat, stale, malformed,
# absent) training the tiny model for real, six windows on a compressed
# clock, ratings, and an audit bundle. Then the auditor's checks on the
# bundle: every statement with vram-attest, every score with replay.
#
# Usage: scripts/demo.sh [--out DIR] [any other `vram-validator demo` flag]
#   e.g. scripts/demo.sh --windows 8 --kill-enclave-in-window 2
set -euo pipefail
cd "$(dirname "$0")/.."

out="vram-demo"
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --out) out="${2:?--out needs a value}"; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done

echo "== building (release; the first build takes several minutes)"
cargo build --release --locked -q -p vram-validator -p vram-enclave -p vram-attestation
bin=target/release

echo "== the local network"
"$bin/vram-validator" demo --out "$out" "${args[@]}"

echo
echo "== auditor: every statement verifies under the key its attestation document binds"
for statement in "$out"/statements/window-*.json; do
    key_doc=""
    for d in "$out"/attestation/*.cose; do
        if "$bin/vram-attest" statement verify --statement "$statement" --doc "$d" \
            --root "$out/test-root.pem" >/dev/null 2>&1; then key_doc="$d"; break; fi
    done
    if [ -z "$key_doc" ]; then echo "$statement: no attested key verifies it" >&2; exit 1; fi
    echo "  $(basename "$statement"): valid (key in $(basename "$key_doc"))"
done

echo
echo "== auditor: replay every score outside the enclave"
"$bin/vram-validator" replay --bundle "$out"
