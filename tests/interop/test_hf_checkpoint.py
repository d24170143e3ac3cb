"""HF checkpoint folders (config.json + weights) and the torch bridge, against real transformers models."""
import json
import sys

import numpy as np
import pytest

from refimpl.core.errors import CheckpointError, ConfigError, DTypeError
from refimpl.interop.hf_checkpoint import (find_weights_file, load_config_json, load_hf_state_dict,
                                           save_hf_checkpoint)
from refimpl.interop.safetensors_io import read_safetensors_header, save_safetensors
from refimpl.interop.torch_bridge import state_dict_to_numpy, to_numpy, to_torch

torch = pytest.importorskip("torch")


def _sd(rng):
    return {"a.weight": rng.standard_normal((3, 2)), "a.bias": rng.standard_normal(3).astype(np.float32),
            "b.scale": np.array(2.5), "ids": np.arange(4)}


def _same(a, b):
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# ------------------------------------------------------------------------------------ config.json
def test_load_config_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 4, "id2label": {"0": "a"}}))
    assert load_config_json(tmp_path) == {"hidden_size": 4, "id2label": {"0": "a"}}
    assert load_config_json(tmp_path / "config.json")["hidden_size"] == 4
    with pytest.raises(CheckpointError, match="no config.json"):
        load_config_json(tmp_path / "sub")
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_config_json(tmp_path)
    (tmp_path / "config.json").write_text("3")
    with pytest.raises(CheckpointError, match="JSON object"):
        load_config_json(tmp_path)


# ------------------------------------------------------------------------------------ weights
def test_save_hf_checkpoint_layout(tmp_path, rng):
    sd = _sd(rng)
    save_hf_checkpoint(tmp_path / "ckpt", {"model_type": "toy", "b": 1, "a": [1, 2]}, sd)
    text = (tmp_path / "ckpt" / "config.json").read_text()
    assert text == json.dumps({"a": [1, 2], "b": 1, "model_type": "toy"}, indent=2, sort_keys=True) + "\n"
    header, meta = read_safetensors_header(tmp_path / "ckpt" / "model.safetensors")
    assert meta == {"format": "pt"}
    _same(load_hf_state_dict(tmp_path / "ckpt"), sd)
    with pytest.raises(ConfigError, match="config_dict"):
        save_hf_checkpoint(tmp_path / "x", [("a", 1)], sd)
    with pytest.raises(ConfigError, match="state_dict"):
        save_hf_checkpoint(tmp_path / "x", {}, list(sd.values()))
    save_hf_checkpoint(tmp_path / "t", {}, {"w": torch.ones(2, dtype=torch.bfloat16)})   # torch values too
    assert load_hf_state_dict(tmp_path / "t")["w"].dtype == np.float32


def test_pytorch_bin_and_preference_order(tmp_path, rng):
    sd = _sd(rng)
    torch.save({k: torch.from_numpy(v) for k, v in sd.items()}, tmp_path / "pytorch_model.bin")
    assert find_weights_file(tmp_path).endswith("pytorch_model.bin")
    _same(load_hf_state_dict(tmp_path), sd)
    # safetensors wins when both are there, as in transformers
    save_safetensors({"only": np.zeros(1)}, tmp_path / "model.safetensors")
    assert list(load_hf_state_dict(tmp_path)) == ["only"]


def test_pytorch_bin_bf16_and_tied_storage(tmp_path):
    w = torch.randn(3, 4, dtype=torch.float64).to(torch.bfloat16)
    torch.save({"emb": w, "head": w}, tmp_path / "pytorch_model.bin")     # one storage, two keys
    sd = load_hf_state_dict(tmp_path)
    assert sd["emb"].dtype == np.float32
    np.testing.assert_array_equal(sd["emb"], w.float().numpy())
    np.testing.assert_array_equal(sd["head"], sd["emb"])
    assert not np.shares_memory(sd["emb"], sd["head"])


def test_pytorch_bin_not_a_state_dict(tmp_path):
    torch.save([torch.zeros(2)], tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="expected a state dict"):
        load_hf_state_dict(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="pytorch_model.bin"):
        load_hf_state_dict(tmp_path)


