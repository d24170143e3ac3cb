"""GenerationConfig: the settings of one `generate()` call, with transformers' (5.x) names and defaults.

Every field defaults to None ("not set"). `generate()` fills what is still None first from the
model's own generation settings (`model.generation_config`, or the generation keys of
`model.config`: bos/eos/pad/decoder_start_token_id, forced_eos_token_id, ...) and then from
`GLOBAL_DEFAULTS`, exactly the order transformers uses. So `GenerationConfig(num_beams=4)` on a
BART model still stops at BART's eos and forces it at max_length.

GLOBAL_DEFAULTS (transformers `GenerationConfig._get_default_generation_params`):
    max_length=20 (counted from the prompt's end when max_new_tokens is not set), min_length=0,
    do_sample=False, num_beams=1, use_cache=True, early_stopping=False, temperature=1.0, top_k=50,
    top_p=1.0, repetition_penalty=1.0, length_penalty=1.0, no_repeat_ngram_size=0,
    num_return_sequences=1, output_scores=False, return_dict_in_generate=False, ...

Length (as transformers): max_new_tokens wins over max_length when both are set (with a
warning); with neither, max_length = 20 + prompt length, capped at the model's
max_position_embeddings. min_new_tokens sets min_length = min_new_tokens + prompt length.

Validation raises ConfigError naming the field where transformers raises, and also for the
contradictions transformers only warns about but which make a run meaningless (top_p outside
(0, 1], temperature <= 0 with do_sample, num_beams < 1, ...). Fields refimpl does not implement
(min_p, typical_p, constraints, assistant models, watermarking, ...) are refused by name rather
than silently ignored; transformers' neutral values of them (typical_p=1.0, ...) are accepted.
"""
from __future__ import annotations

import copy
import json
import os
from typing import Any, Dict, Optional

import numpy as np

from ..core.errors import CheckpointError, ConfigError

__all__ = ["GenerationConfig", "GLOBAL_DEFAULTS", "GENERATION_MODES"]

# field -> documented meaning; order = transformers' declaration order
_FIELDS = (
    # length
    "max_length", "max_new_tokens", "min_length", "min_new_tokens", "early_stopping",
    # strategy
    "do_sample", "num_beams",
    # cache
    "use_cache",
    # logits manipulation
    "temperature", "top_k", "top_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "bad_words_ids", "renormalize_logits", "forced_bos_token_id", "forced_eos_token_id",
    "remove_invalid_values", "suppress_tokens", "begin_suppress_tokens", "sequence_bias",
    # outputs
    "num_return_sequences", "output_scores", "output_logits", "return_dict_in_generate",
    # special tokens
    "pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id",
)

GLOBAL_DEFAULTS: Dict[str, Any] = {
    "max_length": 20, "min_length": 0, "do_sample": False, "use_cache": True, "early_stopping": False,
    "num_beams": 1, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "repetition_penalty": 1.0,
    "length_penalty": 1.0, "no_repeat_ngram_size": 0, "bad_words_ids": None, "num_return_sequences": 1,
    "output_scores": False, "return_dict_in_generate": False, "forced_bos_token_id": None,
    "forced_eos_token_id": None, "remove_invalid_values": False, "suppress_tokens": None,
    "begin_suppress_tokens": None,
}

# transformers fields refimpl does not implement: accepted only at their neutral value (None or this)
_UNSUPPORTED_NEUTRAL = {
    "min_p": None, "top_h": None, "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0,
    "encoder_repetition_penalty": 1.0, "encoder_no_repeat_ngram_size": 0, "exponential_decay_length_penalty": None,
    "guidance_scale": None, "watermarking_config": None, "token_healing": False, "max_time": None,
    "stop_strings": None, "num_beam_groups": 1, "diversity_penalty": 0.0, "penalty_alpha": None,
    "dola_layers": None, "constraints": None, "force_words_ids": None, "low_memory": None,
    "prompt_lookup_num_tokens": None, "assistant_early_exit": None, "use_mtp": None,
    "output_attentions": False, "output_hidden_states": False, "prefill_chunk_size": None,
}
# bookkeeping keys of a generation_config.json / settings with no effect on the result
_IGNORED = {
    "transformers_version", "_from_model_config", "_commit_hash", "cache_implementation", "cache_config",
    "max_cache_len", "compile_config", "disable_compile", "is_assistant", "num_assistant_tokens",
    "num_assistant_tokens_schedule", "assistant_confidence_threshold", "assistant_lookbehind",
    "target_lookbehind", "max_matching_ngram_size", "assistant_ensemble_weight", "speculation_type",
    "continuous_batching_config",
}

