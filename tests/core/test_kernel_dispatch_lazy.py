"""dispatch finds a hot path's reference even before anything imported the module that registers it."""
import subprocess
import sys

import pytest

from refimpl.core.errors import ConfigError
from refimpl.core.kernel_dispatch import dispatch


@pytest.mark.parametrize("op, fn, module", [("matching", "linear_sum_assignment", "refimpl.losses.matching"),
                                            ("ctc", "ctc_loss", "refimpl.losses.ctc"),
                                            ("attention", "scaled_dot_product_attention", "refimpl.functional.attention")])
def test_reference_is_imported_on_first_dispatch(op, fn, module):
    code = (f"from refimpl.core.kernel_dispatch import dispatch; f = dispatch({op!r}, {fn!r}); "
            f"assert f.__module__ == {module!r}, f.__module__")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_op_or_function_is_a_clear_error():
    with pytest.raises(ConfigError, match="op must be one of"):
        dispatch("softmax", "softmax")
    with pytest.raises(ConfigError, match="no function 'nope'"):
        dispatch("ctc", "nope")
