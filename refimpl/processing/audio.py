"""Audio pre-processing for Wav2Vec2: the feature extractor and the input-length bookkeeping.

Wav2Vec2FeatureExtractor follows transformers' Wav2Vec2FeatureExtractor (with its
SequenceFeatureExtractor padding); per utterance x of true length n (PITFALLS 14.3):

    y = (x - mean(x[:n])) / sqrt(var(x[:n]) + 1e-7)        var with ddof = 0 (population variance)
    y[n:] = padding_value                                   the padded tail

n is the attention-mask length ONLY when the call pads (padding=True/"longest"/"max_length") AND an
attention mask is returned (return_attention_mask, or the extractor's default). Otherwise the whole
(possibly padded) vector is normalised, padding included, and the tail keeps its normalised values:
transformers does exactly this for checkpoints like wav2vec2-base (return_attention_mask=False),
and we reproduce it. Padding is on the right (padding_side "left" is refused: transformers' mask
arithmetic assumes right padding).

Precision: transformers casts the audio to float32 BEFORE normalising and normalises in float32.
dtype=np.float32 reproduces that; the default dtype=np.float64 normalises the given samples in float64
(the oracle's precision), which differs from transformers by float32 rounding (~1e-7 relative).

Length bookkeeping (Wav2Vec2's `_get_feat_extract_output_lengths`): every conv layer of the
feature encoder (no padding) maps a length n to floor((n - kernel) / stride) + 1, and each adapter
layer (add_adapter) to floor((n - 1) / adapter_stride) + 1, the formula transformers uses for them.
An input shorter than the receptive field (400 samples for the published 7-layer encoder) gives no
frame: conv_output_lengths raises instead of returning 0 or a negative length as transformers does.
feature_vector_attention_mask turns a sample-level attention mask into the frame-level one
(frame f is valid iff f < conv_output_lengths(sum of the mask)).
"""
from __future__ import annotations

import json
import os
from typing import Optional, Sequence

import numpy as np

from ..core.errors import CheckpointError, ConfigError, DTypeError, ShapeError
from ..core.validation import as_dtype, check_array, check_finite, check_positive_int

EPS = 1e-7                                      # transformers' variance epsilon (earlier versions: 1e-5)
_PADDING = {False: None, "do_not_pad": None, True: "longest", "longest": "longest", "max_length": "max_length"}


# ------------------------------------------------------------------------------------- length bookkeeping
def _int_list(values, name: str) -> list:
    if isinstance(values, (int, np.integer)) or not isinstance(values, (list, tuple, np.ndarray)):
        raise ConfigError(f"{name}: expected a sequence of positive integers (one per conv layer), got {values!r}")
    return [check_positive_int(v, f"{name}[{i}]") for i, v in enumerate(values)]


def _layers(conv_kernel, conv_stride, add_adapter, num_adapter_layers, adapter_stride):
    kernels, strides = _int_list(conv_kernel, "conv_kernel"), _int_list(conv_stride, "conv_stride")
    if len(kernels) != len(strides):
        raise ConfigError(f"conv_stride: expected one stride per conv layer ({len(kernels)} kernels), "
                          f"got {len(strides)} strides")
    layers = list(zip(kernels, strides))
    if not isinstance(add_adapter, (bool, np.bool_)):
        raise ConfigError(f"add_adapter: expected True or False, got {add_adapter!r}")
    if add_adapter:
        n = check_positive_int(num_adapter_layers, "num_adapter_layers", allow_zero=True)
        layers += [(1, check_positive_int(adapter_stride, "adapter_stride"))] * n   # transformers' adapter formula
    return layers


def receptive_field(conv_kernel: Sequence[int], conv_stride: Sequence[int], *, add_adapter: bool = False,
                    num_adapter_layers: int = 3, adapter_stride: int = 2) -> int:
    """The fewest input samples giving one output frame (400 for kernels (10,3,3,3,3,2,2), strides (5,2,...,2))."""
    need = 1
    for k, s in reversed(_layers(conv_kernel, conv_stride, add_adapter, num_adapter_layers, adapter_stride)):
        need = (need - 1) * s + k                                # n_in = (n_out - 1) * stride + kernel
    return need


