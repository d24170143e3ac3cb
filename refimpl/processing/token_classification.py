"""Token classification (NER, POS): word labels -> token labels for training, token predictions ->
word labels and BIO entity spans at inference.

align_labels_with_tokens follows tokenize_and_align_labels of transformers' token-classification
example (run_ner.py). With word_ids from a fast tokenizer (None for special tokens), per token t:

    word_ids[t] is None                         -> -100
    word_ids[t] != word_ids[t-1] (a word start) -> word_labels[word_ids[t]]
    otherwise (a continuation piece)            -> -100, or with label_all_tokens the word's label
                                                   passed through b_to_i (B-X -> I-X when label_names
                                                   has I-X; every other label unchanged)

aggregate_word_predictions and group_entities follow TokenClassificationPipeline's "first",
"average" and "max" aggregation and its entity grouping:

    scores = softmax(logits) per token; the tokens of one word (same word id) form a group
    first:   the word's label = argmax of its first token's scores, score = that maximum
    max:     the token whose highest score is largest (the first such) decides: argmax / max of it
    average: mean of the tokens' score vectors; label = its argmax, score = its maximum
    grouping: walk the words; a word joins the open group when its tag (label without "B-"/"I-")
        equals the group's and its label does not start with "B-"; labels without a prefix count
        as "I-<label>". A group is named by its first label after the first "-" (the label itself
        when it has none), its score is the mean of its words' scores, and groups named in
        ignore_labels ("O") are dropped.

The pipeline finds words from the tokens (a "##" piece continues a word); here the word ids say it,
which agrees for WordPiece tokenizers.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from ..core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from ..core.validation import check_choice, check_finite, check_int_array, check_positive_int

IGNORE_INDEX = -100
STRATEGIES = ("first", "average", "max")


def _word_ids_list(word_ids, name: str = "word_ids") -> List[Optional[int]]:
    if isinstance(word_ids, np.ndarray):
        if word_ids.ndim != 1 or not np.issubdtype(word_ids.dtype, np.integer):
            raise ShapeError(f"{name}: expected a 1-D integer array (-1 for special tokens) or a list with None, "
                             f"got shape {word_ids.shape} dtype {word_ids.dtype}")
        return [None if w < 0 else int(w) for w in word_ids]
    if not isinstance(word_ids, (list, tuple)):
        raise ConfigError(f"{name}: expected a list of word indices (None for special tokens), "
                          f"got {type(word_ids).__name__}")
    out = []
    for t, w in enumerate(word_ids):
        if w is None:
            out.append(None)
        elif isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w >= 0:
            out.append(int(w))
        else:
            raise ConfigError(f"{name}[{t}]: expected None or a non-negative word index, got {w!r}")
    return out


def b_to_i_map(label_names: Sequence[str]) -> np.ndarray:
    """b_to_i[k] = index of "I-X" when label_names[k] is "B-X" and "I-X" exists, else k."""
    names = list(label_names)
    out = np.arange(len(names), dtype=np.int64)
    for k, name in enumerate(names):
        if name.startswith("B-") and "I-" + name[2:] in names:
            out[k] = names.index("I-" + name[2:])
    return out


def align_labels_with_tokens(word_labels, word_ids, *, label_all_tokens: bool = False,
                             label_names: Optional[Sequence[str]] = None) -> np.ndarray:
    """Token labels (L,) int64 from word labels (W,) and a tokenizer's word_ids (L,) (module docstring).

    word_labels: integer label ids per word (a list or 1-D array); -100 is passed through.
    word_ids: per token the word index, None (or -1 in an array) for special tokens.
    label_names: the label list; only used with label_all_tokens, to turn B-X into I-X on the
        continuation pieces (without it the word's label is repeated unchanged).
    """
    labels = np.asarray(word_labels)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ShapeError(f"word_labels: expected a 1-D sequence of integer label ids, got shape {labels.shape} "
                         f"dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    ids = _word_ids_list(word_ids)
    used = [w for w in ids if w is not None]
    if used and max(used) >= labels.size:
        raise IndexRangeError(f"word_ids: expected word indices < len(word_labels) = {labels.size}, "
                              f"found {max(used)}")
    b_to_i = None
    if label_all_tokens and label_names is not None:
        b_to_i = b_to_i_map(label_names)
        check_int_array(labels, "word_labels", low=0, high=len(b_to_i), ignore=(IGNORE_INDEX,))
    out = np.full(len(ids), IGNORE_INDEX, dtype=np.int64)        # (L,)
    previous = None
    for t, w in enumerate(ids):
        if w is None:
            pass                                                 # special token: no loss
        elif w != previous:
            out[t] = labels[w]                                   # first piece of a word
        elif label_all_tokens:
            lab = labels[w]
            out[t] = b_to_i[lab] if (b_to_i is not None and lab != IGNORE_INDEX) else lab
        previous = w
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def aggregate_word_predictions(token_predictions: np.ndarray, word_ids, strategy: str = "first", *,
                               num_words: Optional[int] = None):
    """Per-word labels from per-token predictions; returns (labels (W,) int64, scores (W,) float64).

    token_predictions: logits (L, C) float32/float64, or label ids (L,) integers ("first" only: the
        other strategies need scores; the returned scores are then NaN).
    word_ids: (L,) word index per token, None / -1 for special tokens (skipped).
    strategy: "first" | "average" | "max" (see the module docstring).
    num_words: W (default max word id + 1); words without any token get label -100 and score NaN.
    """
    check_choice(strategy, "strategy", STRATEGIES)
    if not isinstance(token_predictions, np.ndarray):
        raise DTypeError(f"token_predictions: expected a numpy.ndarray, got {type(token_predictions).__name__}")
    ids = _word_ids_list(word_ids)
    is_logits = np.issubdtype(token_predictions.dtype, np.floating)
    if is_logits:
        if token_predictions.ndim != 2 or token_predictions.shape[1] == 0:
            raise ShapeError(f"token_predictions: expected logits of shape (L, C), got {token_predictions.shape}")
        check_finite(token_predictions, "token_predictions")
        scores = _softmax(token_predictions.astype(np.float64))   # (L, C)
    elif np.issubdtype(token_predictions.dtype, np.integer):
        if token_predictions.ndim != 1:
            raise ShapeError(f"token_predictions: expected label ids of shape (L,), got {token_predictions.shape}")
        if strategy != "first":
            raise ConfigError(f"strategy: {strategy!r} needs per-class scores; pass logits (L, C) "
                              f"or use 'first' with label ids")
    else:
        raise DTypeError(f"token_predictions: expected float logits or integer label ids, "
                         f"got dtype {token_predictions.dtype}")
    if token_predictions.shape[0] != len(ids):
        raise ShapeError(f"word_ids: expected {token_predictions.shape[0]} entries (one per token), got {len(ids)}")
    used = [w for w in ids if w is not None]
    n_words = (max(used) + 1 if used else 0) if num_words is None else check_positive_int(num_words, "num_words",
                                                                                           allow_zero=True)
    if used and max(used) >= n_words:
        raise IndexRangeError(f"num_words: expected more than the largest word id {max(used)}, got {n_words}")

    labels = np.full(n_words, IGNORE_INDEX, dtype=np.int64)      # (W,)
    word_scores = np.full(n_words, np.nan)                       # (W,)
    groups = {}
    for t, w in enumerate(ids):                                  # tokens of each word, in order
        if w is not None:
            groups.setdefault(w, []).append(t)
    for w, toks in groups.items():
        if not is_logits:
            labels[w] = token_predictions[toks[0]]
            continue
        sc = scores[toks]                                        # (n_pieces, C)
        if strategy == "first":
            vec = sc[0]
        elif strategy == "max":
            vec = sc[int(np.argmax(sc.max(axis=1)))]             # first token holding the largest score
        else:
            vec = sc.mean(axis=0)                                # (C,)
        labels[w] = int(np.argmax(vec))
        word_scores[w] = vec[labels[w]]
    return labels, word_scores


def _tag(label: str):
    if label.startswith("B-"):
        return "B", label[2:]
    if label.startswith("I-"):
        return "I", label[2:]
    return "I", label                                            # no prefix: treated as a continuation


def group_entities(words: Sequence[str], labels: Sequence[str], *, scores=None,
                   ignore_labels: Sequence[str] = ("O",), sep: str = " ") -> List[dict]:
    """BIO grouping of word labels into entity spans (module docstring).

    words: the words (strings); labels: their labels as strings ("B-PER", "I-PER", "O", ...);
    scores: optional per-word scores (a group's score = their mean, NaN ignored).
    Returns dicts {entity_group, start, end (word indices, end exclusive), word (words joined by
    `sep`), score (None without scores)} in order.
    """
    words, labels = list(words), list(labels)
    if len(words) != len(labels):
        raise ShapeError(f"labels: expected {len(words)} labels (one per word), got {len(labels)}")
    for k, lab in enumerate(labels):
        if not isinstance(lab, str):
            raise ConfigError(f"labels[{k}]: expected a label name (str), got {lab!r}")
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(words),):
            raise ShapeError(f"scores: expected shape ({len(words)},), got {scores.shape}")

    spans, start = [], 0
    for k in range(1, len(words) + 1):
        if k < len(words):
            bi, tag = _tag(labels[k])
            if tag == _tag(labels[start])[1] and bi != "B":
                continue                                         # word k continues the open group
        spans.append((start, k))
        start = k
    out = []
    for a, b in spans if words else []:
        tag = labels[a].split("-", 1)[-1]                        # the pipeline's name for the group
        if tag in ignore_labels:
            continue
        out.append(dict(entity_group=tag, start=a, end=b, word=sep.join(words[a:b]),
                        score=None if scores is None else float(np.nanmean(scores[a:b]))))
    return out
