"""The four hot paths as benchmark cases: attention, depthwise_conv, ctc, matching.

Each is timed as reference (NumPy), numba and cuda (through refimpl.core.kernel_dispatch, so a kernel
that is not there is reported as skipped) and the baseline (torch on the CPU, plus torch-cuda where
torch sees a GPU; a plain SciPy loop for matching), on the same float32 inputs, and every result is
checked against the float64 reference.

"full" sizes are issue 8's measurement cases, with its targets:
- attention B8 H12 L512 D64 f32, forward and forward+backward: numba >= 1x torch SDPA, >= 2x reference;
- depthwise 7x7 on (8, 96, 56, 56) f32: forward numba >= 1x torch, forward+backward >= 5x torch;
- CTC T500 B16 C32 S100 f32 (reduction mean): forward+backward numba >= 2x torch;
- matching 64 DETR problems (100 x 1..50): numba >= 5x a SciPy loop; one 1000 x 1000: numba >= 1/1.5x SciPy.
"quick" shrinks the batch / length (named in each case's quick_note); "tiny" is a smoke size for tests.
"""
from __future__ import annotations

import functools
from typing import Callable, Dict, List, Sequence

import numpy as np

from .backends import cuda_sync, kernel_function, to_device, to_host, torch_module
from .records import Target
from .registry import Case, Measurement, Workload, register_case

__all__ = ["ATTENTION_SIZES", "DEPTHWISE_SIZES", "CTC_SIZES", "MATCHING_SIZES"]

FB = "forward+backward"
KERNEL_BACKENDS = (("reference", None), ("numba", "numba"), ("cuda", "cuda"))

ATTENTION_SIZES = {"tiny": (1, 2, 16, 8), "quick": (2, 12, 128, 64), "full": (8, 12, 512, 64)}   # B, H, L, D
DEPTHWISE_SIZES = {"tiny": (1, 4, 9, 9, 3), "quick": (2, 96, 56, 56, 7), "full": (8, 96, 56, 56, 7)}  # N, C, H, W, k
CTC_SIZES = {"tiny": (12, 2, 5, 3), "quick": (200, 8, 32, 40), "full": (500, 16, 32, 100)}         # T, B, C, S
MATCHING_SIZES = {"tiny": (4, 10, 5, 20), "quick": (16, 100, 50, 300), "full": (64, 100, 50, 1000)}
# matching: (batch, queries, max targets, square size)