GENERATION_MODES = ("greedy_search", "sample", "beam_search", "beam_sample")


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _token_list(value, name: str) -> list:
    """An int or a non-empty list of non-negative ints -> list (eos / forced eos may be either)."""
    vals = [value] if _is_int(value) else value
    if not isinstance(vals, (list, tuple)) or len(vals) == 0 or not all(_is_int(v) and v >= 0 for v in vals):
        raise ConfigError(f"{name}: expected a non-negative token id or a non-empty list of them, got {value!r}")
    return [int(v) for v in vals]


class GenerationConfig:
    """Settings of a generate() call; see the module docstring. Fields default to None (not set)."""

    def __init__(self, **kwargs):
        for name in _FIELDS:
            object.__setattr__(self, name, None)
        unused = self.update(**kwargs)
        if unused:
            raise ConfigError(f"GenerationConfig: unknown field(s) {sorted(unused)}; known fields: {list(_FIELDS)}")

    # ------------------------------------------------------------------ construction / update
    def update(self, defaults_only: bool = False, **kwargs) -> dict:
        """Set the given fields (only those still None when defaults_only); return the keys that are not fields.

        Unsupported transformers fields at a non-neutral value raise ConfigError; their neutral
        values and bookkeeping keys (transformers_version, ...) are dropped.
        """
        unused = {}
        for key, value in kwargs.items():
            if key in _FIELDS:
                if not defaults_only or getattr(self, key) is None:
                    object.__setattr__(self, key, copy.deepcopy(value))
            elif key in _UNSUPPORTED_NEUTRAL:
                if value is not None and value != _UNSUPPORTED_NEUTRAL[key]:
                    raise ConfigError(f"{key}: not implemented in refimpl.generation (got {value!r}); "
                                      f"supported fields: {list(_FIELDS)}")
            elif key not in _IGNORED:
                unused[key] = value
        self.validate()
        return unused

    @classmethod
    def from_dict(cls, d: dict, strict: bool = True) -> "GenerationConfig":
        """From a generation_config.json dict; strict=False drops unknown keys instead of raising."""
        cfg = cls()
        unused = cfg.update(**d)
        if unused and strict:
            raise ConfigError(f"GenerationConfig: unknown field(s) {sorted(unused)}")
        return cfg

    @classmethod
    def from_model_config(cls, model_config) -> "GenerationConfig":
        """The generation keys of a model config (HF or refimpl): special tokens, forced ids, ...

        As transformers: every field present in the model config with a non-None value is taken.
        """
        if model_config is None:
            return cls()
        if hasattr(model_config, "to_dict"):
            d = model_config.to_dict()
        elif isinstance(model_config, dict):
            d = dict(model_config)
        else:
            d = dict(vars(model_config))
        picked = {k: v for k, v in d.items() if k in _FIELDS and v is not None}
        cfg = cls()
        for k, v in picked.items():
            object.__setattr__(cfg, k, copy.deepcopy(v))
        cfg.validate()
        return cfg

    @classmethod
    def from_pretrained(cls, directory) -> "GenerationConfig":
        path = os.path.join(os.fspath(directory), "generation_config.json")
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except FileNotFoundError as exc:
            raise CheckpointError(f"{path}: no generation_config.json") from exc
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path}: not valid JSON ({exc})") from exc
        return cls.from_dict(d, strict=False)

    def to_dict(self) -> dict:
        return {name: copy.deepcopy(getattr(self, name)) for name in _FIELDS}

    def to_diff_dict(self) -> dict:
        return {k: v for k, v in self.to_dict().items() if v is not None}

    def copy(self) -> "GenerationConfig":
        return copy.deepcopy(self)

    def fill_defaults(self, defaults: Optional["GenerationConfig"] = None) -> "GenerationConfig":
        """A copy with None fields taken from `defaults` (model settings), then from GLOBAL_DEFAULTS."""
        out = self.copy()
        if defaults is not None:
            out.update(defaults_only=True, **defaults.to_diff_dict())
        out.update(defaults_only=True, **GLOBAL_DEFAULTS)
        return out

    def __repr__(self):
        return f"GenerationConfig({', '.join(f'{k}={v!r}' for k, v in self.to_diff_dict().items())})"

    def __eq__(self, other):
        return isinstance(other, GenerationConfig) and self.to_dict() == other.to_dict()

    # ------------------------------------------------------------------ mode
    def get_generation_mode(self) -> str:
        """'greedy_search', 'sample', 'beam_search' or 'beam_sample' (transformers' rule)."""
        if self.num_beams is None or self.num_beams == 1:
            return "sample" if self.do_sample is True else "greedy_search"
        return "beam_sample" if self.do_sample is True else "beam_search"

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise ConfigError (naming the field) for a value or a combination generate() cannot honour."""
        def nonneg_int(name, positive=False):
            v = getattr(self, name)
            if v is None:
                return
            if not _is_int(v) or v < (1 if positive else 0):
                kind = "a positive" if positive else "a non-negative"
                raise ConfigError(f"{name}: expected {kind} integer, got {v!r}")

        def boolean(name):
            v = getattr(self, name)
            if v is not None and not isinstance(v, bool):
                raise ConfigError(f"{name}: expected True or False, got {v!r}")

        def number(name):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ConfigError(f"{name}: expected a number, got {v!r}")

        for name in ("max_length", "min_length", "min_new_tokens", "no_repeat_ngram_size", "top_k"):
            nonneg_int(name)
        for name in ("max_new_tokens", "num_beams", "num_return_sequences"):
            nonneg_int(name, positive=True)
        for name in ("do_sample", "use_cache", "renormalize_logits", "remove_invalid_values", "output_scores",
                     "output_logits", "return_dict_in_generate"):
            boolean(name)
        for name in ("temperature", "top_p", "repetition_penalty", "length_penalty"):
            number(name)
        for name in ("pad_token_id", "bos_token_id", "decoder_start_token_id", "forced_bos_token_id"):
            v = getattr(self, name)
            if v is not None and (not _is_int(v) or v < 0):
                raise ConfigError(f"{name}: expected a non-negative token id, got {v!r}")
        for name in ("eos_token_id", "forced_eos_token_id"):
            if getattr(self, name) is not None:
                _token_list(getattr(self, name), name)

        if self.early_stopping not in (None, True, False, "never"):
            raise ConfigError(f"early_stopping: expected True, False or 'never', got {self.early_stopping!r}")
        if self.repetition_penalty is not None and not self.repetition_penalty > 0:
            raise ConfigError(f"repetition_penalty: expected a value > 0 (1.0 = no penalty), got "
                              f"{self.repetition_penalty!r}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p: expected a probability in (0, 1] (1.0 = off), got {self.top_p!r}")
        if self.do_sample is True and self.temperature is not None and not self.temperature > 0:
            raise ConfigError(f"temperature: sampling (do_sample=True) needs temperature > 0, got "
                              f"{self.temperature!r}; for greedy decoding set do_sample=False")
        if self.length_penalty is not None and self.length_penalty != self.length_penalty:
            raise ConfigError("length_penalty: got NaN")

        nrs, beams = self.num_return_sequences, self.num_beams
        if nrs is not None and nrs > 1:
            if (beams is None or beams == 1) and self.do_sample is not True:
                raise ConfigError(f"num_return_sequences: greedy search (num_beams=1, do_sample=False) returns "
                                  f"one sequence per prompt, got num_return_sequences={nrs}")
            if beams is not None and beams > 1 and nrs > beams:
                raise ConfigError(f"num_return_sequences ({nrs}) has to be <= num_beams ({beams}) for beam search")

        if self.bad_words_ids is not None:
            bw = self.bad_words_ids
            if (not isinstance(bw, (list, tuple)) or len(bw) == 0
                    or any(not isinstance(s, (list, tuple)) or len(s) == 0 for s in bw)
                    or any(not _is_int(t) or t < 0 for s in bw for t in s)):
                raise ConfigError(f"bad_words_ids: expected a non-empty list of non-empty lists of non-negative "
                                  f"token ids, got {bw!r}")
        if self.sequence_bias is not None:
            sb = self.sequence_bias
            items = sb.items() if isinstance(sb, dict) else (
                [tuple(x) if isinstance(x, (list, tuple)) and len(x) == 2 else (None, None) for x in sb]
                if isinstance(sb, (list, tuple)) else None)
            if not items or any(not isinstance(k, (list, tuple)) or len(k) == 0
                                or any(not _is_int(t) or t < 0 for t in k)
                                or isinstance(b, bool) or not isinstance(b, (int, float)) for k, b in items):
                raise ConfigError(f"sequence_bias: expected {{(token ids...): bias}} or [[[ids], bias], ...] with "
                                  f"non-empty id sequences, got {sb!r}")
        for name in ("suppress_tokens", "begin_suppress_tokens"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (list, tuple)) or any(not _is_int(t) or t < 0 for t in v)):
                raise ConfigError(f"{name}: expected a list of non-negative token ids, got {v!r}")
        if self.suppress_tokens is not None:
            suppressed = set(self.suppress_tokens)
            for forced in ("forced_bos_token_id", "forced_eos_token_id"):
                v = getattr(self, forced)
                if v is None:
                    continue
                ids = set(_token_list(v, forced))
                if ids and ids <= suppressed:
                    raise ConfigError(f"{forced}: every forced token {sorted(ids)} is also in suppress_tokens, which "
                                      f"leaves no token at the forcing step")
