"""refimpl.testing.side_by_side: the fine-tuning harness agrees with itself where the two sides are the same
computation (tight float64), and reports a divergence where they are not (a 1e-6 relative lr change on the
torch side, a perturbed initial weight, SDPA attention dropout that cannot be replayed)."""
import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.transformers]
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from refimpl.core.errors import ConfigError, DTypeError  # noqa: E402
from refimpl.models.bert.config import BertConfig  # noqa: E402
from refimpl.models.bert.modeling import BertForSequenceClassification  # noqa: E402
from refimpl.models.distilbert.config import DistilBertConfig  # noqa: E402
from refimpl.models.distilbert.modeling import DistilBertForSequenceClassification  # noqa: E402
from refimpl.testing.side_by_side import SCHEDULES, SideBySideRun, train_side_by_side  # noqa: E402

V, L = 30, 7
BERT = dict(vocab_size=V, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=24,
            max_position_embeddings=16, num_labels=3, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
DISTIL = dict(vocab_size=V, dim=16, n_layers=2, n_heads=2, hidden_dim=24, max_position_embeddings=16, num_labels=3,
              dropout=0.1, attention_dropout=0.1, seq_classif_dropout=0.1)


def _state(hf):
    return {k: v.detach().numpy() for k, v in hf.state_dict().items()}


def bert_pair(dtype=np.float64, attn="eager", seed=0, **overrides):
    torch.manual_seed(seed)
    cfg = {**BERT, **overrides}
    hf = transformers.BertForSequenceClassification(transformers.BertConfig(**cfg, attn_implementation=attn))
    hf = hf.double() if np.dtype(dtype) == np.float64 else hf.float()
    ref = BertForSequenceClassification(BertConfig(**cfg), dtype=dtype)
    ref.load_state_dict(_state(hf))
    return ref, hf


def batches(n=3, b=4, seed=0, pairs=True):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        lengths = rng.integers(2, L + 1, b)
        mask = (np.arange(L)[None] < lengths[:, None]).astype(np.int64)
        ids = np.where(mask == 1, rng.integers(1, V, (b, L)), 0)
        batch = dict(input_ids=ids, attention_mask=mask, labels=rng.integers(0, 3, b))
        if pairs:
            batch["token_type_ids"] = ((np.arange(L)[None] >= lengths[:, None] // 2) & (mask == 1)).astype(np.int64)
        out.append(batch)
    return out


HP = dict(lr=5e-3, weight_decay=0.01, steps=4)


def test_same_computation_agrees_step_by_step():
    ref, hf = bert_pair()
    run = train_side_by_side(ref, hf, batches(), max_grad_norm=0.3, schedule="linear", num_warmup_steps=1, **HP)
    assert isinstance(run, SideBySideRun) and [r.step for r in run] == [1, 2, 3, 4]
    assert run.initial_param_diff == 0.0
    run.assert_close(atol=1e-10)
    for r in run:
        assert abs(r.loss_ref - r.loss_torch) < 1e-12 and r.max_grad_diff < 1e-12
        assert r.lr_ref == r.lr_torch
        assert abs(r.grad_norm_ref - r.grad_norm_torch) < 1e-10 * r.grad_norm_torch
    assert run[0].lr_ref == 0.0 and run[1].lr_ref == HP["lr"]        # linear warm-up over one step
    assert any(r.grad_norm_ref > 0.3 for r in run) and any(r.grad_norm_ref < 0.3 for r in run)   # clipped or not
    # the weights moved (so the agreement is not vacuous) and the models keep the trained weights
    moved = max(np.abs(p.data - v).max() for (n, p), v in zip(ref.named_parameters(), _start_weights().values()))
    assert moved > 1e-3
    assert "step" in run.table() and len(run.table().splitlines()) == 5


def _start_weights():
    ref, _ = bert_pair()
    return {n: p.data.copy() for n, p in ref.named_parameters()}


def test_catches_a_perturbed_learning_rate():
    """lr on the torch side 1e-6 relatively larger: the losses agree at step 1 (same weights), the parameters
    part after the first step with a non-zero lr, and assert_close names the step and a parameter."""
    ref, hf = bert_pair()
    run = train_side_by_side(ref, hf, batches(), torch_overrides={"lr": HP["lr"] * (1 + 1e-6)}, **HP)
    assert run[0].loss_diff < 1e-12
    bad = run.first_divergence(1e-10)
    assert bad is not None and bad.step == 1 and bad.max_param_diff > 1e-10
    with pytest.raises(AssertionError, match="step 1: parameter"):
        run.assert_close(atol=1e-10)


def test_catches_different_initial_weights():
    ref, hf = bert_pair()
    ref.get_submodule("classifier").weight.data[0, 0] += 1e-7
    run = train_side_by_side(ref, hf, batches(), **HP)
    assert run.initial_param_diff == pytest.approx(1e-7, rel=1e-6)
    with pytest.raises(AssertionError, match="different weights"):
        run.assert_close(atol=1e-10)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedules_and_groups(schedule):
    ref, hf = bert_pair()
    run = train_side_by_side(ref, hf, batches(), schedule=schedule, num_warmup_steps=2, param_groups="all", **HP)
    run.assert_close(atol=1e-10)
    assert [r.lr_ref for r in run] == [r.lr_torch for r in run]
    if schedule != "constant":
        assert len({r.lr_ref for r in run}) > 1


def test_trainer_groups_differ_from_all():
    """Without decay on biases/LayerNorms the LayerNorm weights end elsewhere than with decay everywhere."""
    ends = {}
    for groups in ("trainer", "all"):
        ref, hf = bert_pair()
        train_side_by_side(ref, hf, batches(), param_groups=groups, lr=5e-3, weight_decay=0.5, steps=3)
        ends[groups] = ref.get_submodule("bert.embeddings.LayerNorm").weight.data.copy()
    assert np.abs(ends["trainer"] - ends["all"]).max() > 1e-4


def test_identical_dropout_masks_in_train_mode():
    ref, hf = bert_pair(attn="eager")
    run = train_side_by_side(ref, hf, batches(), dropout_seed=3, **HP)
    run.assert_close(atol=1e-10)
    assert ref.training and hf.training
    # the masks matter: eval mode gives other losses
    ref2, hf2 = bert_pair()
    other = train_side_by_side(ref2, hf2, batches(), **HP)
    assert abs(other[0].loss_ref - run[0].loss_ref) > 1e-6


def test_sdpa_attention_dropout_is_not_replayed_and_shows():
    """transformers' SDPA path draws attention dropout inside torch's kernel, not through F.dropout: the
    harness must report the resulting divergence rather than hide it."""
    ref, hf = bert_pair(attn="sdpa")
    run = train_side_by_side(ref, hf, batches(), dropout_seed=3, **HP)
    assert run[0].loss_diff > 1e-6
    with pytest.raises(AssertionError):
        run.assert_close(atol=1e-10)


def test_another_family_float32():
    """Nothing BERT-specific: DistilBERT (other names, no token_type_ids), float32 at a float32 tolerance."""
    torch.manual_seed(1)
    hf = transformers.DistilBertForSequenceClassification(
        transformers.DistilBertConfig(**DISTIL, attn_implementation="eager")).float()
    ref = DistilBertForSequenceClassification(DistilBertConfig(**DISTIL), dtype=np.float32)
    ref.load_state_dict(_state(hf))
    run = train_side_by_side(ref, hf, batches(pairs=False), max_grad_norm=1.0, dropout_seed=0, **HP)
    assert run.max_param_diff() < 1e-4 and run.max_loss_diff() < 1e-5
    assert run.max_param_diff() > 0                                   # float32 really is not bit-identical


def test_bad_arguments():
    ref, hf = bert_pair()
    data = batches()
    torch.manual_seed(0)
    distil = transformers.DistilBertForSequenceClassification(transformers.DistilBertConfig(**DISTIL)).double()
    with pytest.raises(ConfigError, match="hf_model"):
        train_side_by_side(ref, distil, data, **HP)
    with pytest.raises(DTypeError, match="hf_model"):
        train_side_by_side(ref, bert_pair(np.float32)[1], data, **HP)
    with pytest.raises(ConfigError, match="hf_model"):
        train_side_by_side(ref, "not a model", data, **HP)
    with pytest.raises(ConfigError, match="ref_model"):
        train_side_by_side(hf, hf, data, **HP)
    no_labels = [{k: v for k, v in b.items() if k != "labels"} for b in data]
    with pytest.raises(ConfigError, match="batches"):
        train_side_by_side(ref, hf, no_labels, **HP)
    for kw, name in [(dict(schedule="step"), "schedule"), (dict(steps=0), "steps"), (dict(max_grad_norm=0.0),
                     "max_grad_norm"), (dict(param_groups="none"), "param_groups"), (dict(dropout_seed=1.5),
                     "dropout_seed")]:
        with pytest.raises(ConfigError, match=name):
            train_side_by_side(ref, hf, data, **{**HP, **kw})
    for bad in ([], data[0], None):
        with pytest.raises(ConfigError, match="batches"):
            train_side_by_side(ref, hf, bad, **HP)
