"""Tokenizers loaded from Hugging Face files, matching the `tokenizers` library token for token."""
from .base import AddedVocabulary, Template, TokenizerBase
from .basic import BasicTokenizer
from .bpe import BPE, GPT2Tokenizer
from .ctc import Wav2Vec2CTCTokenizer
from .encoding import BatchEncoding, Encoding
from .wordpiece import BertTokenizer, WordPiece

__all__ = ["BasicTokenizer", "WordPiece", "BertTokenizer", "Template", "Encoding", "BatchEncoding",
           "BPE", "GPT2Tokenizer", "TokenizerBase", "AddedVocabulary", "Wav2Vec2CTCTokenizer"]
