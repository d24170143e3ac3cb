"""The model contract (PreTrainedModel, ModelOutput) on a toy model family defined here.

ToyModel (base: one Linear) and ToyForRegression (base + Linear head + 0.5 * mean squared error)
follow the contract the real families follow; the tests check the bookkeeping of the base class,
checkpoint loading/saving with HF's conventions, and the toy's gradients against torch.
"""
import json
from typing import Optional

import numpy as np
import pytest

from refimpl.core.config import PretrainedConfig
from refimpl.core.errors import BackwardError, ConfigError, DTypeError, ShapeError, StateDictError
from refimpl.core.grad_mode import no_grad
from refimpl.core.model import ModelOutput, PreTrainedModel
from refimpl.interop.hf_checkpoint import load_hf_state_dict
from refimpl.interop.safetensors_io import load_safetensors, read_safetensors_header, save_safetensors
from refimpl.nn.linear import Linear


# ============================================================================ the toy family
class ToyConfig(PretrainedConfig):
    model_type = "toy"
    in_features: int = 4
    hidden_size: int = 3
    tie_word_embeddings: bool = False


class ToyOutput(ModelOutput):
    last_hidden_state: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None


class ToyRegressionOutput(ModelOutput):
    loss: Optional[np.ndarray] = None
    logits: Optional[np.ndarray] = None
    hidden_states: Optional[tuple] = None


class ToyPreTrainedModel(PreTrainedModel):
    config_class = ToyConfig
    base_model_prefix = "toy"
    differentiable_inputs = ("inputs_embeds",)


class ToyModel(ToyPreTrainedModel):
    """h = dense(x); hidden_states = (x, h)."""

    def __init__(self, config, dtype=np.float64):
        super().__init__(config, dtype)
        self.dense = Linear(config.in_features, config.hidden_size, dtype=self.dtype, rng=np.random.default_rng(1))
        self.post_init()

    def forward(self, inputs_embeds=None, output_hidden_states=None):
        h = self.dense(inputs_embeds)                                    # (B, H)
        self.save_for_backward(h.shape)
        hs = (inputs_embeds, h) if output_hidden_states else None
        return ToyOutput(last_hidden_state=h, hidden_states=hs)

    def _backward(self, grads):
        (shape,) = self.saved()
        dh = grads.get("last_hidden_state", np.zeros(shape, self.dtype))
        dx_direct = None
        if "hidden_states" in grads:
            g0, g1 = grads["hidden_states"]
            dh = dh + g1 if g1 is not None else dh                        # h is output twice
            dx_direct = g0
        dx = self.dense.backward(dh)
        return {"inputs_embeds": dx if dx_direct is None else dx + dx_direct}


class ToyForRegression(ToyPreTrainedModel):
    """logits = head(toy(x)); loss = 0.5 * mean((logits - labels)^2)."""

    tied_weights_keys = {"head.weight": "toy.dense.weight"}

    def __init__(self, config, dtype=np.float64):
        super().__init__(config, dtype)
        self.toy = ToyModel(config, dtype)
        # head maps hidden back to in_features; tying needs in_features == hidden_size
        self.head = Linear(config.hidden_size, config.in_features, dtype=self.dtype, rng=np.random.default_rng(2))
        self.post_init()

    def forward(self, inputs_embeds=None, labels=None, output_hidden_states=None):
        base = self.toy(inputs_embeds=inputs_embeds, output_hidden_states=output_hidden_states)
        logits = self.head(base.last_hidden_state)                      # (B, in)
        loss = None
        if labels is not None:
            loss = np.asarray(0.5 * np.mean((logits - labels) ** 2), dtype=logits.dtype)
        self.save_for_backward(logits, labels)
        return ToyRegressionOutput(loss=loss, logits=logits, hidden_states=base.hidden_states)

    def _backward(self, grads):
        logits, labels = self.saved()
        dlogits = grads.get("logits", np.zeros_like(logits))
        if "loss" in grads:
            dlogits = dlogits + grads["loss"] * (logits - labels) / logits.size   # d(0.5 mean r^2)/dr = r / N
        dh = self.head.backward(dlogits)
        base_grads = {"last_hidden_state": dh}
        if "hidden_states" in grads:
            base_grads["hidden_states"] = grads["hidden_states"]
        return self.toy.backward(**base_grads)


