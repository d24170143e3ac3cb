"""Using refimpl as an oracle: check YOUR OWN PyTorch BERT layer, forward AND gradients, against refimpl.

The situation: you wrote `MyBertLayer`, a BERT encoder layer in PyTorch with your own design choices
(one fused q|k|v projection instead of three, and an attention with a hand-written backward, as a
custom kernel would have). You want to know that it computes exactly what BERT computes, including
every gradient, with the weights of a real Hugging Face checkpoint.

    1. a Hugging Face BERT checkpoint directory (here a tiny random one written by transformers'
       save_pretrained, so nothing is downloaded; any local BERT checkpoint works the same way);
    2. the oracle: refimpl's BertModel.from_pretrained(dir) - the same weights, loaded by their HF
       names with no mapping - and its first encoder layer `encoder.layer.0`;
    3. your layer loads the same checkpoint through YOUR name mapping (fused q|k|v);
    4. the same inputs (hidden states, a padded batch) and the same output cotangent go through both;
       refimpl.testing.compare checks the output, the gradient of the input and the gradient of every
       weight (mapped back to HF names), at the tolerance of the dtype your layer ran in:
         float64: rtol 1e-9, atol 1e-10 - two correct float64 implementations agree to ~1e-14;
         float32 (your layer) vs float64 (refimpl): rtol 1e-4, atol 1e-5;
    5. your attention function alone against refimpl.functional.attention, with
       refimpl.testing.compare_function_with_torch and assert_close.

    python examples/oracle_check_my_layer.py                       # float64, prints the table, exit 0
    python examples/oracle_check_my_layer.py --dtype float32
    python examples/oracle_check_my_layer.py --bug attention_backward   # see the oracle catch a bug: exit 1

--bug injects a typical mistake into MyBertLayer: `gelu_tanh` (the tanh GELU of GPT-2 where BERT uses
erf), `layer_norm_eps` (1e-5, torch's default, where BERT uses 1e-12), `no_scale` (scores not divided
by sqrt(head_dim)), `attention_backward` (the softmax backward without its row-sum term: the forward
is still exact, only the gradients are wrong - which is why an oracle must check gradients too).
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile

import numpy as np
import torch
import transformers

from refimpl.functional.attention import scaled_dot_product_attention, scaled_dot_product_attention_backward
from refimpl.models.bert import BertModel
from refimpl.models.inputs import padding_keep_mask
from refimpl.testing import ParityReport, assert_close, compare, compare_function_with_torch

BUGS = ("none", "gelu_tanh", "layer_norm_eps", "no_scale", "attention_backward")
CONFIG = dict(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37,
              max_position_embeddings=16, hidden_act="gelu", layer_norm_eps=1e-12)
LENGTHS = (6, 4, 2)                      # a right-padded batch: 3 sequences of length 6, 4 and 2
TORCH_DTYPE = {"float64": torch.float64, "float32": torch.float32}


# ============================================================================ YOUR code under test
class MyAttention(torch.autograd.Function):
    """softmax(q k^T * scale, keys masked by `keep`) v with a hand-written backward (a custom kernel).

    q, k, v: (B, H, L, D); keep: bool (B, 1, 1, L), True = attend.
    """

    @staticmethod
    def forward(ctx, q, k, v, keep, scale, bug):
        s = (q @ k.transpose(-1, -2)) * scale                        # (B, H, L, L)
        s = s.masked_fill(~keep, float("-inf"))
        p = torch.softmax(s, dim=-1)
        ctx.save_for_backward(q, k, v, p)
        ctx.scale, ctx.bug = scale, bug
        return p @ v                                                 # (B, H, L, D)

    @staticmethod
    def backward(ctx, dout):
        q, k, v, p = ctx.saved_tensors
        dv = p.transpose(-1, -2) @ dout                              # dL/dv = P^T dO
        dp = dout @ v.transpose(-1, -2)                              # dL/dP = dO v^T
        if ctx.bug == "attention_backward":
            ds = p * dp                                              # BUG: the row-sum term is missing
        else:
            ds = p * (dp - (dp * p).sum(-1, keepdim=True))           # dL/dS = P (dP - rowsum(dP P))
        dq = ds @ k * ctx.scale                                      # dL/dq = scale dS k
        dk = ds.transpose(-1, -2) @ q * ctx.scale                    # dL/dk = scale dS^T q
        return dq, dk, dv, None, None, None


def my_attention(q, k, v, keep, bug="none"):
    scale = 1.0 if bug == "no_scale" else 1.0 / math.sqrt(q.shape[-1])
    return MyAttention.apply(q, k, v, keep, scale, bug)


class MyBertLayer(torch.nn.Module):
    """A post-LN BERT encoder layer written my way: fused q|k|v, my attention, my parameter names."""

    def __init__(self, hidden, heads, intermediate, eps, bug="none"):
        super().__init__()
        self.heads, self.bug = heads, bug
        eps = 1e-5 if bug == "layer_norm_eps" else eps
        self.qkv = torch.nn.Linear(hidden, 3 * hidden)               # q | k | v stacked on the output axis
        self.attn_out = torch.nn.Linear(hidden, hidden)
        self.ln1 = torch.nn.LayerNorm(hidden, eps=eps)
        self.ff_in = torch.nn.Linear(hidden, intermediate)
        self.ff_out = torch.nn.Linear(intermediate, hidden)
        self.ln2 = torch.nn.LayerNorm(hidden, eps=eps)
        self.act = torch.nn.GELU(approximate="tanh" if bug == "gelu_tanh" else "none")

    def forward(self, h, attention_mask):
        b, n, e = h.shape
        keep = attention_mask.bool()[:, None, None, :]               # (B, 1, 1, L)
        q, k, v = (t.view(b, n, self.heads, -1).transpose(1, 2)      # 3 x (B, H, L, D)
                   for t in self.qkv(h).chunk(3, dim=-1))
        ctx = my_attention(q, k, v, keep, self.bug).transpose(1, 2).reshape(b, n, e)
        a = self.ln1(h + self.attn_out(ctx))                         # (B, L, E)
        return self.ln2(a + self.ff_out(self.act(self.ff_in(a))))

    # --- my mapping from Hugging Face checkpoint keys (of encoder.layer.0) to my parameters, and back
    SIMPLE = {"attn_out": "attention.output.dense", "ln1": "attention.output.LayerNorm",
              "ff_in": "intermediate.dense", "ff_out": "output.dense", "ln2": "output.LayerNorm"}

    def load_hf_layer(self, hf: dict):
        """hf: {key relative to encoder.layer.0: array} -> my parameters (q|k|v concatenated)."""
        sd = {f"{mine}.{w}": hf[f"{theirs}.{w}"] for mine, theirs in self.SIMPLE.items() for w in ("weight", "bias")}
        for w in ("weight", "bias"):
            sd[f"qkv.{w}"] = np.concatenate([hf[f"attention.self.{x}.{w}"] for x in ("query", "key", "value")])
        self.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()})

    def grads_by_hf_name(self) -> dict:
        """My parameter gradients under the HF keys (the qkv gradient split back into query/key/value)."""
        g = {name: p.grad.detach().numpy() for name, p in self.named_parameters()}
        out = {f"{theirs}.{w}": g[f"{mine}.{w}"] for mine, theirs in self.SIMPLE.items() for w in ("weight", "bias")}
        for w in ("weight", "bias"):
            for x, part in zip(("query", "key", "value"), np.split(g[f"qkv.{w}"], 3)):
                out[f"attention.self.{x}.{w}"] = part
        return out


# ============================================================================ the check
def make_checkpoint(directory: str, seed: int = 0) -> None:
    """A tiny random BERT saved with transformers' save_pretrained (stands in for a downloaded checkpoint).

    transformers' own initialisation (std 0.02) makes every block nearly linear, which hides bugs;
    the weights are re-drawn larger, LayerNorm weights around 1.
    """
    model = transformers.BertModel(transformers.BertConfig(**CONFIG))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            p.copy_(1.0 + 0.2 * r if name.endswith("LayerNorm.weight") else 0.25 * r)
    bar = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()                # no "Writing model shards" bar
    try:
        model.save_pretrained(directory)
    finally:
        if bar:
            transformers.utils.logging.enable_progress_bar()


def check_layer(checkpoint: str, dtype: str = "float64", bug: str = "none", seed: int = 0) -> ParityReport:
    """MyBertLayer (run in `dtype`) vs refimpl's float64 BertLayer on the same weights: output, input gradient,
    every weight gradient. Returns a ParityReport (rows of refimpl.testing.Comparison)."""
    # the oracle: the same checkpoint, loaded by HF names, in float64, eval mode (no dropout)
    oracle = BertModel.from_pretrained(checkpoint, dtype=np.float64).get_submodule("encoder.layer.0")
    hf_weights = {name: p.data for name, p in oracle.named_parameters()}   # keys relative to the layer

    mine = MyBertLayer(CONFIG["hidden_size"], CONFIG["num_attention_heads"], CONFIG["intermediate_size"],
                       CONFIG["layer_norm_eps"], bug).to(torch.float64)
    mine.load_hf_layer(hf_weights)
    mine.to(TORCH_DTYPE[dtype])

    rng = np.random.default_rng(seed)
    b, n, e = len(LENGTHS), max(LENGTHS), CONFIG["hidden_size"]
    h = rng.standard_normal((b, n, e))                               # the layer's input (B, L, E), float64
    mask = (np.arange(n)[None, :] < np.array(LENGTHS)[:, None]).astype(np.int64)   # (B, L) 1 = token
    dy = rng.standard_normal((b, n, e))                              # one cotangent for both sides

    # refimpl: forward, then the hand-written backward (returns dL/dh, accumulates weight gradients)
    oracle.zero_grad()
    y_ref, _ = oracle(h, padding_keep_mask(mask, (b, n)))            # (B, L, E), attention probs (None)
    dh_ref = oracle.backward(dy)
    grads_ref = {name: p.grad for name, p in oracle.named_parameters()}

    # your layer: the same inputs and cotangent, in its own dtype
    h_t = torch.tensor(h, dtype=TORCH_DTYPE[dtype], requires_grad=True)
    y = mine(h_t, torch.from_numpy(mask))
    y.backward(torch.tensor(dy, dtype=TORCH_DTYPE[dtype]))
    grads_mine = mine.grads_by_hf_name()

    # compare at YOUR dtype's tolerance (float32 results against the float64 truth use the float32 table)
    report = ParityReport()
    report.append(compare(y.detach().numpy(), y_ref, dtype=dtype, name="output"))
    report.append(compare(h_t.grad.numpy(), dh_ref, dtype=dtype, name="grad input"))
    for name in grads_ref:                                           # every weight, by HF name
        report.append(compare(grads_mine[name], grads_ref[name], dtype=dtype, name=f"grad {name}"))
    return report


def check_attention(dtype: str = "float64", bug: str = "none", seed: int = 1) -> ParityReport:
    """my_attention alone vs refimpl.functional.attention: output and dq, dk, dv (same inputs, same cotangent)."""
    rng = np.random.default_rng(seed)
    b, heads, n, d = 2, 3, 5, 4
    q, k, v = (rng.standard_normal((b, heads, n, d)).astype(dtype) for _ in range(3))
    keep = np.ones((b, 1, 1, n), bool)
    keep[1, ..., 3:] = False                                         # the second sequence has 2 pad keys
    report = compare_function_with_torch(
        lambda q_, k_, v_: scaled_dot_product_attention(q_, k_, v_, attn_mask=keep),
        lambda dout: scaled_dot_product_attention_backward(dout, q, k, v, attn_mask=keep)[:3],   # (dq, dk, dv)
        lambda q_, k_, v_: my_attention(q_, k_, v_, torch.from_numpy(keep), bug),
        [q, k, v], dtype=dtype, output_names=["attention output"])
    # assert_close is the one-line form of the same check (raises with the worst element's index and values)
    if report.ok:
        t = [torch.from_numpy(x) for x in (q, k, v)]
        assert_close(my_attention(*t, torch.from_numpy(keep), bug), scaled_dot_product_attention(q, k, v,
                     attn_mask=keep), dtype=dtype, name="attention output")
    return report


def run(dtype: str = "float64", bug: str = "none", verbose: bool = True) -> bool:
    """Both checks; prints their tables when verbose. True when everything agrees."""
    with tempfile.TemporaryDirectory() as checkpoint:
        make_checkpoint(checkpoint)
        layer = check_layer(checkpoint, dtype, bug)
    attention = check_attention(dtype, bug)
    if verbose:
        for title, report in (("MyBertLayer vs refimpl BertLayer (encoder.layer.0)", layer),
                              ("my_attention vs refimpl scaled_dot_product_attention", attention)):
            print(f"== {title}, {dtype}{'' if bug == 'none' else ', injected bug: ' + bug}")
            print(report.format())
            first = report.first_failure()
            if first is not None:
                print(f"FIRST MISMATCH: {first.describe()}")
            print()
    return layer.ok and attention.ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dtype", choices=sorted(TORCH_DTYPE), default="float64",
                        help="the precision YOUR layer runs in (refimpl always runs float64)")
    parser.add_argument("--bug", choices=BUGS, default="none", help="inject a typical mistake into MyBertLayer")
    args = parser.parse_args(argv)
    ok = run(args.dtype, args.bug)
    print("all outputs and gradients agree with refimpl" if ok else "MISMATCH: see the rows marked FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
