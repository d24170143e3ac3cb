"""BERT pre-training data: masked-LM corruption (mask_tokens) and next-sentence pairs (build_nsp_pairs).

mask_tokens follows transformers' DataCollatorForLanguageModeling (mlm=True, whole_word_mask=False).
With m = mask_replace_prob, r = random_replace_prob and p = mlm_probability, per position t:

    special_t   = special_tokens_mask_t  or  input_ids_t in special_token_ids  or  input_ids_t == pad_token_id
    selected_t  = Bernoulli(p) and not special_t                     (the tokens the loss is computed on)
    to_mask_t   = Bernoulli(m)                                       (drawn at every position)
    to_rand_t   = Bernoulli(r / (1 - m))                             (drawn at every position)
    rand_tok_t  = Uniform{0, ..., vocab_size - 1}                    (drawn at every position)

    labels_t = input_ids_t if selected_t else -100
    out_t    = mask_token_id   if selected_t and to_mask_t
               rand_tok_t      if selected_t and not to_mask_t and to_rand_t
               input_ids_t     otherwise

A selected token therefore becomes [MASK] with probability m, a random token with probability
(1 - m) * r / (1 - m) = r and stays itself with probability 1 - m - r (0.8 / 0.1 / 0.1 by default);
the random token may happen to equal the original (HF does not exclude it). As in HF, when m == 1 or
r == 0 the last two draws are not made at all.

build_nsp_pairs follows create_instances_from_document of the original BERT (create_pretraining_data.py),
which transformers' TextDatasetForNextSentencePrediction copied; the algorithm is spelled out in its docstring.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..core.errors import ConfigError, DTypeError, IndexRangeError, ShapeError
from ..core.validation import check_generator, check_int_array, check_positive_int, check_probability

IGNORE_INDEX = -100                                    # label of positions the MLM loss skips (HF convention)


# ---------------------------------------------------------------------------- masked language modeling

def _check_id(v, name: str, vocab_size: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ConfigError(f"{name}: expected an integer token id, got {v!r}")
    if not 0 <= int(v) < vocab_size:
        raise IndexRangeError(f"{name}: expected a token id in [0, {vocab_size}), got {int(v)}")
    return int(v)


def _check_bool_array(x, name: str, shape: Tuple[int, ...]) -> np.ndarray:
    """A bool array, or an integer array of 0/1, of exactly `shape`; returned as bool."""
    if not isinstance(x, np.ndarray):
        raise DTypeError(f"{name}: expected a numpy.ndarray of bool (or 0/1 integers), got {type(x).__name__}")
    if x.shape != shape:
        raise ShapeError(f"{name}: expected shape {shape} (the shape of input_ids), got {x.shape}")
    if x.dtype == np.bool_:
        return x
    if not np.issubdtype(x.dtype, np.integer):
        raise DTypeError(f"{name}: expected a bool or integer 0/1 array, got dtype {x.dtype}")
    if x.size and not np.all((x == 0) | (x == 1)):
        bad = sorted(set(np.unique(x).tolist()) - {0, 1})[:5]
        raise IndexRangeError(f"{name}: expected only 0/1 values, found {bad}")
    return x.astype(bool)


def mask_tokens(input_ids: np.ndarray, *, rng: Optional[np.random.Generator], vocab_size: int, mask_token_id: int,
                special_tokens_mask: Optional[np.ndarray] = None, special_token_ids: Sequence[int] = (),
                mlm_probability: float = 0.15, mask_replace_prob: float = 0.8, random_replace_prob: float = 0.1,
                pad_token_id: Optional[int] = None, selection: Optional[np.ndarray] = None,
                mask_draws: Optional[np.ndarray] = None, random_draws: Optional[np.ndarray] = None,
                random_tokens: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Corrupt `input_ids` for masked-LM training; returns (masked_input_ids, labels). See the module docstring.

    input_ids: integer array, any shape (typically (B, L)), values in [0, vocab_size).
    special_tokens_mask: same shape, bool or 0/1; True positions are never selected. special_token_ids
        and pad_token_id add positions by value (pass tokenizer.all_special_ids to mimic HF's
        get_special_tokens_mask, which the collator calls when no special_tokens_mask is given).
    vocab_size: random replacements are uniform over [0, vocab_size) (HF uses len(tokenizer)).
    rng: the np.random.Generator the draws come from, in this order, each over the full shape of
        input_ids: selection = rng.random() < p; mask_draws = rng.random() < m; random_draws =
        rng.random() < r / (1 - m); random_tokens = rng.integers(0, vocab_size). Only the draws not
        given explicitly are made (may be None when every needed draw is given).
    selection, mask_draws, random_draws: optional explicit Bernoulli outcomes (bool or 0/1 arrays of
        input_ids' shape) replacing the three draws, e.g. the outputs of the three torch.bernoulli calls
        the HF collator makes; selection is ANDed with "not special" (HF draws with probability 0 there).
    random_tokens: optional explicit uniform replacement ids (integers of input_ids' shape, in
        [0, vocab_size)), e.g. the output of the collator's torch.randint call.
    random_draws / random_tokens are not used when mask_replace_prob == 1 or random_replace_prob == 0.

    Returns masked_input_ids (a copy, input_ids' dtype) and labels (int64: the original id where
    selected, -100 elsewhere).
    """
    if not isinstance(input_ids, np.ndarray) or input_ids.ndim < 1:
        got = f"shape {input_ids.shape}" if isinstance(input_ids, np.ndarray) else type(input_ids).__name__
        raise ShapeError(f"input_ids: expected an integer numpy.ndarray with at least 1 dimension, got {got}")
    vocab_size = check_positive_int(vocab_size, "vocab_size")
    check_int_array(input_ids, "input_ids", low=0, high=vocab_size)
    mask_token_id = _check_id(mask_token_id, "mask_token_id", vocab_size)
    p = check_probability(mlm_probability, "mlm_probability", inclusive_one=True)
    m = check_probability(mask_replace_prob, "mask_replace_prob", inclusive_one=True)
    r = check_probability(random_replace_prob, "random_replace_prob", inclusive_one=True)
    if m + r > 1:
        raise ConfigError(f"mask_replace_prob + random_replace_prob: expected a sum <= 1, got {m} + {r} = {m + r}")
    shape = input_ids.shape

    # which positions may be selected: never special tokens or padding
    special = np.zeros(shape, dtype=bool)
    if special_tokens_mask is not None:
        special |= _check_bool_array(special_tokens_mask, "special_tokens_mask", shape)
    ids = [int(_check_id(t, "special_token_ids", vocab_size)) for t in special_token_ids]
    if pad_token_id is not None:
        ids.append(_check_id(pad_token_id, "pad_token_id", vocab_size))
    if ids:
        special |= np.isin(input_ids, ids)

    use_random = not (m == 1.0 or r == 0.0)            # HF returns before the last two draws otherwise
    needs_rng = (selection is None or mask_draws is None
                 or (use_random and (random_draws is None or random_tokens is None)))
    if needs_rng or rng is not None:
        check_generator(rng, "rng")

    # 1. the positions the loss is computed on
    if selection is None:
        selection = rng.random(shape) < p                                      # (*shape) bool
    else:
        selection = _check_bool_array(selection, "selection", shape)
    selected = selection & ~special

    labels = np.where(selected, input_ids, IGNORE_INDEX).astype(np.int64)    # (*shape)
    out = input_ids.copy()

    # 2. of those, a fraction m becomes [MASK]
    if mask_draws is None:
        mask_draws = rng.random(shape) < m
    else:
        mask_draws = _check_bool_array(mask_draws, "mask_draws", shape)
    to_mask = mask_draws & selected
    out[to_mask] = mask_token_id
    if not use_random:
        return out, labels

    # 3. of the rest, a fraction r / (1 - m) becomes a uniform random token (so r of all selected)
    if random_draws is None:
        random_draws = rng.random(shape) < r / (1.0 - m)
    else:
        random_draws = _check_bool_array(random_draws, "random_draws", shape)
    if random_tokens is None:
        random_tokens = rng.integers(0, vocab_size, size=shape)
    else:
        if not isinstance(random_tokens, np.ndarray) or random_tokens.shape != shape:
            got = random_tokens.shape if isinstance(random_tokens, np.ndarray) else type(random_tokens).__name__
            raise ShapeError(f"random_tokens: expected an integer array of shape {shape}, got {got}")
        check_int_array(random_tokens, "random_tokens", low=0, high=vocab_size)
    to_random = random_draws & selected & ~to_mask
    out[to_random] = random_tokens[to_random]
    # 4. the remaining selected tokens (1 - m - r of them) are left unchanged
    return out, labels


