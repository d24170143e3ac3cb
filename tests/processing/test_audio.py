"""Wav2Vec2FeatureExtractor vs transformers' (padding strategies, masks, the un-masked padded-region
normalisation, truncation, pad_to_multiple_of, float32 exactness, float64 math), from_pretrained, and the
length bookkeeping vs Wav2Vec2's _get_feat_extract_output_lengths / _get_feature_vector_attention_mask and
a real torch conv stack; bad input (audio shorter than the receptive field, ...)."""
import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from refimpl.core.errors import CheckpointError, ConfigError, DTypeError, ShapeError
from refimpl.processing.audio import (Wav2Vec2FeatureExtractor, conv_output_lengths, feature_vector_attention_mask,
                                      receptive_field, zero_mean_unit_var_norm)
from refimpl.testing import assert_close

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
HFExtractor = transformers.Wav2Vec2FeatureExtractor
HFModel = transformers.Wav2Vec2Model

SR = 16000


def _batch(kind="ragged", seed=0):
    rng = np.random.default_rng(seed)
    if kind == "ragged":
        return [rng.standard_normal(n) * s + m for n, s, m in ((9, 0.3, 0.1), (5, 2.0, -1.0), (12, 1.0, 0.0))]
    if kind == "equal":
        return rng.standard_normal((3, 7))
    if kind == "single":
        return rng.standard_normal(8) + 3.0
    if kind == "lists":
        return [list(rng.standard_normal(6)), list(rng.standard_normal(4))]
    if kind == "float32":
        return [rng.standard_normal(n).astype(np.float32) for n in (6, 10)]
    raise ValueError(kind)


def _hf(raw, hf_kw, call_kw):
    out = HFExtractor(**hf_kw)(raw, sampling_rate=SR, **call_kw)
    vals = [np.asarray(v) for v in out["input_values"]]
    mask = None if "attention_mask" not in out else [np.asarray(m) for m in out["attention_mask"]]
    return vals, mask


def _ours(raw, hf_kw, call_kw, dtype):
    out = Wav2Vec2FeatureExtractor(**hf_kw, dtype=dtype)(raw, sampling_rate=SR, **call_kw)
    vals = out["input_values"]
    vals = list(vals) if isinstance(vals, np.ndarray) else vals
    mask = out.get("attention_mask")
    mask = None if mask is None else list(mask)
    return vals, mask, out


CALLS = [
    dict(padding=False),
    dict(padding=True),
    dict(padding="longest", pad_to_multiple_of=4),
    dict(padding="max_length", max_length=16),
    dict(padding="max_length", max_length=8, truncation=True),
    dict(padding="max_length", max_length=6),                      # longer inputs stay longer (ragged)
    dict(padding=False, max_length=7, truncation=True),
    dict(padding="longest", max_length=5, truncation=True, pad_to_multiple_of=3),
]


@pytest.mark.parametrize("kind", ["ragged", "equal", "single", "lists", "float32"])
@pytest.mark.parametrize("call", range(len(CALLS)))
@pytest.mark.parametrize("return_attention_mask", [False, True])
@pytest.mark.parametrize("do_normalize,padding_value", [(True, 0.0), (True, 0.5), (False, -1.0)])
def test_matches_transformers(kind, call, return_attention_mask, do_normalize, padding_value):
    raw = _batch(kind)
    hf_kw = dict(return_attention_mask=return_attention_mask, do_normalize=do_normalize, padding_value=padding_value)
    try:
        e_vals, e_mask = _hf(raw, hf_kw, CALLS[call])
    except ValueError:
        # transformers crashes (np.array of a ragged mask) when max_length padding leaves longer utterances
        # ragged and a mask is used; we normalise each utterance over its own mask instead
        assert CALLS[call].get("padding") == "max_length" and return_attention_mask and do_normalize
        e_vals, e_mask = _hf(raw, dict(hf_kw, do_normalize=False), CALLS[call])
        e_vals = [HFExtractor.zero_mean_unit_var_norm([v], [m], padding_value)[0] for v, m in zip(e_vals, e_mask)]
    for dtype in (np.float32, np.float64):
        a_vals, a_mask, out = _ours(raw, hf_kw, CALLS[call], dtype)
        assert len(a_vals) == len(e_vals)
        for a, e in zip(a_vals, e_vals):
            assert a.dtype == dtype
            # transformers works in float32: our float32 mode reproduces it, float64 differs by its rounding
            assert_close(a, e, dtype=np.float32)
        assert (a_mask is None) == (e_mask is None)
        if a_mask is not None:
            for a, e in zip(a_mask, e_mask):
                assert a.dtype == np.int32
                np.testing.assert_array_equal(a, e)
        if len({len(v) for v in e_vals}) == 1:
            assert isinstance(out["input_values"], np.ndarray) and out["input_values"].ndim == 2


