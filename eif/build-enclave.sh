#!/usr/bin/env bash
# Builds the vram-enclave binary reproducibly: locked dependencies, the
# pinned compiler (eif/rustc-version; checked, not installed), fixed flags,
# no build paths or build ids in the output. Same source + same compiler =
# same bytes.
#
# Usage: eif/build-enclave.sh [--target TRIPLE] [--out DIR] [--features F]
#   --target   default x86_64-unknown-linux-musl (static, what the image
#              needs; `rustup target add x86_64-unknown-linux-musl`);
#              x86_64-unknown-linux-gnu works for comparing builds
#   --out      where vram-enclave and vram-enclave.sha256 go (default eif/out)
#   --features enclave crate features (default: nitro)
set -euo pipefail
cd "$(dirname "$0")/.."

target="x86_64-unknown-linux-musl"
out="eif/out"
features="nitro"
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --target) target="${2:?--target needs a value}"; shift 2 ;;
        --out) out="${2:?--out needs a value}"; shift 2 ;;
        --features) features="${2:?--features needs a value}"; shift 2 ;;
        *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
    esac
done

pinned="$(cat eif/rustc-version)"
actual="$(rustc --version)"
if [ "$actual" != "$pinned" ]; then
    echo "rustc is \"$actual\"; the image is built with \"$pinned\" (eif/rustc-version)" >&2
    [ "${ALLOW_OTHER_RUSTC:-0}" = 1 ] || exit 2
fi

if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    echo "the $target target is not installed: rustup target add $target" >&2
    exit 2
fi

src="$(pwd)"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
# Paths are remapped so that where the checkout lives does not reach the
# binary; the build id is dropped; one codegen unit removes scheduling
# nondeterminism; static linking on musl.
export RUSTFLAGS="--remap-path-prefix=${src}=/vram --remap-path-prefix=${cargo_home}=/cargo -C link-arg=-Wl,--build-id=none -C codegen-units=1 ${EXTRA_RUSTFLAGS:-}"
if [ "${target#*musl}" != "$target" ]; then
    RUSTFLAGS="$RUSTFLAGS -C target-feature=+crt-static"
fi
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_DEBUG=false
export CARGO_PROFILE_RELEASE_STRIP=symbols
export CARGO_INCREMENTAL=0
export SOURCE_DATE_EPOCH=0

cargo build --release --locked -q -p vram-enclave --bin vram-enclave \
    --features "$features" --target "$target" --target-dir target/eif

mkdir -p "$out"
cp "target/eif/$target/release/vram-enclave" "$out/vram-enclave"
(cd "$out" && sha256sum vram-enclave > vram-enclave.sha256)
cat "$out/vram-enclave.sha256"
