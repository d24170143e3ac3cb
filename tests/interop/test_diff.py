"""`refimpl diff` (refimpl.interop.diff / diff_cli / trace): clean runs agree, injected errors are found and named.

For every family present: a clean run passes (exit 0, every row ok); a weight perturbed by 1e-3 in ONE module of
the transformers model is reported as exactly that module (its input agrees); one module's forward changed in the
transformers model (a module forward monkeypatched, or a torch op patched) is reported as exactly that module; a
change in a parent's own code is attributed to the parent (`suspect`); a backward-only change is found in the
backward section. Also: JSON output, exit codes, checkpoint folders (ViT's renamed modules), .npz/.safetensors
inputs, and ONNX Runtime as the second framework.
"""
import json

import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.transformers]
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from refimpl.core.errors import ConfigError  # noqa: E402
from refimpl.interop import diff as D  # noqa: E402
from refimpl.interop.diff_cli import main as diff_main  # noqa: E402
from refimpl.interop.diff_families import FAMILIES, FamilyAdapter, Task, TextAdapter, register_family  # noqa: E402
from refimpl.interop.trace import trace_modules, trace_torch_modules  # noqa: E402

# family -> (task, transformers parameter to perturb (live name), the checkpoint name of its module,
#            a module whose forward is changed (live name), its checkpoint name)
CASES = {
    "bert": ("sequence-classification", "bert.encoder.layer.1.attention.self.value.weight",
             "bert.encoder.layer.1.attention.self.value",
             "bert.encoder.layer.0.intermediate.intermediate_act_fn",
             "bert.encoder.layer.0.intermediate.intermediate_act_fn"),
    "distilbert": ("question-answering", "distilbert.transformer.layer.1.ffn.lin2.weight",
                   "distilbert.transformer.layer.1.ffn.lin2",
                   "distilbert.transformer.layer.0.sa_layer_norm", "distilbert.transformer.layer.0.sa_layer_norm"),
    "gpt2": ("causal-lm", "transformer.h.1.mlp.c_fc.weight", "transformer.h.1.mlp.c_fc",
             "transformer.h.0.mlp.act", "transformer.h.0.mlp.act"),
    # transformers 5 renames ViT's modules on load: the report uses the checkpoint names
    "vit": ("image-classification", "vit.layers.0.attention.k_proj.weight",
            "vit.encoder.layer.0.attention.attention.key",
            "vit.layers.1.layernorm_after", "vit.encoder.layer.1.layernorm_after"),
    "convnext": ("image-classification", "convnext.encoder.stages.1.layers.0.dwconv.weight",
                 "convnext.encoder.stages.1.layers.0.dwconv",
                 "convnext.encoder.stages.2.layers.1.act", "convnext.encoder.stages.2.layers.1.act"),
    "convnextv2": ("image-classification", "convnextv2.encoder.stages.0.layers.1.grn.weight",
                   "convnextv2.encoder.stages.0.layers.1.grn",
                   "convnextv2.embeddings.layernorm", "convnextv2.embeddings.layernorm"),
    "wav2vec2": ("ctc", "wav2vec2.feature_extractor.conv_layers.1.conv.weight",
                 "wav2vec2.feature_extractor.conv_layers.1.conv",
                 "wav2vec2.encoder.pos_conv_embed.activation", "wav2vec2.encoder.pos_conv_embed.activation"),
}


def test_every_family_present_has_an_adapter_and_a_case():
    """Each model family of the package (refimpl/models/<family>/modeling.py) has a diff adapter and a case here."""
    import pathlib
    import refimpl.models
    root = pathlib.Path(refimpl.models.__file__).parent
    present = {p.parent.name for p in root.glob("*/modeling.py")}
    assert present <= {a.model_type for a in FAMILIES.values()}, f"families without a diff adapter: " \
        f"{sorted(present - {a.model_type for a in FAMILIES.values()})}"
    assert set(CASES) == set(FAMILIES)


def _perturb(hf, name, delta=1e-3):
    with torch.no_grad():
        dict(hf.named_parameters())[name].view(-1)[0] += delta


# ------------------------------------------------------------------------------------------- clean runs
@pytest.mark.parametrize("family", list(CASES))
def test_clean_run_passes(family):
    task = CASES[family][0]
    report = D.run_diff(family, task, dtype="float64")
    assert report.ok, report.format_table(only_failures=True)
    assert report.first_divergent is None and report.first_divergent_grad is None
    kinds = {r.kind for r in report.rows}
    assert {"module", "output", "grad_module", "grad_param"} <= kinds
    # token ids have no gradient (text families compare the input gradient with float_input=True)
    assert ("grad_input" in kinds) != isinstance(FAMILIES[family], TextAdapter)
    assert any(r.name == "loss" for r in report.rows if r.kind == "output")
    assert all(r.status in ("ok", "skip") for r in report.rows)
    # every refimpl parameter gradient is compared, each once
    ref, _ = D.build_models(family, task, np.float64)
    grads = [r.name for r in report.rows if r.kind == "grad_param"]
    assert sorted(grads) == sorted(k for k, _ in ref.named_parameters())


