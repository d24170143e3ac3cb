"""GPT2LMHeadModel.generate (GenerationMixin) is refimpl.generation.generate on that model."""
import numpy as np

from refimpl.generation import generate
from refimpl.models.gpt2.config import GPT2Config
from refimpl.models.gpt2.modeling import GPT2LMHeadModel


def test_model_generate_equals_generate_function():
    cfg = GPT2Config(vocab_size=40, n_embd=16, n_layer=2, n_head=2, n_positions=32, bos_token_id=1, eos_token_id=2,
                     pad_token_id=0)
    model = GPT2LMHeadModel(cfg).eval()
    ids = np.array([[0, 5, 6, 7], [3, 4, 5, 6]])
    mask = np.array([[0, 1, 1, 1], [1, 1, 1, 1]])
    for kw in (dict(max_new_tokens=5), dict(max_new_tokens=4, num_beams=3, num_return_sequences=2)):
        a = model.generate(ids, mask, **kw)
        b = generate(model, ids, mask, **kw)
        np.testing.assert_array_equal(getattr(a, "sequences", a), getattr(b, "sequences", b))
        assert np.asarray(getattr(a, "sequences", a)).shape[1] > ids.shape[1]