def _f64(arrays: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Float arrays cast to float64 (the exact reference's inputs); integer arrays unchanged."""
    return {k: (v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
            for k, v in arrays.items()}


def _kernel_measurements(hot_path: str, fn_names: Sequence[str], arrays: Dict[str, np.ndarray],
                         ops: Dict[str, Callable], outputs: Dict[str, Callable]) -> List[Measurement]:
    """Measurements of reference / numba / cuda for each op: ops[op](fns, arrays) -> raw, outputs[op](raw) -> dict.
    fns maps each of fn_names to the backend's function; a backend missing any of them is skipped."""
    ms = []
    for impl, backend in KERNEL_BACKENDS:
        fns, reason = {}, None
        for name in fn_names:
            fns[name], why = kernel_function(backend, hot_path, name)
            reason = reason or why
        if reason:
            ms += [Measurement(impl, op, skip=reason) for op in ops]
            continue
        on_device = impl == "cuda"
        arr = {k: to_device(v) for k, v in arrays.items()} if on_device else arrays
        for op, call in ops.items():
            ms.append(Measurement(impl, op, fn=functools.partial(call, fns, arr),
                                  outputs=(lambda raw, o=outputs[op]: o(to_host(raw))),
                                  sync=cuda_sync if on_device else None))
    return ms


def _reference_exact(hot_path: str, fn_names: Sequence[str], arrays, call, outputs) -> Callable[[], dict]:
    """exact(): the reference run on float64 copies of the inputs."""
    def exact():
        fns = {n: kernel_function(None, hot_path, n)[0] for n in fn_names}
        return outputs(call(fns, _f64(arrays)))
    return exact


def _torch_measurements(arrays: Dict[str, np.ndarray], grad_names: Sequence[str], ops: Dict[str, Callable],
                        outputs: Dict[str, Callable], note: str = "") -> List[Measurement]:
    """torch (CPU) and, where torch sees a GPU, torch-cuda measurements of each op.

    ops[op](torch, t) -> tuple/tensor, t = the arrays as tensors on the device (those in grad_names
    require grad); outputs[op](raw as numpy) -> dict. Inputs are moved before timing; each CUDA call is
    followed by torch.cuda.synchronize inside the timing."""
    torch = torch_module()
    if torch is None:
        return [Measurement("torch", op, skip="torch not installed") for op in ops]
    devices = [("torch", "cpu")]
    if torch.cuda.is_available():
        devices.append(("torch-cuda", "cuda"))

    def to_numpy(raw):
        if isinstance(raw, (tuple, list)):
            return tuple(to_numpy(x) for x in raw)
        return raw.detach().cpu().numpy()
    ms = []
    for impl, device in devices:
        t = {k: torch.from_numpy(v).to(device).requires_grad_(k in grad_names) for k, v in arrays.items()}
        sync = torch.cuda.synchronize if device == "cuda" else None
        for op, call in ops.items():
            ms.append(Measurement(impl, op, fn=functools.partial(call, torch, t), sync=sync, note=note,
                                  outputs=(lambda raw, o=outputs[op]: o(to_numpy(raw)))))
    return ms


# ============================================================================================ attention
def _attention_build(size: str) -> List[Workload]:
    B, H, L, D = ATTENTION_SIZES[size]
    rng = np.random.default_rng(0)
    arrays = {n: rng.standard_normal((B, H, L, D)).astype(np.float32) for n in ("q", "k", "v", "dout")}
    fwd, bwd = "scaled_dot_product_attention", "scaled_dot_product_attention_backward"

    def forward(fns, a):
        return fns[fwd](a["q"], a["k"], a["v"])

    def forward_backward(fns, a):
        out = fns[fwd](a["q"], a["k"], a["v"])
        dq, dk, dv, _ = fns[bwd](a["dout"], a["q"], a["k"], a["v"])
        return out, dq, dk, dv

    ops = {"forward": forward, FB: forward_backward}
    outputs = {"forward": lambda o: {"out": o},
               FB: lambda r: dict(zip(("out", "dq", "dk", "dv"), r))}
    ms = _kernel_measurements("attention", (fwd, bwd), arrays, ops, outputs)
    ms += _torch_measurements(arrays, ("q", "k", "v"), {"forward": _attention_torch_forward, FB: _attention_torch_fb},
                              {"forward": lambda o: {"out": o}, FB: outputs[FB]})
    name = f"attention B{B} H{H} L{L} D{D} f32"
    targets = []
    if size == "full":
        for op in ("forward", FB):
            targets += [Target(name, op, "numba", "torch", 1.0, f"attention {op}: numba >= torch SDPA"),
                        Target(name, op, "numba", "reference", 2.0, f"attention {op}: numba >= 2x reference")]
    return [Workload(name, "attention", {"B": B, "H": H, "L": L, "D": D, "dtype": "float32"}, ms,
                     _reference_exact("attention", (fwd, bwd), arrays, forward_backward, outputs[FB]),
                     targets=targets)]


def _attention_torch_forward(torch, t):
    with torch.no_grad():
        return torch.nn.functional.scaled_dot_product_attention(t["q"], t["k"], t["v"])


def _attention_torch_fb(torch, t):
    out = torch.nn.functional.scaled_dot_product_attention(t["q"], t["k"], t["v"])
    return (out,) + torch.autograd.grad(out, (t["q"], t["k"], t["v"]), t["dout"])


register_case(Case("attention", "attention", _attention_build,
                   "scaled dot-product attention, no mask, float32 (torch: F.scaled_dot_product_attention)",
                   quick_note="attention: B2 H12 L128 D64 instead of B8 H12 L512 D64"))


# ============================================================================================ depthwise
def _depthwise_build(size: str) -> List[Workload]:
    N, C, Hh, W, ks = DEPTHWISE_SIZES[size]
    pad = ks // 2
    rng = np.random.default_rng(0)
    arrays = {"x": rng.standard_normal((N, C, Hh, W)).astype(np.float32),
              "weight": (rng.standard_normal((C, 1, ks, ks)) / ks).astype(np.float32),
              "bias": rng.standard_normal(C).astype(np.float32),
              "dy": rng.standard_normal((N, C, Hh, W)).astype(np.float32)}
    fwd, bwd = "depthwise_conv2d", "depthwise_conv2d_backward"

    def forward(fns, a):
        return fns[fwd](a["x"], a["weight"], a["bias"], 1, pad, 1)

    def forward_backward(fns, a):
        y = fns[fwd](a["x"], a["weight"], a["bias"], 1, pad, 1)
        dx, dw, db = fns[bwd](a["dy"], a["x"], a["weight"], a["bias"], 1, pad, 1)
        return y, dx, dw, db

    names = ("y", "dx", "dweight", "dbias")
    ops = {"forward": forward, FB: forward_backward}
    outputs = {"forward": lambda y: {"y": y}, FB: lambda r: dict(zip(names, r))}
    ms = _kernel_measurements("depthwise_conv", (fwd, bwd), arrays, ops, outputs)
    def t_forward(torch, t):
        with torch.no_grad():
            return torch.nn.functional.conv2d(t["x"], t["weight"], t["bias"], padding=pad, groups=C)

    def t_forward_backward(torch, t):
        y = torch.nn.functional.conv2d(t["x"], t["weight"], t["bias"], padding=pad, groups=C)
        return (y,) + torch.autograd.grad(y, (t["x"], t["weight"], t["bias"]), t["dy"])
    ms += _torch_measurements(arrays, ("x", "weight", "bias"), {"forward": t_forward, FB: t_forward_backward},
                              outputs)
    name = f"depthwise {ks}x{ks} ({N}, {C}, {Hh}, {W}) f32"
    targets = []
    if size == "full":
        targets = [Target(name, "forward", "numba", "torch", 1.0, "depthwise 7x7 forward: numba >= torch"),
                   Target(name, FB, "numba", "torch", 5.0, "depthwise 7x7 forward+backward: numba >= 5x torch")]
    return [Workload(name, "depthwise_conv", {"N": N, "C": C, "H": Hh, "W": W, "kernel": ks, "padding": pad,
                                              "dtype": "float32"}, ms,
                     _reference_exact("depthwise_conv", (fwd, bwd), arrays, forward_backward, outputs[FB]),
                     targets=targets)]


register_case(Case("depthwise_conv", "depthwise_conv", _depthwise_build,
                   "depthwise conv2d (groups = C), stride 1, same padding, with bias, float32 (torch: F.conv2d)",
                   quick_note="depthwise_conv: batch 2 instead of 8"))


# ============================================================================================ CTC
def _ctc_build(size: str) -> List[Workload]:
    T, B, C, S = CTC_SIZES[size]
    rng = np.random.default_rng(0)
    z = rng.standard_normal((T, B, C))
    log_probs = (z - np.log(np.exp(z).sum(-1, keepdims=True))).astype(np.float32)     # log_softmax
    arrays = {"log_probs": log_probs, "targets": rng.integers(1, C, (B, S)).astype(np.int64),
              "input_lengths": np.full(B, T, np.int64), "target_lengths": np.full(B, S, np.int64)}
    fwd, bwd = "ctc_loss", "ctc_loss_backward"
    kw = {"blank": 0, "reduction": "mean", "zero_infinity": False}

    def args(a):
        return a["log_probs"], a["targets"], a["input_lengths"], a["target_lengths"]

    def forward(fns, a):
        return fns[fwd](*args(a), **kw)

    def forward_backward(fns, a):
        return fns[fwd](*args(a), **kw), fns[bwd](1.0, *args(a), **kw)

    def exact_outputs(r):
        loss, g = r
        # torch returns the gradient w.r.t. the logits of lp = log_softmax(z) (see refimpl/losses/ctc.py);
        # both are compared after log_softmax's backward: dz = g - exp(lp) * sum_c g
        lp = arrays["log_probs"].astype(np.float64)
        return {"loss": loss, "dlog_probs": g, "dlogits": g - np.exp(lp) * g.sum(-1, keepdims=True)}

    ops = {"forward": forward, FB: forward_backward}
    outputs = {"forward": lambda loss: {"loss": np.asarray(loss)},
               FB: lambda r: {"loss": np.asarray(r[0]), "dlog_probs": r[1]}}
    ms = _kernel_measurements("ctc", (fwd, bwd), arrays, ops, outputs)
    def t_args(t):
        return t["log_probs"], t["targets"], t["input_lengths"], t["target_lengths"]

    def t_forward(torch, t):
        with torch.no_grad():
            return torch.nn.functional.ctc_loss(*t_args(t), **kw)

    def t_forward_backward(torch, t):
        loss = torch.nn.functional.ctc_loss(*t_args(t), **kw)
        return loss, torch.autograd.grad(loss, t["log_probs"])[0]
    ms += _torch_measurements(arrays, ("log_probs",), {"forward": t_forward, FB: t_forward_backward},
                              {"forward": lambda l: {"loss": l}, FB: lambda r: {"loss": r[0], "dlogits": r[1]}},
                              note="torch's gradient is w.r.t. the logits; compared as dlogits")
    name = f"ctc T{T} B{B} C{C} S{S} f32"
    targets = [Target(name, FB, "numba", "torch", 2.0, "CTC forward+backward: numba >= 2x torch")] \
        if size == "full" else []
    exact = _reference_exact("ctc", (fwd, bwd), arrays, forward_backward, exact_outputs)
    return [Workload(name, "ctc", {"T": T, "B": B, "C": C, "S": S, "reduction": "mean", "dtype": "float32"}, ms,
                     exact, targets=targets)]


register_case(Case("ctc", "ctc", _ctc_build, "CTC loss and its gradient, reduction mean, float32 (torch: F.ctc_loss)",
                   quick_note="ctc: T200 B8 S40 instead of T500 B16 S100"))


# ============================================================================================ matching
def _assignment_cost(cost: np.ndarray, rc) -> float:
    """The total cost of an assignment (rows, cols); NaN if it is not a valid full assignment."""
    rows, cols = (np.asarray(x) for x in rc)
    k = min(cost.shape)
    if rows.shape != (k,) or cols.shape != (k,) or len(set(rows.tolist())) != k or len(set(cols.tolist())) != k:
        return float("nan")
    return float(cost[rows, cols].sum())


def _matching_build(size: str) -> List[Workload]:
    nb, nq, max_t, n_big = MATCHING_SIZES[size]
    rng = np.random.default_rng(0)
    batch = [rng.random((nq, int(rng.integers(1, max_t + 1)))) for _ in range(nb)]
    big = rng.random((n_big, n_big))
    try:
        from scipy.optimize import linear_sum_assignment as scipy_lsa
    except ImportError:                                                   # pragma: no cover
        scipy_lsa = None
    workloads = []
    for label, problems, batched in ((f"matching {nb} x ({nq} x 1..{max_t}) f64", batch, True),
                                     (f"matching {n_big} x {n_big} f64", [big], False)):
        fn_name = "batched_linear_sum_assignment" if batched else "linear_sum_assignment"

        def call(fns, a, fn_name=fn_name, batched=batched):
            return fns[fn_name](a["costs"]) if batched else [fns[fn_name](a["costs"][0])]

        def costs_of(raw, problems=problems):
            return {"total_cost": np.array([_assignment_cost(c, rc) for c, rc in zip(problems, raw)])}
        arrays = {"costs": problems}
        ms = _kernel_measurements("matching", (fn_name,), arrays, {"solve": call}, {"solve": costs_of})
        if scipy_lsa is None:                                             # pragma: no cover
            ms.append(Measurement("scipy", "solve", skip="scipy not installed"))
        else:
            ms.append(Measurement("scipy", "solve", fn=lambda problems=problems: [scipy_lsa(c) for c in problems],
                                  outputs=costs_of, note="a Python loop over scipy.optimize.linear_sum_assignment"))
        targets = []
        if size == "full":
            targets = [Target(label, "solve", "numba", "scipy", 5.0,
                              "matching 64 DETR problems: numba >= 5x SciPy loop") if batched else
                       Target(label, "solve", "numba", "scipy", 1 / 1.5,
                              "matching 1000 x 1000: numba within 1.5x SciPy")]
        exact = (lambda problems=problems, costs_of=costs_of: costs_of([scipy_lsa(c) for c in problems])) \
            if scipy_lsa else \
            _reference_exact("matching", (fn_name,), arrays, call, costs_of)
        workloads.append(Workload(label, "matching",
                                  {"problems": len(problems), "shapes": "x".join(map(str, problems[0].shape))
                                   if not batched else f"{nq} x 1..{max_t}", "dtype": "float64"},
                                  ms, exact, baseline="scipy", targets=targets))
    return workloads


register_case(Case("matching", "matching", _matching_build,
                   "linear sum assignment (minimise), float64 costs; baseline: a loop of "
                   "scipy.optimize.linear_sum_assignment",
                   quick_note="matching: 16 DETR problems instead of 64, 300 x 300 instead of 1000 x 1000"))
