"""PretrainedConfig: the base of every model family's configuration, read from an HF config.json.

A family declares its fields dataclass-style, with Hugging Face's defaults:

    class BertConfig(PretrainedConfig):
        model_type = "bert"                      # class attribute, not a field
        vocab_size: int = 30522
        hidden_size: int = 768
        layer_norm_eps: float = 1e-12
        hidden_act: str = "gelu"
        classifier_dropout: Optional[float] = None

    cfg = BertConfig(hidden_size=32)             # keyword arguments only
    cfg = BertConfig.from_pretrained("ckpt/")    # ckpt/config.json
    cfg.to_json_file("out/config.json")

Rules:
- Fields are the annotated class attributes of the class and its bases (base fields first); each
  needs a default. Defaults are deep-copied per instance, so a list default is safe.
- Keys that are not fields (transformers_version, use_cache, ...) are kept, never dropped, in
  `cfg.extra` and are readable as attributes (`cfg.use_cache`); to_dict() puts them back, so
  from_dict(d).to_dict() holds every key of d.
- `attribute_map = {"hidden_size": "n_embd"}` (class attribute) makes an alias name read and write
  the real field, as HF's GPT-2 config does.
- Light type checks on every assignment: a field annotated int takes an int (not a bool, not 3.0),
  float takes int or float (stored as float), str a str, bool a bool, list a list or tuple (stored
  as a list), dict a dict; Optional[...] also takes None; other annotations are not checked.
  A mismatch raises ConfigError naming the key.
- HF conventions: id2label keys become int (JSON keys are strings); num_labels is derived from
  id2label (len), and setting num_labels (or passing it with no id2label) makes
  {i: "LABEL_i"} / {"LABEL_i": i}, default 2 labels, as transformers does; `torch_dtype` is the old
  name of `dtype` (read into dtype and saved as dtype, as transformers 5 does). dtype is recorded
  only: a refimpl model's precision is its constructor's dtype argument.
"""
from __future__ import annotations

import copy
import json
import os
import types
import typing
import warnings
from typing import Any, ClassVar, Dict, List, Optional, Union

from .errors import CheckpointError, ConfigError

__all__ = ["PretrainedConfig"]

_MISSING = object()
_PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


def _allowed_types(annotation):
    """The runtime types a field accepts, or None when the annotation is not checked."""
    if annotation is Any or annotation is None:
        return None
    origin = typing.get_origin(annotation)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        allowed = []
        for arg in typing.get_args(annotation):
            sub = (type(None),) if arg is type(None) else _allowed_types(arg)
            if sub is None:
                return None
            allowed.extend(sub)
        return tuple(allowed)
    base = origin if origin is not None else annotation
    if base in (list, tuple, List, typing.Sequence):
        return (list, tuple)
    if base in (dict, Dict, typing.Mapping):
        return (dict,)
    if base in (int, float, str, bool):
        return (base,)
    return None


def _check_value(cls_name: str, key: str, value, allowed):
    if allowed is None:
        return value
    for t in allowed:
        if t is type(None) and value is None:
            return value
        if t is bool and isinstance(value, bool):
            return value
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if t is str and isinstance(value, str):
            return value
        if t in (list, tuple) and isinstance(value, (list, tuple)):
            return list(value)
        if t is dict and isinstance(value, dict):
            return value
    names = " or ".join(dict.fromkeys("None" if t is type(None) else ("list" if t is tuple else t.__name__)
                                      for t in allowed))
    raise ConfigError(f"{cls_name}.{key}: expected {names}, got {value!r} ({type(value).__name__})")