@pytest.mark.parametrize("family,task", [("bert", "masked-lm"), ("gpt2", "sequence-classification"),
                                         ("wav2vec2", "pretraining"), ("vit", "base")])
def test_clean_run_float32_other_tasks(family, task):
    report = D.run_diff(family, task, dtype="float32")
    assert report.ok, report.format_table(only_failures=True)
    assert report.rtol == 1e-4 and report.atol == 1e-5          # the float32 table


def test_text_models_with_inputs_embeds_compare_the_input_gradient():
    report = D.run_diff("distilbert", "sequence-classification", float_input=True)
    assert report.ok, report.format_table(only_failures=True)
    assert [r.name for r in report.rows if r.kind == "grad_input"] == ["inputs_embeds"]
    assert report.rows[-1].kind == "grad_input"                   # the last product of backward


# ------------------------------------------------------------------------------------------- injected errors
@pytest.mark.parametrize("family", list(CASES))
def test_perturbed_weight_is_named(family):
    task, param, module, _, _ = CASES[family]
    ref, hf = D.build_models(family, task, np.float64)
    _perturb(hf, param)
    report = D.run_diff(family, task, models=(ref, hf))
    assert not report.ok
    fd = report.first_divergent
    assert fd.name == module and fd.kind == "module" and fd.section == "forward"
    assert fd.input_agrees is True and report.suspect == module
    assert fd.torch_name == ("" if param.startswith(module) else param.rpartition(".")[0])
    # everything that ran before it still agrees
    rows = [r for r in report.rows if r.section == "forward"]
    assert all(r.ok for r in rows[:rows.index(fd)])
    assert report.first_divergent_grad is not None


@pytest.mark.parametrize("family", list(CASES))
def test_changed_module_forward_is_named(family):
    """One module's forward changed in the transformers model: a norm gets another eps, any other module
    sees its input scaled by 1 + 1e-6 (both invisible in float32, both far over the float64 tolerance)."""
    task, _, _, live, module = CASES[family]
    ref, hf = D.build_models(family, task, np.float64)
    mod = hf.get_submodule(live)
    if hasattr(mod, "eps"):
        mod.eps = mod.eps * 10 + 1e-3
    else:
        orig = mod.forward
        mod.forward = lambda x, *a, **k: orig(x * (1 + 1e-6), *a, **k)
    report = D.run_diff(family, task, models=(ref, hf))
    fd = report.first_divergent
    assert fd is not None and fd.name == module
    assert fd.input_agrees is True and report.suspect == module


def test_patched_torch_op_is_named(monkeypatch):
    """An op patched globally (group_norm gets another eps): only wav2vec2's first conv layer uses it."""
    orig = torch.nn.functional.group_norm
    monkeypatch.setattr(torch.nn.functional, "group_norm",
                        lambda x, g, w=None, b=None, eps=1e-5: orig(x, g, w, b, eps * 100))
    report = D.run_diff("wav2vec2", "sequence-classification")
    assert report.first_divergent.name == "wav2vec2.feature_extractor.conv_layers.0.layer_norm"


def test_change_in_a_parents_own_code_is_attributed_to_the_parent():
    """BertSelfOutput computes LayerNorm(dense(h) + residual) itself: scaling the residual changes the input of
    its child LayerNorm, which is the first output to differ; its input differs, so the parent is the suspect."""
    ref, hf = D.build_models("bert", "token-classification", np.float64)
    so = hf.get_submodule("bert.encoder.layer.0.attention.output")
    so.forward = lambda hidden_states, input_tensor, *a, **k: so.LayerNorm(
        so.dropout(so.dense(hidden_states)) + input_tensor * (1 + 1e-6))
    report = D.run_diff("bert", "token-classification", models=(ref, hf))
    assert report.first_divergent.name == "bert.encoder.layer.0.attention.output.LayerNorm"
    assert report.first_divergent.input_agrees is False
    assert report.suspect == "bert.encoder.layer.0.attention.output"
    assert "likely source: bert.encoder.layer.0.attention.output" in report.format_table()


