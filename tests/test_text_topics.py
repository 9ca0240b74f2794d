"""Topics with readable labels, themes and sentiment per topic; mentions of configured names."""

from __future__ import annotations

import pytest

from sinergia.errors import ConfigError, ModelError, UsageError
from sinergia.text.mentions import MentionMatcher
from sinergia.text.topics import find_topics

COMPETITORS = {"Zendesk": ["zen desk"], "Freshdesk": ["fresh desk", "freshworks"], "Movidesk": []}


def test_mentions_word_boundaries_accents_case_aliases() -> None:
    matcher = MentionMatcher(COMPETITORS)
    text = "Saímos do ZENDESK para o Fresh  Desk; o movidesk-like não conta? Movidésk conta."
    found = matcher.find(text)
    assert [(m.name, m.matched) for m in found] == [
        ("Zendesk", "ZENDESK"), ("Freshdesk", "Fresh  Desk"), ("Movidesk", "movidesk"), ("Movidesk", "Movidésk")]
    for mention in found:
        assert text[mention.start:mention.end] == mention.matched
    assert matcher.names_in("zendesks e myzendesk") == []  # whole words only
    assert matcher.names_in("freshworks e zen desk") == ["Zendesk", "Freshdesk"]  # dictionary order
    assert matcher.count(["zendesk", "zendesk zendesk", "nada", None]) == {"Zendesk": 2, "Freshdesk": 0, "Movidesk": 0}


def test_prefix_wildcard_and_bad_dictionaries() -> None:
    themes = MentionMatcher({"entrega": ["atras*", "prazo"]})
    assert themes.names_in("Atrasou dois dias") == ["entrega"]
    assert themes.names_in("o atraso") == ["entrega"]
    assert themes.names_in("fora do prazo") == ["entrega"]
    assert themes.names_in("prazos") == []  # no wildcard: whole word
    with pytest.raises(ConfigError, match="empty alias"):
        MentionMatcher({"x": ["  "]})
    with pytest.raises(ConfigError, match="must be a list"):
        MentionMatcher({"x": "abc"})  # type: ignore[dict-item]


DELIVERY = [
    "entrega atrasada, o pedido chegou depois do prazo",
    "atraso na entrega, prazo não cumprido",
    "a entrega atrasou muito, prazo estourado",
    "pedido atrasado, entrega fora do prazo",
    "chegou atrasado, entrega demorou além do prazo",
    "prazo de entrega não foi respeitado, atraso grande",
]
QUALITY = [
    "produto quebrado, qualidade péssima",
    "veio quebrado e com defeito, qualidade ruim",
    "qualidade horrível, produto com defeito",
    "defeito no produto, qualidade baixa, quebrado",
    "o produto apresentou defeito, péssima qualidade",
    "qualidade ruim e veio quebrado",
]


def test_topics_separate_delivery_from_quality_with_labels_and_sentiment() -> None:
    texts = DELIVERY + QUALITY
    sentiments = [-0.5] * 6 + [-0.8] * 6
    polarities = ["negative"] * 5 + ["neutral"] + ["negative"] * 6
    result = find_topics(texts, n_topics=2, sentiments=sentiments, polarities=polarities, seed=0,
                         themes={"entrega": ["entrega", "prazo", "atras*"], "qualidade": ["qualidade", "defeito"]})
    by_theme = {t.theme: t for t in result.topics}
    assert set(by_theme) == {"entrega", "qualidade"}
    delivery, quality = by_theme["entrega"], by_theme["qualidade"]
    assert result.assignments == [delivery.id] * 6 + [quality.id] * 6
    assert delivery.label.startswith("entrega: ")
    assert delivery.size == 6 and delivery.share == 0.5
    assert delivery.mean_sentiment == -0.5 and quality.mean_sentiment == -0.8
    assert delivery.negative_share == round(5 / 6, 4) and delivery.positive_share == 0.0
    assert any(term in delivery.terms for term in ("entrega", "prazo"))
    assert any(term in quality.terms for term in ("qualidade", "defeito", "quebrado"))
    summary = {row["theme"]: row for row in result.theme_summary}
    assert summary["entrega"]["texts"] == 6 and summary["qualidade"]["texts"] == 6
    assert result.text_themes[0] == ["entrega"]


def test_topic_errors() -> None:
    with pytest.raises(ModelError, match="too few"):
        find_topics(["um texto", "outro"], n_topics=2)
    with pytest.raises(UsageError):
        find_topics(DELIVERY, n_topics=0)
    with pytest.raises(UsageError, match="sentiments"):
        find_topics(DELIVERY, n_topics=1, sentiments=[0.1])
    with pytest.raises(ModelError, match="no word occurs"):
        find_topics(["alfa", "beta", "gama", "delta", "epsilon"], n_topics=1)