def conv_output_lengths(input_lengths, conv_kernel: Sequence[int], conv_stride: Sequence[int], *,
                        add_adapter: bool = False, num_adapter_layers: int = 3, adapter_stride: int = 2):
    """Frames after the feature encoder (and adapter) for audio of `input_lengths` samples.

    input_lengths: a non-negative int or an integer array of any shape. Returns the same kind (int / int64
    array). Per layer: n -> floor((n - kernel) / stride) + 1; adapter layers: n -> floor((n - 1) / stride) + 1.
    Raises ShapeError naming input_lengths for audio shorter than the receptive field (no frame at all).
    """
    layers = _layers(conv_kernel, conv_stride, add_adapter, num_adapter_layers, adapter_stride)
    scalar = isinstance(input_lengths, (int, np.integer)) and not isinstance(input_lengths, bool)
    if not scalar:
        check_array(input_lengths, "input_lengths")
        if not np.issubdtype(input_lengths.dtype, np.integer):
            raise DTypeError(f"input_lengths: expected an int or an integer array, got dtype {input_lengths.dtype}")
    n = np.asarray(input_lengths, dtype=np.int64)
    if n.size and n.min() < 0:
        raise ShapeError(f"input_lengths: expected lengths >= 0, found {int(n.min())}")
    rf = receptive_field(conv_kernel, conv_stride, add_adapter=add_adapter, num_adapter_layers=num_adapter_layers,
                         adapter_stride=adapter_stride)
    if n.size and n.min() < rf:
        short = np.argwhere(n < rf)
        raise ShapeError(f"input_lengths: audio of {int(n.min())} samples is shorter than the receptive field of the "
                         f"feature encoder ({rf} samples for conv_kernel={list(conv_kernel)}, "
                         f"conv_stride={list(conv_stride)}"
                         + (", with the adapter" if add_adapter else "") + f"), so it gives no frame; "
                         f"too short at index {tuple(int(i) for i in short[0])}")
    for k, s in layers:
        n = (n - k) // s + 1                                     # floor((n - kernel) / stride) + 1
    return int(n) if scalar else n


def feature_vector_attention_mask(feature_vector_length: int, attention_mask: np.ndarray,
                                  conv_kernel: Sequence[int], conv_stride: Sequence[int], *,
                                  add_adapter: bool = False, num_adapter_layers: int = 3,
                                  adapter_stride: int = 2) -> np.ndarray:
    """Frame-level mask (B, feature_vector_length) bool from the sample-level attention_mask (B, N) 0/1.

    Frame f of sample b is valid iff f < conv_output_lengths(attention_mask[b].sum()) (transformers'
    `_get_feature_vector_attention_mask`, which also reads the mask as a length: right padding).
    """
    F = check_positive_int(feature_vector_length, "feature_vector_length")
    check_array(attention_mask, "attention_mask", ndim=2)
    if not (np.issubdtype(attention_mask.dtype, np.integer) or attention_mask.dtype == np.bool_):
        raise DTypeError(f"attention_mask: expected a 0/1 integer or bool array, got dtype {attention_mask.dtype}")
    if attention_mask.size and not np.all((attention_mask == 0) | (attention_mask == 1)):
        raise ConfigError("attention_mask: expected only 0 and 1")
    lengths = attention_mask.astype(np.int64).sum(-1)                                     # (B,)
    frames = conv_output_lengths(lengths, conv_kernel, conv_stride, add_adapter=add_adapter,
                                 num_adapter_layers=num_adapter_layers, adapter_stride=adapter_stride)
    if frames.size and frames.max() > F:
        raise ShapeError(f"feature_vector_length: {F} frames, but attention_mask has a sample with "
                         f"{int(frames.max())} valid frames; pass the encoder output length")
    return np.arange(F)[None, :] < frames[:, None]                                        # (B, F)


# ------------------------------------------------------------------------------------- normalisation
def zero_mean_unit_var_norm(input_values: Sequence[np.ndarray], attention_mask: Optional[np.ndarray] = None,
                            padding_value: float = 0.0) -> list:
    """(x - mean(x[:n])) / sqrt(var(x[:n]) + 1e-7) per utterance, tail x[n:] = padding_value.

    input_values: list of 1-d float arrays (each computed in its own dtype); attention_mask: (B, N) 0/1
    with n = its row sum, or None to normalise each whole vector (n = len(x), nothing replaced).
    """
    out = []
    for b, x in enumerate(input_values):
        n = len(x) if attention_mask is None else int(np.asarray(attention_mask[b]).sum())
        if n == 0:
            raise ShapeError(f"input_values: utterance {b} has no valid sample (attention mask all zero)")
        head = x[:n]
        eps = x.dtype.type(EPS)
        y = (x - head.mean()) / np.sqrt(head.var() + eps)        # population variance (ddof=0)
        if n < len(y):
            y[n:] = padding_value
        out.append(y)
    return out


