"""Whole models with refimpl.use_kernels("numba") vs the same models on the reference: outputs, losses, the input
gradient and every parameter gradient (issue 8, "Done means").

BERT (sequence classification, padded batch), GPT-2 (LM head, left padding, labels), ConvNeXT (image
classification) and Wav2Vec2ForCTC (padded audio, CTC labels with repeats and -100 padding), tiny configs with
random weights (no transformers needed). Rule: err(kernel vs float64 reference) <= 2 x err(reference in the same
precision vs float64 reference) + floor x max|reference|: float64 runs are held to the floor alone, float32 runs
(kernels in float32) to twice the float32 reference's own error. Every hot path a model uses is counted, so a model
that bypasses dispatch fails here.
"""
import numpy as np
import pytest

numba = pytest.importorskip("numba")

from refimpl.core.kernel_dispatch import use_kernels  # noqa: E402
from refimpl.testing import assert_kernel_within_rule  # noqa: E402
from refimpl.models.bert.config import BertConfig  # noqa: E402
from refimpl.models.bert.modeling import BertForSequenceClassification  # noqa: E402
from refimpl.models.convnext import ConvNextConfig, ConvNextForImageClassification  # noqa: E402
from refimpl.models.gpt2.config import GPT2Config  # noqa: E402
from refimpl.models.gpt2.modeling import GPT2LMHeadModel  # noqa: E402
from refimpl.models.wav2vec2.config import Wav2Vec2Config  # noqa: E402
from refimpl.models.wav2vec2.modeling import Wav2Vec2ForCTC  # noqa: E402
from kernels.numba_cpu import attention, ctc, depthwise_conv  # noqa: E402

HOT = {"attention": (attention, ("scaled_dot_product_attention", "scaled_dot_product_attention_backward")),
       "depthwise_conv": (depthwise_conv, ("depthwise_conv2d", "depthwise_conv2d_backward")),
       "ctc": (ctc, ("ctc_loss", "ctc_loss_backward"))}
FLOOR64 = 1e-12            # relative to the largest |value| of each compared array (DEFAULT_FLOOR, float64)
FLOOR32 = 1e-5


