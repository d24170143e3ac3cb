"""ModelOutput and PreTrainedModel: the contract every model family (BERT, GPT-2, ViT, ...) follows.

THE MODEL CONTRACT
==================

A family lives in refimpl/models/<family>/: `config.py` (a PretrainedConfig subclass) and
`modeling.py` (the base model and each task head, all PreTrainedModel subclasses).

Class attributes
----------------
- `config_class`: the family's PretrainedConfig subclass; __init__ refuses another config type.
- `base_model_prefix`: the attribute under which a head model holds its base model, which is also
  the first component of the head's checkpoint keys: "bert", "vit", "transformer" (GPT-2)... The
  base model class itself has the same prefix but no such attribute.
- `differentiable_inputs`: the HF argument names of the float inputs that get a gradient, e.g.
  ("inputs_embeds",) for BERT, ("pixel_values",) for ViT, ("input_values",) for Wav2Vec2.
- `tied_weights_keys`: {target key: source key} of parameters shared when
  config.tie_word_embeddings is true, e.g. {"cls.predictions.decoder.weight":
  "bert.embeddings.word_embeddings.weight"}; `tie_weights()` makes the target the SAME Parameter
  object as the source (so its gradient is the sum of both uses).

Construction
------------
`__init__(self, config, dtype=np.float64)`: call `super().__init__(config, dtype)` first, build the
submodules with `dtype=self.dtype` (so parameter names are the HF state-dict keys, see Module), and
end with `self.post_init()` (which calls `tie_weights()`). Weights are initialised from a fixed
seed; checkpoints overwrite them. A fresh model is in training mode (dropout active, needing an
`rng` input); `from_pretrained` returns it in eval mode, as transformers does.

Forward
-------
`model(**inputs)` with HF's argument names, keyword only (input_ids, attention_mask,
token_type_ids, pixel_values, labels, output_hidden_states, rng for dropout, ...). It calls
`forward(**inputs)`, which validates the inputs (refimpl.core.validation, errors naming the
argument), computes, saves what backward needs, and returns a ModelOutput subclass whose field
names and order are transformers' (loss first when labels are given, then logits /
last_hidden_state, ..., hidden_states, attentions). Fields that were not computed are None and so
are absent from keys() and to_tuple(), exactly as in transformers. Under `no_grad()` nothing is
saved. `__call__` records the output's field shapes/dtypes and which differentiable inputs were
given, for `backward` to check against; call the model, not `forward` directly, when a backward follows.

Backward
--------
`model.backward(**grads) -> dict`:
- `grads` is keyed by OUTPUT field names of the matching forward: `model.backward(logits=dlogits)`,
  `model.backward(last_hidden_state=dh, pooler_output=dp)`. Each gradient has the shape and dtype
  of its output (a Python float is accepted for a 0-d output such as loss). Tuple outputs
  (hidden_states, attentions) take a tuple of the same length whose entries may be None. Outputs
  not named get a zero gradient. A name that is not an output of that forward raises ConfigError;
  a wrong shape ShapeError; a wrong dtype DTypeError.
- With no arguments, if that forward computed a loss, the gradient is `loss=1.0` (d loss / d loss):
  `out = model(input_ids=ids, labels=y); model.backward()` gives d loss / d everything.
- Parameter gradients are ACCUMULATED (+=) into `p.grad` of every parameter, tied ones once with
  the sum of all their uses; call `model.zero_grad()` between steps.
- Returns {HF input name: gradient} for exactly the `differentiable_inputs` that were passed (not
  None) to the forward, e.g. {"pixel_values": dL/dpixel_values}; integer inputs (ids, masks,
  labels) never have a gradient and are absent. An empty dict when no float input was given.
- Each forward is matched by one backward, most recent first (a stack, as for Module).
Subclasses implement `_backward(self, grads: dict) -> dict`; `backward` does the bookkeeping and
checks above, so `_backward` receives validated arrays keyed by output name (absent = zero).

Checkpoints
-----------
- `Model.from_pretrained(dir, dtype=np.float64, strict=True)`: config from dir/config.json, weights
  from the HF weights file (model.safetensors, sharded index, pytorch_model.bin), cast to `dtype`
  (a float32 or bf16 checkpoint loads into a float64 oracle exactly).
  Key prefixes follow transformers: a checkpoint saved from the BASE model (keys without
  "bert.") loads into a HEAD model (the prefix is added), and a HEAD checkpoint loads into the
  base model (the prefix is stripped and the head's own keys, outside the prefix, are ignored).
  strict=True: every key the model and checkpoint should share must match - missing, unexpected
  and mis-shaped keys are listed together in one StateDictError. The exception that transformers
  also makes: loading a base checkpoint into a head model leaves the head's own weights (outside
  the prefix) at their initial values (reported in the loading info, not an error).
  strict=False also tolerates missing/unexpected keys (mis-shaped keys are always an error).
  Tied weights: a checkpoint that stores only one key of a tied group (as HF saves them) fills
  every key of the group; when several are stored, the first key in model order (the source,
  e.g. the word embeddings) wins, as tying after loading does in transformers.
  `output_loading_info=True` returns (model, info) with missing_keys, unexpected_keys,
  newly_initialized_keys and ignored_keys.
- `model.save_pretrained(dir, dtype=None)`: config.json (architectures = [class name], dtype = the
  saved dtype) + model.safetensors (metadata {"format": "pt"}) in the model's dtype, or `dtype` when
  given (e.g. np.float32 for torch). A tied parameter is saved ONCE, under its first key in model
  order (the source: embeddings before the LM head), which is what transformers writes; loading
  fills the other keys. Non-persistent buffers are not saved.
- `num_parameters(only_trainable=False)` counts each tied parameter once.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar, Dict, NamedTuple, Tuple

import numpy as np

from .config import PretrainedConfig
from .errors import BackwardError, ConfigError, DTypeError, ShapeError, StateDictError
from .grad_mode import is_grad_enabled
from .module import Module
from .parameter import Parameter
from .validation import as_dtype

__all__ = ["ModelOutput", "PreTrainedModel"]


# ============================================================================================ outputs
class ModelOutput(Mapping):
    """An ordered mapping of a model's outputs with attribute access, like transformers' ModelOutput.

    Subclasses declare their fields, in transformers' order, as annotations defaulting to None:

        class SequenceClassifierOutput(ModelOutput):
            loss: Optional[np.ndarray] = None
            logits: Optional[np.ndarray] = None
            hidden_states: Optional[tuple] = None

    - `out.logits` / `out["logits"]` / `out[0]`: by attribute, by name, by position.
    - A field that is None is absent: not in keys(), len(), iteration, to_tuple(), and `out["x"]`
      raises KeyError; `out.x` still returns None. Integer indices count only present fields,
      so out[0] is the loss when there is one and the logits otherwise (as in transformers).
    - Assigning a field (attribute or item) updates both views; assigning None removes it.
    - The base class itself takes any keyword fields, in the order given.
    - `==` is identity (arrays have no single truth value).
    """

    _field_names: ClassVar[Tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        names = []
        for klass in reversed(cls.__mro__):
            for name, ann in klass.__dict__.get("__annotations__", {}).items():
                if name.startswith("_") or "ClassVar" in str(ann) or name in names:
                    continue
                default = klass.__dict__.get(name, None)
                if default is not None:
                    raise TypeError(f"{cls.__name__}.{name}: ModelOutput fields default to None")
                names.append(name)
        for name in names:  # class-level defaults would hide __getattr__
            if name in cls.__dict__:
                delattr(cls, name)
        cls._field_names = tuple(names)

    def __init__(self, *args, **kwargs):
        object.__setattr__(self, "_values", {})
        fields = type(self)._field_names
        if args:
            if not fields or len(args) > len(fields):
                raise TypeError(f"{type(self).__name__}: too many positional values ({len(args)}); "
                                f"fields are {list(fields)}")
            for name, value in zip(fields, args):
                if name in kwargs:
                    raise TypeError(f"{type(self).__name__}: {name!r} given twice")
                kwargs[name] = value
        for name in fields:
            self._values[name] = None
        for name, value in kwargs.items():
            self._check_name(name)
            self._values[name] = value

    def _check_name(self, name):
        fields = type(self)._field_names
        if not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: field names are strings, got {name!r}")
        if fields and name not in fields:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}; fields are {list(fields)}")

    # ---- mapping
    def keys(self):
        return [k for k, v in self._values.items() if v is not None]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer, slice)):
            return self.to_tuple()[key]
        value = self._values.get(key)
        if value is None:
            raise KeyError(f"{type(self).__name__} has no output {key!r}; present: {self.keys()}")
        return value

    def __setitem__(self, key, value):
        self._check_name(key)
        self._values[key] = value

    def to_tuple(self) -> tuple:
        """The present (not None) values in field order."""
        return tuple(v for v in self._values.values() if v is not None)

    # ---- attributes
    def __getattr__(self, name):
        values = self.__dict__.get("_values")
        if values is not None and name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        self._check_name(name)
        self._values[name] = value

    def __eq__(self, other):
        return self is other

    __hash__ = object.__hash__

    def __repr__(self):
        def show(v):
            if isinstance(v, np.ndarray):
                return f"array(shape={v.shape}, dtype={v.dtype})"
            if isinstance(v, (tuple, list)):
                return "(" + ", ".join(show(x) for x in v) + ")"
            return repr(v)
        return f"{type(self).__name__}(" + ", ".join(f"{k}={show(self._values[k])}" for k in self.keys()) + ")"


# ============================================================================================ models
class _ArraySpec(NamedTuple):
    shape: tuple
    dtype: np.dtype


def _spec_of(value):
    """What backward needs to check a gradient for an output: _ArraySpec, a tuple of specs, or None."""
    if isinstance(value, np.ndarray):
        return _ArraySpec(value.shape, value.dtype) if value.dtype.kind == "f" else None
    if isinstance(value, (tuple, list)):
        return tuple(_spec_of(v) for v in value)
    return None


def _check_grad(name, g, spec):
    if spec is None:
        raise ConfigError(f"backward: output {name} is not a float array, it has no gradient")
    if not isinstance(spec, _ArraySpec):
        # a tuple output (hidden_states, attentions): a tuple of per-entry gradients
        if not isinstance(g, (tuple, list)) or len(g) != len(spec):
            raise ShapeError(f"backward: {name} is a tuple of {len(spec)} outputs; expected a tuple of {len(spec)} "
                             f"gradients (None allowed), got {type(g).__name__}"
                             + (f" of length {len(g)}" if isinstance(g, (tuple, list)) else ""))
        return tuple(None if gi is None else _check_grad(f"{name}[{i}]", gi, si)
                     for i, (gi, si) in enumerate(zip(g, spec)))
    shape, dtype = spec
    if shape == () and isinstance(g, (int, float, np.floating)) and not isinstance(g, bool):
        return np.asarray(g, dtype=dtype)
    if not isinstance(g, np.ndarray):
        raise DTypeError(f"backward: gradient {name} must be a numpy.ndarray, got {type(g).__name__}")
    if g.shape != shape:
        raise ShapeError(f"backward: gradient {name} must have the output's shape {shape}, got {g.shape}")
    if g.dtype != dtype:
        raise DTypeError(f"backward: gradient {name} must have the output's dtype {dtype}, got {g.dtype}")
    return g


class PreTrainedModel(Module):
    """Base of every model and head; the contract is in this module's docstring."""

    config_class: ClassVar[type] = PretrainedConfig
    base_model_prefix: ClassVar[str] = ""
    differentiable_inputs: ClassVar[Tuple[str, ...]] = ()
    tied_weights_keys: ClassVar[Dict[str, str]] = {}

    def __init__(self, config: PretrainedConfig, dtype=np.float64):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise ConfigError(f"{type(self).__name__}: config must be a {self.config_class.__name__}, "
                              f"got {type(config).__name__}")
        self.config = config
        object.__setattr__(self, "_dtype", as_dtype(dtype))
        object.__setattr__(self, "_output_records", [])

    @property
    def dtype(self) -> np.dtype:
        """The model's float dtype (that of its parameters)."""
        for p in self.parameters():
            return p.dtype
        return self._dtype

    @property
    def base_model(self) -> Module:
        """The base model inside a head (`self.<base_model_prefix>`), or self for the base model."""
        return getattr(self, self.base_model_prefix, self) if self.base_model_prefix else self

    def post_init(self) -> None:
        """Call at the end of a subclass __init__ (ties weights)."""
        self.tie_weights()

    def get_submodule(self, path: str) -> Module:
        mod = self
        for part in path.split(".") if path else []:
            child = mod._modules.get(part)
            if child is None:
                raise ConfigError(f"{type(self).__name__}: no submodule {path!r} (stopped at {part!r})")
            mod = child
        return mod

    def _param_owner(self, key: str):
        owner_path, _, name = key.rpartition(".")
        owner = self.get_submodule(owner_path)
        if not isinstance(owner._parameters.get(name), Parameter):
            raise ConfigError(f"{type(self).__name__}: no parameter {key!r}")
        return owner, name

    def tie_weights(self) -> None:
        """Share each `tied_weights_keys` target with its source when config.tie_word_embeddings.

        Override for other tying rules (e.g. T5/BART encoder-decoder embeddings); call it again
        after replacing a tied module.
        """
        if not self.tied_weights_keys or not getattr(self.config, "tie_word_embeddings", False):
            return
        for target, source in self.tied_weights_keys.items():
            src_owner, src_name = self._param_owner(source)
            dst_owner, dst_name = self._param_owner(target)
            src = src_owner._parameters[src_name]
            if dst_owner._parameters[dst_name].shape != src.shape:
                raise ShapeError(f"tie_weights: {target} has shape {dst_owner._parameters[dst_name].shape}, "
                                 f"its source {source} has {src.shape}")
            setattr(dst_owner, dst_name, src)

    # ------------------------------------------------------------------ forward / backward
    def forward(self, **inputs) -> ModelOutput:
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def _backward(self, grads: Dict[str, Any]) -> Dict[str, np.ndarray]:
        raise NotImplementedError(f"{type(self).__name__}._backward")

    def __call__(self, *args, **inputs) -> ModelOutput:
        if args:
            raise TypeError(f"{type(self).__name__}: pass inputs by keyword with their HF names "
                            f"(e.g. input_ids=..., pixel_values=...), got {len(args)} positional argument(s)")
        out = self.forward(**inputs)
        if not isinstance(out, ModelOutput):
            raise TypeError(f"{type(self).__name__}.forward must return a ModelOutput, got {type(out).__name__}")
        if is_grad_enabled():
            fields = OrderedDict((k, _spec_of(v)) for k, v in out.items())
            given = tuple(n for n in self.differentiable_inputs if inputs.get(n) is not None)
            self._output_records.append((fields, given))
        return out

    def backward(self, **grads) -> Dict[str, np.ndarray]:
        """Gradients by output name in, gradients by input name out (see the module docstring)."""
        if not self._output_records:
            raise BackwardError(f"{type(self).__name__}.backward: no forward to differentiate; call the model "
                                f"(model(**inputs), not model.forward) outside no_grad(), once per backward")
        fields, given = self._output_records.pop()
        if not grads:
            if fields.get("loss") is None:
                raise BackwardError(
                    f"{type(self).__name__}.backward: no gradient given and the forward computed no loss; "
                    f"pass gradients by output name, one of {list(fields)}")
            grads = {"loss": 1.0}
        checked = {}
        for name, g in grads.items():
            if name not in fields:
                raise ConfigError(f"backward: {name!r} is not an output of the last forward; outputs are "
                                  f"{list(fields)}")
            if g is not None:
                checked[name] = _check_grad(name, g, fields[name])
        result = self._backward(checked)
        if not isinstance(result, dict) or set(result) != set(given):
            got = sorted(result) if isinstance(result, dict) else type(result).__name__
            raise BackwardError(f"{type(self).__name__}._backward must return gradients for exactly the "
                                f"differentiable inputs given to forward {sorted(given)}, returned {got}")
        return result

    def clear_saved(self) -> None:
        super().clear_saved()
        for m in self.modules():
            if isinstance(m, PreTrainedModel):
                m._output_records.clear()

    def to(self, dtype) -> "PreTrainedModel":
        super().to(dtype)
        for m in self.modules():
            if isinstance(m, PreTrainedModel):
                object.__setattr__(m, "_dtype", as_dtype(dtype))
                m._output_records.clear()
        return self

    # ------------------------------------------------------------------ checkpoints
    def load_checkpoint_state(self, state: Dict[str, np.ndarray], strict: bool = True) -> dict:
        """Load an HF state dict with transformers' prefix and tying conventions (see module docstring).

        Returns the loading info {missing_keys, unexpected_keys, newly_initialized_keys, ignored_keys}.
        """
        slots = self._state_slots()
        expected = set(slots)
        state = OrderedDict(state)
        info = {"missing_keys": [], "unexpected_keys": [], "newly_initialized_keys": [], "ignored_keys": []}
        prefix = self.base_model_prefix + "." if self.base_model_prefix else ""
        keep_initial = []
        if prefix:
            model_has = any(k.startswith(prefix) for k in expected)
            ckpt_has = any(k.startswith(prefix) for k in state)
            if model_has and not ckpt_has:  # base-model checkpoint into a head model: add the prefix
                # (a key the model has as is stays: only the head's own keys live outside the prefix)
                state = OrderedDict((k if k in expected else prefix + k, v) for k, v in state.items())
                keep_initial = [k for k in slots if not k.startswith(prefix) and k not in state]
            elif ckpt_has and not model_has:  # head checkpoint into the base model: strip it
                stripped = OrderedDict()
                for k, v in state.items():
                    if k.startswith(prefix):
                        stripped[k[len(prefix):]] = v
                    else:
                        info["ignored_keys"].append(k)  # the head's own weights
                state = stripped
        # tied groups: one Parameter under several keys; the first key present in model order wins
        groups = OrderedDict()
        for key, (mod, name, kind) in slots.items():
            if kind == "param":
                groups.setdefault(id(mod._parameters[name]), []).append(key)
        for keys in groups.values():
            present = [k for k in keys if k in state]
            if len(keys) > 1 and present:
                for k in keys:
                    state[k] = state[present[0]]
                keep_initial = [k for k in keep_initial if k not in keys]
        for k in keep_initial:  # head weights a base checkpoint cannot have: keep their init values
            mod, name, kind = slots[k]
            state[k] = mod._parameters[name].data if kind == "param" else mod._buffers[name]
        info["newly_initialized_keys"] = keep_initial
        missing, unexpected = self.load_state_dict(state, strict=strict)
        info["missing_keys"], info["unexpected_keys"] = list(missing), list(unexpected)
        return info

    @classmethod
    def from_pretrained(cls, directory, dtype=np.float64, strict: bool = True,
                        output_loading_info: bool = False, **config_overrides):
        """Build from a local HF checkpoint folder (config.json + weights); returns the model in eval mode."""
        from ..interop.hf_checkpoint import load_hf_state_dict  # lazy: interop depends on core

        config = cls.config_class.from_pretrained(directory, **config_overrides)
        model = cls(config, dtype=dtype)
        state = load_hf_state_dict(directory)
        try:
            info = model.load_checkpoint_state(state, strict=strict)
        except StateDictError as exc:
            raise StateDictError(f"{os.fspath(directory)}: {exc}") from None
        model.eval()
        return (model, info) if output_loading_info else model

    def save_pretrained(self, directory, dtype=None) -> None:
        """Write config.json + model.safetensors; tied parameters once (see module docstring)."""
        from ..interop.hf_checkpoint import save_hf_checkpoint

        out_dtype = as_dtype(dtype) if dtype is not None else None
        state, seen = OrderedDict(), set()
        for key, (mod, name, kind) in self._state_slots().items():
            if kind == "param":
                p = mod._parameters[name]
                if id(p) in seen:  # tied: already saved under its first key
                    continue
                seen.add(id(p))
                arr = p.data
            else:
                arr = mod._buffers[name]
            if out_dtype is not None and arr.dtype.kind == "f":
                arr = arr.astype(out_dtype)
            state[key] = arr
        config = self.config.to_dict()
        config["architectures"] = [type(self).__name__]
        config["dtype"] = (out_dtype or self.dtype).name
        save_hf_checkpoint(directory, config, state)
