"""Text sentiment on the CX page: what the recompute stored (``metric_points`` rows of metrics
``text_sentiment`` / ``text_sentiment_window``, :func:`sinergia.text.workspace.sentiment_points`), shaped for
``_cx_sentiment.html``. No formulas here: every figure is a stored row (mean, n, negatives / n)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sinergia.store.models import MetricPoint
from sinergia.web import charts

MONTHLY = "text_sentiment"
WINDOW = "text_sentiment_window"
TOPIC_PREFIX = "topic="


def _share(point: MetricPoint) -> float | None:
    return None if not point.denominator else (point.numerator or 0.0) / point.denominator


def cx_context(session: Session, as_of: dt.date, locale: str, title: str) -> dict[str, Any] | None:
    """Sentiment over time (chart of the monthly mean), the window's overall figure and one row per topic;
    ``None`` when the recompute stored no sentiment (texts not scored)."""
    points = list(session.scalars(
        select(MetricPoint).where(MetricPoint.as_of == as_of, MetricPoint.metric.in_([MONTHLY, WINDOW]))
        .order_by(MetricPoint.period_start, MetricPoint.group_key)))
    if not points:
        return None
    monthly = [p for p in points if p.metric == MONTHLY and p.group_key == ""]
    window = [p for p in points if p.metric == WINDOW]
    overall = next((p for p in window if p.group_key == ""), None)
    topics = sorted((p for p in window if p.group_key.startswith(TOPIC_PREFIX)),
                    key=lambda p: (-(p.n or 0), p.group_key))
    chart = charts.time_series(monthly, unit="score", locale=locale, name=title, height=240)
    if chart is not None:  # sentiment lives in [-1, 1]: two decimals on the axis, not the default one
        chart["layout"]["yaxis"]["tickformat"] = ".2f"
    period = overall.period if overall else (window[0].period if window else "")
    return {
        "chart": chart,
        "days": int(period[:-1]) if period.endswith("d") and period[:-1].isdigit() else None,
        "overall": None if overall is None else {"mean": overall.value, "n": overall.n,
                                                 "negative_share": _share(overall)},
        "topics": [{"topic": p.group_key[len(TOPIC_PREFIX):], "mean": p.value, "n": p.n,
                    "negative_share": _share(p)} for p in topics],
    }