# ------------------------------------------------------------------------------------------- the four models
def bert(dtype):
    cfg = BertConfig(vocab_size=40, hidden_size=24, num_hidden_layers=2, num_attention_heads=3, intermediate_size=37,
                     max_position_embeddings=12, type_vocab_size=2, pad_token_id=0, num_labels=3)
    r = np.random.default_rng(0)
    lengths = (7, 5, 3)
    mask = (np.arange(7)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    ids = np.where(mask == 1, r.integers(1, 40, (3, 7)), 0)
    inputs = dict(input_ids=ids, attention_mask=mask, token_type_ids=(np.arange(7)[None, :] >= 3) * mask,
                  labels=np.array([0, 2, 1]))
    return BertForSequenceClassification(cfg, dtype=dtype), inputs, {"attention": 2}


def gpt2(dtype):
    cfg = GPT2Config(vocab_size=40, n_embd=24, n_layer=2, n_head=3, n_inner=37, n_positions=16, bos_token_id=1,
                     eos_token_id=1, pad_token_id=0)
    r = np.random.default_rng(1)
    lengths = (7, 5, 3)
    mask = (np.arange(7)[None, :] >= 7 - np.array(lengths)[:, None]).astype(np.int64)     # LEFT padding
    ids = np.where(mask == 1, r.integers(2, 40, (3, 7)), 0)
    inputs = dict(input_ids=ids, attention_mask=mask, position_ids=np.where(mask == 1, mask.cumsum(1) - 1, 1),
                  labels=np.where(mask == 1, ids, -100))
    return GPT2LMHeadModel(cfg, dtype=dtype), inputs, {"attention": 2}


def convnext(dtype):
    cfg = ConvNextConfig(num_channels=3, patch_size=2, num_stages=3, hidden_sizes=[8, 12, 16], depths=[2, 1, 2],
                         num_labels=3)
    pixels = np.random.default_rng(2).standard_normal((2, 3, 18, 22))
    return ConvNextForImageClassification(cfg, dtype=dtype), dict(pixel_values=pixels, labels=np.array([2, 0])), \
        {"depthwise_conv": 5}


def wav2vec2_ctc(dtype, reduction="sum"):
    cfg = Wav2Vec2Config(vocab_size=12, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=20, conv_dim=(8, 8, 8), conv_kernel=(5, 3, 3), conv_stride=(3, 2, 2),
                         num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2, layerdrop=0.0,
                         hidden_dropout=0.0, activation_dropout=0.0, attention_dropout=0.0, final_dropout=0.0,
                         ctc_loss_reduction=reduction, pad_token_id=0)
    r = np.random.default_rng(3)
    lengths = (120, 90, 60)                                  # -> 9, 6, 4 frames
    mask = (np.arange(120)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    audio = r.standard_normal((3, 120)) * mask
    labels = np.array([[3, 3, 5, 7, 2], [4, 4, 4, -100, -100], [1, 11, -100, -100, -100]])   # repeats; 6 = 4 + 2
    return Wav2Vec2ForCTC(cfg, dtype=dtype), dict(input_values=audio, attention_mask=mask, labels=labels), \
        {"attention": 2, "ctc": 1}


MODELS = {"bert": bert, "gpt2": gpt2, "convnext": convnext, "wav2vec2_ctc_sum": wav2vec2_ctc,
          "wav2vec2_ctc_mean": lambda dtype: wav2vec2_ctc(dtype, "mean")}


# ------------------------------------------------------------------------------------------- helpers
def randomize_(model, seed=0):
    """Redraw every parameter so nothing is near-identity (ConvNeXT's layer scale starts at 1e-6): 1-d weights
    (norm scales) near 1, 1-d biases near 0, everything else N(0, 0.25^2)."""
    r = np.random.default_rng(seed)
    for name, p in model.named_parameters():
        x = r.standard_normal(p.shape)
        if p.data.ndim == 1 and name.endswith("weight"):
            x = 1.0 + 0.2 * x
        else:
            x = (0.2 if name.endswith("bias") else 0.25) * x
        p.data[...] = x.astype(p.dtype)
    return model


def counting(monkeypatch):
    """Wrap every numba hot-path function; returns {op: [forward calls, backward calls]}."""
    calls = {op: [0, 0] for op in HOT}
    for op, (module, names) in HOT.items():
        for i, name in enumerate(names):
            real = getattr(module, name)

            def wrapped(*a, _real=real, _op=op, _i=i, **k):
                calls[_op][_i] += 1
                return _real(*a, **k)
            monkeypatch.setattr(module, name, wrapped)
    return calls


def run(model, inputs, backend, cotangent_seed=7):
    """Forward (eval mode), backward of loss + a random cotangent on the logits; everything as float64 copies."""
    model.eval()
    model.zero_grad()
    with use_kernels(backend):
        out = model(**inputs)
        d_logits = np.random.default_rng(cotangent_seed).standard_normal(out.logits.shape).astype(model.dtype)
        input_grads = model.backward(loss=1.0, logits=d_logits)
    result = {"loss": out.loss, "logits": out.logits}
    result.update({f"d {k}": v for k, v in input_grads.items()})
    result.update({f"grad {n}": p.grad for n, p in model.named_parameters() if p.grad is not None})
    return {k: np.array(v, copy=True) for k, v in result.items()}


def in_dtype(inputs, dtype):
    return {k: (v.astype(dtype) if np.issubdtype(np.asarray(v).dtype, np.floating) else v) for k, v in inputs.items()}


# ------------------------------------------------------------------------------------------- the test
@pytest.mark.parametrize("name", list(MODELS))
def test_model_equals_itself_without_kernels(name, monkeypatch):
    model64, inputs, expected_calls = MODELS[name](np.float64)
    randomize_(model64)
    calls = counting(monkeypatch)
    ref64 = run(model64, inputs, None)
    assert all(c == [0, 0] for c in calls.values()), f"reference run reached a numba kernel: {calls}"
    ker64 = run(model64, inputs, "numba")
    for op, n in expected_calls.items():
        assert calls[op][0] >= n and calls[op][1] >= n, \
            f"{name}: hot path {op!r} ran {calls[op]} times (forward, backward) under use_kernels('numba'), " \
            f"expected at least {n} each: the model bypasses dispatch"
    assert ref64.keys() == ker64.keys() and any(k.startswith("grad ") for k in ref64)

    model32, _, _ = MODELS[name](np.float32)
    model32.load_state_dict(model64.state_dict())
    inputs32 = in_dtype(inputs, np.float32)
    ref32 = run(model32, inputs32, None)
    ker32 = run(model32, inputs32, "numba")

    worst = {}
    for key, exact in ref64.items():
        scale = max(1.0, float(np.abs(exact).max(initial=0.0)))
        e64 = assert_kernel_within_rule(ker64[key], exact, exact, floor=FLOOR64, scale=scale, name=f"{name} f64 {key}")
        e32 = assert_kernel_within_rule(ker32[key], ref32[key], exact, floor=FLOOR32, scale=scale,
                                        name=f"{name} f32 {key}")
        worst[key] = (e64 / scale, e32 / scale)
    print(f"\n{name}: max relative error f64 {max(w[0] for w in worst.values()):.1e}, "
          f"f32 {max(w[1] for w in worst.values()):.1e} over {len(worst)} arrays")