@pytest.fixture
def x(rng):
    return rng.standard_normal((5, 4))


@pytest.fixture
def y(rng):
    return rng.standard_normal((5, 4))


def _randomize(model, seed=0):
    r = np.random.default_rng(seed)
    for _, p in model.named_parameters():
        p.data = r.standard_normal(p.shape).astype(p.dtype)
    return model


# ============================================================================ ModelOutput
def test_model_output_mapping_behaviour():
    a, b = np.zeros(2), np.ones(3)
    out = ToyRegressionOutput(logits=a, hidden_states=(a, b))
    assert list(out.keys()) == ["logits", "hidden_states"] and len(out) == 2
    assert out.loss is None and "loss" not in out
    with pytest.raises(KeyError, match="loss"):
        out["loss"]
    assert out[0] is a and out["logits"] is a and out.logits is a
    assert out.to_tuple() == (a, (a, b)) and out[1:] == ((a, b),)
    out.loss = np.asarray(1.5)                       # present now: first in field order
    assert list(out) == ["loss", "logits", "hidden_states"] and out[0] == 1.5
    out["hidden_states"] = None                      # removed from keys
    assert list(out.keys()) == ["loss", "logits"]
    assert dict(out.items())["logits"] is a and out.get("hidden_states", "none") == "none"
    with pytest.raises(AttributeError, match="pooler"):
        ToyRegressionOutput(pooler=a)
    with pytest.raises(AttributeError, match="pooler"):
        out.pooler
    with pytest.raises(AttributeError, match="no field"):
        out.pooler = a
    assert ToyRegressionOutput(np.asarray(0.0), a).logits is a       # positional in field order
    assert "logits=array(shape=(2,)" in repr(out)


def test_model_output_generic_and_unpacking():
    a = np.zeros(2)
    out = ModelOutput(z=a, y=None, w=3)
    assert list(out) == ["z", "w"] and out.z is a and out.y is None
    loss, logits = ToyRegressionOutput(loss=np.asarray(1.0), logits=a).to_tuple()
    assert logits is a
    assert out == out and out != ModelOutput(z=a, w=3)               # identity, no array truth values


def test_model_output_field_default_must_be_none():
    with pytest.raises(TypeError, match="default to None"):
        class Bad(ModelOutput):
            logits: np.ndarray = 0


# ============================================================================ construction, call, backward
def test_config_class_enforced():
    with pytest.raises(ConfigError, match="ToyConfig"):
        ToyModel(PretrainedConfig())
    with pytest.raises(DTypeError, match="dtype"):
        ToyModel(ToyConfig(), dtype=np.float16)


def test_dtype_and_parameters():
    m = ToyForRegression(ToyConfig(), dtype=np.float32)
    assert m.dtype == np.float32 and all(p.dtype == np.float32 for p in m.parameters())
    assert m.num_parameters() == 4 * 3 + 3 + 3 * 4 + 4
    assert m.base_model is m.toy and m.toy.base_model is m.toy
    m.to(np.float64)
    assert m.dtype == np.float64


def test_keyword_only_and_output_type(x):
    m = ToyModel(ToyConfig())
    with pytest.raises(TypeError, match="keyword"):
        m(x)

    class NoOutput(ToyModel):
        def forward(self, inputs_embeds=None):
            return inputs_embeds

    with pytest.raises(TypeError, match="ModelOutput"):
        NoOutput(ToyConfig())(inputs_embeds=x)


