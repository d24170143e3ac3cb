"""Extractive question answering: answer spans from start/end logits, and span labels for training.

postprocess_qa_predictions follows postprocess_qa_predictions of transformers' question-answering
example (utils_qa.py). For one example split into F features (overflowing windows), with per
feature f start logits s_f (L,), end logits e_f (L,) and character offsets o_f (L, 2):

    a token k is valid when o_f[k] is not None and (sequence_ids is None or sequence_ids_f[k] == 1);
    starts = the n_best_size largest s_f (descending), ends = the n_best_size largest e_f;
    candidates (i, j) in starts x ends, over every feature, with i and j valid, i <= j and
        j - i + 1 <= max_answer_length;  score = s_f[i] + e_f[j];  text = context[o_f[i][0] : o_f[j][1]]
    n_best = the n_best_size best candidates (a stable sort on the score: on ties the enumeration
        order f, then start rank, then end rank wins), probability = softmax of their scores.

With null_score=True (SQuAD v2, HF's version_2_with_negative) the null answer, score s_f[0] + e_f[0]
from the feature where that is SMALLEST, joins the candidates (and is appended to the n-best list when
the cut dropped it); the answer is "" when null_score - (s + e of the best non-empty candidate) >
null_score_diff_threshold. Like HF, when no valid candidate exists at all the n-best list holds a
single placeholder with text "empty" and score 0 (so the answer is the string "empty").

Ranking the logits uses a stable argsort, so among equal logits the later token ranks first (what
HF's np.argsort(...)[-1:-n-1:-1] gives where NumPy's sort is stable).

char_span_to_token_positions gives the start/end token labels for training, like the preprocessing
of the HF course / run_qa.py (see its docstring for the one difference).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from ..core.validation import check_finite, check_float, check_positive_int


@dataclass
class QAPrediction:
    """The answer for one example: text (sliced from the context), its character span (None for
    the null answer "" and the "empty" placeholder), the n-best list (dicts with text, start_char,
    end_char, feature_index, start_index, end_index, start_logit, end_logit, score, probability;
    best first) and, with null_score=True, null_score_diff = null score - best non-null score."""
    text: str
    start_char: Optional[int]
    end_char: Optional[int]
    n_best: List[dict] = field(default_factory=list)
    null_score_diff: Optional[float] = None


def _as_offsets(offset_mapping, n_features: int, length: int) -> List[List[Optional[Tuple[int, int]]]]:
    """Offsets of every feature as lists of (start, end) or None; arrays of shape (F, L, 2) or nested lists."""
    name = "offset_mapping"
    if isinstance(offset_mapping, np.ndarray):
        if offset_mapping.shape != (n_features, length, 2):
            raise ShapeError(f"{name}: expected shape ({n_features}, {length}, 2) (features, tokens, start/end) "
                             f"matching the logits, got {offset_mapping.shape}")
        if not np.issubdtype(offset_mapping.dtype, np.integer):
            raise DTypeError(f"{name}: expected integer character offsets, got dtype {offset_mapping.dtype}")
        return [[(int(a), int(b)) for a, b in feat] for feat in offset_mapping]
    if not isinstance(offset_mapping, (list, tuple)) or len(offset_mapping) != n_features:
        got = len(offset_mapping) if isinstance(offset_mapping, (list, tuple)) else type(offset_mapping).__name__
        raise ShapeError(f"{name}: expected {n_features} feature(s) of offsets, got {got}")
    out = []
    for f, feat in enumerate(offset_mapping):
        if len(feat) != length:
            raise ShapeError(f"{name}[{f}]: expected {length} offsets (one per logit), got {len(feat)}")
        row = []
        for k, o in enumerate(feat):
            if o is None:
                row.append(None)
                continue
            if len(o) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in o):
                raise ConfigError(f"{name}[{f}][{k}]: expected None or a pair of integer offsets, got {o!r}")
            row.append((int(o[0]), int(o[1])))
        out.append(row)
    return out


def _as_sequence_ids(sequence_ids, n_features: int, length: int):
    if sequence_ids is None:
        return None
    if isinstance(sequence_ids, np.ndarray):
        if sequence_ids.ndim == 1:
            sequence_ids = sequence_ids[None]
        sequence_ids = sequence_ids.tolist()
    elif len(sequence_ids) and not isinstance(sequence_ids[0], (list, tuple, np.ndarray)):
        sequence_ids = [sequence_ids]                      # one feature given flat
    if len(sequence_ids) != n_features or any(len(s) != length for s in sequence_ids):
        raise ShapeError(f"sequence_ids: expected {n_features} feature(s) of {length} ids (None for special "
                         f"tokens), got {[len(s) for s in sequence_ids]}")
    return [list(s) for s in sequence_ids]


def _valid_tokens(offsets, seq_ids, context_len: int, context_sequence_id: int, f: int) -> np.ndarray:
    valid = np.array([o is not None for o in offsets], dtype=bool)
    if seq_ids is not None:
        valid &= np.array([s == context_sequence_id for s in seq_ids], dtype=bool)
    for k in np.flatnonzero(valid):
        a, b = offsets[k]
        if not 0 <= a <= b <= context_len:
            raise IndexRangeError(f"offset_mapping[{f}][{k}]: expected 0 <= start <= end <= len(context) = "
                                  f"{context_len} for a context token, got ({a}, {b})")
    return valid


def _top(x: np.ndarray, n: int) -> List[int]:
    # n largest, descending; stable ascending sort reversed -> later index first among ties
    return np.argsort(x, kind="stable")[::-1][:n].tolist()


def postprocess_qa_predictions(start_logits: np.ndarray, end_logits: np.ndarray, offset_mapping, context: str, *,
                               sequence_ids=None, n_best_size: int = 20, max_answer_length: int = 30,
                               null_score: bool = False, null_score_diff_threshold: float = 0.0,
                               context_sequence_id: int = 1) -> QAPrediction:
    """The answer of one example from the logits of its features (see the module docstring).

    start_logits, end_logits: (L,) for one feature or (F, L) for F windows of the same example,
        float32/float64 (scores are computed in float64).
    offset_mapping: (L, 2)/(F, L, 2) integer array, or per feature a list of (start, end) or None
        (None = not a context token, as HF's prepare_validation_features writes).
    context: the example's context string; offsets index into it.
    sequence_ids: optional (L,)/(F, L) list (None for special tokens) or array; tokens whose id is not
        context_sequence_id (1 when the question comes first) are not candidates. Without it only
        the None offsets are excluded (an array's (0, 0) special-token offsets would count).
    """
    s = check_float(start_logits, "start_logits", ndim=(1, 2))
    e = check_float(end_logits, "end_logits", ndim=(1, 2))
    if s.shape != e.shape:
        raise ShapeError(f"end_logits: expected the shape of start_logits {s.shape}, got {e.shape}")
    check_finite(s, "start_logits")
    check_finite(e, "end_logits")
    if not isinstance(context, str):
        raise ConfigError(f"context: expected a str, got {type(context).__name__}")
    n_best_size = check_positive_int(n_best_size, "n_best_size")
    max_answer_length = check_positive_int(max_answer_length, "max_answer_length")
    single = s.ndim == 1
    s2 = s[None] if single else s                               # (F, L)
    e2 = e[None] if single else e
    n_features, length = s2.shape
    if n_features == 0 or length == 0:
        raise ShapeError(f"start_logits: expected at least one feature and one token, got shape {s.shape}")
    if single and isinstance(offset_mapping, np.ndarray) and offset_mapping.ndim == 2:
        offset_mapping = offset_mapping[None]
    elif single and isinstance(offset_mapping, (list, tuple)) and (
            len(offset_mapping) == 0 or offset_mapping[0] is None or
            isinstance(offset_mapping[0][0], (int, np.integer))):
        offset_mapping = [offset_mapping]                       # one feature given flat
    offsets = _as_offsets(offset_mapping, n_features, length)
    seq_ids = _as_sequence_ids(sequence_ids, n_features, length)

    candidates, null = [], None
    for f in range(n_features):
        sf, ef = s2[f].astype(np.float64), e2[f].astype(np.float64)
        valid = _valid_tokens(offsets[f], None if seq_ids is None else seq_ids[f], len(context),
                              context_sequence_id, f)
        feature_null = sf[0] + ef[0]                            # index 0 = [CLS] = "no answer"
        if null is None or null["score"] > feature_null:
            null = dict(text="", start_char=0, end_char=0, feature_index=f, start_index=0, end_index=0,
                        start_logit=float(sf[0]), end_logit=float(ef[0]), score=float(feature_null))
        for i in _top(sf, n_best_size):
            for j in _top(ef, n_best_size):
                if not (valid[i] and valid[j]) or j < i or j - i + 1 > max_answer_length:
                    continue
                a, b = offsets[f][i][0], offsets[f][j][1]
                candidates.append(dict(text=context[a:b], start_char=a, end_char=b, feature_index=f, start_index=i,
                                       end_index=j, start_logit=float(sf[i]), end_logit=float(ef[j]),
                                       score=float(sf[i] + ef[j])))
    if null_score:
        candidates.append(null)
    n_best = sorted(candidates, key=lambda c: c["score"], reverse=True)[:n_best_size]   # stable
    if null_score and not any((c["start_char"], c["end_char"]) == (0, 0) for c in n_best):
        n_best.append(null)
    if not n_best or (len(n_best) == 1 and n_best[0]["text"] == ""):
        n_best.insert(0, dict(text="empty", start_char=None, end_char=None, feature_index=None, start_index=None,
                              end_index=None, start_logit=0.0, end_logit=0.0, score=0.0))
    scores = np.array([c["score"] for c in n_best])             # (n,)
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()                                        # softmax over the n-best scores
    for c, pr in zip(n_best, probs):
        c["probability"] = float(pr)

    if not null_score:
        best = n_best[0]
        return QAPrediction(best["text"], best["start_char"], best["end_char"], n_best)
    best = next(c for c in n_best if c["text"] != "")           # "empty" guarantees one exists
    diff = null["score"] - best["start_logit"] - best["end_logit"]
    if diff > null_score_diff_threshold:
        return QAPrediction("", None, None, n_best, float(diff))
    return QAPrediction(best["text"], best["start_char"], best["end_char"], n_best, float(diff))


def postprocess_qa_batch(start_logits: np.ndarray, end_logits: np.ndarray, offset_mapping, contexts: Sequence[str],
                         sample_mapping, *, sequence_ids=None, **kwargs) -> List[QAPrediction]:
    """One QAPrediction per example from N features of several examples.

    start_logits, end_logits: (N, L); offset_mapping: (N, L, 2) array or N lists; sequence_ids: None
    or N lists; contexts: one string per example; sample_mapping: (N,) example index of every feature
    (the tokenizer's overflow_to_sample_mapping). Every example must own at least one feature.
    Other keyword arguments go to postprocess_qa_predictions.
    """
    s = check_float(start_logits, "start_logits", ndim=2)
    e = check_float(end_logits, "end_logits", ndim=2)
    if s.shape != e.shape:
        raise ShapeError(f"end_logits: expected the shape of start_logits {s.shape}, got {e.shape}")
    n = s.shape[0]
    if isinstance(contexts, str) or not all(isinstance(c, str) for c in contexts):
        raise ConfigError("contexts: expected a list of strings, one per example")
    mapping = np.asarray(sample_mapping)
    if mapping.shape != (n,) or not np.issubdtype(mapping.dtype, np.integer):
        raise ShapeError(f"sample_mapping: expected {n} integer example indices (one per feature), "
                         f"got shape {mapping.shape} dtype {mapping.dtype}")
    if n and (mapping.min() < 0 or mapping.max() >= len(contexts)):
        raise IndexRangeError(f"sample_mapping: expected example indices in [0, {len(contexts)}), "
                              f"found {int(mapping.min())}..{int(mapping.max())}")
    if len(offset_mapping) != n:
        raise ShapeError(f"offset_mapping: expected {n} features, got {len(offset_mapping)}")
    if sequence_ids is not None and len(sequence_ids) != n:
        raise ShapeError(f"sequence_ids: expected {n} features, got {len(sequence_ids)}")
    out = []
    for ex, context in enumerate(contexts):
        feats = np.flatnonzero(mapping == ex)                   # features of this example, in order
        if feats.size == 0:
            raise ConfigError(f"sample_mapping: example {ex} has no feature")
        offs = offset_mapping[feats] if isinstance(offset_mapping, np.ndarray) else [offset_mapping[f] for f in feats]
        if sequence_ids is None:
            sids = None
        elif isinstance(sequence_ids, np.ndarray):
            sids = sequence_ids[feats]
        else:
            sids = [sequence_ids[f] for f in feats]
        out.append(postprocess_qa_predictions(s[feats], e[feats], offs, context, sequence_ids=sids, **kwargs))
    return out


def char_span_to_token_positions(offset_mapping, sequence_ids, answer_start_char: Optional[int],
                                 answer_text: Optional[str], *, cls_index: int = 0,
                                 context_sequence_id: int = 1) -> Tuple[int, int]:
    """(start_position, end_position) token labels of an answer in one feature (window).

    offset_mapping: (L, 2) character offsets of the feature's tokens; sequence_ids: (L,) (None for
    special tokens). With [c0, c1] the first and last context tokens of the window and the answer
    characters [a, b) (b = a + len(answer_text)):
      no answer (answer_start_char or answer_text None), or not inside the window
      (offset[c0].start > a or offset[c1].end < b)       -> (cls_index, cls_index)
      otherwise start = the last context token with offset.start <= a,
                end   = the first context token with offset.end >= b.
    The search stays inside [c0, c1], as in the HF course; run_qa.py lets the start search run past
    c1 into [SEP]/padding (offsets (0, 0)) and then labels an answer that begins in the window's last
    context token with the last position of the sequence.
    """
    if isinstance(offset_mapping, np.ndarray):
        if offset_mapping.ndim != 2 or offset_mapping.shape[1] != 2:
            raise ShapeError(f"offset_mapping: expected shape (L, 2), got {offset_mapping.shape}")
        offsets = [tuple(int(v) for v in o) for o in offset_mapping]
    else:
        offsets = [None if o is None else tuple(o) for o in offset_mapping]
    seq = sequence_ids.tolist() if isinstance(sequence_ids, np.ndarray) else list(sequence_ids)
    if len(seq) != len(offsets):
        raise ShapeError(f"sequence_ids: expected {len(offsets)} entries (one per offset), got {len(seq)}")
    if not 0 <= cls_index < max(len(offsets), 1):
        raise IndexRangeError(f"cls_index: expected a position in [0, {len(offsets)}), got {cls_index}")
    context_tokens = [k for k, sid in enumerate(seq) if sid == context_sequence_id]
    if answer_start_char is None or answer_text is None or not context_tokens:
        return cls_index, cls_index
    if isinstance(answer_start_char, bool) or not isinstance(answer_start_char, (int, np.integer)) \
            or answer_start_char < 0:
        raise ConfigError(f"answer_start_char: expected a non-negative integer, got {answer_start_char!r}")
    if not isinstance(answer_text, str):
        raise ConfigError(f"answer_text: expected a str, got {type(answer_text).__name__}")
    c0, c1 = context_tokens[0], context_tokens[-1]
    if any(seq[k] != context_sequence_id for k in range(c0, c1 + 1)):
        raise ConfigError(f"sequence_ids: expected the context tokens (id {context_sequence_id}) to be contiguous")
    if any(offsets[k] is None for k in range(c0, c1 + 1)):
        raise ConfigError("offset_mapping: expected offsets (not None) for every context token")
    a = int(answer_start_char)
    b = a + len(answer_text)
    if offsets[c0][0] > a or offsets[c1][1] < b:
        return cls_index, cls_index                               # the answer is not (wholly) in this window
    k = c0
    while k <= c1 and offsets[k][0] <= a:
        k += 1
    start = k - 1
    k = c1
    while k >= c0 and offsets[k][1] >= b:
        k -= 1
    end = k + 1
    return start, end
