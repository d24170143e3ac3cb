"""examples/oracle_check_my_layer.py (docs/oracle.md): a user's own PyTorch BERT layer, loaded from a Hugging Face
checkpoint through the user's name mapping, agrees with refimpl's BertLayer on the output, the input gradient and
every weight gradient (float64 tight, float32 at the float32 table); each injected bug is caught, and the bug in
the hand-written attention backward only by the gradient rows."""
import importlib.util
from pathlib import Path

import pytest

pytestmark = [pytest.mark.torch, pytest.mark.transformers]
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "oracle_check_my_layer.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("oracle_check_my_layer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def checkpoint(example, tmp_path_factory):
    directory = tmp_path_factory.mktemp("bert_checkpoint")
    example.make_checkpoint(str(directory))
    return str(directory)


def _rows(report, prefix):
    return [c for c in report if c.name.startswith(prefix)]


def test_checkpoint_is_a_transformers_checkpoint(checkpoint):
    """The oracle loads what transformers wrote, and transformers reads it back (the example's premise)."""
    assert (Path(checkpoint) / "config.json").exists() and (Path(checkpoint) / "model.safetensors").exists()
    transformers.BertModel.from_pretrained(checkpoint)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_clean_layer_agrees_with_refimpl(example, checkpoint, dtype):
    report = example.check_layer(checkpoint, dtype)
    assert report.ok, report.format()
    # output, input gradient and all 16 weight gradients of a BERT layer, by HF name
    assert len(report) == 18 and len(_rows(report, "grad attention.self.")) == 6
    if dtype == "float64":   # two correct float64 implementations: rounding only, far below the 1e-10 table
        assert max(c.max_abs for c in report) < 1e-12, report.format()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_clean_attention_agrees_with_refimpl(example, dtype):
    report = example.check_attention(dtype)
    assert report.ok, report.format()
    assert [c.name for c in report] == ["attention output", "grad input 0", "grad input 1", "grad input 2"]


@pytest.mark.parametrize("bug", ["gelu_tanh", "layer_norm_eps", "no_scale"])
def test_forward_bugs_are_caught_at_the_output(example, checkpoint, bug):
    report = example.check_layer(checkpoint, "float64", bug)
    assert not report.ok
    assert report.first_failure().name == "output", report.format()


def test_backward_only_bug_is_caught_only_by_the_gradients(example, checkpoint):
    """The attention backward without its row-sum term: the forward is exact, every gradient is checked."""
    layer = example.check_layer(checkpoint, "float64", "attention_backward")
    assert _rows(layer, "output")[0].ok
    assert not _rows(layer, "grad input")[0].ok
    attention = example.check_attention("float64", "attention_backward")
    assert attention[0].ok and not attention.ok


def test_main_exit_status(example, capsys):
    assert example.main(["--bug", "none"]) == 0
    assert "all outputs and gradients agree with refimpl" in capsys.readouterr().out
    assert example.main(["--bug", "attention_backward", "--dtype", "float32"]) == 1
    out = capsys.readouterr().out
    assert "FIRST MISMATCH: grad input" in out and "FAIL" in out
