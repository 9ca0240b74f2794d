"""Topics with readable labels, configured themes, and sentiment per topic and per theme.

Topics: non-negative matrix factorisation (NMF, scikit-learn, seeded ``nndsvda`` start) of TF-IDF word 1-2-grams of
the redacted, folded texts, Portuguese and English function words removed (``min_df`` 2, ``max_df`` 0.5). Each
text goes to its heaviest topic (``-1`` when it has no weight on any, e.g. only stop words). A topic's *terms*
are the words with most weight in its component, skipping a word already contained in a higher-ranked
bigram; its *label* is its three first terms joined by " / ".

Themes: a configured dictionary ``{"entrega": ["entrega", "prazo", "atras*"], ...}`` matched on each text with
:class:`MentionMatcher` (case/accent-insensitive, word boundaries, ``*`` prefix wildcard). A topic is mapped to
the theme whose keywords cover most of the weight of its top ten terms, when that is at least a third of it; the label
then reads ``"entrega: prazo / atraso / chegou"``.

Sentiment per topic / theme: mean of the texts' sentiment scores and the shares of negative / positive
polarity, from any scorer (lexicon or trained model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sinergia.errors import ModelError, UsageError
from sinergia.text.lang import stopwords
from sinergia.text.mentions import MentionMatcher
from sinergia.text.model import prepare

MIN_THEME_COVER = 1 / 3


@dataclass
class Topic:
    id: int
    label: str
    terms: list[str]
    theme: str | None
    size: int
    share: float
    mean_sentiment: float | None = None
    negative_share: float | None = None
    positive_share: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.id, "label": self.label, "theme": self.theme, "size": self.size, "share": self.share,
            "mean_sentiment": self.mean_sentiment, "negative_share": self.negative_share,
            "positive_share": self.positive_share, "terms": ", ".join(self.terms),
        }


@dataclass
class TopicResult:
    """Topics, each text's topic (``-1`` none) and weight, and each text's matched themes."""

    topics: list[Topic]
    assignments: list[int]
    weights: list[float]
    text_themes: list[list[str]] = field(default_factory=list)
    theme_summary: list[dict[str, Any]] = field(default_factory=list)

    def label_of(self, topic_id: int) -> str:
        return "" if topic_id < 0 else self.topics[topic_id].label


def _summary(indices: Sequence[int], sentiments: Sequence[float] | None,
             polarities: Sequence[str] | None) -> tuple[float | None, float | None, float | None]:
    if not indices:
        return None, None, None
    mean = round(float(np.mean([sentiments[i] for i in indices])), 4) if sentiments is not None else None
    if polarities is None:
        return mean, None, None
    negative = round(sum(polarities[i] == "negative" for i in indices) / len(indices), 4)
    positive = round(sum(polarities[i] == "positive" for i in indices) / len(indices), 4)
    return mean, negative, positive


def _terms(component: np.ndarray, vocabulary: np.ndarray, top: int) -> list[str]:
    chosen: list[str] = []
    for index in np.argsort(component)[::-1]:
        if component[index] <= 0 or len(chosen) >= top:
            break
        term = str(vocabulary[index])
        words = set(term.split())
        if any(words <= set(c.split()) for c in chosen):
            continue  # "prazo" after "antes prazo" adds nothing to a label
        chosen.append(term)
    return chosen


def find_topics(
    texts: Sequence[str | None],
    *,
    n_topics: int = 8,
    sentiments: Sequence[float] | None = None,
    polarities: Sequence[str] | None = None,
    themes: Mapping[str, Sequence[str]] | None = None,
    top_terms: int = 6,
    seed: int = 0,
) -> TopicResult:
    """Find ``n_topics`` topics in ``texts`` and summarise sentiment per topic (and per configured theme)."""
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer

    if n_topics < 1:
        raise UsageError(f"the number of topics must be at least 1, not {n_topics}")
    for name, values in (("sentiments", sentiments), ("polarities", polarities)):
        if values is not None and len(values) != len(texts):
            raise UsageError(f"{len(texts)} texts but {len(values)} {name}")
    prepared = [prepare(t) if t else "" for t in texts]
    non_empty = sum(1 for t in prepared if t.strip())
    if non_empty < max(2 * n_topics, 5):
        raise ModelError(f"{non_empty} non-empty texts are too few for {n_topics} topics "
                         f"(need at least {max(2 * n_topics, 5)})")
    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, max_df=0.5, sublinear_tf=True, lowercase=False,
        stop_words=sorted(w for w in stopwords() if w.isalpha()), token_pattern=r"(?u)\b[^\W\d_][^\W\d_]+\b",
    )
    try:
        matrix = vectorizer.fit_transform(prepared)
    except ValueError:
        raise ModelError("no word occurs in two texts or more: nothing to group into topics") from None
    k = min(n_topics, matrix.shape[1], matrix.shape[0])
    nmf = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=400)
    weights = nmf.fit_transform(matrix)
    vocabulary = vectorizer.get_feature_names_out()
    assignments = [int(np.argmax(row)) if row.max() > 0 else -1 for row in weights]
    best = [round(float(row.max()), 6) for row in weights]

    matcher = MentionMatcher(themes) if themes else None
    text_themes = [matcher.names_in(t) for t in texts] if matcher else [[] for _ in texts]
    topics: list[Topic] = []
    for topic_id, component in enumerate(nmf.components_):
        terms = _terms(component, vocabulary, top_terms)
        theme = None
        if matcher is not None:
            order = np.argsort(component)[::-1][:10]
            cover: dict[str, float] = {}
            for index in order:
                for name in matcher.names_in(str(vocabulary[index])):
                    cover[name] = cover.get(name, 0.0) + float(component[index])
            total = float(component[order].sum())
            if cover and max(cover.values()) >= MIN_THEME_COVER * total:
                theme = max(cover.items(), key=lambda kv: (kv[1], -matcher.names.index(kv[0])))[0]
        label = " / ".join(terms[:3]) or f"topic {topic_id}"
        members = [i for i, a in enumerate(assignments) if a == topic_id]
        mean, negative, positive = _summary(members, sentiments, polarities)
        topics.append(Topic(topic_id, f"{theme}: {label}" if theme else label, terms, theme, len(members),
                            round(len(members) / len(texts), 4), mean, negative, positive))
    summary: list[dict[str, Any]] = []
    if matcher is not None:
        for name in matcher.names:
            members = [i for i, found in enumerate(text_themes) if name in found]
            mean, negative, positive = _summary(members, sentiments, polarities)
            summary.append({"theme": name, "texts": len(members), "share": round(len(members) / len(texts), 4),
                            "mean_sentiment": mean, "negative_share": negative, "positive_share": positive})
    return TopicResult(topics, assignments, best, text_themes, summary)