# ------------------------------------------------------------------------------------- the extractor
def _as_utterances(raw_speech, dtype) -> list:
    """raw_speech -> list of 1-d arrays of `dtype` (a 1-d array / list of numbers is one utterance)."""
    if isinstance(raw_speech, np.ndarray):
        if raw_speech.ndim == 0 or raw_speech.ndim > 2:
            raise ShapeError(f"raw_speech: expected mono audio, a 1-d array (one utterance) or a 2-d array "
                             f"(batch, samples), got shape {raw_speech.shape}")
        batch = list(raw_speech) if raw_speech.ndim == 2 else [raw_speech]
    elif isinstance(raw_speech, (list, tuple)):
        if len(raw_speech) == 0:
            raise ShapeError("raw_speech: expected at least one utterance, got an empty list")
        nested = isinstance(raw_speech[0], (np.ndarray, list, tuple))
        batch = list(raw_speech) if nested else [raw_speech]
    else:
        raise DTypeError(f"raw_speech: expected a numpy array or a list of arrays / lists of floats, "
                         f"got {type(raw_speech).__name__}")
    out = []
    for b, x in enumerate(batch):
        name = f"raw_speech[{b}]"
        if isinstance(x, np.ndarray):
            if np.issubdtype(x.dtype, np.integer) or not np.issubdtype(x.dtype, np.floating):
                raise DTypeError(f"{name}: expected float samples, got dtype {x.dtype}; convert integer PCM "
                                 f"explicitly (e.g. x / 32768.0)")
            arr = x
        else:
            if not isinstance(x, (list, tuple)) or not all(
                    isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in x):
                raise DTypeError(f"{name}: expected a 1-d array or a list of numbers")
            arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 1:
            raise ShapeError(f"{name}: expected mono audio (1-d), got shape {arr.shape}")
        if arr.size == 0:
            raise ShapeError(f"{name}: empty utterance")
        check_finite(arr, name)
        out.append(arr.astype(dtype))                            # transformers: float32 before normalising
    return out


