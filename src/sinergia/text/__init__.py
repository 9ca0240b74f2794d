"""Text analytics for survey comments, reviews and ticket texts, Portuguese first (docs/text.md).

* :mod:`~sinergia.text.redact` — CPF, CNPJ, e-mail and phone redaction with spans;
* :mod:`~sinergia.text.lang` — offline pt / en / other / unknown detection;
* :mod:`~sinergia.text.lexicon` — LeIA (pt, negation fixed) and VADER (en) lexicon sentiment;
* :mod:`~sinergia.text.model` — sentiment trained from the workspace's rated feedback, chosen against the lexicon;
* :mod:`~sinergia.text.topics` — NMF topics with readable labels, themes, sentiment per topic;
* :mod:`~sinergia.text.mentions` — competitors and products named in texts;
* :mod:`~sinergia.text.workspace` — the workspace's own texts scored into the engine table ``text_sentiment``
  (``sinergia text score``), read as of a date by health, churn features, playbooks and the recompute.

Heavy imports (scikit-learn, the lexicons) happen inside the functions that need them.
"""

from __future__ import annotations

from sinergia.text.lang import detect_language
from sinergia.text.lexicon import lexicon_score, polarity_of
from sinergia.text.mentions import Mention, MentionMatcher
from sinergia.text.model import Labels, SentimentModel
from sinergia.text.redact import PiiSpan, Redaction, find_pii, redact, redact_text
from sinergia.text.topics import Topic, TopicResult, find_topics

__all__ = [
    "Labels",
    "Mention",
    "MentionMatcher",
    "PiiSpan",
    "Redaction",
    "SentimentModel",
    "Topic",
    "TopicResult",
    "detect_language",
    "find_pii",
    "find_topics",
    "lexicon_score",
    "polarity_of",
    "redact",
    "redact_text",
]
