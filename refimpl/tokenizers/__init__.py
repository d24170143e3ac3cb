"""Tokenizers loaded from Hugging Face files, matching the `tokenizers` library token for token."""
from .basic import BasicTokenizer
from .encoding import BatchEncoding, Encoding
from .wordpiece import BertTokenizer, Template, WordPiece

__all__ = ["BasicTokenizer", "WordPiece", "BertTokenizer", "Template", "Encoding", "BatchEncoding"]
