"""What each page shows, read from the serving store (short indexed queries; no analytical work here).

These functions turn store rows into the plain values the templates render. They hold no formulas: every
number is one the recompute stored (a metric point, a snapshot column, a score's explanation); the only
arithmetic is ARR × churn risk for ordering the risk list, the change between two stored periods, and
counting accounts per health band.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from sinergia.store import repo
from sinergia.store.models import AccountEvent, AccountSnapshot, MetricPoint, Note, ScorePoint, Task

#: The portfolio's headline metrics, in display order.
PORTFOLIO_METRICS = ("nrr", "grr", "logo_churn_rate", "nps", "csat", "ces_mean", "sla_achievement_rate")
CX_METRICS = ("nps", "csat", "ces_mean")
CX_DIMENSIONS = ("touchpoint", "journey_stage", "persona", "channel", "segment")
SUPPORT_METRICS = (
    "first_reply_time",
    "full_resolution_time",
    "first_contact_resolution_rate",
    "reopen_rate",
    "sla_achievement_rate",
    "backlog",
)
SUPPORT_DIMENSIONS = ("channel", "priority", "team", "segment")
#: The sorts the accounts page offers (keys of ``repo.ACCOUNT_SORTS``).
ACCOUNT_SORT_KEYS = ("arr", "arr_at_risk", "health_score", "churn_risk", "clv", "name", "renewal_at")
PAGE_SIZE = 50


def latest_as_of(session: Session) -> dt.date | None:
    """The as-of date of the newest recompute (what every page shows)."""
    return repo.latest_as_of(session)


@dataclass
class Point:
    """A value over time (the shape charts and cards read; :class:`MetricPoint` rows have it too)."""

    period_start: dt.date
    period_end: dt.date
    partial: bool
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    numerator: float | None = None
    denominator: float | None = None


P = TypeVar("P", Point, MetricPoint)


def series(session: Session, as_of: dt.date, metric: str, group_key: str = "") -> list[MetricPoint]:
    """A metric's stored values over time (one group), oldest first."""
    return repo.metric_series(session, metric, group_key=group_key, as_of=as_of)


def grouped_series(session: Session, as_of: dt.date, metrics: Sequence[str], dimension: str
                   ) -> dict[str, dict[str, list[MetricPoint]]]:
    """metric → group value → points, for the one-dimension groups ``<dimension>=<value>`` (one query)."""
    prefix = f"{dimension}="
    rows = session.scalars(
        select(MetricPoint)
        .where(MetricPoint.as_of == as_of, MetricPoint.metric.in_(list(metrics)),
               MetricPoint.group_key.startswith(prefix, autoescape=True))
        .order_by(MetricPoint.period_start)
    )
    out: dict[str, dict[str, list[MetricPoint]]] = {}
    for r in rows:
        group = r.group_key[len(prefix):]
        if "=" in group:  # a multi-dimension group key is not a one-dimension breakdown
            continue
        out.setdefault(r.metric, {}).setdefault(group, []).append(r)
    return out


def headline(points: Sequence[P]) -> tuple[P | None, P | None]:
    """The value a card shows (the newest complete period, else the newest) and the period before it."""
    usable = [p for p in points if p.value is not None]
    if not usable:
        return None, None
    complete = [p for p in usable if not p.partial]
    chosen = complete[-1] if complete else usable[-1]
    earlier = [p for p in usable if p.period_start < chosen.period_start]
    return chosen, (earlier[-1] if earlier else None)


@dataclass
class HealthBand:
    band: str
    accounts: int
    arr: float


def health_distribution(session: Session, as_of: dt.date) -> list[HealthBand]:
    return [HealthBand(band, int(v["accounts"]), float(v["arr"]))
            for band, v in repo.health_distribution(session, as_of=as_of).items()]


@dataclass
class AccountRow:
    account_id: str
    name: str | None
    segment: str | None
    owner: str | None
    currency: str | None
    arr: float
    mrr: float
    health_score: float | None
    health_band: str | None
    churn_risk: float | None
    clv: float | None
    renewal_at: dt.datetime | None
    arr_at_risk: float | None


def _account_row(s: AccountSnapshot) -> AccountRow:
    at_risk = s.arr * s.churn_risk if s.churn_risk is not None else None
    return AccountRow(s.account_id, s.name, s.segment, s.owner, s.currency, s.arr, s.mrr, s.health_score,
                      s.health_band, s.churn_risk, s.clv, s.renewal_at, at_risk)


def accounts_at_risk(session: Session, as_of: dt.date, limit: int = 15) -> list[AccountRow]:
    """Paying accounts with a churn risk, ordered by ARR at risk (ARR × churn risk), highest first."""
    page = repo.list_accounts(session, repo.AccountFilter(min_churn_risk=0.0, paying=True), as_of=as_of,
                              sort="-arr_at_risk", limit=limit, count=False)
    return [_account_row(s) for s in page.items]


@dataclass
class AccountQuery:
    q: str = ""
    segment: str = ""
    band: str = ""
    sort: str = "arr"
    order: str = "desc"
    page: int = 1


@dataclass
class AccountPage:
    rows: list[AccountRow]
    total: int
    page: int
    pages: int
    segments: list[str] = field(default_factory=list)
    bands: list[str] = field(default_factory=list)