@pytest.mark.parametrize("return_attention_mask", [False, True])
def test_float32_mode_is_bit_exact(return_attention_mask):
    """dtype=float32 does transformers' float32 arithmetic: identical bits on a realistic ragged batch."""
    rng = np.random.default_rng(7)
    raw = [rng.standard_normal(n) * s + m for n, s, m in ((1600, 0.1, 0.01), (900, 1.0, -0.2), (1234, 0.5, 0.0))]
    e, _ = _hf(raw, dict(return_attention_mask=return_attention_mask), dict(padding=True))
    a = Wav2Vec2FeatureExtractor(return_attention_mask=return_attention_mask, dtype=np.float32)(raw, padding=True)
    np.testing.assert_array_equal(a["input_values"], np.stack(e))


@pytest.mark.parametrize("return_attention_mask", [False, True])
def test_float64_math_matches_transformers_normaliser_in_float64(return_attention_mask):
    """float64 mode = transformers' own normaliser run on float64 arrays (tight tolerance)."""
    raw = _batch("ragged", seed=3)
    out = Wav2Vec2FeatureExtractor(return_attention_mask=return_attention_mask, padding_value=0.25)(
        raw, padding=True, sampling_rate=SR)
    n = max(len(x) for x in raw)
    padded = [np.concatenate([x, np.full(n - len(x), 0.25)]) for x in raw]
    mask = [np.r_[np.ones(len(x)), np.zeros(n - len(x))].astype(np.int32) for x in raw] \
        if return_attention_mask else None
    expected = HFExtractor.zero_mean_unit_var_norm(padded, mask, padding_value=0.25)
    assert_close(out["input_values"], np.stack(expected), dtype=np.float64)


def test_padded_region_without_mask_is_normalised_with_the_padding():
    """Without an attention mask the padding takes part in mean/var and is normalised too (transformers)."""
    raw = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([10.0, 12.0])]
    out = Wav2Vec2FeatureExtractor()(raw, padding=True)["input_values"]
    x = np.array([10.0, 12.0, 0.0, 0.0])
    np.testing.assert_allclose(out[1], (x - x.mean()) / np.sqrt(x.var() + 1e-7), rtol=1e-14)
    out_m = Wav2Vec2FeatureExtractor(return_attention_mask=True)(raw, padding=True)["input_values"]
    np.testing.assert_allclose(out_m[1], [-1.0, 1.0, 0.0, 0.0], rtol=0, atol=1e-7)   # mask-aware; tail = padding_value


def test_constant_signal_and_eps():
    out = Wav2Vec2FeatureExtractor()(np.full(5, 0.3))["input_values"]
    np.testing.assert_array_equal(out, np.zeros((1, 5)))             # var = 0: (x - mean) / sqrt(1e-7) = 0
    e, _ = _hf(np.array([1.0, 1.0 + 1e-4, 1.0 - 1e-4]), {}, {})      # tiny variance: eps matters
    ours = Wav2Vec2FeatureExtractor(dtype=np.float32)(np.array([1.0, 1.0 + 1e-4, 1.0 - 1e-4]))["input_values"][0]
    assert_close(ours, e[0], dtype=np.float32)
    wrong_eps = zero_mean_unit_var_norm([np.array([1.0, 1.0 + 1e-4, 1.0 - 1e-4])])[0] * np.sqrt(
        (2e-8 / 3 + 1e-7) / (2e-8 / 3 + 1e-5))
    assert np.abs(wrong_eps - e[0]).max() > 1e-2                     # 1e-5 (old HF) would be detected


