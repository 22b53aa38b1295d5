"""Reference logits and loss from Hugging Face `transformers` for a small
random GPT-2 and a small random Llama (grouped-query attention), written as
the test fixture `enclave/tests/fixtures/transformers/`:

    <family>/model.safetensors   weights in the names the enclave loads
    <family>/config.json         the enclave's config (nanoGPT fields for
                                 GPT-2; transformers' own file for Llama)
    <family>/expected.json       tokens, logits [positions x vocab], loss
    llama-sharded/               the Llama again, saved by transformers in
                                 shards of at most 200 kB:
                                 model-0000i-of-0000n.safetensors and
                                 model.safetensors.index.json (same seeds,
                                 same model: its expected values are
                                 llama/expected.json)

GPT-2's Conv1D weights are stored transposed by transformers; they are
written here in Linear layout (`[out, in]`), the layout nanoGPT checkpoints
use. Weights are drawn wider than the default initialisation (std 0.2, norm
gains in [0.5, 1.5]) so attention and norms visibly matter in the logits.

Not run in CI (transformers and torch are large): run it by hand after
`pip install torch transformers safetensors`, then commit the output.
`make_transformers_fixture.py ROOT NAME...` writes only the named ones.
"""

import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file


def perturb(model, std):
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("ln" in name or "norm" in name) and name.endswith("weight"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * std)


def expected(model, vocab, length, out):
    g = torch.Generator().manual_seed(11)
    tokens = torch.randint(0, vocab, (1, length), generator=g)
    with torch.inference_mode():
        logits = model(input_ids=tokens[:, :-1]).logits.float()
        loss = F.cross_entropy(logits[0], tokens[0, 1:])
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"tokens": tokens[0].tolist(), "logits": logits[0].tolist(), "loss": float(loss),
                   "transformers": __import__("transformers").__version__, "torch": torch.__version__}, f)


def gpt2(out):
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(n_positions=32, n_embd=64, n_layer=2, n_head=4, vocab_size=256,
                     layer_norm_epsilon=1e-5, activation_function="gelu_new", attn_implementation="eager")
    model = GPT2LMHeadModel(cfg).eval()
    perturb(model, 0.2)
    state = {}
    for name, t in model.state_dict().items():
        if name == "lm_head.weight" or name.endswith(".attn.bias") or name.endswith(".attn.masked_bias"):
            continue
        # Conv1D keeps [in, out]; the enclave reads Linear's [out, in].
        if any(name.endswith(s) for s in ("c_attn.weight", "c_proj.weight", "c_fc.weight")):
            t = t.t()
        state[name] = t.contiguous().float()
    save_file(state, os.path.join(out, "model.safetensors"))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"block_size": 32, "vocab_size": 256, "n_layer": 2, "n_head": 4, "n_embd": 64,
                   "bias": True, "tie_word_embeddings": True, "gelu_approximate": True,
                   "layer_norm_epsilon": 1e-5}, f)
    expected(model, 256, 33, out)


def llama(out, max_shard_size=None):
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=64, vocab_size=256, rms_norm_eps=1e-5,
                      rope_theta=10000.0, tie_word_embeddings=False, attn_implementation="eager")
    model = LlamaForCausalLM(cfg).eval()
    perturb(model, 0.2)
    if max_shard_size is None:
        model.save_pretrained(out, safe_serialization=True)
    else:
        model.save_pretrained(out, safe_serialization=True, max_shard_size=max_shard_size)
    # Sampling settings: nothing the evaluator reads.
    gen = os.path.join(out, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
    # The same seeds make the same model: the sharded copy's expected
    # values are llama/expected.json.
    if max_shard_size is None:
        expected(model, 256, 48, out)


def llama_sharded(out):
    llama(out, max_shard_size="200KB")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "enclave/tests/fixtures/transformers"
    only = set(sys.argv[2:])
    for name, make in (("gpt2", gpt2), ("llama", llama), ("llama-sharded", llama_sharded)):
        if only and name not in only:
            continue
        out = os.path.join(root, name)
        os.makedirs(out, exist_ok=True)
        make(out)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