def test_pytorch_bin_refuses_pickled_code(tmp_path):
    """weights_only=True: a pickle that would run code is refused, not executed."""
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"w": Evil()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_hf_state_dict(tmp_path)


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_sharded_index(tmp_path, rng, fmt):
    sd = _sd(rng)
    keys = list(sd)
    weight_map = {}
    for i, part in enumerate([keys[:1], keys[1:3], keys[3:]]):
        name = f"model-{i + 1:05d}-of-00003.{fmt}" if fmt == "safetensors" else f"pytorch_model-{i + 1:05d}-of-00003.bin"
        if fmt == "safetensors":
            save_safetensors({k: sd[k] for k in part}, tmp_path / name)
        else:
            torch.save({k: torch.from_numpy(sd[k]) for k in part}, tmp_path / name)
        weight_map.update({k: name for k in part})
    index = "model.safetensors.index.json" if fmt == "safetensors" else "pytorch_model.bin.index.json"
    (tmp_path / index).write_text(json.dumps({"metadata": {"total_size": 1}, "weight_map": weight_map}))
    _same(load_hf_state_dict(tmp_path), sd)


def test_sharded_index_errors(tmp_path, rng):
    sd = _sd(rng)
    save_safetensors({"a.weight": sd["a.weight"]}, tmp_path / "s1.safetensors")
    save_safetensors({"a.weight": sd["a.weight"]}, tmp_path / "s2.safetensors")
    index = tmp_path / "model.safetensors.index.json"

    def write(weight_map):
        index.write_text(json.dumps({"weight_map": weight_map}))

    write({"a.weight": "s1.safetensors", "a.bias": "s1.safetensors"})
    with pytest.raises(CheckpointError, match="a.bias"):
        load_hf_state_dict(tmp_path)
    write({"a.weight": "s3.safetensors"})
    with pytest.raises(CheckpointError, match="s3.safetensors.*missing"):
        load_hf_state_dict(tmp_path)
    write({"a.weight": "../s1.safetensors"})
    with pytest.raises(CheckpointError, match="inside the folder"):
        load_hf_state_dict(tmp_path)
    write({"a.weight": "s1.safetensors", "x": "s2.safetensors"})
    with pytest.raises(CheckpointError, match="earlier shard"):
        load_hf_state_dict(tmp_path)
    index.write_text(json.dumps({"metadata": {}}))
    with pytest.raises(CheckpointError, match="weight_map"):
        load_hf_state_dict(tmp_path)


def test_nothing_there_lists_what_was_looked_for(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError) as exc:
        load_hf_state_dict(tmp_path)
    for name in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "config.json"):
        assert name in str(exc.value)
    with pytest.raises(CheckpointError, match="not a directory"):
        load_hf_state_dict(tmp_path / "absent")


def test_clear_error_without_torch(tmp_path, monkeypatch, rng):
    torch.save({"w": torch.zeros(2)}, tmp_path / "pytorch_model.bin")
    monkeypatch.setitem(sys.modules, "torch", None)          # `import torch` now fails
    with pytest.raises(ImportError, match=r"pytorch_model.bin.*refimpl\[diff\]"):
        load_hf_state_dict(tmp_path)
    with pytest.raises(ImportError, match=r"diff"):
        to_torch(np.zeros(2))
    save_safetensors({"w": np.zeros(2)}, tmp_path / "model.safetensors")   # safetensors needs no torch
    assert list(load_hf_state_dict(tmp_path)) == ["w"]


# ------------------------------------------------------------------------------------ torch bridge
def test_to_numpy():
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3).requires_grad_(True)
    a = to_numpy(t)
    assert a.dtype == np.float32 and a.shape == (2, 3) and a.flags.writeable
    with torch.no_grad():
        t.add_(1.0)
    assert a[0, 0] == 0.0                                    # a copy: torch's in-place update does not leak
    b = torch.tensor([1.0, 3.140625, -2.5e-39], dtype=torch.bfloat16)
    assert to_numpy(b).dtype == np.float32
    np.testing.assert_array_equal(to_numpy(b), b.float().numpy())
    assert to_numpy(torch.tensor(2.0, dtype=torch.float64)).shape == ()
    assert to_numpy(torch.tensor([1, 2], dtype=torch.int64)).dtype == np.int64
    assert to_numpy(torch.tensor([1.0], dtype=torch.float16)).dtype == np.float16
    assert to_numpy(torch.tensor([1.0 + 2j]).conj())[0] == 1.0 - 2j
    assert to_numpy(-torch.tensor([1.0 + 2j]).conj())[0] == -1.0 + 2j
    x = np.ones(2)
    assert to_numpy(x) is not x and to_numpy(x, copy=False) is x
    with pytest.raises(DTypeError, match="tensor"):
        to_numpy([1.0])