class PretrainedConfig:
    """Base of the family configs; see the module docstring for how to declare one."""

    model_type: ClassVar[str] = ""
    attribute_map: ClassVar[Dict[str, str]] = {}

    # common Hugging Face keys (transformers' PreTrainedConfig defaults)
    architectures: Optional[list] = None
    dtype: Optional[str] = None
    output_hidden_states: bool = False
    output_attentions: bool = False
    return_dict: bool = True
    is_encoder_decoder: bool = False
    id2label: Optional[dict] = None
    label2id: Optional[dict] = None
    problem_type: Optional[str] = None
    tie_word_embeddings: bool = True
    pad_token_id: Optional[int] = None
    bos_token_id: Optional[int] = None
    eos_token_id: Optional[Union[int, list]] = None

    _fields: ClassVar[Dict[str, Any]] = {}   # name -> default, in declaration order
    _types: ClassVar[Dict[str, Any]] = {}    # name -> allowed runtime types (None: unchecked)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._collect_fields()

    @classmethod
    def _collect_fields(cls):
        fields, kinds = {}, {}
        for klass in reversed(cls.__mro__):
            own = klass.__dict__.get("__annotations__", {})
            if not own:
                continue
            try:
                hints = typing.get_type_hints(klass)
            except Exception:  # unresolvable forward reference: skip the type check, keep the field
                hints = {}
            for name, ann in own.items():
                if name.startswith("_") or typing.get_origin(hints.get(name)) is ClassVar or \
                        (isinstance(ann, str) and ann.startswith(("ClassVar", "typing.ClassVar"))):
                    continue
                if name not in klass.__dict__:
                    raise TypeError(f"{klass.__name__}.{name}: a config field needs a default value (HF's default)")
                fields[name] = klass.__dict__[name]
                allowed = _allowed_types(hints[name]) if name in hints else None
                if allowed is not None and fields[name] is None and type(None) not in allowed:
                    allowed = allowed + (type(None),)  # `x: float = None` means Optional, as HF writes it
                kinds[name] = allowed
        cls._fields = fields
        cls._types = kinds

    # ------------------------------------------------------------------ construction
    def __init__(self, **kwargs):
        object.__setattr__(self, "extra", {})
        cls = type(self)
        kwargs = dict(kwargs)
        # the old name of dtype; dtype wins when both are given (as in transformers)
        torch_dtype = kwargs.pop("torch_dtype", None)
        if kwargs.get("dtype") is None and torch_dtype is not None:
            kwargs["dtype"] = str(torch_dtype).replace("torch.", "")
        elif kwargs.get("dtype") is not None:
            kwargs["dtype"] = str(kwargs["dtype"]).replace("torch.", "")
        num_labels = kwargs.pop("num_labels", None)
        model_type = kwargs.pop("model_type", None)
        if model_type is not None and cls.model_type and model_type != cls.model_type:
            warnings.warn(f"{cls.__name__}: config has model_type={model_type!r}, this class is for "
                          f"{cls.model_type!r}; loading anyway (as transformers does), not every key may match",
                          stacklevel=2)
        for alias, real in cls.attribute_map.items():
            if alias in kwargs:
                if real in kwargs and kwargs[real] != kwargs[alias]:
                    raise ConfigError(f"{cls.__name__}: both {alias!r} and {real!r} given with different values")
                kwargs[real] = kwargs.pop(alias)
        for name, default in cls._fields.items():
            value = kwargs.pop(name) if name in kwargs else copy.deepcopy(default)
            setattr(self, name, value)
        for key, value in kwargs.items():  # unknown keys: kept verbatim
            self.extra[key] = value

        if self.id2label is None:
            self.num_labels = 2 if num_labels is None else num_labels
        elif num_labels is not None and num_labels != len(self.id2label):
            raise ConfigError(f"{cls.__name__}.num_labels: {num_labels} does not match id2label, which has "
                              f"{len(self.id2label)} labels")
        if self.problem_type is not None and self.problem_type not in _PROBLEM_TYPES:
            raise ConfigError(f"{cls.__name__}.problem_type: expected one of {list(_PROBLEM_TYPES)} or None, "
                              f"got {self.problem_type!r}")
        if self.problem_type == "single_label_classification" and self.num_labels == 1:
            raise ConfigError(f"{cls.__name__}.problem_type: 'single_label_classification' needs num_labels > 1 "
                              f"(use 'regression' for a single output)")
        self.__post_init__()

    def __post_init__(self):
        """Hook for family checks (e.g. hidden_size divisible by num_attention_heads); raise ConfigError."""

    # ------------------------------------------------------------------ checks a __post_init__ calls
    def _fail(self, name: str, message: str):
        raise ConfigError(f"{type(self).__name__}.{name}: {message}")

    def _check_positive(self, *names: str) -> None:
        """Each field an integer >= 1."""
        for name in names:
            if getattr(self, name) < 1:
                self._fail(name, f"expected a positive integer, got {getattr(self, name)}")

    def _check_non_negative(self, *names: str) -> None:
        """Each field >= 0 (an eps, a count)."""
        for name in names:
            value = getattr(self, name)
            if value < 0:
                self._fail(name, f"expected a non-negative {'integer' if isinstance(value, int) else 'float'}, "
                                 f"got {value}")

    def _check_probability(self, *names: str) -> None:
        """Each field None or a probability in [0, 1]."""
        for name in names:
            p = getattr(self, name)
            if p is not None and not 0.0 <= p <= 1.0:
                self._fail(name, f"expected a probability in [0, 1], got {p}")

    def _check_divides(self, divisor: str, total: str) -> None:
        """Field `divisor` divides field `total` (e.g. num_attention_heads and hidden_size)."""
        if getattr(self, total) % getattr(self, divisor):
            self._fail(divisor, f"must divide {total}={getattr(self, total)}, got {getattr(self, divisor)}")

    def _check_index(self, name: str, size: str) -> None:
        """Field `name` None or in [0, field `size`) (e.g. pad_token_id and vocab_size)."""
        value = getattr(self, name)
        if value is not None and not 0 <= value < getattr(self, size):
            self._fail(name, f"must lie in [0, {size}={getattr(self, size)}), got {value}")

    def _check_known(self, names, known, what: str) -> None:
        """Each field one of `known` (e.g. an activation name of ACT2CLS)."""
        for name in names:
            if getattr(self, name) not in known:
                self._fail(name, f"unknown {what} {getattr(self, name)!r}; known: {sorted(known)}")

    # ------------------------------------------------------------------ attribute access
    def __setattr__(self, name, value):
        cls = type(self)
        name = cls.attribute_map.get(name, name)
        if name == "num_labels":
            self._set_num_labels(value)
            return
        if name in cls._fields:
            value = _check_value(cls.__name__, name, value, cls._types.get(name))
            if name == "id2label" and value is not None:
                value = self._int_keys(value)
            if name == "label2id" and value is not None:
                value = dict(value)
            object.__setattr__(self, name, value)
        elif name.startswith("_") or name == "extra":
            object.__setattr__(self, name, value)
        else:
            self.extra[name] = value

    def __getattr__(self, name):  # only called when normal lookup fails
        if name.startswith("__") or name == "extra":
            raise AttributeError(name)
        cls = type(self)
        if name in cls.attribute_map:
            return getattr(self, cls.attribute_map[name])
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(f"{cls.__name__} has no field or extra key {name!r}")

    def _int_keys(self, id2label: dict) -> dict:
        out = {}
        for k, v in id2label.items():
            try:
                out[int(k)] = v
            except (TypeError, ValueError):
                raise ConfigError(f"{type(self).__name__}.id2label: keys must be integers (or their "
                                  f"strings), got {k!r}") from None
        return out

    @property
    def num_labels(self) -> int:
        """Number of labels of a classification head: len(id2label)."""
        return len(self.id2label) if self.id2label is not None else 0

    def _set_num_labels(self, n):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"{type(self).__name__}.num_labels: expected a non-negative integer, got {n!r}")
        if self.id2label is None or len(self.id2label) != n:
            self.id2label = {i: f"LABEL_{i}" for i in range(n)}
            self.label2id = {f"LABEL_{i}": i for i in range(n)}

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_dict(cls, config_dict: dict, **overrides) -> "PretrainedConfig":
        """Build from a dict (e.g. a parsed config.json); keyword overrides win over the dict."""
        if not isinstance(config_dict, dict):
            raise ConfigError(f"config_dict: expected a dict, got {type(config_dict).__name__}")
        merged = copy.deepcopy(config_dict)
        merged.update(overrides)
        return cls(**merged)

    @classmethod
    def from_json_file(cls, path) -> "PretrainedConfig":
        try:
            with open(path, "r", encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise CheckpointError(f"{os.fspath(path)}: no such config file") from None
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{os.fspath(path)}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise CheckpointError(f"{os.fspath(path)}: expected a JSON object, got {type(data).__name__}")
        return cls.from_dict(data)

    @classmethod
    def from_pretrained(cls, directory, **overrides) -> "PretrainedConfig":
        """Read `directory`/config.json (a local folder; nothing is downloaded)."""
        path = os.fspath(directory)
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        cfg = cls.from_json_file(path)
        for k, v in overrides.items():
            setattr(cfg, k, v)
        return cfg

    def to_dict(self) -> dict:
        """Every field (canonical names), model_type and every extra key; a deep copy."""
        out = {name: copy.deepcopy(getattr(self, name)) for name in type(self)._fields}
        out["model_type"] = type(self).model_type
        for k, v in self.extra.items():
            out.setdefault(k, copy.deepcopy(v))
        return out

    def to_json_string(self) -> str:
        """JSON as transformers writes it: indent 2, sorted keys, trailing newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json_string())

    def save_pretrained(self, directory) -> None:
        os.makedirs(directory, exist_ok=True)
        self.to_json_file(os.path.join(directory, "config.json"))

    # ------------------------------------------------------------------ misc
    def copy(self) -> "PretrainedConfig":
        return type(self).from_dict(self.to_dict())

    def __eq__(self, other):
        return type(other) is type(self) and self.to_dict() == other.to_dict()

    __hash__ = None

    def __repr__(self):
        body = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "model_type")
        return f"{type(self).__name__}({body})"


PretrainedConfig._collect_fields()
