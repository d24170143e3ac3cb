"""CTC greedy and prefix beam search decoding against brute-force enumeration of every path on tiny
problems (and against our ctc_loss), batching with lengths, the documented width-1 != greedy case, bad input."""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from refimpl.functional.activation import log_softmax
from refimpl.losses.ctc import ctc_loss
from refimpl.processing.ctc_decoding import ctc_collapse, ctc_greedy_decode, ctc_prefix_beam_search


def _labelling_probs(lp, blank):
    """{labelling tuple: p(l | x)} and the most probable single path, by enumerating all C^T paths."""
    T, C = lp.shape
    probs, best_path, best_p = {}, None, -1.0
    for path in itertools.product(range(C), repeat=T):
        p = float(np.exp(sum(lp[t, c] for t, c in enumerate(path))))
        lab = tuple(ctc_collapse(path, blank))
        probs[lab] = probs.get(lab, 0.0) + p
        if p > best_p:
            best_p, best_path = p, path
    return probs, best_path


@st.composite
def tiny(draw):
    C = draw(st.integers(2, 4))
    T = draw(st.integers(1, 5 if C <= 3 else 4))
    blank = draw(st.integers(0, C - 1))
    seed = draw(st.integers(0, 2**31 - 1))
    scale = draw(st.sampled_from([0.5, 2.0]))
    return log_softmax(scale * np.random.default_rng(seed).standard_normal((T, C)), -1), blank


def test_collapse():
    assert ctc_collapse([1, 1, 0, 1, 2, 2, 0, 0, 3], blank=0) == [1, 1, 2, 3]
    assert ctc_collapse([2, 2, 2], blank=2) == []
    assert ctc_collapse([], blank=0) == []


@given(tiny())
def test_exhaustive_beam_is_exact(case):
    """A beam wide enough to keep every prefix returns every labelling with its exact probability."""
    lp, blank = case
    probs, _ = _labelling_probs(lp, blank)
    beams = ctc_prefix_beam_search(lp, beam_width=10**6, blank=blank)
    got = dict(beams)
    assert set(got) == set(probs)
    for lab, p in probs.items():
        np.testing.assert_allclose(np.exp(got[lab]), p, rtol=1e-10, atol=1e-14)
    best = max(probs.values())
    np.testing.assert_allclose(np.exp(beams[0][1]), best, rtol=1e-10)
    assert probs[beams[0][0]] == pytest.approx(best, rel=1e-10)
    # and the same numbers from the CTC loss (an independent dynamic program)
    for lab, score in beams[:3]:
        tg = np.array([list(lab) or [0 if blank else 1]], dtype=np.int64)[:, :max(len(lab), 1)]
        loss = ctc_loss(lp[:, None, :], tg, np.array([lp.shape[0]]), np.array([len(lab)]), blank=blank,
                        reduction="none")
        np.testing.assert_allclose(-loss[0], score, rtol=1e-10, atol=1e-12)


@given(tiny(), st.integers(1, 4))
def test_narrow_beam_scores_are_exact_labelling_probabilities_or_lower(case, width):
    """Any kept prefix's score is a partial sum over its paths: never above the true p(l)."""
    lp, blank = case
    probs, _ = _labelling_probs(lp, blank)
    beams = ctc_prefix_beam_search(lp, beam_width=width, blank=blank)
    assert 1 <= len(beams) <= width
    scores = [s for _, s in beams]
    assert scores == sorted(scores, reverse=True)
    for lab, s in beams:
        assert np.exp(s) <= probs[lab] * (1 + 1e-10)


@given(tiny())
def test_greedy_is_the_collapsed_most_probable_path(case):
    lp, blank = case
    _, best_path = _labelling_probs(lp, blank)
    assert ctc_greedy_decode(lp, blank=blank) == ctc_collapse(best_path, blank)
    assert ctc_greedy_decode(lp * 3.0 + 1.0, blank=blank) == ctc_greedy_decode(lp, blank=blank)  # logits ok


def test_width_one_beam_is_not_greedy():
    """Documented difference: greedy follows the best path (1, 2); width-1 prefix search keeps the
    prefix (1,) whose paths together are more probable, and (1,) is indeed the most probable labelling."""
    p = np.array([[0.4, 0.5, 0.1],                       # blank, a, b
                  [0.3, 0.3, 0.4]])
    lp = np.log(p)
    assert ctc_greedy_decode(lp, blank=0) == [1, 2]
    assert ctc_prefix_beam_search(lp, beam_width=1, blank=0)[0][0] == (1,)
    probs, _ = _labelling_probs(lp, 0)
    assert max(probs, key=probs.get) == (1,)
    np.testing.assert_allclose(probs[(1,)], 0.5 * 0.3 + 0.5 * 0.3 + 0.4 * 0.3)


def test_batched_with_lengths():
    rng = np.random.default_rng(0)
    lp = log_softmax(rng.standard_normal((3, 5, 4)), -1)
    L = np.array([5, 2, 0])
    greedy = ctc_greedy_decode(lp, L, blank=3)
    beams = ctc_prefix_beam_search(lp, L, beam_width=4, blank=3)
    for b in range(3):
        assert greedy[b] == ctc_greedy_decode(lp[b, :L[b]], blank=3) if L[b] else greedy[b] == []
        if L[b]:
            assert beams[b] == ctc_prefix_beam_search(lp[b, :L[b]], beam_width=4, blank=3)
    assert beams[2] == [((), 0.0)]                          # no frame: the empty labelling, probability 1


def test_float32_input():
    lp = log_softmax(np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32), -1)
    assert ctc_prefix_beam_search(lp, beam_width=50)[0][0] == ctc_prefix_beam_search(
        lp.astype(np.float64), beam_width=50)[0][0]


@pytest.mark.parametrize("fn", [ctc_greedy_decode, ctc_prefix_beam_search])
def test_bad_input(fn):
    lp = log_softmax(np.random.default_rng(0).standard_normal((2, 4, 3)), -1)
    name = "logits" if fn is ctc_greedy_decode else "log_probs"
    with pytest.raises(ShapeError, match=name):
        fn(lp[0, 0])
    with pytest.raises(DTypeError, match=name):
        fn(np.zeros((4, 3), dtype=np.int64))
    with pytest.raises(ConfigError, match=name):
        fn(np.full((4, 3), np.nan))
    with pytest.raises(ConfigError, match="blank"):
        fn(lp, blank=3)
    with pytest.raises(IndexRangeError, match="input_lengths"):
        fn(lp, np.array([5, 1]))
    with pytest.raises(ShapeError, match="input_lengths"):
        fn(lp, np.array([1, 1, 1]))
    with pytest.raises(ConfigError, match="input_lengths"):
        fn(lp[0], np.array([1]))


def test_beam_search_bad_input():
    lp = log_softmax(np.random.default_rng(0).standard_normal((4, 3)), -1)
    with pytest.raises(ConfigError, match="beam_width"):
        ctc_prefix_beam_search(lp, beam_width=0)
    with pytest.raises(ConfigError, match="log_probs.*log_softmax"):
        ctc_prefix_beam_search(lp + 1.0)                 # logits, not log-probabilities
