"""Fixtures of the processing tests: a BERT WordPiece tokenizer trained here (no download)."""
import re

import pytest

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def words_of(text):
    """Lower-cased words and punctuation marks of text, as BERT's pre-tokenizer splits them."""
    return re.findall(r"\w+|[^\w\s]", text.lower())


@pytest.fixture(scope="session")
def make_bert_tokenizer(tmp_path_factory):
    """make_bert_tokenizer(corpus, split={}) -> transformers' BertTokenizerFast on a WordPiece vocabulary:
    the alphabet of corpus trained with `tokenizers` (without merges: its trainer breaks ties between equally
    frequent merges in hash order, so a merged vocabulary changes from run to run) plus the words of the
    corpus, except each word in `split`, which comes as its listed pieces (whole words and ##pieces; an
    empty list spells it letter by letter)."""
    tokenizers = pytest.importorskip("tokenizers")
    pytest.importorskip("transformers")
    from tokenizers import models, normalizers, pre_tokenizers, trainers
    from transformers import BertTokenizerFast

    def make(corpus, split=None):
        split = split or {}
        words = [w for w in words_of(" ".join(corpus)) if w not in split]
        words += [p for pieces in split.values() for p in pieces]
        lib = tokenizers.Tokenizer(models.WordPiece(unk_token="[UNK]"))
        lib.normalizer = normalizers.BertNormalizer(lowercase=True)
        lib.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        lib.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=1, special_tokens=SPECIALS,
                                                                  show_progress=False))
        alphabet = sorted(set(lib.get_vocab()) - set(SPECIALS))
        vocab = SPECIALS + alphabet + sorted(set(words) - set(alphabet))
        root = tmp_path_factory.mktemp("vocab")
        (root / "vocab.txt").write_text("".join(t + "\n" for t in vocab), encoding="utf-8")
        return BertTokenizerFast.from_pretrained(str(root))
    return make
