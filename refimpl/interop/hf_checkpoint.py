"""Hugging Face checkpoint folders: config.json plus weights, read and written without transformers.

A folder saved by `transformers` `save_pretrained` holds config.json and one of (looked for in this
order, as transformers prefers safetensors):

    model.safetensors                       one file
    model.safetensors.index.json            {"metadata": {...}, "weight_map": {key: shard file}}
    pytorch_model.bin                       torch.save(state_dict) (read with weights_only=True)
    pytorch_model.bin.index.json            sharded .bin, same index layout

`load_hf_state_dict` returns {key: np.ndarray} with HF's keys unchanged (bf16 upcast to float32).
`save_hf_checkpoint` writes config.json + model.safetensors with metadata {"format": "pt"}, which
`transformers` loads directly.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from typing import Dict, Mapping

import numpy as np

from ..core.errors import CheckpointError, ConfigError
from .safetensors_io import load_safetensors, save_safetensors
from .torch_bridge import import_torch, is_torch_tensor, to_numpy

__all__ = ["CONFIG_NAME", "WEIGHTS_FILES", "load_config_json", "load_hf_state_dict", "save_hf_checkpoint",
           "find_weights_file"]

CONFIG_NAME = "config.json"
SAFE_WEIGHTS = "model.safetensors"
SAFE_INDEX = "model.safetensors.index.json"
TORCH_WEIGHTS = "pytorch_model.bin"
TORCH_INDEX = "pytorch_model.bin.index.json"
WEIGHTS_FILES = (SAFE_WEIGHTS, SAFE_INDEX, TORCH_WEIGHTS, TORCH_INDEX)


def _read_json(path, what: str):
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise CheckpointError(f"{os.fspath(path)}: no {what} there") from None
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{os.fspath(path)}: {what} is not UTF-8 text ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{os.fspath(path)}: {what} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{os.fspath(path)}: {what} must hold a JSON object, got {type(data).__name__}")
    return data


def _check_dir(directory) -> str:
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise CheckpointError(f"{directory}: not a directory (expected a folder saved by save_pretrained; "
                              f"refimpl never downloads, pass a local path)")
    return directory


def load_config_json(directory) -> dict:
    """The parsed config.json of a checkpoint folder (or the path of a .json file itself)."""
    path = os.fspath(directory)
    if os.path.isdir(path):
        path = os.path.join(path, CONFIG_NAME)
    return _read_json(path, "config.json")


def find_weights_file(directory) -> str:
    """Path of the weights file/index transformers would load from `directory` (first found of WEIGHTS_FILES)."""
    directory = _check_dir(directory)
    for name in WEIGHTS_FILES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    present = sorted(os.listdir(directory))
    raise CheckpointError(f"{directory}: no model weights found; looked for {', '.join(WEIGHTS_FILES)}; "
                          f"the folder holds {present if present else 'nothing'}")


def _load_torch_bin(path) -> "OrderedDict[str, np.ndarray]":
    try:
        torch = import_torch()
    except ImportError as exc:
        raise ImportError(f"{path}: reading a pytorch_model.bin checkpoint needs PyTorch; {exc}") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types
        raise CheckpointError(f"{path}: cannot read as a torch state dict ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a state dict (mapping key -> tensor), got {type(obj).__name__}")
    out = OrderedDict()
    for k, v in obj.items():
        if not is_torch_tensor(v):
            raise CheckpointError(f"{path}: entry {k!r} is a {type(v).__name__}, not a tensor")
        out[k] = to_numpy(v)
    return out


def _load_sharded(directory: str, index_path: str, load_one) -> "OrderedDict[str, np.ndarray]":
    index = _read_json(index_path, "shard index")
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CheckpointError(f"{index_path}: expected a 'weight_map' object of key -> shard file name")
    out = OrderedDict()
    shards = list(dict.fromkeys(weight_map.values()))  # file order as first listed, each once
    for shard in shards:
        if os.path.basename(shard) != shard or shard in ("", ".", ".."):
            raise CheckpointError(f"{index_path}: shard name {shard!r} must be a file name inside the folder")
        path = os.path.join(directory, shard)
        if not os.path.isfile(path):
            raise CheckpointError(f"{index_path}: shard {shard!r} listed in weight_map is missing ({path})")
        tensors = load_one(path)
        for k, v in tensors.items():
            if k in out:
                raise CheckpointError(f"{path}: key {k!r} also appears in an earlier shard")
            out[k] = v
        listed = [k for k, s in weight_map.items() if s == shard and k not in tensors]
        if listed:
            raise CheckpointError(f"{path}: keys listed for this shard in {os.path.basename(index_path)} are not in it: "
                                  f"{listed}")
    return out


def load_hf_state_dict(directory) -> Dict[str, np.ndarray]:
    """Every weight of an HF checkpoint folder as {HF key: np.ndarray} (keys exactly as stored).

    Reads the first of model.safetensors, model.safetensors.index.json, pytorch_model.bin,
    pytorch_model.bin.index.json found (CheckpointError listing them when none is). Values keep the
    stored dtype except bfloat16, which becomes float32. .bin files need torch (the `diff` extra).
    """
    path = find_weights_file(directory)
    name = os.path.basename(path)
    directory = os.path.dirname(path)
    if name == SAFE_WEIGHTS:
        return load_safetensors(path)
    if name == SAFE_INDEX:
        return _load_sharded(directory, path, load_safetensors)
    if name == TORCH_WEIGHTS:
        return _load_torch_bin(path)
    return _load_sharded(directory, path, _load_torch_bin)


def save_hf_checkpoint(directory, config_dict: Mapping, state_dict: Mapping) -> None:
    """Write config.json (sorted keys, indent 2, like transformers) and model.safetensors.

    state_dict: {key: np.ndarray or torch tensor}; arrays are written in their own dtype (a float64
    oracle writes F64; cast first for a float32 checkpoint). The safetensors metadata is
    {"format": "pt"}, which transformers expects. The folder is created if needed.
    """
    if not isinstance(config_dict, Mapping):
        raise ConfigError(f"config_dict: expected a mapping, got {type(config_dict).__name__}")
    if not isinstance(state_dict, Mapping):
        raise ConfigError(f"state_dict: expected a mapping of key -> array, got {type(state_dict).__name__}")
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    tensors = OrderedDict((k, to_numpy(v, copy=False) if is_torch_tensor(v) else v) for k, v in state_dict.items())
    save_safetensors(tensors, os.path.join(directory, SAFE_WEIGHTS), metadata={"format": "pt"})
    text = json.dumps(dict(config_dict), indent=2, sort_keys=True, default=_json_default) + "\n"
    with open(os.path.join(directory, CONFIG_NAME), "w", encoding="utf-8") as f:
        f.write(text)


def _json_default(value):
    # NumPy scalars/arrays that slip into a config dict
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"config value of type {type(value).__name__} is not JSON serializable")