def test_to_torch():
    a = np.arange(4.0).reshape(2, 2)
    t = to_torch(a)
    assert t.dtype == torch.float64 and not t.requires_grad
    a[0, 0] = 9.0
    assert t[0, 0].item() == 0.0                             # a copy
    assert to_torch(a, dtype=np.float32).dtype == torch.float32
    assert to_torch(a, dtype="bfloat16").dtype == torch.bfloat16
    assert to_torch(a, dtype=torch.float16).dtype == torch.float16
    g = to_torch(a, requires_grad=True)
    assert g.requires_grad and g.is_leaf
    assert to_torch(np.array(3.0)).shape == ()
    assert to_torch(a.T)[0, 1].item() == a[1, 0]             # non-contiguous
    np.testing.assert_array_equal(to_torch(a.astype(">f8")).numpy(), a)   # big endian
    with pytest.raises(DTypeError, match="requires_grad"):
        to_torch(np.arange(3), requires_grad=True)
    with pytest.raises(DTypeError, match="array"):
        to_torch([1.0])


def test_state_dict_to_numpy_keeps_order():
    m = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    sd = state_dict_to_numpy(m.state_dict())
    assert list(sd) == list(m.state_dict())
    assert sd["1.num_batches_tracked"].dtype == np.int64
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(sd[k], v.numpy())


# ------------------------------------------------------------------------------------ real transformers
@pytest.fixture
def tiny_bert(monkeypatch):
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=16, max_position_embeddings=16, type_vocab_size=2)
    model = transformers.BertModel(cfg).eval()
    with torch.no_grad():  # random everything (LayerNorm weights too), so equality is meaningful
        for p in model.parameters():
            p.copy_(torch.randn_like(p))
    return transformers, model


def test_transformers_save_pretrained_read_by_us(tmp_path, tiny_bert):
    transformers, model = tiny_bert
    model.save_pretrained(tmp_path)
    ours = load_hf_state_dict(tmp_path)
    ref = model.state_dict()
    assert set(ours) == set(ref)
    for k, v in ref.items():
        assert ours[k].dtype == np.float32, k
        np.testing.assert_array_equal(ours[k], v.numpy(), err_msg=k)
    cfg = load_config_json(tmp_path)
    assert (cfg["model_type"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"]) == ("bert", 8, 2, 50)
    assert transformers.BertConfig.from_dict(cfg).to_dict() == transformers.BertConfig.from_pretrained(tmp_path).to_dict()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_our_checkpoint_loads_into_transformers(tmp_path, tiny_bert, dtype):
    transformers, model = tiny_bert
    sd = {k: v.astype(dtype) for k, v in state_dict_to_numpy(model.state_dict()).items()}
    save_hf_checkpoint(tmp_path, model.config.to_dict(), sd)
    kwargs = {"dtype": torch.float64} if dtype == np.float64 else {}
    loaded, info = transformers.BertModel.from_pretrained(tmp_path, output_loading_info=True, local_files_only=True,
                                                          **kwargs)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    for k, v in loaded.state_dict().items():
        assert v.dtype == (torch.float32 if dtype == np.float32 else torch.float64), k
        np.testing.assert_array_equal(v.numpy(), sd[k], err_msg=k)


def test_bf16_transformers_checkpoint(tmp_path, tiny_bert):
    _, model = tiny_bert
    model.to(torch.bfloat16).save_pretrained(tmp_path)
    ours = load_hf_state_dict(tmp_path)
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            assert ours[k].dtype == np.float32
            np.testing.assert_array_equal(ours[k], v.float().numpy(), err_msg=k)