def _torch_reference(model, x, y, torch):
    """The toy in torch with the same weights: returns loss, logits and grads (autograd)."""
    t = {k: torch.tensor(v, requires_grad=True) for k, v in model.state_dict().items()}
    tx = torch.tensor(x, requires_grad=True)
    h = tx @ t["toy.dense.weight"].T + t["toy.dense.bias"]
    logits = h @ t["head.weight"].T + t["head.bias"]
    loss = 0.5 * ((logits - torch.tensor(y)) ** 2).mean()
    loss.backward()
    return loss, logits, tx.grad, {k: v.grad for k, v in t.items()}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_backward_default_loss_matches_torch(x, y, dtype):
    torch = pytest.importorskip("torch")
    m = _randomize(ToyForRegression(ToyConfig(), dtype=dtype))
    xd, yd = x.astype(dtype), y.astype(dtype)
    out = m(inputs_embeds=xd, labels=yd)
    grads = m.backward()                                         # loss=1.0 by default
    assert set(grads) == {"inputs_embeds"} and grads["inputs_embeds"].dtype == dtype
    loss, logits, dx, dparams = _torch_reference(m, xd, yd, torch)
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.loss, loss.detach().numpy(), **tol)
    np.testing.assert_allclose(out.logits, logits.detach().numpy(), **tol)
    np.testing.assert_allclose(grads["inputs_embeds"], dx.numpy(), **tol)
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, dparams[name].numpy(), err_msg=name, **tol)


def test_backward_explicit_grads_and_tuple_outputs(x, rng):
    m = _randomize(ToyForRegression(ToyConfig()))
    out = m(inputs_embeds=x, output_hidden_states=True)
    assert list(out.keys()) == ["logits", "hidden_states"]           # no labels: no loss
    g_logits = rng.standard_normal(out.logits.shape)
    g_h = rng.standard_normal(out.hidden_states[1].shape)
    g_x = rng.standard_normal(x.shape)
    grads = m.backward(logits=g_logits, hidden_states=(g_x, g_h))
    W1, W2 = m.toy.dense.weight.data, m.head.weight.data
    # d/dx of <g_logits, (x W1^T) W2^T> + <g_h, x W1^T> + <g_x, x>
    expected = (g_logits @ W2 + g_h) @ W1 + g_x
    np.testing.assert_allclose(grads["inputs_embeds"], expected, rtol=1e-12, atol=1e-13)
    # tuple entries may be None
    m(inputs_embeds=x, output_hidden_states=True)
    grads = m.backward(hidden_states=(None, g_h))
    np.testing.assert_allclose(grads["inputs_embeds"], g_h @ W1, rtol=1e-12, atol=1e-13)


def test_parameter_grads_accumulate_and_stack_order(x, y):
    m = _randomize(ToyForRegression(ToyConfig()))
    m(inputs_embeds=x, labels=y)
    m.backward()
    once = m.head.weight.grad.copy()
    m(inputs_embeds=x, labels=y)
    m(inputs_embeds=2 * x, labels=y)       # two forwards, two backwards, most recent first
    m.backward()
    m.backward()
    m2 = _randomize(ToyForRegression(ToyConfig()))
    m2(inputs_embeds=2 * x, labels=y)
    m2.backward()
    np.testing.assert_allclose(m.head.weight.grad, 2 * once + m2.head.weight.grad, rtol=1e-12)
    m.zero_grad()
    assert m.head.weight.grad is None


