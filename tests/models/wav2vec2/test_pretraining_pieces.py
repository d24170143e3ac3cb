"""The pretraining pieces on their own: contrastive loss (cosine / kappa, -inf for negatives equal to the positive,
scatter of the negatives' gradients), codebook perplexity, diversity loss - finite-difference gradchecks and the
transformers formulas they come from."""
import numpy as np
import pytest

from refimpl.models.wav2vec2.contrastive import (contrastive_logits, contrastive_loss, contrastive_loss_backward,
                                                 diversity_loss)
from refimpl.models.wav2vec2.quantizer import codebook_perplexity, codebook_perplexity_backward
from refimpl.testing import assert_close, gradcheck

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
from transformers.models.wav2vec2 import modeling_wav2vec2 as HFW  # noqa: E402

B, T, P, K = 2, 6, 5, 4


def _case(seed=0, collide=True):
    r = np.random.default_rng(seed)
    c, q = r.standard_normal((B, T, P)), r.standard_normal((B, T, P))
    mask = r.random((B, T)) < 0.6
    mask[:, :2] = True
    neg = np.stack([r.integers(0, T, (T, K)) + b * T for b in range(B)])     # some equal to the frame itself
    if collide:
        neg[0, 0, 0] = 0                                      # the positive itself as a negative -> -inf
        q[1, 3] = q[1, 4]                                     # two frames with the same quantized vector
        neg[1, 4, 1] = T + 3
    return c, q, neg, mask


def test_contrastive_gradcheck():
    c, q, neg, mask = _case()

    def f(c_, q_):
        logits, _ = contrastive_logits(c_, q_, neg, 0.1)
        return np.asarray(contrastive_loss(logits, mask))

    def b(g, c_, q_):
        logits, nip = contrastive_logits(c_, q_, neg, 0.1)
        return contrastive_loss_backward(float(g), c_, q_, neg, 0.1, logits, nip, mask)
    gradcheck(f, [c, q], backward=b)


def test_contrastive_matches_transformers_formula():
    """transformers' compute_contrastive_logits + neg_is_pos masking + CE(sum) on the same arrays, in float64."""
    c, q, neg, mask = _case()
    logits, nip = contrastive_logits(c, q, neg, 0.1)
    assert nip[0, 0, 0] and nip[1, 1, 4]
    tq, tc = torch.from_numpy(q), torch.from_numpy(c)
    tneg = tq.view(-1, P)[torch.from_numpy(neg).view(-1)].view(B, T, -1, P).permute(2, 0, 1, 3)
    tl = torch.cosine_similarity(tc, torch.cat([tq[None], tneg], 0), dim=-1) / 0.1
    is_pos = (tq == tneg).all(-1)
    tl[1:][is_pos] = float("-inf")
    assert_close(logits, tl.numpy())
    target = ((1 - torch.from_numpy(mask).long()) * -100).transpose(0, 1).flatten()
    loss = torch.nn.functional.cross_entropy(tl.transpose(0, 2).reshape(-1, K + 1), target, reduction="sum")
    assert_close(contrastive_loss(logits, mask), loss.item())


@pytest.mark.parametrize("masked", [False, True])
def test_perplexity_gradcheck_and_transformers_formula(masked):
    r = np.random.default_rng(1)
    logits = r.standard_normal((B * T, 2, 4))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    mask = (r.random((B, T)) < 0.5) if masked else None
    ppl = codebook_perplexity(probs, mask)
    theirs = HFW.Wav2Vec2GumbelVectorQuantizer._compute_perplexity(
        torch.from_numpy(probs), None if mask is None else torch.from_numpy(mask))
    assert_close(ppl, theirs.numpy())
    gradcheck(lambda p: codebook_perplexity(p, mask), [probs],
              backward=lambda g, p: codebook_perplexity_backward(float(g), p, mask))


def test_diversity_loss():
    assert diversity_loss(6.0, 8, 5) == pytest.approx((8 - 6) / 8 * 5)
