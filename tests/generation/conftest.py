"""Generation tests call tiny torch models thousands of times: one torch thread is much faster for such
shapes (with 2 threads on a busy 2-core machine each op waits on the other thread), so it is set per
module here and restored afterwards."""
import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
