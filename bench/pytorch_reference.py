"""The peer measurement for `vram-validator bench`: the same work in PyTorch
on CPU, on the same shapes, with the same thread count.

- codec: Templar's decode path (scatter the top-k values into zeroed chunks,
  then the einsum with float32 inverse-DCT matrices, then un-chunk), for
  every parameter of the preset.
- eval: a forward pass with mean token cross-entropy over pages of the
  model's context length, after a warm-up, in inference mode: the GPT
  presets with a nanoGPT-layout model using the fused
  `scaled_dot_product_attention`; the Llama presets with `transformers`'
  own `LlamaForCausalLM` (SDPA attention).

Prints one JSON object per measurement. Not run in CI (PyTorch is large):
see scripts/bench-vs-pytorch.sh.
"""

import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    "tiny": dict(block_size=64, vocab_size=256, n_layer=2, n_head=4, n_embd=64, approx=False),
    "gpt2-124m": dict(block_size=1024, vocab_size=50257, n_layer=12, n_head=12, n_embd=768, approx=True),
}
LLAMA = {
    "llama-tiny": dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=64, vocab_size=256, rms_norm_eps=1e-5),
    "tinyllama-1.1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                           num_key_value_heads=4, max_position_embeddings=2048, vocab_size=32000, rms_norm_eps=1e-5),
}


def chunk(n, target=64):
    return max(d for d in range(1, min(n, target) + 1) if n % d == 0)


def dct_matrix(n):
    # Templar computes its bases through an FFT; an analytic basis in
    # float32 costs the same to apply.
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    c = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    c[0] /= math.sqrt(2)
    return c.float()


def param_shapes(p):
    c, shapes = p["n_embd"], [("wte", [p["vocab_size"], p["n_embd"]]), ("wpe", [p["block_size"], p["n_embd"]])]
    for i in range(p["n_layer"]):
        shapes += [(f"h{i}.ln1.w", [c]), (f"h{i}.ln1.b", [c]), (f"h{i}.attn.w", [3 * c, c]), (f"h{i}.attn.b", [3 * c]),
                   (f"h{i}.proj.w", [c, c]), (f"h{i}.proj.b", [c]), (f"h{i}.ln2.w", [c]), (f"h{i}.ln2.b", [c]),
                   (f"h{i}.fc.w", [4 * c, c]), (f"h{i}.fc.b", [4 * c]), (f"h{i}.mproj.w", [c, 4 * c]), (f"h{i}.mproj.b", [c])]
    return shapes + [("lnf.w", [c]), ("lnf.b", [c])]


