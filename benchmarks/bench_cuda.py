"""Timings and errors of the CUDA (CuPy) kernels at the issue-8 sizes, against torch CUDA where present.

    python benchmarks/bench_cuda.py [--out bench_cuda.json] [--repeat 20]

Cases (float32, inputs already on the GPU; each timing is the median of `repeat` runs after warm-up,
wall clock between two device synchronisations, so host-side launch overhead is included):
  attention  B=8 H=12 L=512 D=64: forward, forward+backward (our backward recomputes the forward
             statistics, as the reference is stateless); torch.nn.functional.scaled_dot_product_attention
             (default backend choice, and the math backend) forward and forward+backward (autograd).
             Also a causal variant, and the NumPy-in/NumPy-out call (transfers included).
  depthwise  7x7, x (8, 96, 56, 56), padding 3: forward, forward+backward; torch conv2d groups=96 (cuDNN).
  matching   8 problems of 100 x 20 (DETR-like): one batched call; SciPy per problem on the host.
  ctc        T=500, B=8, C=32, S=100: loss, loss+gradient; torch ctc_loss (cuDNN/native CUDA).
Errors: max |kernel - float64 reference| (refimpl's NumPy reference in float64 on the same inputs),
for ours and for torch, in float32.
Writes one JSON object (environment, cases) to --out (default $OUT/bench_cuda.json or ./bench_cuda.json).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cupy as cp  # noqa: E402

from kernels.cuda import attention as k_attn, ctc as k_ctc, depthwise_conv as k_dw, matching as k_match  # noqa: E402
from refimpl.functional import attention as r_attn, depthwise_conv as r_dw  # noqa: E402
from refimpl.losses import ctc as r_ctc, matching as r_match  # noqa: E402

try:
    import torch
    HAVE_TORCH = torch.cuda.is_available()
except Exception:  # noqa: BLE001
    torch, HAVE_TORCH = None, False


def cuda_time(fn, repeat: int, warmup: int = 3) -> float:
    """Median milliseconds of fn(), wall clock from a synchronised device to a synchronised device."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        cp.cuda.Device().synchronize()
        if HAVE_TORCH:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        cp.cuda.Device().synchronize()
        if HAVE_TORCH:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def maxerr(a, exact) -> float:
    a = a.get() if isinstance(a, cp.ndarray) else (a.detach().cpu().numpy() if hasattr(a, "detach") else a)
    return float(np.max(np.abs(np.asarray(a, np.float64) - exact)))


