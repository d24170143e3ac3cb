"""Checkpoint I/O and the torch bridge: safetensors (own NumPy reader/writer), HF checkpoint folders,
torch tensors <-> NumPy. torch is needed only by the torch bridge and pytorch_model.bin files."""
from .hf_checkpoint import find_weights_file, load_config_json, load_hf_state_dict, save_hf_checkpoint
from .safetensors_io import (bfloat16_bits_to_float32, float32_to_bfloat16_bits, load_safetensors,
                             read_safetensors_header, save_safetensors)
from .torch_bridge import import_torch, is_torch_tensor, state_dict_to_numpy, to_numpy, to_torch, torch_dtype

__all__ = [
    "load_safetensors", "save_safetensors", "read_safetensors_header", "float32_to_bfloat16_bits",
    "bfloat16_bits_to_float32", "load_config_json", "load_hf_state_dict", "save_hf_checkpoint",
    "find_weights_file", "to_numpy", "to_torch", "state_dict_to_numpy", "torch_dtype", "import_torch",
    "is_torch_tensor",
]