def bench_codec(preset, topk):
    shapes = param_shapes(PRESETS[preset])
    g = torch.Generator().manual_seed(11)
    work, bases = [], {}
    for _, shape in shapes:
        if len(shape) == 2:
            n1, n2 = chunk(shape[0]), chunk(shape[1])
            xshape = (shape[0] // n1, shape[1] // n2, n1 * n2)
        else:
            n1, n2 = 1, chunk(shape[0])
            xshape = (1, shape[0] // n2, n2)
        k = min(topk, n1 * n2)
        idx = torch.argsort(torch.rand(*xshape, generator=g), dim=-1)[..., :k]
        val = torch.randn(*xshape[:-1], k, generator=g)
        for n in (n1, n2):
            bases.setdefault(n, dct_matrix(n))
        work.append((shape, xshape, n1, n2, idx, val))
    numel = sum(math.prod(s) for s, *_ in work)

    def decode_all():
        total = 0.0
        for shape, xshape, n1, n2, idx, val in work:
            x = torch.zeros(xshape)
            x.scatter_reduce_(-1, idx, val, reduce="mean", include_self=False)
            x = x.reshape(xshape[0], xshape[1], n1, n2)
            x = torch.einsum("...ijkl, kb, ld -> ...ijbd", x, bases[n1], bases[n2])
            x = x.permute(0, 2, 1, 3).reshape(shape)
            total += float(x.sum())
        return total

    decode_all()
    start = time.perf_counter()
    checksum = decode_all()
    secs = time.perf_counter() - start
    return {"peer": "pytorch", "what": "codec", "preset": preset, "threads": torch.get_num_threads(),
            "params": numel, "decode_s": secs, "decode_params_per_s": numel / secs, "checksum": checksum}


class Block(nn.Module):
    def __init__(self, c, h, approx):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.c_attn, self.c_proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        self.c_fc, self.m_proj = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.h, self.approx = h, approx

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.h, c // self.h).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, c))
        hdn = F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh" if self.approx else "none")
        return x + self.m_proj(hdn)


class GPT(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(p["vocab_size"], p["n_embd"]), nn.Embedding(p["block_size"], p["n_embd"])
        self.blocks = nn.ModuleList(Block(p["n_embd"], p["n_head"], p["approx"]) for _ in range(p["n_layer"]))
        self.ln_f = nn.LayerNorm(p["n_embd"])
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def loss(self, pages):
        x, y = pages[:, :-1], pages[:, 1:]
        h = self.wte(x) + self.wpe(torch.arange(x.shape[1]))
        for blk in self.blocks:
            h = blk(h)
        logits = self.ln_f(h) @ self.wte.weight.T
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")


class Llama:
    """transformers' LlamaForCausalLM with the same loss interface."""

    def __init__(self, p):
        from transformers import LlamaConfig, LlamaForCausalLM
        cfg = LlamaConfig(**p, tie_word_embeddings=False, attn_implementation="sdpa")
        self.model = LlamaForCausalLM(cfg).eval()

    def loss(self, pages):
        x, y = pages[:, :-1], pages[:, 1:]
        logits = self.model(input_ids=x, use_cache=False).logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")


def bench_eval(preset, tokens):
    torch.manual_seed(1)
    if preset in LLAMA:
        p = LLAMA[preset]
        model, t, vocab = Llama(p), p["max_position_embeddings"], p["vocab_size"]
    else:
        p = PRESETS[preset]
        model, t, vocab = GPT(p).eval(), p["block_size"], p["vocab_size"]
    t = min(t, tokens)
    n_pages = max(1, -(-tokens // t))
    pages = torch.randint(0, vocab, (n_pages, t + 1))
    batch = 16 if t <= 64 else 1
    with torch.inference_mode():
        model.loss(pages[:batch])
        start = time.perf_counter()
        total = sum(float(model.loss(pages[i:i + batch])) for i in range(0, n_pages, batch))
        secs = time.perf_counter() - start
    return {"peer": "pytorch", "what": "eval", "preset": preset, "threads": torch.get_num_threads(),
            "tokens": n_pages * t, "tokens_per_s": n_pages * t / secs, "loss": total / (n_pages * t)}


def bench_gemm(m, n, k, reps):
    g = torch.Generator().manual_seed(17)
    a = torch.randn(m, k, generator=g)
    w = torch.randn(n, k, generator=g)
    rates = []
    with torch.inference_mode():
        F.linear(a, w)
        for _ in range(reps):
            start = time.perf_counter()
            F.linear(a, w)
            rates.append(2 * m * n * k / (time.perf_counter() - start) / 1e9)
    rates.sort()
    return {"peer": "pytorch", "what": "gemm", "m": m, "n": n, "k": k, "threads": torch.get_num_threads(),
            "reps": reps, "gflops": rates[len(rates) // 2], "best_gflops": rates[-1]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["codec", "eval", "gemm"])
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS) + sorted(LLAMA))
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tokens", type=int, default=None)
    ap.add_argument("--topk", type=int, default=32)
    ap.add_argument("--m", type=int, default=2048)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--k", type=int, default=2048)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.what == "codec":
        print(json.dumps(bench_codec(a.preset, a.topk)))
    elif a.what == "gemm":
        print(json.dumps(bench_gemm(a.m, a.n, a.k, a.reps)))
    else:
        small = a.preset in ("tiny", "llama-tiny")
        print(json.dumps(bench_eval(a.preset, a.tokens or (1 << 16 if small else 2048))))


if __name__ == "__main__":
    main()
