"""GPT-2's byte level: the byte <-> character table, the pre-tokenization pattern, the decoder.

Byte-level BPE never sees characters, only UTF-8 bytes, each written as one printable character
so that vocabulary entries stay readable strings (GPT-2's `bytes_to_unicode`):

    bytes 0x21..0x7E, 0xA1..0xAC, 0xAE..0xFF  -> the character with the same code point
    the other 68 bytes (controls, space, 0x7F..0xA0, 0xAD), in increasing order -> U+0100, U+0101, ...
    so " " -> "Ġ" (U+0120), "\\n" -> "Ċ" (U+010A), "\\t" -> "ĉ" (U+0109).

Before that, the text is cut into words by GPT-2's pattern (leftmost match, alternatives tried in
order, greedy with backtracking):

    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+

Python's `re` has no \\p{..}, and its \\s is str.isspace (U+001C..U+001F too); worse, the classes
must be those of the Rust `tokenizers` library (Oniguruma, Unicode 16), not the running Python's
`unicodedata`. So split_gpt2 first replaces every character by a stand-in of its class, taken from
the frozen tables of unicode_tables.py, then runs the pattern with ASCII classes on that string:

    letters -> "a" (but s t r e v m l d stay, for the contractions)   numbers -> "1"
    whitespace -> "\\t" (but " " stays)     anything else -> "!" (but "'" stays)

One character for one, so the matches' spans are those of the original text. Contractions are
matched case-sensitively ("'S" is "'" + "S"), as in GPT-2; " " joins the word after it, other
whitespace never does, and a run of whitespace before a word leaves its last character to it.

Decoding (the `tokenizers` ByteLevel decoder): a token whose characters are all byte characters
becomes those bytes, any other token (e.g. an added token containing a space) its own UTF-8 bytes;
all bytes are joined and decoded as UTF-8 with every invalid sequence replaced by U+FFFD (Rust's
from_utf8_lossy, which replaces the same maximal ill-formed subsequences as Python's
errors="replace").
"""
from __future__ import annotations

import re

from ..core.errors import ConfigError
from .unicode_tables import LETTER, NUMBER, WHITE_SPACE, contains


def _bytes_to_unicode() -> list:
    """BYTE_TO_CHAR[b]: the printable character that stands for byte b."""
    kept = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = [""] * 256, 0
    for b in range(256):
        if b in kept:
            table[b] = chr(b)
        else:                                           # unprintable/space bytes: U+0100 + running index
            table[b] = chr(0x100 + extra)
            extra += 1
    return table


BYTE_TO_CHAR = _bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in enumerate(BYTE_TO_CHAR)}


class _StandIns(dict):
    """ord(ch) -> the stand-in of ch's class, computed on first sight (str.translate table)."""

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        if ch in "strevmld' ":
            rep = ch                                      # characters the pattern names literally
        elif contains(LETTER, cp):
            rep = "a"
        elif contains(NUMBER, cp):
            rep = "1"
        elif contains(WHITE_SPACE, cp):
            rep = "\t"
        else:
            rep = "!"
        if len(self) > 1 << 16:                           # bound the memory an unusual text can take
            self.clear()
        self[cp] = rep
        return rep


_STAND_INS = _StandIns()
# 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ over the stand-ins
GPT2_PATTERN = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[a-z]+| ?1+| ?[!']+|[\t ]+(?![^\t ])|[\t ]+")


def split_gpt2(text: str) -> list:
    """[(start, end)]: the consecutive matches of the GPT-2 pattern; together they cover `text`."""
    return [m.span() for m in GPT2_PATTERN.finditer(text.translate(_STAND_INS))]


def is_whitespace(ch: str) -> bool:
    """Unicode White_Space (Rust's char::is_whitespace)."""
    return contains(WHITE_SPACE, ord(ch))


def check_text(text, name: str = "text") -> str:
    """A str that UTF-8 can encode (lone surrogates cannot reach the Rust library either)."""
    if not isinstance(text, str):
        raise ConfigError(f"{name}: expected a str, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(f"{name}: contains the lone surrogate {text[exc.start]!r} at position {exc.start}, "
                          f"which has no UTF-8 encoding") from None
    return text


def bytes_to_chars(data: bytes) -> str:
    """Bytes -> their byte characters (b" hi" -> "Ġhi")."""
    return "".join([BYTE_TO_CHAR[b] for b in data])


def token_bytes(token: str) -> bytes:
    """The bytes a token stands for: its byte characters, or (not all byte characters) its UTF-8."""
    try:
        return bytes(CHAR_TO_BYTE[c] for c in token)
    except KeyError:
        return token.encode("utf-8")


def decode_tokens(tokens, errors: str = "replace") -> str:
    """The ByteLevel decoder: join the tokens' bytes, decode UTF-8 replacing invalid sequences."""
    return b"".join(token_bytes(t) for t in tokens).decode("utf-8", errors=errors)