def bench_attention(repeat, causal=False):
    B, H, L, D = 8, 12, 512, 64
    rng = np.random.default_rng(0)
    q64, k64, v64, do64 = (rng.standard_normal((B, H, L, D)) for _ in range(4))
    q, k, v, do = (cp.asarray(a.astype(np.float32)) for a in (q64, k64, v64, do64))
    res = {"shape": [B, H, L, D], "dtype": "float32", "causal": causal}
    res["ours_fwd_ms"] = cuda_time(lambda: k_attn.scaled_dot_product_attention(q, k, v, causal=causal), repeat)
    res["ours_fwd_bwd_ms"] = cuda_time(lambda: (k_attn.scaled_dot_product_attention(q, k, v, causal=causal),
                                                k_attn.scaled_dot_product_attention_backward(do, q, k, v,
                                                                                             causal=causal)), repeat)
    if not causal:
        qh, kh, vh = (a.get() for a in (q, k, v))
        res["ours_fwd_numpy_io_ms"] = cuda_time(lambda: k_attn.scaled_dot_product_attention(qh, kh, vh), 5, 1)
    exact = r_attn.scaled_dot_product_attention(q64, k64, v64, causal=causal)
    exact_g = r_attn.scaled_dot_product_attention_backward(do64, q64, k64, v64, causal=causal)
    out = k_attn.scaled_dot_product_attention(q, k, v, causal=causal)
    grads = k_attn.scaled_dot_product_attention_backward(do, q, k, v, causal=causal)
    res["ours_err_out"] = maxerr(out, exact)
    res["ours_err_dq_dk_dv"] = [maxerr(g, e) for g, e in zip(grads[:3], exact_g[:3])]
    ref32 = r_attn.scaled_dot_product_attention(*(a.astype(np.float32) for a in (q64, k64, v64)), causal=causal)
    res["reference_f32_err_out"] = maxerr(ref32, exact)
    if HAVE_TORCH:
        F = torch.nn.functional
        tq, tk, tv, tdo = (torch.as_tensor(a, device="cuda") for a in (q, k, v, do))
        tcausal = bool(causal)                               # Lq == Lk: top-left == bottom-right

        def t_fwd_bwd():
            a, b, c = (t.detach().requires_grad_() for t in (tq, tk, tv))
            F.scaled_dot_product_attention(a, b, c, is_causal=tcausal).backward(tdo)
            return a.grad, b.grad, c.grad

        res["torch_sdpa_fwd_ms"] = cuda_time(lambda: F.scaled_dot_product_attention(tq, tk, tv, is_causal=tcausal),
                                             repeat)
        res["torch_sdpa_fwd_bwd_ms"] = cuda_time(t_fwd_bwd, repeat)
        res["torch_err_out"] = maxerr(F.scaled_dot_product_attention(tq, tk, tv, is_causal=tcausal), exact)
        res["torch_err_dq_dk_dv"] = [maxerr(g, e) for g, e in zip(t_fwd_bwd(), exact_g[:3])]
        try:
            from torch.nn.attention import SDPBackend, sdpa_kernel
            for name, backend in (("math", SDPBackend.MATH), ("efficient", SDPBackend.EFFICIENT_ATTENTION)):
                with sdpa_kernel(backend):
                    res[f"torch_sdpa_{name}_fwd_ms"] = cuda_time(
                        lambda: F.scaled_dot_product_attention(tq, tk, tv, is_causal=tcausal), repeat)
                    res[f"torch_sdpa_{name}_fwd_bwd_ms"] = cuda_time(t_fwd_bwd, repeat)
        except Exception as exc:  # noqa: BLE001
            res["torch_backend_note"] = f"{type(exc).__name__}: {exc}"
    return res


def bench_depthwise(repeat):
    N, C, Hs, K = 8, 96, 56, 7
    rng = np.random.default_rng(1)
    x64, w64, b64 = rng.standard_normal((N, C, Hs, Hs)), rng.standard_normal((C, 1, K, K)), rng.standard_normal(C)
    dy64 = rng.standard_normal((N, C, Hs, Hs))
    x, w, b, dy = (cp.asarray(a.astype(np.float32)) for a in (x64, w64, b64, dy64))
    res = {"x": [N, C, Hs, Hs], "kernel": K, "padding": 3, "dtype": "float32"}
    res["ours_fwd_ms"] = cuda_time(lambda: k_dw.depthwise_conv2d(x, w, b, 1, 3), repeat)
    res["ours_fwd_bwd_ms"] = cuda_time(lambda: (k_dw.depthwise_conv2d(x, w, b, 1, 3),
                                                k_dw.depthwise_conv2d_backward(dy, x, w, b, 1, 3)), repeat)
    exact = r_dw.depthwise_conv2d(x64, w64, b64, 1, 3)
    exact_g = r_dw.depthwise_conv2d_backward(dy64, x64, w64, b64, 1, 3)
    res["ours_err_y"] = maxerr(k_dw.depthwise_conv2d(x, w, b, 1, 3), exact)
    res["ours_err_dx_dw_db"] = [maxerr(g, e) for g, e in zip(k_dw.depthwise_conv2d_backward(dy, x, w, b, 1, 3),
                                                                exact_g)]
    ref32 = r_dw.depthwise_conv2d(*(a.astype(np.float32) for a in (x64, w64, b64)), 1, 3)
    res["reference_f32_err_y"] = maxerr(ref32, exact)
    if HAVE_TORCH:
        F = torch.nn.functional
        tx, tw, tb, tdy = (torch.as_tensor(a, device="cuda") for a in (x, w, b, dy))

        def t_fwd_bwd():
            a, c, d = (t.detach().requires_grad_() for t in (tx, tw, tb))
            F.conv2d(a, c, d, 1, 3, 1, C).backward(tdy)
            return a.grad, c.grad, d.grad

        res["torch_fwd_ms"] = cuda_time(lambda: F.conv2d(tx, tw, tb, 1, 3, 1, C), repeat)
        res["torch_fwd_bwd_ms"] = cuda_time(t_fwd_bwd, repeat)
        res["torch_err_y"] = maxerr(F.conv2d(tx, tw, tb, 1, 3, 1, C), exact)
        res["torch_err_dx_dw_db"] = [maxerr(g, e) for g, e in zip(t_fwd_bwd(), exact_g)]
    return res