class Wav2Vec2FeatureExtractor:
    """Raw mono audio -> input_values (B, N) (+ attention_mask) for Wav2Vec2 (see module docstring).

    Constructor arguments are the keys of preprocessor_config.json; dtype (not in HF) is the output and
    computation dtype: float64 (default) or float32 (reproduces transformers, which always works in float32).
    """

    model_input_names = ("input_values", "attention_mask")

    def __init__(self, feature_size: int = 1, sampling_rate: int = 16000, padding_value: float = 0.0,
                 return_attention_mask: bool = False, do_normalize: bool = True, padding_side: str = "right",
                 *, dtype=np.float64, **unused):
        if feature_size != 1:
            raise ConfigError(f"feature_size: Wav2Vec2 takes raw mono samples, expected 1, got {feature_size!r}")
        if padding_side != "right":
            raise ConfigError(f"padding_side: only 'right' is supported (the attention-mask lengths assume it), "
                              f"got {padding_side!r}")
        self.feature_size = 1
        self.sampling_rate = check_positive_int(sampling_rate, "sampling_rate")
        if isinstance(padding_value, bool) or not isinstance(padding_value, (int, float, np.floating, np.integer)):
            raise ConfigError(f"padding_value: expected a number, got {padding_value!r}")
        self.padding_value = float(padding_value)
        for name, v in (("return_attention_mask", return_attention_mask), ("do_normalize", do_normalize)):
            if not isinstance(v, bool):
                raise ConfigError(f"{name}: expected True or False, got {v!r}")
        self.return_attention_mask = return_attention_mask
        self.do_normalize = do_normalize
        self.padding_side = padding_side
        self.dtype = as_dtype(dtype)

    @classmethod
    def from_pretrained(cls, directory: str, *, dtype=np.float64) -> "Wav2Vec2FeatureExtractor":
        """Read `directory`/preprocessor_config.json (as written by transformers' save_pretrained)."""
        path = os.path.join(directory, "preprocessor_config.json")
        if not os.path.isfile(path):
            raise CheckpointError(f"directory: no preprocessor_config.json in {directory!r}")
        try:
            with open(path, encoding="utf-8") as f:
                cfg = json.load(f)
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"directory: {path} is not valid JSON ({exc})") from exc
        kind = cfg.get("feature_extractor_type", "Wav2Vec2FeatureExtractor")
        if kind != "Wav2Vec2FeatureExtractor":
            raise CheckpointError(f"directory: {path} describes a {kind}, not a Wav2Vec2FeatureExtractor")
        keys = ("feature_size", "sampling_rate", "padding_value", "return_attention_mask", "do_normalize",
                "padding_side")
        return cls(**{k: cfg[k] for k in keys if k in cfg}, dtype=dtype)

    def to_dict(self) -> dict:
        return dict(feature_size=self.feature_size, sampling_rate=self.sampling_rate,
                    padding_value=self.padding_value, padding_side=self.padding_side,
                    return_attention_mask=self.return_attention_mask, do_normalize=self.do_normalize,
                    feature_extractor_type="Wav2Vec2FeatureExtractor")

    def __call__(self, raw_speech, padding=False, max_length: Optional[int] = None, truncation: bool = False,
                 pad_to_multiple_of: Optional[int] = None, return_attention_mask: Optional[bool] = None,
                 sampling_rate: Optional[int] = None) -> dict:
        """Normalise and pad a batch (or one utterance, returned as a batch of one).

        raw_speech: 1-d array / list of numbers (one utterance), 2-d array (B, N), or a list of 1-d arrays /
            lists. padding: False | "do_not_pad" | True | "longest" | "max_length"; max_length: target length
            for "max_length" and truncation; pad_to_multiple_of rounds the padded length up.
        sampling_rate: checked against the extractor's (None skips the check, as transformers does, which
            only warns).
        Returns {"input_values": (B, N) array of self.dtype (a list of 1-d arrays when lengths differ,
        i.e. without padding), "attention_mask": (B, N) int32 (list when ragged) if requested}.
        """
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise ConfigError(f"sampling_rate: this extractor expects audio sampled at {self.sampling_rate} Hz, "
                              f"got {sampling_rate}; resample first")
        if not (isinstance(padding, bool) or isinstance(padding, str) and padding in _PADDING):
            raise ConfigError(f"padding: expected one of {list(_PADDING)}, got {padding!r}")
        strategy = _PADDING[padding]
        if max_length is not None:
            max_length = check_positive_int(max_length, "max_length")
        if pad_to_multiple_of is not None:
            pad_to_multiple_of = check_positive_int(pad_to_multiple_of, "pad_to_multiple_of")
        if not isinstance(truncation, bool):
            raise ConfigError(f"truncation: expected True or False, got {truncation!r}")
        if strategy == "max_length" and max_length is None:
            raise ConfigError("max_length: padding='max_length' needs max_length")
        if truncation and max_length is None:
            raise ConfigError("max_length: truncation=True needs max_length")
        want_mask = self.return_attention_mask if return_attention_mask is None else return_attention_mask
        if not isinstance(want_mask, bool):
            raise ConfigError(f"return_attention_mask: expected None, True or False, got {return_attention_mask!r}")

        def round_up(n):
            return n if pad_to_multiple_of is None or n % pad_to_multiple_of == 0 else \
                (n // pad_to_multiple_of + 1) * pad_to_multiple_of

        utterances = _as_utterances(raw_speech, self.dtype)
        if truncation:
            utterances = [x[:round_up(max_length)] for x in utterances]
        lengths = [len(x) for x in utterances]
        target = None
        if strategy == "longest":
            target = round_up(max(lengths))
        elif strategy == "max_length":
            target = round_up(max_length)
        values, masks = [], []
        for x in utterances:
            pad = max(0, target - len(x)) if target is not None else 0
            values.append(np.concatenate([x, np.full(pad, self.padding_value, dtype=self.dtype)]))   # (N,)
            masks.append(np.concatenate([np.ones(len(x), np.int32), np.zeros(pad, np.int32)]))
        if self.do_normalize:
            # the true lengths count only when padding AND a mask is returned; else the whole vector
            mask_for_norm = masks if (strategy is not None and want_mask) else None
            values = zero_mean_unit_var_norm(values, mask_for_norm, self.padding_value)
        ragged = len({len(v) for v in values}) > 1
        out = {"input_values": values if ragged else np.stack(values)}
        if want_mask:
            out["attention_mask"] = masks if ragged else np.stack(masks)
        return out