def test_from_pretrained_reads_transformers_config(tmp_path):
    hf = HFExtractor(sampling_rate=8000, padding_value=0.1, return_attention_mask=True, do_normalize=False)
    hf.save_pretrained(tmp_path)
    ours = Wav2Vec2FeatureExtractor.from_pretrained(str(tmp_path), dtype=np.float32)
    assert (ours.sampling_rate, ours.padding_value, ours.return_attention_mask, ours.do_normalize) == \
        (8000, 0.1, True, False)
    raw = _batch("ragged")
    e = hf(raw, padding=True, sampling_rate=8000)
    a = ours(raw, padding=True, sampling_rate=8000)
    assert_close(a["input_values"], np.stack(e["input_values"]), dtype=np.float32)
    np.testing.assert_array_equal(a["attention_mask"], np.stack(e["attention_mask"]))
    with pytest.raises(CheckpointError, match="directory"):
        Wav2Vec2FeatureExtractor.from_pretrained(str(tmp_path / "missing"))


def test_sampling_rate_check():
    fe = Wav2Vec2FeatureExtractor()
    with pytest.raises(ConfigError, match="sampling_rate.*16000.*8000"):
        fe(np.zeros(10), sampling_rate=8000)
    with pytest.raises(ValueError):                                  # transformers refuses it too
        HFExtractor()(np.zeros(10), sampling_rate=8000)


@pytest.mark.parametrize("raw,kw,err,match", [
    (np.zeros((2, 3, 2)), {}, ShapeError, "raw_speech"),
    (np.zeros(()), {}, ShapeError, "raw_speech"),
    ([np.zeros(3), np.zeros((2, 2))], {}, ShapeError, r"raw_speech\[1\]"),
    ([np.zeros(3), np.zeros(0)], {}, ShapeError, r"raw_speech\[1\]"),
    (np.array([0.0, np.nan]), {}, ConfigError, "raw_speech"),
    (np.array([1, 2, 3], dtype=np.int16), {}, DTypeError, "raw_speech"),
    ("audio", {}, DTypeError, "raw_speech"),
    ([], {}, ShapeError, "raw_speech"),
    (np.zeros(4), dict(padding="max_length"), ConfigError, "max_length"),
    (np.zeros(4), dict(truncation=True), ConfigError, "max_length"),
    (np.zeros(4), dict(padding="maximum"), ConfigError, "padding"),
    (np.zeros(4), dict(padding=1), ConfigError, "padding"),
    (np.zeros(4), dict(padding=True, pad_to_multiple_of=0), ConfigError, "pad_to_multiple_of"),
])
def test_bad_input(raw, kw, err, match):
    with pytest.raises(err, match=match):
        Wav2Vec2FeatureExtractor()(raw, **kw)


def test_bad_config():
    with pytest.raises(ConfigError, match="feature_size"):
        Wav2Vec2FeatureExtractor(feature_size=2)
    with pytest.raises(ConfigError, match="padding_side"):
        Wav2Vec2FeatureExtractor(padding_side="left")
    with pytest.raises(Exception, match="dtype"):
        Wav2Vec2FeatureExtractor(dtype=np.float16)


# ------------------------------------------------------------------------------------- length bookkeeping
BASE = dict(conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2))
TINY = dict(conv_kernel=(5, 3, 2), conv_stride=(3, 2, 1))


def _hf_self(layout, **extra):
    cfg = transformers.Wav2Vec2Config(conv_dim=[4] * len(layout["conv_kernel"]),
                                      conv_kernel=list(layout["conv_kernel"]),
                                      conv_stride=list(layout["conv_stride"]), **extra)
    return SimpleNamespace(config=cfg, _get_feat_extract_output_lengths=lambda n, add_adapter=None:
                           HFModel._get_feat_extract_output_lengths(SimpleNamespace(config=cfg), n, add_adapter))