class _GeluWithWrongGrad(torch.autograd.Function):
    """GELU forward; its backward off by a factor 1 + 1e-6."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.nn.functional.gelu(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            xx = x.detach().requires_grad_(True)
            (d,) = torch.autograd.grad(torch.nn.functional.gelu(xx), xx, g)
        return d * (1 + 1e-6)


def test_backward_only_error_is_found_in_the_backward_section():
    """The forward agrees everywhere; the first wrong gradient is the one arriving at the output of the module
    feeding the broken backward (the dense layer before the activation)."""
    ref, hf = D.build_models("bert", "sequence-classification", np.float64)
    hf.get_submodule("bert.encoder.layer.0.intermediate.intermediate_act_fn").forward = _GeluWithWrongGrad.apply
    report = D.run_diff("bert", "sequence-classification", models=(ref, hf))
    assert report.first_divergent is None
    fg = report.first_divergent_grad
    assert (fg.kind, fg.name) == ("grad_module", "bert.encoder.layer.0.intermediate.dense")
    assert not report.ok


# ------------------------------------------------------------------------------------------- report, JSON, CLI
def test_json_report_and_table(tmp_path):
    ref, hf = D.build_models("convnext", "image-classification", np.float64)
    _perturb(hf, CASES["convnext"][1])
    report = D.run_diff("convnext", "image-classification", models=(ref, hf))
    data = json.loads(report.to_json(tmp_path / "r.json"))
    assert json.loads((tmp_path / "r.json").read_text()) == data
    assert data["ok"] is False and data["framework"] == "torch" and data["dtype"] == "float64"
    assert data["first_divergent"]["name"] == CASES["convnext"][2]
    assert data["first_divergent"]["first"] is True and data["suspect"] == CASES["convnext"][2]
    assert data["n_failed"] == sum(r["status"] == "FAIL" for r in data["rows"])
    assert {"section", "kind", "name", "shape", "max_abs", "max_rel", "status"} <= set(data["rows"][0])
    table = report.format_table()
    marked = [line for line in table.splitlines() if line.startswith(">>")]
    assert len(marked) == 2 and CASES["convnext"][2] in marked[0] and "FIRST DIVERGENT" in marked[0]
    assert "max abs err" in table and "max rel err" in table


def test_cli_exit_codes_and_json(tmp_path, capsys):
    out = tmp_path / "ok.json"
    assert diff_main(["diff", "--family", "vit", "--task", "image-classification", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["ok"] and data["n_failed"] == 0 and data["first_divergent"] is None
    assert "OK: every compared tensor is within tolerance" in capsys.readouterr().out
    # a tolerance nothing can meet: exit 1, and the first module is the first divergent one
    assert diff_main(["diff", "--family", "vit", "--task", "image-classification", "--dtype", "float32",
                      "--atol", "0", "--rtol", "0", "--only-failures", "--seed", "3"]) == 1
    assert "<- FIRST DIVERGENT" in capsys.readouterr().out
    # usage and setup errors: exit 2 with a message naming the problem
    assert diff_main(["diff", "--family", "vit", "--task", "nope"]) == 2
    assert "vit has no task 'nope'" in capsys.readouterr().err
    assert diff_main(["diff", "--family", "nope", "--task", "x"]) == 2
    assert diff_main(["diff", "--task", "base"]) == 2
    assert diff_main(["diff", "--checkpoint", str(tmp_path / "missing")]) == 2
    assert diff_main(["diff", "--list"]) == 0
    assert "wav2vec2" in capsys.readouterr().out


def test_checkpoint_folder_with_renamed_modules(tmp_path):
    """A transformers checkpoint folder: family and task come from config.json; ViT's live module names differ
    from the checkpoint keys both sides load."""
    _, hf = D.build_models("vit", "image-classification", np.float64)
    hf.float().save_pretrained(tmp_path / "ckpt")
    assert diff_main(["diff", "--checkpoint", str(tmp_path / "ckpt"), "--json", str(tmp_path / "r.json")]) == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert (data["family"], data["task"]) == ("vit", "image-classification")
    names = {r["name"]: r["torch_name"] for r in data["rows"] if r["kind"] == "module"}
    assert names["vit.encoder.layer.0.attention.attention.query"] == "vit.layers.0.attention.q_proj"
    with pytest.raises(ConfigError, match="family"):
        D.run_diff("bert", checkpoint=tmp_path / "ckpt")


def test_checkpoint_of_another_head(tmp_path):
    """A masked-LM checkpoint diffed as a sequence classifier: the head is new on both sides (transformers draws
    it; refimpl takes the same values, with a note); everything else comes from the checkpoint."""
    _, hf = D.build_models("bert", "masked-lm", np.float64)
    hf.float().save_pretrained(tmp_path / "mlm")
    report = D.run_diff(checkpoint=tmp_path / "mlm", task="sequence-classification")
    assert report.ok and report.task == "sequence-classification"
    assert "classifier.weight" in report.notes[0]
    assert D.run_diff(checkpoint=tmp_path / "mlm").task == "masked-lm"


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_inputs_from_a_file(tmp_path, fmt):
    ref, hf = D.build_models("gpt2", "token-classification", np.float64)
    inputs = D.generate_inputs("gpt2", "token-classification", ref, np.float32, seed=7)
    path = tmp_path / f"inputs.{fmt}"
    if fmt == "npz":
        np.savez(path, **inputs)
    else:
        from refimpl.interop.safetensors_io import save_safetensors
        save_safetensors(inputs, str(path))
    loaded = D.load_inputs(path, np.float64)
    assert set(loaded) == set(inputs) and all(np.array_equal(loaded[k], inputs[k]) for k in inputs)
    report = D.run_diff("gpt2", "token-classification", inputs=path, models=(ref, hf))
    assert report.ok
    with pytest.raises(ConfigError, match="inputs"):
        D.load_inputs(tmp_path / "inputs.txt", np.float64)


# ------------------------------------------------------------------------------------------- ONNX Runtime
@pytest.mark.parametrize("family", ["bert", "vit", "convnext"])
def test_onnxruntime_clean_and_injected(family):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    task, param, module = CASES[family][:3]
    report = D.run_diff(family, task, framework="onnxruntime")
    assert report.framework == "onnxruntime" and report.dtype == "float32"
    assert report.ok, report.format_table(only_failures=True)
    assert {r.name for r in report.rows if r.kind == "output"} == {"loss", "logits"}
    assert not report.notes                                          # the loss exported too
    assert sum(r.kind == "module" for r in report.rows) >= 20       # intermediate outputs taken from the graph
    ref, hf = D.build_models(family, task, np.float32)
    _perturb(hf, param, 1e-2)
    report = D.run_diff(family, task, framework="onnxruntime", models=(ref, hf))
    assert report.first_divergent.name == module


# ------------------------------------------------------------------------------------------- traces, registry
def test_traces_record_every_call_and_restore_the_modules():
    ref, hf = D.build_models("bert", "base", np.float64)
    inputs = D.generate_inputs("bert", "base", ref, np.float64)
    with trace_modules(ref) as tr:
        out = ref(**inputs)
        ref.backward(last_hidden_state=np.ones_like(out.last_hidden_state))
    assert "forward" not in ref.encoder.layer[0].__dict__ and "backward" not in ref.encoder.layer[0].__dict__
    assert tr.order[-1][0] == "pooler" and tr.outputs["encoder.layer.1"][0].shape == out.last_hidden_state.shape
    assert np.array_equal(tr.grad("encoder.layer.1.output"), np.ones_like(out.last_hidden_state))
    with trace_modules(ref) as outer:                   # nested traces both record and both unwind
        with trace_modules(ref.encoder) as inner:
            ref(**inputs)
        assert "forward" in ref.encoder.layer[0].__dict__ and "forward" in ref.encoder.__dict__   # the outer ones
    assert "forward" not in ref.encoder.layer[0].__dict__
    assert len(inner.outputs["layer.0"]) == len(outer.outputs["encoder.layer.0"]) == 1
    ref.clear_saved()
    with trace_torch_modules(hf) as tt:
        hf(**{k: torch.from_numpy(v) for k, v in inputs.items()})
    assert not any(m._forward_hooks for m in hf.modules())
    assert [n for n, _ in tt.order if n in tr.outputs][:3] == [n for n, _ in tr.order if n in tt.outputs][:3]


def test_a_new_family_plugs_in_with_an_adapter_only():
    """A second name for BERT with a smaller config, registered from outside: the diff code is unchanged."""
    class Tiny(FamilyAdapter):
        name = "tiny-bert-test"
        model_type = "tiny-bert-test"
        hf_config_class = "BertConfig"
        ref_config_class = "refimpl.models.bert.config:BertConfig"
        grad_input = FAMILIES["bert"].grad_input
        tiny_config = dict(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=9, max_position_embeddings=8)
        tasks = {"nsp": Task("refimpl.models.bert.modeling:BertForNextSentencePrediction",
                             "BertForNextSentencePrediction", "nsp")}

        def make_inputs(self, config, task, dtype, rng, batch_size=None):
            return FAMILIES["bert"].make_inputs(config, "next-sentence-prediction", dtype, rng, batch_size)

    register_family(Tiny())
    try:
        report = D.run_diff("tiny-bert-test", "nsp")
        assert report.ok and report.family == "tiny-bert-test"
    finally:
        FAMILIES.pop("tiny-bert-test")