def test_backward_errors(x, y):
    m = ToyForRegression(ToyConfig())
    with pytest.raises(BackwardError, match="no forward"):
        m.backward()
    with no_grad():
        m(inputs_embeds=x, labels=y)
    with pytest.raises(BackwardError, match="no forward"):
        m.backward()
    m(inputs_embeds=x)
    with pytest.raises(BackwardError, match="no loss"):
        m.backward()
    out = m(inputs_embeds=x, labels=y)
    with pytest.raises(ConfigError, match="'pooler_output' is not an output"):
        m.backward(pooler_output=np.zeros(3))
    m.clear_saved()
    out = m(inputs_embeds=x, labels=y)
    with pytest.raises(ShapeError, match="logits"):
        m.backward(logits=np.zeros((2, 2)))
    m.clear_saved()
    m(inputs_embeds=x, labels=y)
    with pytest.raises(DTypeError, match="logits"):
        m.backward(logits=out.logits.astype(np.float32))
    m.clear_saved()
    m(inputs_embeds=x, output_hidden_states=True)
    with pytest.raises(ShapeError, match="hidden_states"):
        m.backward(hidden_states=(None,))
    m.clear_saved()
    m(inputs_embeds=x, labels=y)
    grads = m.backward(loss=2.0)                       # a Python float for the 0-d loss
    assert grads["inputs_embeds"].shape == x.shape


def test_backward_must_return_exactly_the_given_differentiable_inputs(x):
    class Wrong(ToyModel):
        def _backward(self, grads):
            super()._backward(grads)
            return {}

    m = Wrong(ToyConfig())
    m(inputs_embeds=x)
    with pytest.raises(BackwardError, match="inputs_embeds"):
        m.backward(last_hidden_state=np.ones((5, 3)))


# ============================================================================ tied weights
def test_tie_weights_shares_one_parameter_and_sums_grads(x, y):
    cfg = ToyConfig(in_features=3, hidden_size=3, tie_word_embeddings=True)
    m = _randomize(ToyForRegression(cfg))
    assert m.head.weight is m.toy.dense.weight
    assert [n for n, _ in m.named_parameters()] == ["toy.dense.weight", "toy.dense.bias", "head.bias"]
    assert list(m.state_dict()) == ["toy.dense.weight", "toy.dense.bias", "head.weight", "head.bias"]
    assert m.num_parameters() == 9 + 3 + 3
    torch = pytest.importorskip("torch")
    m(inputs_embeds=x[:, :3], labels=y[:, :3])
    m.backward()
    W = torch.tensor(m.toy.dense.weight.data, requires_grad=True)
    tx = torch.tensor(x[:, :3])
    logits = (tx @ W.T + torch.tensor(m.toy.dense.bias.data)) @ W.T + torch.tensor(m.head.bias.data)
    (0.5 * ((logits - torch.tensor(y[:, :3])) ** 2).mean()).backward()
    np.testing.assert_allclose(m.toy.dense.weight.grad, W.grad.numpy(), rtol=1e-12, atol=1e-14)
    with pytest.raises(ShapeError, match="head.weight"):
        ToyForRegression(ToyConfig(in_features=4, hidden_size=3, tie_word_embeddings=True))


def test_tied_weight_saved_once_and_restored(tmp_path):
    cfg = ToyConfig(in_features=3, hidden_size=3, tie_word_embeddings=True)
    m = _randomize(ToyForRegression(cfg))
    m.save_pretrained(tmp_path)
    header, _ = read_safetensors_header(tmp_path / "model.safetensors")
    assert sorted(header) == ["head.bias", "toy.dense.bias", "toy.dense.weight"]      # head.weight omitted
    m2 = ToyForRegression.from_pretrained(tmp_path)
    assert m2.head.weight is m2.toy.dense.weight
    np.testing.assert_array_equal(m2.head.weight.data, m.toy.dense.weight.data)
    # a checkpoint holding both keys with different values: the source (first in model order) wins
    sd = {k: v.copy() for k, v in m.state_dict().items()}
    sd["head.weight"] = sd["head.weight"] + 1.0
    save_safetensors(sd, tmp_path / "model.safetensors")
    m3 = ToyForRegression.from_pretrained(tmp_path)
    np.testing.assert_array_equal(m3.head.weight.data, m.toy.dense.weight.data)