@pytest.mark.parametrize("layout", [BASE, TINY], ids=["base", "tiny"])
@pytest.mark.parametrize("adapter", [None, dict(add_adapter=True, num_adapter_layers=2, adapter_stride=3)])
def test_output_lengths_match_transformers(layout, adapter):
    extra = adapter or {}
    hf = _hf_self(layout, **extra)
    rf = receptive_field(**layout, **extra)
    lengths = np.array([rf, rf + 1, rf + 7, 1000, 16000, 12345])
    ours = conv_output_lengths(lengths, **layout, **extra)
    expected = hf._get_feat_extract_output_lengths(torch.from_numpy(lengths)).numpy()
    np.testing.assert_array_equal(ours, expected)
    assert conv_output_lengths(int(lengths[2]), **layout, **extra) == int(expected[2])
    assert np.all(ours >= 1)
    # one sample less than the receptive field gives no frame in transformers' formula
    assert hf._get_feat_extract_output_lengths(torch.tensor([rf - 1])).item() < 1


@pytest.mark.parametrize("layout", [BASE, TINY], ids=["base", "tiny"])
def test_output_lengths_match_a_real_conv_stack(layout):
    """Not trusting transformers' formula: run zero-padded Conv1d layers of those kernels/strides."""
    convs = [torch.nn.Conv1d(1, 1, k, s) for k, s in zip(layout["conv_kernel"], layout["conv_stride"])]
    rf = receptive_field(**layout)
    for n in [rf, rf + 1, rf + 3, 3 * rf + 2]:
        y = torch.zeros(1, 1, n)
        for c in convs:
            y = c(y)
        assert y.shape[-1] == conv_output_lengths(n, **layout)
    assert rf == (400 if layout is BASE else receptive_field(**TINY))
    with pytest.raises(RuntimeError):                                # torch refuses a shorter input
        y = torch.zeros(1, 1, rf - 1)
        for c in convs:
            y = c(y)


@pytest.mark.parametrize("layout", [BASE, TINY], ids=["base", "tiny"])
def test_feature_vector_attention_mask_matches_transformers(layout):
    rf = receptive_field(**layout)
    lengths = [rf + 50, rf, 3 * rf]
    N = max(lengths)
    mask = np.array([[1] * n + [0] * (N - n) for n in lengths], dtype=np.int64)
    F = conv_output_lengths(N, **layout)
    hf = _hf_self(layout)
    expected = HFModel._get_feature_vector_attention_mask(hf, F, torch.from_numpy(mask)).numpy()
    ours = feature_vector_attention_mask(F, mask, **layout)
    assert ours.dtype == np.bool_
    np.testing.assert_array_equal(ours, expected)


def test_length_bookkeeping_bad_input():
    with pytest.raises(ShapeError, match="input_lengths.*shorter than the receptive field.*400"):
        conv_output_lengths(np.array([16000, 399]), **BASE)
    with pytest.raises(ShapeError, match="input_lengths"):
        conv_output_lengths(0, **BASE)
    with pytest.raises(ShapeError, match="input_lengths"):
        conv_output_lengths(-5, **BASE)
    with pytest.raises(DTypeError, match="input_lengths"):
        conv_output_lengths(np.array([500.0]), **BASE)
    with pytest.raises(ConfigError, match="conv_stride"):
        conv_output_lengths(500, conv_kernel=(10, 3), conv_stride=(5,))
    with pytest.raises(ConfigError, match="conv_kernel"):
        conv_output_lengths(500, conv_kernel=(10, 0), conv_stride=(5, 2))
    with pytest.raises(ShapeError, match="input_lengths.*receptive field"):   # a padded sample too short
        feature_vector_attention_mask(10, np.array([[1] * 500, [1] * 300 + [0] * 200]), **BASE)
    with pytest.raises(ShapeError, match="feature_vector_length"):
        feature_vector_attention_mask(1, np.ones((1, 800), dtype=np.int64), **BASE)
    with pytest.raises(ConfigError, match="attention_mask"):
        feature_vector_attention_mask(2, np.full((1, 800), 2), **BASE)


def test_receptive_field_is_minimal():
    for k, s in itertools.product([(4, 3), (7,), (2, 2, 2)], [(1, 2), (3,), (2, 1, 3)]):
        if len(k) != len(s):
            continue
        rf = receptive_field(k, s)
        assert conv_output_lengths(rf, k, s) == 1
        with pytest.raises(ShapeError):
            conv_output_lengths(rf - 1, k, s)
