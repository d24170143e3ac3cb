"""gradcheck must detect wrong gradients in inputs and in parameters, and name which."""
import numpy as np
import pytest

from refimpl.nn.linear import Linear
from refimpl.testing import gradcheck


def test_correct_function_passes(rng):
    x = rng.standard_normal((3, 4))
    report = gradcheck(np.sin, [x], backward=lambda dy, x: dy * np.cos(x))
    assert report.ok and len(report) == 2


def test_wrong_input_gradient_is_caught(rng):
    x = rng.standard_normal((3, 4))
    with pytest.raises(AssertionError, match="input 0"):
        gradcheck(np.sin, [x], backward=lambda dy, x: dy * np.cos(x) * 1.001)


def test_scalar_loss_output(rng):
    x = rng.standard_normal(5)
    gradcheck(lambda x: float(np.sum(x ** 2)), [x], backward=lambda g, x: 2 * g * x)


def test_wrong_parameter_gradient_is_named(rng):
    class Bad(Linear):
        def backward(self, dy):
            dx = super().backward(dy)
            self.bias.grad = self.bias.grad * 0.5
            return dx
    with pytest.raises(AssertionError, match="param bias") as err:
        gradcheck(Bad(4, 3), [rng.standard_normal((2, 4))])
    assert "param weight [dir 0]" in str(err.value)  # the correct one is reported as ok alongside


def test_forgotten_parameter_gradient_is_caught(rng):
    class Forgot(Linear):
        def backward(self, dy):
            (x,) = self.saved()
            return dy @ self.weight.data
    report = gradcheck(Forgot(4, 3), [rng.standard_normal((2, 4))], raise_on_failure=False)
    assert not report.ok
    assert {r.name.split(" [")[0] for r in report if not r.ok} == {"param weight", "param bias"}


def test_float32_inputs_are_refused(rng):
    with pytest.raises(ValueError, match="float64"):
        gradcheck(np.sin, [rng.standard_normal(3).astype(np.float32)], backward=lambda dy, x: dy)


def test_integer_inputs_pass_through(rng):
    idx = np.array([2, 0])
    x = rng.standard_normal(3)

    def f(x, idx):
        return x[idx]

    def b(dy, x, idx):
        dx = np.zeros_like(x)
        np.add.at(dx, idx, dy)
        return dx, None
    gradcheck(f, [x, idx], backward=b)
