"""generate(): greedy search, sampling, beam search and beam sampling for refimpl models.

THE MODEL INTERFACE generate() NEEDS
====================================
Any object with a `config` (vocab_size, is_encoder_decoder, special token ids, optionally
n_positions / max_position_embeddings) that is called with keyword arguments and returns an
object with `.logits` and `.past_key_values`:

Decoder-only (GPT-2):
    out = model(input_ids=(N, L_new) int64, attention_mask=(N, L_past + L_new) int64 (1 = token, 0 = pad),
                position_ids=(N, L_new) int64, past_key_values=None | cache, use_cache=True)
    out.logits: (N, L_new, V) float; out.past_key_values: the cache for the next call.
Encoder-decoder (BART, T5):
    enc = model.get_encoder()(input_ids=(N, S) int64, attention_mask=(N, S) | None)
          -> an output with .last_hidden_state (N, S, D) (a refimpl ModelOutput, or a tuple)
    out = model(decoder_input_ids=(N, L_new) int64, encoder_outputs=enc, attention_mask=(N, S) | None,
                past_key_values=None | cache, use_cache=True)
    The decoder positions come from the cache length (the model's business); generation starts
    from decoder_start_token_id (config), or from the given decoder_input_ids (prefixed with it
    unless every row already starts with it).
The cache is opaque to generation except for beam search, which reorders its rows: it must be a
(nested) tuple/list of arrays whose first axis is the row N - e.g. per layer (k, v) of shape
(N, H, L, Dh), or (self_k, self_v, cross_k, cross_v) for encoder-decoder models. With
use_cache=False (or a model returning no cache) every step feeds the whole sequence instead.
`max_positions` (model attribute; else config.n_positions / max_position_embeddings) bounds the
positions a decoder-only model can embed: longer prompts or lengths are refused before any work.

Decoder-only inputs are prepared as transformers does: attention_mask inferred from pad tokens
when not given (pad_token_id present and not an eos id), position_ids = cumsum(mask) - 1 with 0
at pads, each step appending a 1 to the mask and last_position + 1 to the positions; batches
must be LEFT-padded. Everything runs under no_grad(); scores are computed in the logits' dtype
(float64 for a float64 model) unless compute_dtype is given - transformers casts logits to
float32 before processing, so compute_dtype=np.float32 reproduces it where a float64 run and
transformers disagree on a near-tie.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Optional

import numpy as np

from ..core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from ..core.grad_mode import no_grad
from ..core.validation import as_dtype, check_generator
from .beam_search import beam_search_loop
from .configuration import GenerationConfig, _token_list
from .logits_process import build_logits_processor
from .sampling import sample_loop
from .stopping_criteria import EosTokenCriteria, MaxLengthCriteria, StoppingCriteriaList

__all__ = ["generate", "GenerationMixin", "model_max_positions", "reorder_cache"]


# ============================================================================ cache / output helpers
def reorder_cache(cache, rows: np.ndarray):
    """Select rows (first axis) of every array in a nested tuple/list/mapping cache; None stays None."""
    if cache is None:
        return None
    if isinstance(cache, np.ndarray):
        return cache[rows] if cache.ndim >= 1 else cache
    if isinstance(cache, (tuple, list)):
        return type(cache)(reorder_cache(c, rows) for c in cache)
    if isinstance(cache, Mapping):
        return type(cache)(**{k: reorder_cache(v, rows) for k, v in cache.items()})
    raise ConfigError(f"past_key_values: cannot reorder a cache of type {type(cache).__name__}; beam search needs "
                      f"nested tuples of arrays with the rows on the first axis")


def _repeat_rows(x, n: int):
    """Every row repeated n times in place (r0, r0, r1, r1, ...), through tuples and ModelOutputs."""
    if n == 1 or x is None:
        return x
    if isinstance(x, np.ndarray):
        return np.repeat(x, n, axis=0)
    if isinstance(x, (tuple, list)):
        return type(x)(_repeat_rows(v, n) for v in x)
    if isinstance(x, Mapping):
        return type(x)(**{k: _repeat_rows(v, n) for k, v in x.items()})
    return x


def model_max_positions(model, encoder_decoder: bool = False) -> Optional[int]:
    """`model.max_positions`, else config.n_positions / max_position_embeddings (decoder-only only for
    n_positions: T5 configs carry an n_positions that is no hard limit)."""
    value = getattr(model, "max_positions", None)
    if value is None:
        cfg = getattr(model, "config", None)
        names = ("max_position_embeddings",) if encoder_decoder else ("n_positions", "max_position_embeddings")
        for name in names:
            value = getattr(cfg, name, None)
            if value is not None:
                break
    return int(value) if value is not None else None


# ============================================================================ the model caller
class _ModelRunner:
    """Calls the model one step at a time, keeping the cache, the attention mask and the positions."""

    def __init__(self, model, *, encoder_decoder: bool, attention_mask, position_ids, encoder_outputs, use_cache):
        self.model = model
        self.encoder_decoder = encoder_decoder
        self.attention_mask = attention_mask
        self.position_ids = position_ids
        self.encoder_outputs = encoder_outputs
        self.use_cache = use_cache
        self.past = None

    def step(self, ids: np.ndarray) -> np.ndarray:
        """Logits (N, V) at the last position of `ids` (N, L); only new tokens are fed when a cache exists."""
        incremental = self.use_cache and self.past is not None
        new = ids[:, -1:] if incremental else ids
        past = self.past if incremental else None
        if self.encoder_decoder:
            out = self.model(decoder_input_ids=new, encoder_outputs=self.encoder_outputs,
                             attention_mask=self.attention_mask, past_key_values=past, use_cache=self.use_cache)
        else:
            pos = self.position_ids[:, -1:] if incremental else self.position_ids
            out = self.model(input_ids=new, attention_mask=self.attention_mask, position_ids=pos,
                             past_key_values=past, use_cache=self.use_cache)
        logits = getattr(out, "logits", None)
        if not isinstance(logits, np.ndarray) or logits.dtype.kind != "f":
            raise DTypeError(f"model output logits: expected a float numpy array, got {type(logits).__name__}")
        if logits.ndim != 3 or logits.shape[:2] != new.shape:
            raise ShapeError(f"model output logits: expected shape ({new.shape[0]}, {new.shape[1]}, V), "
                             f"got {logits.shape}")
        self.past = getattr(out, "past_key_values", None) if self.use_cache else None
        return logits[:, -1, :]

    def advance(self, rows: Optional[np.ndarray]) -> None:
        """After a token was appended: reorder the cache to `rows` (beam search) and grow mask/positions."""
        if rows is not None and self.past is not None:
            self.past = reorder_cache(self.past, rows)
        if not self.encoder_decoder:
            n = self.attention_mask.shape[0]
            self.attention_mask = np.concatenate([self.attention_mask, np.ones((n, 1), np.int64)], axis=1)
            self.position_ids = np.concatenate([self.position_ids, self.position_ids[:, -1:] + 1], axis=1)


# ============================================================================ preparation
def _prepare_config(model, generation_config, kwargs):
    if generation_config is not None and not isinstance(generation_config, GenerationConfig):
        raise ConfigError(f"generation_config: expected a GenerationConfig, got {type(generation_config).__name__}")
    model_defaults = getattr(model, "generation_config", None)
    if not isinstance(model_defaults, GenerationConfig):
        model_defaults = GenerationConfig.from_model_config(getattr(model, "config", None))
    user = generation_config.copy() if generation_config is not None else GenerationConfig()
    has_default_max = (kwargs.get("max_length") is None and user.max_length is None
                       and model_defaults.max_length is None)
    has_default_min = (kwargs.get("min_length") is None and user.min_length is None
                       and model_defaults.min_length is None)
    cfg = user.fill_defaults(model_defaults)
    unknown = cfg.update(**kwargs)
    if unknown:
        raise ConfigError(f"generate: unknown argument(s) {sorted(unknown)}; generation settings are the "
                          f"GenerationConfig fields")
    return cfg, has_default_max, has_default_min


def _check_ids(x, name: str, vocab: Optional[int]) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise DTypeError(f"{name}: expected a numpy.ndarray of token ids, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.integer):
        raise DTypeError(f"{name}: expected an integer array, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ShapeError(f"{name}: expected shape (batch, length), got {x.shape}"
                         + ("; use ids[None, :] for one prompt" if x.ndim == 1 else ""))
    if x.shape[0] == 0:
        raise ShapeError(f"{name}: empty batch (shape {x.shape})")
    if x.shape[1] == 0:
        raise ShapeError(f"{name}: empty prompt (shape {x.shape}); give at least one token, e.g. the bos token")
    if x.min() < 0 or (vocab is not None and x.max() >= vocab):
        bad = int(x.min()) if x.min() < 0 else int(x.max())
        raise IndexRangeError(f"{name}: token ids must lie in [0, {vocab}), found {bad}")
    return x.astype(np.int64)


def _check_mask(mask, name: str, shape) -> np.ndarray:
    if not isinstance(mask, np.ndarray) or not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool):
        raise DTypeError(f"{name}: expected an integer (0/1) numpy array, got "
                         f"{getattr(mask, 'dtype', type(mask).__name__)}")
    if mask.shape != tuple(shape):
        raise ShapeError(f"{name}: expected shape {tuple(shape)} (that of the input ids), got {mask.shape}")
    if not np.isin(mask, (0, 1)).all():
        raise ConfigError(f"{name}: expected only 0 (padding) and 1 (token), found {np.unique(mask).tolist()}")
    empty = np.flatnonzero(~mask.astype(bool).any(axis=1))
    if empty.size:
        raise ShapeError(f"{name}: row {int(empty[0])} is all padding (an empty prompt)")
    return mask.astype(np.int64)


def _check_special_ids(cfg: GenerationConfig, vocab: Optional[int]) -> None:
    if vocab is None:
        return
    for name in ("pad_token_id", "bos_token_id", "decoder_start_token_id", "forced_bos_token_id"):
        v = getattr(cfg, name)
        if v is not None and v >= vocab:
            raise IndexRangeError(f"{name}: {v} is outside the vocabulary (vocab_size={vocab})")
    for name in ("eos_token_id", "forced_eos_token_id"):
        v = getattr(cfg, name)
        if v is not None and max(_token_list(v, name)) >= vocab:
            raise IndexRangeError(f"{name}: {v} is outside the vocabulary (vocab_size={vocab})")
    for name in ("bad_words_ids",):
        v = getattr(cfg, name)
        if v is not None and max(t for s in v for t in s) >= vocab:
            raise IndexRangeError(f"{name}: token ids must be < vocab_size={vocab}, got {v}")


# ============================================================================ generate
def generate(model, input_ids: Optional[np.ndarray] = None, attention_mask: Optional[np.ndarray] = None, *,
             generation_config: Optional[GenerationConfig] = None, rng: Optional[np.random.Generator] = None,
             logits_processor=None, stopping_criteria=None, encoder_outputs=None,
             decoder_input_ids: Optional[np.ndarray] = None, compute_dtype=None, **kwargs):
    """Generate token ids with `model` (see the module docstring for the interface).

    input_ids: (B, L) int prompts (decoder-only, left-padded) or encoder inputs (encoder-decoder).
        None: a single bos token (decoder-only), or `encoder_outputs` must be given.
    attention_mask: (B, L) 0/1; default inferred from pad_token_id (decoder-only) / none (encoder).
    generation_config / **kwargs: GenerationConfig fields (kwargs win), e.g. num_beams=4,
        max_new_tokens=10, do_sample=True, top_p=0.9, return_dict_in_generate=True, output_scores=True.
    rng: np.random.Generator, required when do_sample=True.
    logits_processor / stopping_criteria: extra processors (callables (ids, scores) -> scores; one of
        a built-in class replaces generate's own) and criteria (callables (ids, scores) -> (N,) bool).
    compute_dtype: dtype of the scores (default: that of the logits); np.float32 mimics transformers.

    Returns the (B * num_return_sequences, L_out) int64 sequences, or with return_dict_in_generate a
    GenerateOutput (greedy / sampling) or GenerateBeamOutput (beam search).
    """
    with no_grad():
        return _generate(model, input_ids, attention_mask, generation_config, rng, logits_processor,
                         stopping_criteria, encoder_outputs, decoder_input_ids, compute_dtype, kwargs)


def _generate(model, input_ids, attention_mask, generation_config, rng, logits_processor, stopping_criteria,
              encoder_outputs, decoder_input_ids, compute_dtype, kwargs):
    cfg, has_default_max, has_default_min = _prepare_config(model, generation_config, kwargs)
    mode = cfg.get_generation_mode()
    model_config = getattr(model, "config", None)
    encoder_decoder = bool(getattr(model_config, "is_encoder_decoder", False))
    vocab = getattr(model_config, "vocab_size", None)
    _check_special_ids(cfg, vocab)
    if cfg.do_sample:
        rng = check_generator(rng, "rng")
    if compute_dtype is not None:
        compute_dtype = as_dtype(compute_dtype, "compute_dtype")

    eos = _token_list(cfg.eos_token_id, "eos_token_id") if cfg.eos_token_id is not None else None
    pad = cfg.pad_token_id if cfg.pad_token_id is not None else (eos[0] if eos else None)

    # ---------------------------------------------------------------- inputs
    position_ids = None
    if encoder_decoder:
        enc_mask = None
        if encoder_outputs is None:
            if input_ids is None:
                raise ConfigError("input_ids: an encoder-decoder model needs encoder input_ids (or encoder_outputs)")
            enc_ids = _check_ids(input_ids, "input_ids", vocab)
            if attention_mask is not None:
                enc_mask = _check_mask(attention_mask, "attention_mask", enc_ids.shape)
            max_pos = model_max_positions(model, encoder_decoder=True)
            if max_pos is not None and enc_ids.shape[1] > max_pos:
                raise ShapeError(f"input_ids: encoder input of length {enc_ids.shape[1]} exceeds the model's "
                                 f"{max_pos} positions (max_position_embeddings)")
            get_encoder = getattr(model, "get_encoder", None)
            if get_encoder is None:
                raise ConfigError("model: an encoder-decoder model must provide get_encoder()")
            encoder_outputs = get_encoder()(input_ids=enc_ids, attention_mask=enc_mask)
        hidden = encoder_outputs[0] if isinstance(encoder_outputs, (tuple, list)) else \
            getattr(encoder_outputs, "last_hidden_state", None)
        if not isinstance(hidden, np.ndarray) or hidden.ndim != 3:
            raise ConfigError("encoder_outputs: expected an output with last_hidden_state (B, S, D) (or a tuple "
                              "starting with it)")
        if enc_mask is None and attention_mask is not None:
            enc_mask = _check_mask(attention_mask, "attention_mask", hidden.shape[:2])
        batch = hidden.shape[0]
        start = cfg.decoder_start_token_id if cfg.decoder_start_token_id is not None else cfg.bos_token_id
        if start is None:
            raise ConfigError("decoder_start_token_id: needed for encoder-decoder generation (neither it nor "
                              "bos_token_id is set)")
        ids = np.full((batch, 1), start, dtype=np.int64)
        if decoder_input_ids is not None:
            dec = _check_ids(decoder_input_ids, "decoder_input_ids", vocab)
            if dec.shape[0] != batch:
                raise ShapeError(f"decoder_input_ids: batch {dec.shape[0]} differs from the encoder batch {batch}")
            ids = dec if not (dec[:, 0] != start).all() else np.concatenate([ids, dec], axis=1)
        mask = enc_mask
    else:
        if input_ids is None:
            if cfg.bos_token_id is None:
                raise ConfigError("input_ids: no prompt given and no bos_token_id to start from")
            input_ids = np.full((1, 1), cfg.bos_token_id, dtype=np.int64)
        ids = _check_ids(input_ids, "input_ids", vocab)
        if attention_mask is None:
            mask = np.ones(ids.shape, np.int64)
            if pad is not None and (ids == pad).any() and not (eos is not None and pad in eos):
                mask = (ids != pad).astype(np.int64)              # transformers infers padding from pad tokens
            _check_mask(mask, "attention_mask (inferred from pad_token_id)", ids.shape)
        else:
            mask = _check_mask(attention_mask, "attention_mask", ids.shape)
        if ids.shape[0] > 1 and (mask[:, -1] == 0).any():
            warnings.warn("input_ids: right padding detected; decoder-only generation needs LEFT-padded prompts",
                          UserWarning, stacklevel=3)
        position_ids = np.where(mask == 0, 0, np.cumsum(mask, axis=1) - 1)
        max_pos = model_max_positions(model)
        if max_pos is not None and position_ids.max() >= max_pos:
            raise ShapeError(f"input_ids: prompt of {ids.shape[1]} tokens needs positions up to "
                             f"{int(position_ids.max())}, but the model has {max_pos} positions (n_positions)")

    # ---------------------------------------------------------------- expand rows per beam / return sequence
    expand = max(cfg.num_beams, cfg.num_return_sequences)
    batch = ids.shape[0]
    ids = _repeat_rows(ids, expand)
    mask = _repeat_rows(mask, expand)
    position_ids = _repeat_rows(position_ids, expand)
    encoder_outputs = _repeat_rows(encoder_outputs, expand)

    # ---------------------------------------------------------------- lengths (transformers' rules)
    length = ids.shape[1]
    if cfg.max_new_tokens is not None:
        if not has_default_max and cfg.max_length is not None:
            warnings.warn(f"both max_new_tokens ({cfg.max_new_tokens}) and max_length ({cfg.max_length}) are set; "
                          f"max_new_tokens takes precedence", UserWarning, stacklevel=3)
        cfg.max_length = cfg.max_new_tokens + length
    elif has_default_max:
        cfg.max_length = cfg.max_length + length
        mpe = getattr(model_config, "max_position_embeddings", None)
        if mpe is not None:
            cfg.max_length = min(cfg.max_length, int(mpe))
    if cfg.min_new_tokens is not None:
        if not has_default_min:
            warnings.warn(f"both min_new_tokens ({cfg.min_new_tokens}) and min_length ({cfg.min_length}) are set; "
                          f"min_new_tokens takes precedence", UserWarning, stacklevel=3)
        cfg.min_length = cfg.min_new_tokens + length
    ids_name = "decoder_input_ids" if encoder_decoder else "input_ids"
    if length >= cfg.max_length:
        raise ConfigError(f"max_length: the {ids_name} already have {length} tokens but max_length is "
                          f"{cfg.max_length}; set max_new_tokens instead")
    if encoder_decoder:
        max_pos = model_max_positions(model, encoder_decoder=True)
        if max_pos is not None and cfg.max_length - 2 >= max_pos:
            raise ConfigError(f"max_new_tokens: generating up to {cfg.max_length} decoder tokens needs "
                              f"{cfg.max_length - 1} positions, but the model has {max_pos}")
    elif max_pos is not None:
        need = int(position_ids[:, -1].max()) + (cfg.max_length - 1 - length)
        if need >= max_pos:
            raise ConfigError(f"max_new_tokens: a prompt of {length} tokens plus {cfg.max_length - length} new ones "
                              f"needs positions up to {need}, but the model has {max_pos} (n_positions); "
                              f"lower max_new_tokens / max_length")

    # ---------------------------------------------------------------- processors, criteria, loop
    ignore = None
    if not encoder_decoder:
        ignore = np.argmax(mask != 0, axis=1)                     # left-padding length per row
    processors = build_logits_processor(cfg, length, eos_token_id=eos, prompt_ignore_length=ignore,
                                        custom=list(logits_processor) if logits_processor else None)
    stopping = StoppingCriteriaList([MaxLengthCriteria(cfg.max_length)])
    if eos is not None:
        stopping.append(EosTokenCriteria(eos))
    if stopping_criteria:
        stopping.extend(stopping_criteria)

    runner = _ModelRunner(model, encoder_decoder=encoder_decoder, attention_mask=mask, position_ids=position_ids,
                          encoder_outputs=encoder_outputs, use_cache=bool(cfg.use_cache))
    common = dict(rng=rng, output_scores=bool(cfg.output_scores), output_logits=bool(cfg.output_logits),
                  return_dict=bool(cfg.return_dict_in_generate), compute_dtype=compute_dtype)
    if mode in ("greedy_search", "sample"):
        return sample_loop(runner, ids, processors, stopping, do_sample=mode == "sample", pad_token_id=pad,
                           has_eos=eos is not None, **common)
    return beam_search_loop(runner, ids, processors, stopping, batch_size=batch, num_beams=cfg.num_beams,
                            max_length=cfg.max_length, length_penalty=cfg.length_penalty,
                            early_stopping=cfg.early_stopping, num_return_sequences=cfg.num_return_sequences,
                            eos_token_id=eos, pad_token_id=pad, do_sample=mode == "beam_sample", **common)


class GenerationMixin:
    """Gives a model `model.generate(...)` = refimpl.generation.generate(model, ...)."""

    def generate(self, input_ids=None, attention_mask=None, **kwargs):
        return generate(self, input_ids, attention_mask, **kwargs)
