"""The torch parity helper must fail when a layer differs from torch (forward, input grad, param grad)."""
import numpy as np
import pytest

from refimpl.nn.linear import Linear
from refimpl.testing import compare_module_with_torch

torch = pytest.importorskip("torch")


def test_linear_matches_torch_both_dtypes(rng):
    for dt in (np.float64, np.float32):
        x = rng.standard_normal((2, 3, 4)).astype(dt)
        compare_module_with_torch(Linear(4, 5, dtype=dt), torch.nn.Linear(4, 5), [x], dtype=dt).assert_ok()


@pytest.mark.parametrize("bug", ["forward", "input_grad", "param_grad"])
def test_injected_bug_is_found(rng, bug):
    class Buggy(Linear):
        def forward(self, x):
            y = super().forward(x)
            return y * (1 + 1e-8) if bug == "forward" else y

        def backward(self, dy):
            dx = super().backward(dy)
            if bug == "param_grad":
                self.weight.grad[0, 0] += 1e-8
            return dx * (1 + 1e-8) if bug == "input_grad" else dx
    report = compare_module_with_torch(Buggy(4, 5), torch.nn.Linear(4, 5), [rng.standard_normal((3, 4))])
    failed = [c.name for c in report if not c.ok]
    expected = {"forward": ["output 0"], "input_grad": ["grad input 0"], "param_grad": ["grad weight"]}[bug]
    assert failed == expected
    with pytest.raises(AssertionError, match="parity with torch failed"):
        report.assert_ok()
