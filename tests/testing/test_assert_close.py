"""The comparison tool must fail when it should: NaN, inf, shape, and errors above the dtype tolerance."""
import numpy as np
import pytest

from refimpl.testing import TOLERANCES, assert_close, compare


def test_reports_worst_index_and_errors():
    e = np.zeros((3, 4))
    a = e.copy()
    a[2, 1] = 1e-6
    with pytest.raises(AssertionError) as err:
        assert_close(a, e, name="logits")
    msg = str(err.value)
    assert "logits" in msg and "(2, 1)" in msg and "1.000e-06" in msg and "1 of 12" in msg


def test_float64_table_is_tight_and_float32_is_looser():
    e = np.ones(5)
    assert_close(e + 5e-10, e)                     # within 1e-10 + 1e-9
    with pytest.raises(AssertionError):
        assert_close(e + 1e-8, e)
    assert_close((e + 1e-5).astype(np.float32), e.astype(np.float32))
    assert TOLERANCES[np.dtype(np.float64)]["atol"] <= 1e-10


def test_less_precise_dtype_decides_default():
    e = np.ones(3)
    a = (e + 1e-6).astype(np.float32)
    assert compare(a, e).ok                 # float32 involved -> float32 tolerance
    assert not compare(a, e, dtype=np.float64).ok


@pytest.mark.parametrize("where", ["actual", "expected", "both"])
def test_nan_always_fails_by_default(where):
    a, e = np.ones(3), np.ones(3)
    if where in ("actual", "both"):
        a[1] = np.nan
    if where in ("expected", "both"):
        e[1] = np.nan
    with pytest.raises(AssertionError, match=r"\(1,\)"):
        assert_close(a, e)
    if where == "both":
        assert_close(a, e, equal_nan=True)


def test_infinities_must_match_exactly():
    assert_close(np.array([np.inf, -np.inf]), np.array([np.inf, -np.inf]))
    with pytest.raises(AssertionError):
        assert_close(np.array([np.inf]), np.array([-np.inf]))
    with pytest.raises(AssertionError):
        assert_close(np.array([1e300]), np.array([np.inf]))


def test_shape_mismatch_fails():
    with pytest.raises(AssertionError, match="shape mismatch"):
        assert_close(np.zeros(3), np.zeros((3, 1)))


def test_torch_tensors_accepted():
    torch = pytest.importorskip("torch")
    assert_close(torch.ones(2, dtype=torch.float64), np.ones(2))
