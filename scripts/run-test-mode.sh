#!/usr/bin/env bash
# Test mode on any Linux VPS: the real host and enclave binaries, a simulated
# NSM (documents chain to a test root, never to AWS), Sui testnet and Walrus
# testnet. Builds the release binaries, writes a test-mode configuration if
# none exists, registers the enclave's key through the test-mode path, then
# runs the window loop.
#
# Usage: scripts/run-test-mode.sh --deployment FILE --test-cap ID
#            [--dir DIR] [--windows N] [--dry-run]
#   --deployment  the package's deployment file (package + shared objects)
#   --test-cap    the TestModeCap object id your account holds
#   --dir         state directory (default ./vram-test-mode)
#   --windows     stop after N windows (default: run until stopped)
#   --dry-run     print the configuration and the commands, run nothing
# The key comes from VRAMHUB_MNEMONIC or VRAMHUB_PRIVATE_KEY.
set -euo pipefail
# Relative paths are the caller's, not the repository's.
caller="$(pwd)"
cd "$(dirname "$0")/.."

deployment=""
test_cap=""
dir="vram-test-mode"
windows=()
dry_run=0
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --deployment) deployment="${2:?--deployment needs a value}"; shift 2 ;;
        --test-cap) test_cap="${2:?--test-cap needs a value}"; shift 2 ;;
        --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
        --windows) windows=(--windows "${2:?--windows needs a value}"); shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$deployment" ] || [ -z "$test_cap" ]; then
    echo "--deployment and --test-cap are required (try --help)" >&2
    exit 2
fi
if [ "$dry_run" = 0 ] && [ -z "${VRAMHUB_MNEMONIC:-}" ] && [ -z "${VRAMHUB_PRIVATE_KEY:-}" ]; then
    echo "set VRAMHUB_MNEMONIC or VRAMHUB_PRIVATE_KEY (the validator's Sui key)" >&2
    exit 2
fi

abs() {
    case "$1" in /*) p="$1" ;; *) p="$caller/$1" ;; esac
    (cd "$(dirname "$p")" && printf '%s/%s' "$(pwd)" "$(basename "$p")")
}
case "$dir" in /*) ;; *) dir="$caller/$dir" ;; esac
if [ "$dry_run" = 0 ] && [ ! -f "$(abs "$deployment")" ]; then
    echo "--deployment $deployment: no such file" >&2
    exit 2
fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
config="$dir/vram-validator.toml"
content="# Test mode: simulated NSM, Sui testnet, Walrus testnet.
[chain]
kind = \"sui\"
rpc = [\"https://fullnode.testnet.sui.io:443\"]
deployment = \"$(abs "$deployment")\"
test_cap = \"$test_cap\"

[enclave]
kind = \"process\"
binary = \"$(pwd)/target/release/vram-enclave\"
socket = \"$dir/enclave.sock\"
state_dir = \"$dir/enclave-state\"
log = \"$dir/enclave.log\"

[walrus]
aggregators = [\"https://aggregator.walrus-testnet.walrus.space\"]
publishers = [\"https://publisher.walrus-testnet.walrus.space\"]

[storage]
journal = \"$dir/journal.sqlite\"
checkpoints = \"$dir/checkpoints\"
datasets = \"$dir/datasets\"

[metrics]
listen = \"127.0.0.1:9184\"
"
if [ "$dry_run" = 1 ]; then
    echo "would write $config:"; printf '%s' "$content" | sed 's/^/    /'
    echo "would run: cargo build --release --locked -p vram-validator -p vram-enclave"
    echo "would run: target/release/vram-validator register-enclave --config $config"
    echo "would run: target/release/vram-validator run --config $config ${windows[*]}"
    exit 0
fi
[ -f "$config" ] || printf '%s' "$content" > "$config"
cargo build --release --locked -q -p vram-validator -p vram-enclave
target/release/vram-validator config check --config "$config" >/dev/null || {
    target/release/vram-validator config check --config "$config" | grep -E '^(error|warning):' >&2
    exit 1
}
target/release/vram-validator register-enclave --config "$config"
exec target/release/vram-validator run --config "$config" "${windows[@]}"
