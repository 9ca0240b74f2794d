"""Docs generated from code must match the code."""

from __future__ import annotations

from pathlib import Path

from sinergia.schema.docs import render_data_model

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_data_model_doc_is_current() -> None:
    expected = render_data_model()
    actual = (DOCS / "data-model.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/data-model.md is stale: python -m sinergia.schema.docs > docs/data-model.md"


def test_every_entity_field_is_documented() -> None:
    from sinergia.schema import ENTITIES

    text = (DOCS / "data-model.md").read_text(encoding="utf-8")
    for entity in ENTITIES.values():
        assert f"## `{entity.name}`" in text
        for field in entity.fields:
            assert f"| `{field.name}` |" in text


def test_metrics_doc_is_current() -> None:
    from sinergia.metrics.docs import render_metrics

    actual = (DOCS / "metrics.md").read_text(encoding="utf-8")
    assert actual == render_metrics(), "docs/metrics.md is stale: python -m sinergia.metrics.docs > docs/metrics.md"


def test_every_metric_has_a_complete_card() -> None:
    from sinergia.metrics import list_metrics

    for metric in list_metrics():
        card = metric.card()
        assert card["title"]["en"] and card["title"]["pt-BR"], metric.name
        assert card["formula"], metric.name
        assert card["inputs"], metric.name
