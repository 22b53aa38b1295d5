#!/usr/bin/env bash
# Runs the project's benchmarks and PyTorch's (CPU) on the same shapes with
# the same thread count in one session, and prints the ratios as JSON lines.
# PyTorch comes from PyPI into .venv-bench/ (several GB; never in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    cat <<'USAGE'
usage: scripts/bench-vs-pytorch.sh [--preset tiny|gpt2-124m|llama-tiny|tinyllama-1.1b] [--threads N] [--tokens N]
  Builds vram-validator (release), installs PyTorch into .venv-bench if needed,
  runs `bench codec` (GPT presets), `bench gemm` (2048^3) and `bench eval`
  for both, prints one JSON line each with ratios, then our full eval JSON (GFLOP/s, fraction of this
  machine's GEMM peak measured in the same run, peak memory).
USAGE
}
preset=tiny
threads=$(nproc)
tokens=""
while [ $# -gt 0 ]; do
    case "$1" in
        --preset) preset="${2:?}"; shift 2 ;;
        --threads) threads="${2:?}"; shift 2 ;;
        --tokens) tokens="${2:?}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

if [ ! -x .venv-bench/bin/python ]; then
    python3 -m venv .venv-bench
    .venv-bench/bin/pip install --quiet torch numpy transformers safetensors
fi
cargo build --release --locked -q -p vram-validator --bin vram-validator
ours=target/release/vram-validator
peer=(.venv-bench/bin/python bench/pytorch_reference.py)
tok=()
[ -n "$tokens" ] && tok=(--tokens "$tokens")

ratio() { # ours-json peer-json key
    python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); k=sys.argv[3]
print(json.dumps({"preset": a.get("preset", "gemm %sx%sx%s" % (a.get("m"), a.get("n"), a.get("k"))), "threads": a["threads"], "metric": k, "ours": a[k], "pytorch": b[k], "ratio": a[k]/b[k]}))' "$1" "$2" "$3"
}

case "$preset" in
    tiny|gpt2-124m)
        ours_codec=$("$ours" bench codec --preset "$preset" --threads "$threads" --json)
        peer_codec=$("${peer[@]}" codec --preset "$preset" --threads "$threads")
        ratio "$ours_codec" "$peer_codec" decode_params_per_s ;;
esac

# The GEMM under both: a linear layer of 2048 tokens, 2048 -> 2048.
ours_gemm=$("$ours" bench gemm --threads "$threads" --json)
peer_gemm=$("${peer[@]}" gemm --threads "$threads")
ratio "$ours_gemm" "$peer_gemm" gflops

ours_eval=$("$ours" bench eval --preset "$preset" --threads "$threads" "${tok[@]}" --json)
peer_eval=$("${peer[@]}" eval --preset "$preset" --threads "$threads" "${tok[@]}")
ratio "$ours_eval" "$peer_eval" tokens_per_s
echo "$ours_eval"
echo "$peer_eval"
