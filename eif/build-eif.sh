#!/usr/bin/env bash
# Builds the enclave image file (EIF) on a Nitro-enabled host: the
# reproducible binary (eif/build-enclave.sh), a FROM-scratch container
# (eif/Dockerfile), then nitro-cli build-enclave. Prints the measurements and
# the entry for eif/measurements.json.
#
# Usage: eif/build-eif.sh --release NAME [--out DIR]
#   needs docker, nitro-cli (aws-nitro-enclaves-cli), the musl target
set -euo pipefail
cd "$(dirname "$0")/.."

release=""
out="eif/out"
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --release) release="${2:?--release needs a value}"; shift 2 ;;
        --out) out="${2:?--out needs a value}"; shift 2 ;;
        *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
    esac
done
[ -n "$release" ] || { echo "--release NAME is required" >&2; exit 2; }
for tool in docker nitro-cli; do
    command -v "$tool" >/dev/null || { echo "$tool is required (see docs/operator-guide.md)" >&2; exit 2; }
done

# The kernel, init and NSM driver inside the image come from the nitro-cli
# package (its blobs directory), so they are part of PCR0/PCR1: record the
# version next to the measurements.
nitro-cli --version | tee "$out/nitro-cli-version.txt"
eif/build-enclave.sh --out "$out"
tag="vram-enclave:$release"
# --no-cache and a fixed build context keep the image layer reproducible.
docker build --no-cache -t "$tag" -f eif/Dockerfile eif
nitro-cli build-enclave --docker-uri "$tag" --output-file "$out/vram-enclave.eif" | tee "$out/nitro-cli.json"
cargo run --release --locked -q -p vram-attestation --bin vram-attest -- \
    measure-eif "$out/vram-enclave.eif" --release "$release" | tee "$out/measurements-entry.json"
echo "add $out/measurements-entry.json to eif/measurements.json (releases[])"
