"""Text normalisation shared by the text package: accent and case folding, tokens.

``fold`` keeps the string's length (one output character per input character), so a span found in the folded
text is the same span in the original: mentions and redactions report positions in the text the user gave.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_TOKEN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    lower = char.lower()
    if len(lower) != 1:  # "İ".lower() is two code points; keep the length
        lower = char
    base = "".join(c for c in unicodedata.normalize("NFKD", lower) if not unicodedata.combining(c))
    return base if len(base) == 1 else lower


def fold(text: str) -> str:
    """Lower-case and strip accents, one character for one: ``fold("Não É") == "nao e"``."""
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(c) for c in text)


def tokens(text: str) -> list[str]:
    """Folded word tokens (letters, with inner apostrophes or hyphens): ``tokens("Não-chegou!") == ["nao-chegou"]``."""
    return _TOKEN.findall(fold(text))