# ---------------------------------------------------------------------------- next sentence prediction

class NSPPair(NamedTuple):
    """One sentence-pair example. label = 0 when B really follows A, 1 when B is random (HF's
    next_sentence_label). The sources say where the tokens came from (before truncation):
    sentences documents[doc_index][a_sentences[0]:a_sentences[1]] for A and
    documents[b_doc_index][b_sentences[0]:b_sentences[1]] for B."""
    tokens_a: List[int]
    tokens_b: List[int]
    is_random_next: bool
    doc_index: int
    a_sentences: Tuple[int, int]
    b_doc_index: int
    b_sentences: Tuple[int, int]

    @property
    def label(self) -> int:
        return int(self.is_random_next)


def _check_documents(documents) -> List[List[List[int]]]:
    if not isinstance(documents, (list, tuple)):
        raise ConfigError(f"documents: expected a list of documents (lists of sentences), "
                          f"got {type(documents).__name__}")
    docs = []
    for i, doc in enumerate(documents):
        if not isinstance(doc, (list, tuple)):
            raise ConfigError(f"documents[{i}]: expected a list of sentences, got {type(doc).__name__}")
        sents = []
        for j, sent in enumerate(doc):
            if isinstance(sent, np.ndarray):
                if sent.ndim != 1 or not np.issubdtype(sent.dtype, np.integer):
                    raise ConfigError(f"documents[{i}][{j}]: expected a 1-D integer array of token ids, "
                                      f"got shape {sent.shape} dtype {sent.dtype}")
                sent = sent.tolist()
            if not isinstance(sent, (list, tuple)) or not all(
                    isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in sent):
                raise ConfigError(f"documents[{i}][{j}]: expected a list of integer token ids, got {sent!r:.60}")
            if len(sent) == 0:
                raise ConfigError(f"documents[{i}][{j}]: expected a non-empty sentence, got an empty one")
            sents.append([int(t) for t in sent])
        docs.append(sents)
    return docs