# ============================================================================ save / load
def test_save_pretrained_then_from_pretrained_exact(tmp_path):
    m = _randomize(ToyForRegression(ToyConfig(hidden_size=5, foo="bar")))
    m.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["architectures"] == ["ToyForRegression"] and cfg["dtype"] == "float64"
    assert cfg["model_type"] == "toy" and cfg["foo"] == "bar" and cfg["hidden_size"] == 5
    m2 = ToyForRegression.from_pretrained(tmp_path)
    assert m2.training is False and m2.config.hidden_size == 5 and m2.config.foo == "bar"
    for (k, a), (k2, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_float32_checkpoint_loads_into_float64_exactly(tmp_path):
    m32 = _randomize(ToyForRegression(ToyConfig(), dtype=np.float32))
    m32.save_pretrained(tmp_path)
    assert {v["dtype"] for v in read_safetensors_header(tmp_path / "model.safetensors")[0].values()} == {"F32"}
    m64 = ToyForRegression.from_pretrained(tmp_path, dtype=np.float64)
    for k, v in m32.state_dict().items():
        got = m64.state_dict()[k]
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, v.astype(np.float64))
    # save_pretrained(dtype=...) casts on the way out
    m64.save_pretrained(tmp_path / "f32", dtype=np.float32)
    loaded = load_safetensors(tmp_path / "f32" / "model.safetensors")
    for k, v in m32.state_dict().items():
        assert loaded[k].dtype == np.float32
        np.testing.assert_array_equal(loaded[k], v)
    assert json.loads((tmp_path / "f32" / "config.json").read_text())["dtype"] == "float32"


