"""compute_mask_indices / sample_negative_indices: the same algorithm as transformers' _compute_mask_indices /
_sample_negative_indices, checked EXACTLY by running transformers' functions with NumPy's global draws routed to a
Generator of the same seed (the call pattern is identical: one rand for the batch, one choice per row; one randint
per utterance), over hypothesis-generated shapes; plus the properties the docstrings promise."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.core.errors import ConfigError, ShapeError
from refimpl.models.wav2vec2.masking import compute_mask_indices, sample_negative_indices

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
from transformers.models.wav2vec2 import modeling_wav2vec2 as HFW  # noqa: E402


class _GlobalDrawsFrom:
    """Route np.random.rand / choice / randint (what transformers calls) to a Generator, in call order."""

    def __init__(self, monkeypatch, gen):
        monkeypatch.setattr(np.random, "rand", lambda *shape: gen.random(shape))
        monkeypatch.setattr(np.random, "choice",
                            lambda a, size, replace=True: gen.choice(len(a), size, replace=replace))
        monkeypatch.setattr(np.random, "randint", lambda low, high, size: gen.integers(low, high, size=size))


@st.composite
def mask_cases(draw):
    b = draw(st.integers(1, 4))
    t = draw(st.integers(1, 40))
    length = draw(st.integers(1, t))
    lengths = draw(st.lists(st.integers(0, t), min_size=b, max_size=b)) if draw(st.booleans()) else None
    return dict(b=b, t=t, prob=draw(st.floats(0.0, 1.0)), length=length, min_masks=draw(st.integers(0, 3)),
                lengths=lengths, seed=draw(st.integers(0, 1000)))


@given(case=mask_cases())
def test_compute_mask_indices_equals_transformers(case):
    with pytest.MonkeyPatch.context() as mp:
        b, t = case["b"], case["t"]
        am = None
        if case["lengths"] is not None:
            am = np.arange(t)[None, :] < np.array(case["lengths"])[:, None]
        _GlobalDrawsFrom(mp, np.random.default_rng(case["seed"]))
        theirs = HFW._compute_mask_indices((b, t), case["prob"], case["length"],
                                           attention_mask=None if am is None else torch.from_numpy(am.astype(int)),
                                           min_masks=case["min_masks"])
    ours = compute_mask_indices((b, t), case["prob"], case["length"], np.random.default_rng(case["seed"]),
                                attention_mask=am, min_masks=case["min_masks"])
    assert ours.dtype == bool and (ours == theirs).all()


@given(b=st.integers(1, 3), t=st.integers(2, 20), k=st.integers(1, 6), seed=st.integers(0, 1000),
       use_mask=st.booleans())
def test_sample_negative_indices_equals_transformers(b, t, k, seed, use_mask):
    mask = None
    if use_mask:
        mask = np.random.default_rng(seed + 1).random((b, t)) < 0.5
        mask[:, :2] = True                                        # at least two masked frames per utterance
    with pytest.MonkeyPatch.context() as mp:
        _GlobalDrawsFrom(mp, np.random.default_rng(seed))
        theirs = HFW._sample_negative_indices((b, t), k, mask)
    ours = sample_negative_indices((b, t), k, np.random.default_rng(seed), mask)
    assert (ours == theirs).all()


def test_negatives_are_other_masked_frames_of_the_same_utterance():
    rng = np.random.default_rng(0)
    mask = rng.random((3, 30)) < 0.4
    mask[:, :2] = True
    neg = sample_negative_indices((3, 30), 50, rng, mask)
    for b in range(3):
        for t in np.flatnonzero(mask[b]):
            n = neg[b, t]
            assert (n // 30 == b).all() and (n % 30 != t).all() and mask[b, n % 30].all()


def test_mask_properties():
    rng = np.random.default_rng(0)
    fm = np.arange(50)[None, :] < np.array([50, 30, 12])[:, None]
    m = compute_mask_indices((3, 50), 0.65, 4, rng, attention_mask=fm, min_masks=2)
    assert not (m & ~fm)[:2].any()                             # spans start inside and fit in each utterance
    assert all(m[i].sum() >= 4 for i in range(3))              # min_masks spans of length 4 (may overlap)
    assert compute_mask_indices((2, 10), 0.0, 2, rng).sum() == 0
    assert compute_mask_indices((2, 10), 0.0, 2, rng, min_masks=1).sum(axis=1).min() == 2


def test_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="mask_length"):
        compute_mask_indices((2, 5), 0.5, 6, rng)
    with pytest.raises(ConfigError, match="mask_length"):
        compute_mask_indices((2, 5), 0.5, 0, rng)
    with pytest.raises(ConfigError, match="rng"):
        compute_mask_indices((2, 5), 0.5, 2, np.random.RandomState(0))
    with pytest.raises(ShapeError, match="attention_mask"):
        compute_mask_indices((2, 5), 0.5, 2, rng, attention_mask=np.ones((2, 4), bool))
    one = np.zeros((1, 5), bool)
    one[0, 2] = True
    with pytest.raises(ConfigError, match="single masked frame"):
        sample_negative_indices((1, 5), 3, rng, one)
    with pytest.raises(ConfigError, match="num_negatives"):
        sample_negative_indices((1, 5), 0, rng)
