"""Conv1D (GPT-2's (in, out) affine layer): gradcheck, parity with transformers' Conv1D, layout traps, errors."""
import numpy as np
import pytest

from refimpl.core.errors import DTypeError, ShapeError, StateDictError
from refimpl.core.grad_mode import no_grad
from refimpl.nn.conv1d_linear import Conv1D
from refimpl.nn.linear import Linear
from refimpl.testing import assert_close, compare_module_with_torch, gradcheck

torch = pytest.importorskip("torch")
pytorch_utils = pytest.importorskip("transformers.pytorch_utils")

DTYPES = [np.float64, np.float32]
NF, NX = 7, 5                                     # non-square: a transposed weight cannot slip through


def _x(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape + (NX,)).astype(dtype)


def _hf_conv1d(nf=NF, nx=NX):
    torch.manual_seed(0)
    m = pytorch_utils.Conv1D(nf, nx)
    with torch.no_grad():
        m.bias.normal_()                          # HF initialises the bias to 0: make it matter
    return m


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)], ids=["2d", "3d", "4d"])
def test_gradcheck(shape):
    m = Conv1D(NF, NX)
    m.bias.data = np.random.default_rng(1).standard_normal(NF)
    gradcheck(m, [_x(shape)])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)], ids=["2d", "3d", "4d"])
def test_parity_with_transformers_conv1d(shape, dtype):
    compare_module_with_torch(Conv1D(NF, NX), _hf_conv1d(), [_x(shape, dtype)], dtype=dtype).assert_ok()


def test_weight_layout_is_in_out_and_equals_transposed_linear():
    m = Conv1D(NF, NX)
    assert m.weight.shape == (NX, NF) and m.bias.shape == (NF,)
    assert list(m.state_dict()) == list(_hf_conv1d().state_dict())
    lin = Linear(NX, NF)
    lin.weight.data = m.weight.data.T.copy()
    lin.bias.data = m.bias.data.copy()
    x = _x((3, 4))
    assert_close(m(x), lin(x))
    dy = np.random.default_rng(2).standard_normal((3, 4, NF))
    assert_close(m.backward(dy), lin.backward(dy))
    assert_close(m.weight.grad, lin.weight.grad.T)


def test_linear_layout_checkpoint_is_rejected():
    """A Linear-layout (out, in) weight is a mis-shaped key, never a silent transpose (PITFALLS 3.1)."""
    lin = torch.nn.Linear(NX, NF)
    with pytest.raises(StateDictError, match="weight"):
        Conv1D(NF, NX).load_state_dict({k: v.detach().numpy() for k, v in lin.state_dict().items()})


def test_init_matches_transformers_statistics():
    m = Conv1D(300, 200)
    assert abs(m.weight.data.std() - 0.02) < 1e-3 and not m.bias.data.any()


def test_no_grad_saves_nothing():
    m = Conv1D(NF, NX)
    with no_grad():
        m(_x((2,)))
    assert m._saved == []


def test_bad_inputs():
    m = Conv1D(NF, NX)
    with pytest.raises(ShapeError, match="x"):
        m(np.zeros((2, NF)))                      # (.., out) instead of (.., in)
    with pytest.raises(DTypeError, match="x"):
        m(np.zeros((2, NX), np.float32))
    with pytest.raises(DTypeError, match="x"):
        m(np.zeros((2, NX), np.int64))
