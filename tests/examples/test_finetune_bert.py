"""examples/finetune_bert_sequence_classification.py: refimpl's BertForSequenceClassification fine-tuned with
AdamW side by side with transformers' (same weights, batches and dropout masks) stays equal step by step."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.transformers]
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "finetune_bert_sequence_classification.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("finetune_bert_sequence_classification", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run64(example):
    return example.run(steps=10, dtype="float64", seed=0)


def test_float64_parameters_equal_after_every_step(run64):
    assert len(run64) == 10 and run64.initial_param_diff == 0.0
    for r in run64:
        assert r.max_param_diff <= 1e-10, (r.step, r.worst_param, r.max_param_diff)
        assert r.loss_diff <= 1e-12 and r.max_grad_diff <= 1e-12
        assert r.lr_ref == r.lr_torch
    run64.assert_close(atol=1e-10)
    # every parameter really trains (none is frozen out of the comparison)
    assert len(run64[-1].param_diffs) == len(run64[-1].grad_diffs)


def test_loss_decreases(run64):
    losses = [r.loss_ref for r in run64]
    # 2 balanced batches alternate: steps 9/10 see the batches of steps 1/2 again, after 8 updates
    assert losses[8] < losses[0] - 0.03 and losses[9] < losses[1] - 0.03, losses
    assert np.mean(losses[-2:]) < np.mean(losses[:2]) - 0.05


def test_float32_within_its_tolerance(example):
    run = example.run(steps=10, dtype="float32", seed=0)
    assert run.max_param_diff() <= example.TOLERANCE["float32"]
    assert run.max_param_diff() > 0                                  # float32 is not bit-identical
    assert run.max_loss_diff() <= 1e-5
    losses = [r.loss_torch for r in run]
    assert losses[8] < losses[0] and losses[9] < losses[1]


def test_eval_mode_and_other_seed(example):
    run = example.run(steps=4, dtype="float64", seed=3, dropout=False)
    run.assert_close(atol=1e-10)
    with_dropout = example.run(steps=4, dtype="float64", seed=3)
    assert abs(with_dropout[1].loss_ref - run[1].loss_ref) > 1e-6     # the dropout run really used masks


def test_main_prints_the_table_and_sets_the_exit_status(example, capsys):
    assert example.main(["--steps", "3", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "loss refimpl" in out and "OK" in out
    assert len([ln for ln in out.splitlines() if ln[:4].strip().isdigit()]) == 3      # one row per step
    # a tolerance that float32 cannot meet: exit status 1
    assert example.main(["--steps", "3", "--dtype", "float32", "--atol", "1e-12"]) == 1
    assert "FAIL" in capsys.readouterr().out
