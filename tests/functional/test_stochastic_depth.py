"""The drop-path schedule: linspace_float32 is torch.linspace (float32, CPU) bit for bit, and drop_path_rates
splits it per stage exactly as transformers' ConvNeXT/Swin encoders do."""
import numpy as np
import pytest

from refimpl.core.errors import ConfigError
from refimpl.functional.stochastic_depth import drop_path_rates, linspace_float32

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 9, 18, 36, 61])
def test_linspace_float32_is_torch_bit_for_bit(steps):
    for rate in list(np.linspace(0.0, 0.95, 39)) + [0.1, 0.2, 0.3, 0.4, 0.5, 1 / 3]:
        assert linspace_float32(0.0, float(rate), steps) == torch.linspace(0, float(rate), steps).tolist(), rate


def test_linspace_float32_general_endpoints():
    for a, b, n in [(-1.5, 2.7, 13), (0.3, -0.8, 50), (1e-3, 5.0, 33), (2.0, 2.0, 7)]:
        assert linspace_float32(a, b, n) == torch.linspace(a, b, n).tolist()


def test_naive_float32_or_float64_schedules_differ_from_torch():
    """Why the exact kernel is needed: both obvious formulas miss torch in the last bit somewhere."""
    f = np.float32
    misses64 = misses32 = 0
    for n in (9, 18, 36):
        for rate in np.linspace(0.0, 0.9, 31):
            want = torch.linspace(0, float(rate), n).tolist()
            misses64 += [float(v) for v in np.linspace(0, rate, n).astype(f)] != want
            step = f(rate) / f(n - 1)
            naive = [float(step * f(i)) if i < n // 2 else float(f(rate) - step * f(n - 1 - i)) for i in range(n)]
            misses32 += naive != want
    assert misses64 > 0 and misses32 > 0


@pytest.mark.parametrize("depths", [[3, 3, 9, 3], [2, 1, 2], [1], [0, 2]])
def test_drop_path_rates_split_like_transformers(depths):
    rate = 0.3
    want = [x.tolist() for x in torch.linspace(0, rate, sum(depths), device="cpu").split(depths)]
    assert drop_path_rates(rate, depths) == want


def test_bad_arguments():
    with pytest.raises(ConfigError, match="drop_path_rate"):
        drop_path_rates(1.0, [1, 2])
    with pytest.raises(ConfigError, match="steps"):
        linspace_float32(0.0, 1.0, -1)
