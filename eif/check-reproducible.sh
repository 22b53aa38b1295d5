#!/usr/bin/env bash
# Builds the enclave binary twice, from two clean clones of HEAD at
# different paths, and compares the bytes. Exit 0 when they are identical.
#
# Usage: eif/check-reproducible.sh [--target TRIPLE] [--keep]
#   --target  passed to eif/build-enclave.sh (default: its default)
#   --keep    leave the two clones in place for inspection
set -euo pipefail
cd "$(dirname "$0")/.."

target_args=()
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --target) target_args=(--target "${2:?--target needs a value}"); shift 2 ;;
        --keep) keep=1; shift ;;
        *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
    esac
done

work="$(mktemp -d)"
[ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
for side in a b; do
    git clone -q . "$work/clone-$side/checkout"
    echo "== build $side (in $work/clone-$side/checkout)"
    (cd "$work/clone-$side/checkout" && eif/build-enclave.sh "${target_args[@]}" --out "$work/out-$side")
done
a="$(cut -d' ' -f1 "$work/out-a/vram-enclave.sha256")"
b="$(cut -d' ' -f1 "$work/out-b/vram-enclave.sha256")"
if [ "$a" = "$b" ]; then
    echo "reproducible: both builds are $a"
else
    echo "NOT reproducible: $a vs $b" >&2
    exit 1
fi