def truncate_seq_pair(tokens_a: List[int], tokens_b: List[int], max_num_tokens: int,
                      rng: np.random.Generator) -> None:
    """In place: while len(a) + len(b) > max_num_tokens, drop one token of the longer list (B on a
    tie), from the front if rng.random() < 0.5 else from the back (BERT's noise against always
    cutting sentence ends)."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def build_nsp_pairs(documents, *, rng: np.random.Generator, max_num_tokens: int, short_seq_prob: float = 0.1,
                    nsp_probability: float = 0.5) -> List[NSPPair]:
    """Sentence pairs for next-sentence prediction from `documents` (lists of sentences = lists of ids).

    max_num_tokens is the budget for len(A) + len(B), i.e. the block size minus the special tokens
    ([CLS] A [SEP] B [SEP]: block_size - 3). For each document d in order (all draws from `rng`):

      target = max_num_tokens; if rng.random() < short_seq_prob: target = rng.integers(2, max_num_tokens + 1)
      walk the sentences, appending each to a chunk; when the chunk reaches `target` tokens or the
      document ends, emit one pair from the chunk:
        a_end = rng.integers(1, len(chunk)) if len(chunk) >= 2 else 1     A = chunk[:a_end]
        if len(chunk) == 1 or rng.random() < nsp_probability:            (B random, label 1)
            pick a document e != d uniformly among the other non-empty documents, a start sentence
            s = rng.integers(0, len(e)), and append e[s], e[s+1], ... until B has at least
            target - len(A) tokens (or e ends); the sentences chunk[a_end:] are not used and the walk
            steps back to re-read them in the next chunk
        else:                                                             (B actual next, label 0)
            B = chunk[a_end:]
        truncate_seq_pair(A, B, max_num_tokens, rng)  (see its docstring)

    Differences from BERT: the random document is drawn from the other documents directly (BERT
    tries 10 times and may fall back on the same document), and empty documents are skipped as
    sources. Because single-sentence chunks are always random, the fraction of label 1 is at least
    nsp_probability. Returns a list of NSPPair (tokens plus where they came from).
    """
    docs = _check_documents(documents)
    check_generator(rng, "rng")
    max_num_tokens = check_positive_int(max_num_tokens, "max_num_tokens")
    if max_num_tokens < 2:
        raise ConfigError(f"max_num_tokens: expected at least 2 (one token for each segment), got {max_num_tokens}")
    short_seq_prob = check_probability(short_seq_prob, "short_seq_prob", inclusive_one=True)
    nsp_probability = check_probability(nsp_probability, "nsp_probability", inclusive_one=True)
    non_empty = [i for i, d in enumerate(docs) if d]
    if len(non_empty) < 2:
        raise ConfigError(f"documents: expected at least 2 non-empty documents (a random next segment must come "
                          f"from another document), got {len(non_empty)}")

    pairs = []
    for d, doc in enumerate(docs):
        target = max_num_tokens
        if rng.random() < short_seq_prob:
            target = int(rng.integers(2, max_num_tokens + 1))    # short sequences, as in fine-tuning
        others = [e for e in non_empty if e != d]
        chunk_start, chunk_len, i = 0, 0, 0                      # chunk = doc[chunk_start : i + 1]
        while i < len(doc):
            chunk_len += len(doc[i])
            if i == len(doc) - 1 or chunk_len >= target:
                n = i + 1 - chunk_start                          # sentences in the chunk
                a_end = int(rng.integers(1, n)) if n >= 2 else 1
                tokens_a = [t for s in doc[chunk_start:chunk_start + a_end] for t in s]
                if n == 1 or rng.random() < nsp_probability:
                    e = others[int(rng.integers(0, len(others)))]
                    start = int(rng.integers(0, len(docs[e])))
                    tokens_b, stop = [], start
                    for s in docs[e][start:]:
                        tokens_b.extend(s)
                        stop += 1
                        if len(tokens_b) >= target - len(tokens_a):
                            break
                    pair = (True, e, (start, stop))
                    i = chunk_start + a_end - 1                  # give the unused sentences back
                else:
                    tokens_b = [t for s in doc[chunk_start + a_end:i + 1] for t in s]
                    pair = (False, d, (chunk_start + a_end, i + 1))
                truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
                pairs.append(NSPPair(tokens_a, tokens_b, pair[0], d, (chunk_start, chunk_start + a_end),
                                     pair[1], pair[2]))
                chunk_start, chunk_len = i + 1, 0
            i += 1
    return pairs
