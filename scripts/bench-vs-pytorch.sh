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
  On a CPU not made by Intel, oneMKL (PyTorch's BLAS) picks slower kernels
  by vendor, so PyTorch runs twice: as installed ("pytorch") and with
  bench/mkl_intel_path.c preloaded ("pytorch_mkl_intel_path"), and every
  line gives both ratios. Judge against the faster peer.
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
# A second peer with MKL's vendor check answered, where it matters.
fast=()
if ! grep -q GenuineIntel /proc/cpuinfo; then
    mkdir -p target/bench
    cc -shared -fPIC -O2 -o target/bench/libmkl_intel_path.so bench/mkl_intel_path.c
    fast=(env LD_PRELOAD="$PWD/target/bench/libmkl_intel_path.so" "${peer[@]}")
fi
tok=()
[ -n "$tokens" ] && tok=(--tokens "$tokens")

ratio() { # key ours-json peer-json [fast-peer-json]
    python3 -c 'import json,sys; k=sys.argv[1]; a, *peers = [json.loads(x) for x in sys.argv[2:]]
out={"preset": a.get("preset", "gemm %sx%sx%s" % (a.get("m"), a.get("n"), a.get("k"))), "threads": a["threads"], "metric": k, "ours": a[k]}
for name, ratio, b in zip(["pytorch", "pytorch_mkl_intel_path"], ["ratio", "ratio_mkl_intel_path"], peers):
    out.update({name: b[k], ratio: a[k] / b[k]})
print(json.dumps(out))' "$@"
}
peer_run() { # runs the peer, then the fast peer if there is one: one JSON line each
    "${peer[@]}" "$@"
    [ ${#fast[@]} -eq 0 ] || "${fast[@]}" "$@"
}

case "$preset" in
    tiny|gpt2-124m)
        ours_codec=$("$ours" bench codec --preset "$preset" --threads "$threads" --json)
        mapfile -t peer_codec < <(peer_run codec --preset "$preset" --threads "$threads")
        ratio decode_params_per_s "$ours_codec" "${peer_codec[@]}" ;;
esac

# The GEMM under both: a linear layer of 2048 tokens, 2048 -> 2048.
ours_gemm=$("$ours" bench gemm --threads "$threads" --json)
mapfile -t peer_gemm < <(peer_run gemm --threads "$threads")
ratio gflops "$ours_gemm" "${peer_gemm[@]}"

ours_evals=()
peer_evals=()
fast_evals=()
for _ in $(seq "$rounds"); do
    ours_evals+=("$("$ours" bench eval --preset "$preset" --threads "$threads" "${tok[@]}" --json)")
    mapfile -t peers < <(peer_run eval --preset "$preset" --threads "$threads" "${tok[@]}")
    peer_evals+=("${peers[0]}")
    fast_evals+=("${peers[@]:1}")
done
python3 -c 'import json,statistics,sys
n=int(sys.argv[1]); runs=[[json.loads(x)["tokens_per_s"] for x in sys.argv[2+i*n:2+(i+1)*n]] for i in range((len(sys.argv)-2)//n)]
first=json.loads(sys.argv[2]); med=[statistics.median(r) for r in runs]
out={"preset": first["preset"], "threads": first["threads"], "metric": "tokens_per_s", "rounds": n, "ours": med[0], "ours_runs": runs[0]}
for name, ratio, m, r in zip(["pytorch", "pytorch_mkl_intel_path"], ["ratio", "ratio_mkl_intel_path"], med[1:], runs[1:]):
    out.update({name: m, ratio: med[0] / m, name + "_runs": r})
print(json.dumps(out))' "$rounds" "${ours_evals[@]}" "${peer_evals[@]}" "${fast_evals[@]}"
echo "${ours_evals[-1]}"
echo "${peer_evals[-1]}"
[ ${#fast_evals[@]} -eq 0 ] || echo "${fast_evals[-1]}"