def test_from_pretrained_reads_pytorch_bin_and_shards(tmp_path):
    torch = pytest.importorskip("torch")
    m = _randomize(ToyForRegression(ToyConfig()))
    sd = m.state_dict()
    (tmp_path / "bin").mkdir()
    m.config.save_pretrained(tmp_path / "bin")
    torch.save({k: torch.tensor(v, dtype=torch.float32) for k, v in sd.items()}, tmp_path / "bin" / "pytorch_model.bin")
    m_bin = ToyForRegression.from_pretrained(tmp_path / "bin")
    for k, v in sd.items():
        np.testing.assert_array_equal(m_bin.state_dict()[k], v.astype(np.float32).astype(np.float64))

    shard_dir = tmp_path / "shards"
    shard_dir.mkdir()
    m.config.save_pretrained(shard_dir)
    keys = list(sd)
    weight_map = {}
    for i, part in enumerate([keys[:2], keys[2:]]):
        name = f"model-0000{i + 1}-of-00002.safetensors"
        save_safetensors({k: sd[k] for k in part}, shard_dir / name, metadata={"format": "pt"})
        weight_map.update({k: name for k in part})
    (shard_dir / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    m_sh = ToyForRegression.from_pretrained(shard_dir)
    for k, v in sd.items():
        np.testing.assert_array_equal(m_sh.state_dict()[k], v)


def test_base_checkpoint_into_head_model_and_back(tmp_path):
    base = _randomize(ToyModel(ToyConfig()), seed=3)
    base.save_pretrained(tmp_path / "base")
    assert sorted(load_hf_state_dict(tmp_path / "base")) == ["dense.bias", "dense.weight"]     # no prefix
    head, info = ToyForRegression.from_pretrained(tmp_path / "base", output_loading_info=True)
    np.testing.assert_array_equal(head.toy.dense.weight.data, base.dense.weight.data)        # prefix added
    assert info["newly_initialized_keys"] == ["head.weight", "head.bias"]
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    np.testing.assert_array_equal(head.head.weight.data, ToyForRegression(ToyConfig()).head.weight.data)

    full = _randomize(ToyForRegression(ToyConfig()), seed=4)
    full.save_pretrained(tmp_path / "head")
    base2, info = ToyModel.from_pretrained(tmp_path / "head", output_loading_info=True)       # prefix stripped
    np.testing.assert_array_equal(base2.dense.weight.data, full.toy.dense.weight.data)
    np.testing.assert_array_equal(base2.dense.bias.data, full.toy.dense.bias.data)
    assert sorted(info["ignored_keys"]) == ["head.bias", "head.weight"]


def test_strict_errors_listed_together(tmp_path):
    m = ToyForRegression(ToyConfig())
    sd = {k: v.copy() for k, v in m.state_dict().items()}
    del sd["head.bias"]                                   # missing
    sd["toy.extra.weight"] = np.zeros(2)                  # unexpected
    sd["toy.dense.weight"] = np.zeros((2, 2))             # mis-shaped
    m.config.save_pretrained(tmp_path)
    save_safetensors(sd, tmp_path / "model.safetensors")
    with pytest.raises(StateDictError) as exc:
        ToyForRegression.from_pretrained(tmp_path)
    msg = str(exc.value)
    assert str(tmp_path) in msg
    assert "missing keys" in msg and "head.bias" in msg
    assert "unexpected keys" in msg and "toy.extra.weight" in msg
    assert "mis-shaped" in msg and "toy.dense.weight: checkpoint (2, 2) vs module (3, 4)" in msg
    # non-strict tolerates missing/unexpected but never a wrong shape
    with pytest.raises(StateDictError, match="mis-shaped"):
        ToyForRegression.from_pretrained(tmp_path, strict=False)
    sd["toy.dense.weight"] = np.ones((3, 4))
    save_safetensors(sd, tmp_path / "model.safetensors")
    m2, info = ToyForRegression.from_pretrained(tmp_path, strict=False, output_loading_info=True)
    assert info["missing_keys"] == ["head.bias"] and info["unexpected_keys"] == ["toy.extra.weight"]
    np.testing.assert_array_equal(m2.toy.dense.weight.data, np.ones((3, 4)))


def test_head_checkpoint_of_other_task_needs_strict_false(tmp_path):
    """Both have the prefix: keys outside it must match under strict, as in a same-family head swap."""
    m = _randomize(ToyForRegression(ToyConfig()))
    sd = {k: v for k, v in m.state_dict().items() if k.startswith("toy.")}
    sd["classifier.weight"] = np.zeros((2, 3))
    m.config.save_pretrained(tmp_path)
    save_safetensors(sd, tmp_path / "model.safetensors")
    with pytest.raises(StateDictError, match="classifier.weight"):
        ToyForRegression.from_pretrained(tmp_path)
    m2 = ToyForRegression.from_pretrained(tmp_path, strict=False)
    np.testing.assert_array_equal(m2.toy.dense.weight.data, m.toy.dense.weight.data)


def test_from_pretrained_config_overrides(tmp_path):
    ToyModel(ToyConfig(hidden_size=2)).save_pretrained(tmp_path)
    m = ToyModel.from_pretrained(tmp_path, output_hidden_states=True)
    assert m.config.output_hidden_states is True and m.config.hidden_size == 2


# ============================================================================ gradcheck_model
def test_gradcheck_model_checks_inputs_and_every_parameter(rng):
    from refimpl.testing import gradcheck_model
    model = ToyForRegression(ToyConfig(in_features=3, hidden_size=3, tie_word_embeddings=True)).eval()
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    report = gradcheck_model(model, {"inputs_embeds": x, "labels": y})
    names = {r.name.split(" [")[0] for r in report}
    assert names == {"input 0", "param toy.dense.weight", "param toy.dense.bias", "param head.bias"}
    report = gradcheck_model(model, {"inputs_embeds": x}, outputs=("logits",))
    assert report.ok


def test_gradcheck_model_catches_a_wrong_parameter_gradient(rng):
    from refimpl.testing import gradcheck_model

    class Wrong(ToyForRegression):
        def _backward(self, grads):
            out = super()._backward(grads)
            self.head.bias.grad = self.head.bias.grad * 1.01
            return out
    model = Wrong(ToyConfig(in_features=3, hidden_size=3)).eval()
    with pytest.raises(AssertionError, match="param head.bias"):
        gradcheck_model(model, {"inputs_embeds": rng.standard_normal((4, 3)), "labels": rng.standard_normal((4, 3))})