def bench_matching(repeat):
    costs = np.random.default_rng(2).random((8, 100, 20))
    res = {"batch": [8, 100, 20]}
    res["ours_batched_ms"] = cuda_time(lambda: k_match.batched_linear_sum_assignment(costs), repeat)
    t0 = time.perf_counter()
    for _ in range(repeat):
        ref = r_match.batched_linear_sum_assignment(costs)
    res["scipy_host_ms"] = (time.perf_counter() - t0) * 1e3 / repeat
    got = k_match.batched_linear_sum_assignment(costs)
    res["same_assignment"] = all(np.array_equal(a[1], b[1]) for a, b in zip(got, ref))
    return res


def bench_ctc(repeat):
    T, B, C, S = 500, 8, 32, 100
    rng = np.random.default_rng(3)
    z = rng.standard_normal((T, B, C))
    lp64 = z - np.log(np.exp(z).sum(-1, keepdims=True))
    targets = rng.integers(1, C, (B, S))
    L = np.full(B, T)
    Sl = np.full(B, S)
    lp = cp.asarray(lp64.astype(np.float32))
    res = {"T_B_C_S": [T, B, C, S], "dtype": "float32"}
    res["ours_loss_ms"] = cuda_time(lambda: k_ctc.ctc_loss(lp, targets, L, Sl), repeat)
    res["ours_loss_grad_ms"] = cuda_time(lambda: (k_ctc.ctc_loss(lp, targets, L, Sl),
                                                  k_ctc.ctc_loss_backward(1.0, lp, targets, L, Sl)), repeat)
    exact = r_ctc.ctc_loss(lp64, targets, L, Sl)
    res["ours_err_loss"] = maxerr(k_ctc.ctc_loss(lp, targets, L, Sl), exact)
    res["ours_err_grad"] = maxerr(k_ctc.ctc_loss_backward(1.0, lp, targets, L, Sl),
                                  r_ctc.ctc_loss_backward(1.0, lp64, targets, L, Sl))
    if HAVE_TORCH:
        tlp = torch.as_tensor(lp, device="cuda")
        tt, tL, tS = (torch.as_tensor(a, device="cuda") for a in (targets, L, Sl))
        F = torch.nn.functional

        def t_loss_grad():
            a = tlp.detach().requires_grad_()
            F.ctc_loss(a, tt, tL, tS).backward()
            return a.grad

        res["torch_loss_ms"] = cuda_time(lambda: F.ctc_loss(tlp, tt, tL, tS), repeat)
        res["torch_loss_grad_ms"] = cuda_time(t_loss_grad, repeat)
        res["torch_err_loss"] = maxerr(F.ctc_loss(tlp, tt, tL, tS), exact)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(os.environ.get("OUT", ".")) / "bench_cuda.json"))
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--only", default="attention,attention_causal,depthwise,matching,ctc")
    args = ap.parse_args()
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    env = {"device": props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"]),
           "cupy": cp.__version__, "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
           "torch": getattr(torch, "__version__", None), "torch_cuda": HAVE_TORCH, "numpy": np.__version__,
           "python": platform.python_version()}
    cases = {}
    runners = {"attention": lambda: bench_attention(args.repeat), "attention_causal":
               lambda: bench_attention(args.repeat, causal=True), "depthwise": lambda: bench_depthwise(args.repeat),
               "matching": lambda: bench_matching(args.repeat), "ctc": lambda: bench_ctc(args.repeat)}
    for name in args.only.split(","):
        try:
            cases[name] = runners[name]()
        except Exception as exc:  # noqa: BLE001 - one failing case must not hide the others
            cases[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(name, json.dumps(cases[name]), flush=True)
    Path(args.out).write_text(json.dumps({"environment": env, "cases": cases}, indent=2))
    print(json.dumps(env))


if __name__ == "__main__":
    main()