def list_accounts(session: Session, as_of: dt.date, query: AccountQuery) -> AccountPage:
    flt = repo.AccountFilter(q=query.q or None, segment=query.segment or None, health_band=query.band or None)
    sort = ("-" if query.order == "desc" else "") + (query.sort if query.sort in ACCOUNT_SORT_KEYS else "arr")
    first = repo.list_accounts(session, flt, as_of=as_of, sort=sort, limit=PAGE_SIZE, offset=0)
    pages = max(1, -(-first.total // PAGE_SIZE))
    page = min(max(1, query.page), pages)
    result = first if page == 1 else repo.list_accounts(session, flt, as_of=as_of, sort=sort, limit=PAGE_SIZE,
                                                        offset=(page - 1) * PAGE_SIZE)
    segments = [s for s in session.scalars(
        select(AccountSnapshot.segment).where(AccountSnapshot.as_of == as_of).distinct()
        .order_by(AccountSnapshot.segment)
    ) if s]
    bands = sorted(b for b in repo.health_distribution(session, as_of=as_of) if b != "unscored")
    return AccountPage([_account_row(s) for s in result.items], result.total, page, pages, segments, bands)


def account_snapshot(session: Session, as_of: dt.date, account_id: str) -> AccountSnapshot | None:
    try:
        return repo.get_account(session, account_id, as_of=as_of)
    except repo.NotFound:
        return None


def score_history(session: Session, account_id: str) -> dict[str, list[ScorePoint]]:
    """Score name → the account's stored values, oldest first."""
    out: dict[str, list[ScorePoint]] = {}
    for r in repo.score_history(session, account_id):
        out.setdefault(r.score, []).append(r)
    return out


def score_family(history: dict[str, list[ScorePoint]], key: str) -> list[ScorePoint]:
    """The history of ``key`` or of its horizon variants (``churn_risk_90d``, ``clv_12m``): the first found."""
    if key in history:
        return history[key]
    for name in sorted(history):
        if name.startswith(key + "_"):
            return history[name]
    return []


def account_events(session: Session, as_of: dt.date, account_id: str) -> list[AccountEvent]:
    return repo.account_events(session, account_id, as_of=as_of)


def account_tasks(session: Session, account_id: str) -> list[Task]:
    return repo.list_tasks(session, account_id=account_id, limit=200).items


def account_notes(session: Session, account_id: str) -> list[Note]:
    return repo.list_notes(session, account_id)


def latest_points(session: Session, as_of: dt.date, metrics: Sequence[str]) -> dict[str, MetricPoint]:
    """The headline point of each metric (portfolio level)."""
    out: dict[str, MetricPoint] = {}
    for name, points in repo.latest_metric_values(session, metrics, as_of=as_of).items():
        chosen, _ = headline(points)
        if chosen is not None:
            out[name] = chosen
    return out


def _localized(value: Any, locale: str) -> str | None:
    if isinstance(value, dict):
        found = value.get(locale) or value.get("en")
        return str(found) if found is not None else None
    return None if value is None else str(value)


def _label(entry: dict[str, Any], locale: str) -> str:
    by_locale = entry.get("label_pt") if locale == "pt-BR" else entry.get("label_en")
    for candidate in (by_locale, entry.get("title"), entry.get("label"), entry.get("feature"), entry.get("name"),
                      entry.get("reason")):
        text = _localized(candidate, locale)
        if text:
            return text
    return "?"


def _effect(entry: dict[str, Any]) -> float | None:
    """The entry's push on the score: minus the points a scorecard measure lost (what pulled health down),
    else a model's SHAP contribution (or a points criterion's points)."""
    lost = entry.get("points_lost")
    if isinstance(lost, (int, float)) and not isinstance(lost, bool):
        return -float(lost)
    for key in ("contribution", "effect", "shap", "points"):
        value = entry.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def explanation_note(explanation: Any, locale: str) -> str | None:
    """A stored explanation's one-line note or formula, in the page's language when it has both."""
    if not isinstance(explanation, dict):
        return None
    if "explanation" in explanation and isinstance(explanation["explanation"], dict):
        return explanation_note(explanation["explanation"], locale)
    for key in ("note", "summary"):
        text = _localized(explanation.get(key), locale)
        if text:
            return text
    formula = explanation.get("formula")
    return str(formula) if isinstance(formula, str) else None


def reasons(explanation: Any, locale: str = "en") -> list[dict[str, Any]]:
    """A stored explanation as rows of (label, value, effect), for the shapes the scores write.

    * churn / expansion models: ``{"drivers": [{"feature", "label_en", "label_pt", "value", "contribution"}]}``;
    * health scorecards: ``{"measures": [{"name", "title": {en, pt-BR}, "value", "points_lost"|"contribution"}]}``
      (points-style cards list ``criteria``);
    * CLV: a flat dict of the inputs (MRR, margin, probabilities): shown as values without an effect;
    * the snapshot's wrapper ``{"as_of", "explanation"}`` around any of these.

    Rows with an effect come first, largest absolute effect first.
    """
    if isinstance(explanation, dict) and isinstance(explanation.get("explanation"), dict):
        return reasons(explanation["explanation"], locale)
    items: list[dict[str, Any]] = []
    if isinstance(explanation, dict):
        for key in ("drivers", "measures", "criteria", "reasons", "components", "contributions", "factors"):
            if isinstance(explanation.get(key), list):
                return reasons(explanation[key], locale)
        for name, value in explanation.items():
            if name in ("formula", "note", "summary", "style", "as_of", "model_version", "score"):
                continue
            if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                items.append({"label": str(name), "value": value, "effect": None})
    elif isinstance(explanation, list):
        for entry in explanation:
            if isinstance(entry, dict):
                items.append({"label": _label(entry, locale), "value": entry.get("value"), "effect": _effect(entry)})
            elif isinstance(entry, str):
                items.append({"label": entry, "value": None, "effect": None})
    return sorted(items, key=lambda r: (r["effect"] is None, -abs(r["effect"]) if r["effect"] is not None else 0.0))
