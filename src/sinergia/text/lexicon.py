"""Lexicon sentiment: LeIA (a Portuguese VADER) for ``pt``, vaderSentiment for ``en``. No training, no downloads.

The score is VADER's ``compound`` in [-1, 1]. Polarity uses VADER's published convention: positive when
compound >= 0.05, negative when <= -0.05, neutral in between (``LEXICON_NEUTRAL_BAND``).

**LeIA's negation bug, fixed here.** LeIA lists ``nao`` (and ``dificilmente``) both as negation words and in
its lexicon (``nao`` = -1.2). VADER only applies a negation when the word before the sentiment word is *not* a
lexicon word, so in "não estou feliz" the negation is skipped and the -1.2 of "nao" loses against the +2.x of
"feliz": the sentence scores +0.44. We drop the negation words' own entries from *our instance's* lexicon
(the module-level tables of LeIA are left untouched), so VADER's negation rule applies: "não estou feliz"
scores below zero and "não é ruim" above "é ruim".
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sinergia.text.lang import detect_language

LEXICON_NEUTRAL_BAND = 0.05
LEXICON_LANGUAGES = ("pt", "en")


@lru_cache(maxsize=1)
def _portuguese() -> Any:
    from LeIA import SentimentIntensityAnalyzer, leia

    analyzer = SentimentIntensityAnalyzer()
    negations = {word for word in leia.NEGATE if " " not in word}
    analyzer.lexicon = {word: value for word, value in analyzer.lexicon.items() if word not in negations}
    return analyzer


@lru_cache(maxsize=1)
def _english() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def lexicon_score(text: str | None, language: str = "pt") -> float:
    """VADER compound in [-1, 1] of ``text`` with the ``pt`` (LeIA, negation fixed) or ``en`` lexicon."""
    if not text or not text.strip():
        return 0.0
    analyzer = _english() if language == "en" else _portuguese()
    return float(analyzer.polarity_scores(text)["compound"])


def polarity_of(score: float, band: float) -> str:
    """``positive`` when score >= band, ``negative`` when score <= -band, else ``neutral``."""
    if score >= band and score > 0:
        return "positive"
    if score <= -band and score < 0:
        return "negative"
    return "neutral"


def resolve_language(detected: str, default_language: str) -> str:
    """The lexicon to use for a text: its detected language when ``pt``/``en``, otherwise the default."""
    return detected if detected in LEXICON_LANGUAGES else default_language


def lexicon_scores(
    texts: Sequence[str | None], languages: Sequence[str] | None = None, default_language: str = "pt"
) -> tuple[list[float], list[str]]:
    """Scores of ``texts`` and the lexicon language used for each.

    Without ``languages`` each text's language is detected; ``other`` / ``unknown`` use ``default_language``.
    """
    if default_language not in LEXICON_LANGUAGES:
        from sinergia.errors import UsageError

        raise UsageError(f"default language must be one of {', '.join(LEXICON_LANGUAGES)}, not {default_language!r}")
    detected = list(languages) if languages is not None else [detect_language(t) for t in texts]
    used = [resolve_language(d, default_language) for d in detected]
    return [lexicon_score(t, lang) for t, lang in zip(texts, used, strict=True)], used
