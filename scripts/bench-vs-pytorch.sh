#!/usr/bin/env bash
# Runs the project's benchmarks and PyTorch's (CPU) on the same shapes with
# the same thread count in one session, and prints the ratios as JSON lines.
# PyTorch comes from PyPI into .venv-bench/ (several GB; never in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    cat <<'USAGE'
usage: scripts/bench-vs-pytorch.sh [--preset tiny|gpt2-124m|llama-tiny|tinyllama-1.1b] [--threads N] [--tokens N] [--rounds N]
  Builds vram-validator (release), installs PyTorch into .venv-bench if needed,
  runs `bench codec` (GPT presets), `bench gemm` (2048^3) and `bench eval`
  for both, prints one JSON line each with ratios, then our full eval JSON (GFLOP/s, fraction of this
  machine's GEMM peak measured in the same run, peak memory).
  --rounds N (default 1) runs the eval pair N times, ours and PyTorch in
  turn, and compares the medians: on a shared machine whose speed drifts,
  one pair can be off by 10 % or more.
USAGE
}
preset=tiny
threads=$(nproc)
tokens=""
rounds=1
while [ $# -gt 0 ]; do
    case "$1" in
        --preset) preset="${2:?}"; shift 2 ;;
        --threads) threads="${2:?}"; shift 2 ;;
        --tokens) tokens="${2:?}"; shift 2 ;;
        --rounds) rounds="${2:?}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

case "$rounds" in
    '' | *[!0-9]* | 0) usage >&2; exit 2 ;;
esac

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

ours_evals=()
peer_evals=()
for _ in $(seq "$rounds"); do
    ours_evals+=("$("$ours" bench eval --preset "$preset" --threads "$threads" "${tok[@]}" --json)")
    peer_evals+=("$("${peer[@]}" eval --preset "$preset" --threads "$threads" "${tok[@]}")")
done
if [ "$rounds" -eq 1 ]; then
    ratio "${ours_evals[0]}" "${peer_evals[0]}" tokens_per_s
else
    python3 -c 'import json,statistics,sys
n=int(sys.argv[1]); ours=[json.loads(x) for x in sys.argv[2:2+n]]; peer=[json.loads(x) for x in sys.argv[2+n:]]
a=[o["tokens_per_s"] for o in ours]; b=[p["tokens_per_s"] for p in peer]
print(json.dumps({"preset": ours[0]["preset"], "threads": ours[0]["threads"], "metric": "tokens_per_s", "rounds": n,
  "ours": statistics.median(a), "pytorch": statistics.median(b), "ratio": statistics.median(a)/statistics.median(b),
  "ours_runs": a, "pytorch_runs": b}))' "$rounds" "${ours_evals[@]}" "${peer_evals[@]}"
fi
echo "${ours_evals[-1]}"
echo "${peer_evals[-1]}"
