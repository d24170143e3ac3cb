"""Model families as benchmark cases: forward and forward+backward of the whole model, float32, eval mode.

    bert      BertModel            BERT-base     12 layers, 768 hidden, 12 heads; batch 2 x 128 tokens
    gpt2      GPT2Model            GPT-2 small   12 layers, 768 hidden, 12 heads; batch 2 x 128 tokens
    vit       ViTModel             ViT-B/16      12 layers, 768 hidden, 224 x 224 images; batch 2
    convnext  ConvNextModel        ConvNeXT-T    depths 3-3-9-3, widths 96-768, 224 x 224 images; batch 2
    wav2vec2  Wav2Vec2ForCTC       wav2vec2-base 7-conv feature encoder, 12 layers, 768 hidden; batch 2 x 1 s
                                   (16000 samples) with CTC labels (the loss is the output)

Implementations: reference (refimpl, use_kernels(None)), numba (the same model under
use_kernels("numba"); skipped when a hot path it uses has no numba kernel), cuda (use_kernels("cuda"),
only with a GPU), torch (the transformers model, attn_implementation="sdpa"). All share one set of
weights (the transformers model's initial weights, loaded into refimpl by state-dict key), so every
output, the input gradient and EVERY parameter gradient are checked against the float64 reference
model in the same run. Forward alone runs under no_grad on both sides. forward+backward: the
gradient of the last hidden state against a fixed random cotangent (of the CTC loss for wav2vec2).
--quick keeps each real width and cuts depth, input length and the text vocabularies (the quick_note
of each case says how).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from ..core.grad_mode import no_grad
from ..core.kernel_dispatch import use_kernels
from .backends import kernel_function, torch_module
from .registry import Case, Measurement, Workload, register_case

__all__ = ["ModelSpec", "MODEL_SPECS"]

FB = "forward+backward"
# the public function names of each hot path, to tell up front whether a backend has the kernels
HOT_PATH_FUNCTIONS = {
    "attention": ("scaled_dot_product_attention", "scaled_dot_product_attention_backward"),
    "depthwise_conv": ("depthwise_conv2d", "depthwise_conv2d_backward"),
    "ctc": ("ctc_loss", "ctc_loss_backward"),
}


@dataclass
class ModelSpec:
    """One family: refimpl module/class, transformers class, config per size, inputs per size.

    configs[size]: keyword arguments given to BOTH configs (the HF names); inputs(size, rng) -> numpy
    inputs keyed by HF argument name; output: the field that gets the cotangent ("loss" = scalar 1.0);
    grad_input: the float input whose gradient is compared (None for token ids); hot_paths: the kernels
    the model routes through; shapes[size]: how the size is described in the case name."""
    name: str
    ref_module: str
    ref_class: str
    hf_class: str
    hf_config: str
    configs: Dict[str, Dict[str, Any]]
    inputs: Callable[[str, np.random.Generator], Dict[str, np.ndarray]]
    shapes: Dict[str, str]
    output: str = "last_hidden_state"
    grad_input: Any = None
    hot_paths: Tuple[str, ...] = ("attention",)
    hf_kwargs: Dict[str, Any] = field(default_factory=dict)
    hf_attn: Any = "sdpa"                  # attn_implementation for transformers (None: no attention)
    real_model: str = ""
    quick_note: str = ""


def _text_inputs(batch_len, vocab):
    def inputs(size, rng):
        B, L = batch_len[size]
        return {"input_ids": rng.integers(1, vocab[size], (B, L)).astype(np.int64),
                "attention_mask": np.ones((B, L), np.int64)}
    return inputs


def _image_inputs(batch_res):
    def inputs(size, rng):
        B, R = batch_res[size]
        return {"pixel_values": rng.standard_normal((B, 3, R, R)).astype(np.float32)}
    return inputs


def _audio_inputs(batch_samples, vocab=32, n_labels=8):
    def inputs(size, rng):
        B, N = batch_samples[size]
        return {"input_values": rng.standard_normal((B, N)).astype(np.float32),
                "labels": rng.integers(1, vocab, (B, n_labels[size])).astype(np.int64)}
    return inputs


TEXT = {"tiny": (2, 8), "quick": (1, 64), "full": (2, 128)}
# --quick: the (vocab x 768) embedding dominates construction, the float64 copy and the gradient checks of a
# 2-layer text model, so its vocabulary is cut too (said in the output)
QUICK_VOCAB = 8000
BASE_768 = dict(hidden_size=768, num_attention_heads=12, intermediate_size=3072)
TINY_TEXT = dict(hidden_size=32, num_attention_heads=2, intermediate_size=37, num_hidden_layers=2)

MODEL_SPECS: Dict[str, ModelSpec] = {
    "bert": ModelSpec(
        "bert", "refimpl.models.bert", "BertModel", "BertModel", "BertConfig",
        {"full": dict(BASE_768, num_hidden_layers=12),
         "quick": dict(BASE_768, num_hidden_layers=2, vocab_size=QUICK_VOCAB),
         "tiny": dict(TINY_TEXT, vocab_size=100, max_position_embeddings=16)},
        _text_inputs(TEXT, {"tiny": 100, "quick": QUICK_VOCAB, "full": 30522}),
        {s: f"B{b} L{l}" for s, (b, l) in TEXT.items()},
        real_model="BERT-base",
        quick_note=f"bert: 2 of 12 layers, vocabulary {QUICK_VOCAB} instead of 30522, batch 1 x 64 tokens"),
    "gpt2": ModelSpec(
        "gpt2", "refimpl.models.gpt2", "GPT2Model", "GPT2Model", "GPT2Config",
        {"full": dict(n_embd=768, n_head=12, n_layer=12),
         "quick": dict(n_embd=768, n_head=12, n_layer=2, vocab_size=QUICK_VOCAB, bos_token_id=0, eos_token_id=0),
         "tiny": dict(n_embd=32, n_head=2, n_layer=2, vocab_size=100, n_positions=16)},
        _text_inputs(TEXT, {"tiny": 100, "quick": QUICK_VOCAB, "full": 50257}),
        {s: f"B{b} L{l}" for s, (b, l) in TEXT.items()},
        hf_kwargs={"use_cache": False}, real_model="GPT-2 small",
        quick_note=f"gpt2: 2 of 12 layers, vocabulary {QUICK_VOCAB} instead of 50257, batch 1 x 64 tokens"),
    "vit": ModelSpec(
        "vit", "refimpl.models.vit", "ViTModel", "ViTModel", "ViTConfig",
        {"full": dict(BASE_768, num_hidden_layers=12), "quick": dict(BASE_768, num_hidden_layers=2, image_size=112),
         "tiny": dict(TINY_TEXT, image_size=32, patch_size=8)},
        _image_inputs({"tiny": (2, 32), "quick": (1, 112), "full": (2, 224)}),
        {"tiny": "B2 32px", "quick": "B1 112px", "full": "B2 224px"},
        grad_input="pixel_values", real_model="ViT-B/16",
        quick_note="vit: 2 of 12 layers, batch 1 x 112 px (50 tokens)"),
    "convnext": ModelSpec(
        "convnext", "refimpl.models.convnext", "ConvNextModel", "ConvNextModel", "ConvNextConfig",
        {"full": dict(depths=[3, 3, 9, 3], hidden_sizes=[96, 192, 384, 768]),
         "quick": dict(depths=[1, 1, 1, 1], hidden_sizes=[96, 192, 384, 768]),
         "tiny": dict(depths=[1, 1], hidden_sizes=[8, 16], num_stages=2)},
        _image_inputs({"tiny": (2, 32), "quick": (1, 112), "full": (2, 224)}),
        {"tiny": "B2 32px", "quick": "B1 112px", "full": "B2 224px"},
        grad_input="pixel_values", hot_paths=("depthwise_conv",), hf_attn=None, real_model="ConvNeXT-T",
        quick_note="convnext: depths 1-1-1-1 instead of 3-3-9-3, batch 1 x 112 px"),
    "wav2vec2": ModelSpec(
        "wav2vec2", "refimpl.models.wav2vec2", "Wav2Vec2ForCTC", "Wav2Vec2ForCTC", "Wav2Vec2Config",
        {"full": dict(BASE_768, num_hidden_layers=12), "quick": dict(BASE_768, num_hidden_layers=2),
         "tiny": dict(TINY_TEXT, conv_dim=[8, 8], conv_stride=[5, 2], conv_kernel=[10, 3],
                      num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)},
        _audio_inputs({"tiny": (2, 400), "quick": (1, 8000), "full": (2, 16000)},
                      n_labels={"tiny": 4, "quick": 8, "full": 10}),
        {"tiny": "B2 400 samples", "quick": "B1 8000 samples", "full": "B2 16000 samples"},
        output="loss", grad_input="input_values", hot_paths=("attention", "ctc"), real_model="wav2vec2-base",
        quick_note="wav2vec2: 2 of 12 layers, batch 1 x 0.5 s"),
}


def _outputs_of(spec: ModelSpec, out, params, input_grad) -> Dict[str, np.ndarray]:
    """{output, d<grad_input>, grad:<param name>...} as numpy (None where torch left a grad unset)."""
    d = {spec.output: np.asarray(out)}
    if input_grad is not None:
        d["d" + spec.grad_input] = input_grad
    for name, g in params:
        d["grad:" + name] = g
    return d


def _checkpoint_names(hf) -> Dict[str, str]:
    """{transformers' live parameter name: checkpoint key}; transformers 5 renames some families' modules
    on load (ViT), refimpl uses the checkpoint keys."""
    try:
        from ..interop.diff import checkpoint_param_names
    except ImportError:
        return {}
    return checkpoint_param_names(hf)


class _RefimplRunner:
    """Forward / forward+backward of one refimpl model under a kernel backend (None = reference)."""

    def __init__(self, spec: ModelSpec, model, inputs, cotangent, backend):
        self.spec, self.model, self.inputs, self.cot, self.backend = spec, model, inputs, cotangent, backend

    def forward(self):
        with use_kernels(self.backend), no_grad():
            return self.model(**self.inputs)[self.spec.output]

    def forward_backward(self):
        self.model.zero_grad()
        with use_kernels(self.backend):
            out = self.model(**self.inputs)
            if self.spec.output == "loss":
                grads = self.model.backward()
            else:
                grads = self.model.backward(**{self.spec.output: self.cot})
        return out[self.spec.output], grads.get(self.spec.grad_input)

    def fb_outputs(self, raw):
        out, gin = raw
        return _outputs_of(self.spec, out, [(n, p.grad) for n, p in self.model.named_parameters()], gin)


class _TorchRunner:
    def __init__(self, spec: ModelSpec, torch, hf, inputs, cotangent):
        self.spec, self.torch, self.hf = spec, torch, hf
        self.key_of = _checkpoint_names(hf)           # live name -> checkpoint key (= refimpl's name)
        self.inputs = {k: torch.from_numpy(v) for k, v in inputs.items()}
        if spec.grad_input:
            self.inputs[spec.grad_input].requires_grad_(True)
        self.cot = None if cotangent is None else torch.from_numpy(cotangent)

    def forward(self):
        with self.torch.no_grad():
            return getattr(self.hf(**self.inputs, **self.spec.hf_kwargs), self.spec.output)

    def forward_backward(self):
        self.hf.zero_grad(set_to_none=True)
        x = self.inputs.get(self.spec.grad_input)
        if x is not None:
            x.grad = None
        out = getattr(self.hf(**self.inputs, **self.spec.hf_kwargs), self.spec.output)
        out.backward(self.cot)
        return out, (None if x is None else x.grad)

    def fb_outputs(self, raw):
        out, gin = raw
        key_of = self.key_of
        params = [(key_of.get(n, n), None if p.grad is None else p.grad.numpy())
                  for n, p in self.hf.named_parameters()]
        return _outputs_of(self.spec, out.detach().numpy(), params, None if gin is None else gin.numpy())


def _build_model(spec: ModelSpec, size: str) -> List[Workload]:
    torch = torch_module()
    try:
        transformers = importlib.import_module("transformers") if torch is not None else None
    except ImportError:
        transformers = None
    module = importlib.import_module(spec.ref_module)
    ref_cls = getattr(module, spec.ref_class)
    ref_cfg_cls = getattr(module, spec.hf_config)
    kw = spec.configs[size]
    rng = np.random.default_rng(0)
    inputs = spec.inputs(size, rng)

    # one set of weights: transformers' own init when it is there, else refimpl's
    hf = None
    if transformers is not None:
        torch.manual_seed(0)
        attn = {} if spec.hf_attn is None else {"attn_implementation": spec.hf_attn}
        hf = getattr(transformers, spec.hf_class)(getattr(transformers, spec.hf_config)(**kw, **attn)).float().eval()
        key_of = _checkpoint_names(hf)
        state = {key_of.get(k, k): v.detach().numpy() for k, v in hf.state_dict().items()}
    model = ref_cls(ref_cfg_cls(**kw), dtype=np.float32).eval()
    if hf is not None:
        model.load_state_dict(state)
    else:
        state = {k: v for k, v in model.state_dict().items()}

    # the cotangent of the output (shape known after one forward); none for a loss
    cot = None
    if spec.output != "loss":
        with no_grad():
            shape = model(**inputs)[spec.output].shape
        cot = np.random.default_rng(1).standard_normal(shape).astype(np.float32)

    ms: List[Measurement] = []
    for impl, backend in (("reference", None), ("numba", "numba"), ("cuda", "cuda")):
        reason = None
        if backend is not None:
            for hp in spec.hot_paths:
                for fn_name in HOT_PATH_FUNCTIONS[hp]:
                    reason = reason or kernel_function(backend, hp, fn_name)[1]
        if reason:
            ms += [Measurement(impl, op, skip=reason) for op in ("forward", FB)]
            continue
        r = _RefimplRunner(spec, model, inputs, cot, backend)
        ms += [Measurement(impl, "forward", fn=r.forward, outputs=lambda o: {spec.output: np.asarray(o)}),
               Measurement(impl, FB, fn=r.forward_backward, outputs=r.fb_outputs)]
    if hf is None:
        ms += [Measurement("torch", op, skip="torch/transformers not installed") for op in ("forward", FB)]
    else:
        t = _TorchRunner(spec, torch, hf, inputs, cot)
        ms += [Measurement("torch", "forward", fn=t.forward,
                           outputs=lambda o: {spec.output: o.detach().numpy()}),
               Measurement("torch", FB, fn=t.forward_backward, outputs=t.fb_outputs)]

    def exact():
        m64 = ref_cls(ref_cfg_cls(**kw), dtype=np.float64).eval()
        m64.load_state_dict(state)
        in64 = {k: (v.astype(np.float64) if v.dtype.kind == "f" else v) for k, v in inputs.items()}
        c64 = None if cot is None else cot.astype(np.float64)
        r64 = _RefimplRunner(spec, m64, in64, c64, None)
        return r64.fb_outputs(r64.forward_backward())

    n_params = sum(int(np.prod(v.shape)) for v in state.values())
    name = f"{spec.name} ({spec.real_model}{'' if size == 'full' else ', ' + size}) {spec.shapes[size]} f32"
    params = dict(kw, model=spec.real_model, inputs=spec.shapes[size], parameters=n_params, dtype="float32",
                  size=size)
    return [Workload(name, "models", params, ms, exact)]


for _spec in MODEL_SPECS.values():
    register_case(Case(_spec.name, "models", lambda size, s=_spec: _build_model(s, size),
                       f"{_spec.ref_class} ({_spec.real_model}) forward and forward+backward vs transformers",
                       quick_note=_spec.quick_note))
