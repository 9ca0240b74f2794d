"""Recompute: read the analytics engine as of a date and write what the app reads into the serving store.

What one run writes, for an as-of date ``D``:

* ``account_snapshots`` — one row per account that exists by ``D`` (``created_at`` blank or before the
  end of ``D``): attributes, MRR in force at the end of ``D`` (the metrics' own MRR step function,
  :func:`sinergia.metrics.revenue.account_period_mrr`, in the workspace currency), ARR = 12 × MRR, open
  tickets at the end of ``D``, and the latest ``health``, churn-risk and CLV score on or before ``D`` from the
  engine's score history (:func:`sinergia.scores.history.latest_scores`; ``churn_risk_90d`` and ``clv_12m``
  by default, see :func:`pick_scores`; null when absent) with their explanations and names as ``drivers``;
* ``metric_points`` — every registered metric, monthly, for the 24 months ending with the month of ``D``,
  overall (``group_key=""``), by segment (``group_key="segment=<value>"``), and the CX and support metrics
  the pages break down by their dimensions (:data:`GROUP_BY`), straight from :func:`sinergia.metrics.compute`;
* ``score_points`` — the engine's score history up to ``D`` (rows after ``D`` are left alone);
* ``account_events`` — the journey timeline (see :func:`journey_stage`; tickets carry their SLA status,
  :func:`_ticket_sla`), kept for the newest as-of only
  (each run repeats every older event, so older copies are dropped in the same transaction);
* text sentiment (when ``sinergia text score`` has filled the engine's ``text_sentiment`` table): each
  snapshot's ``attributes.text_sentiment`` (last 90 days: n, mean, negative share, the latest negative
  texts as redacted excerpts) and ``metric_points`` rows of metrics ``text_sentiment`` (monthly) and
  ``text_sentiment_window`` (last 90 days, overall and per topic; :func:`sinergia.text.workspace.sentiment_points`);
* ``recompute_runs`` — one row for ``D`` with the row counts.

It is **idempotent** (a re-run deletes what the previous run wrote for ``D`` and writes it again) and
**atomic**: everything is computed first, from read-only engine connections, then written in one store
transaction. Readers are not blocked: SQLite runs in WAL mode (readers see the last committed state while
the transaction is open) and PostgreSQL readers see their snapshot.
"""

from __future__ import annotations

import cmath
import datetime as dt
import decimal
import functools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import pandas as pd
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from sinergia.errors import UsageError
from sinergia.metrics import api as metrics_api
from sinergia.metrics.context import MetricContext, TableSource
from sinergia.metrics.periods import cutoff, periods_ending
from sinergia.metrics.registry import all_metrics
from sinergia.metrics.revenue import account_period_mrr, mrr_movements
from sinergia.store.db import transaction
from sinergia.store.models import (
    AccountEvent,
    AccountSnapshot,
    AuditEntry,
    MetricPoint,
    RecomputeRun,
    ScorePoint,
    utcnow,
)
from sinergia.workspace import Workspace

#: Months of metric history written per run.
MONTHS = 24
#: The CX metrics split by the survey's dimensions (what the CX page shows).
CX_BREAKDOWN_METRICS: tuple[str, ...] = ("nps", "csat", "ces_mean")
#: The support metrics split by the ticket's dimensions (what the Support page shows).
SUPPORT_BREAKDOWN_METRICS: tuple[str, ...] = (
    "first_reply_time",
    "full_resolution_time",
    "first_contact_resolution_rate",
    "reopen_rate",
    "sla_achievement_rate",
    "backlog",
)
#: One-dimension splits written besides the overall series: dimension → the metrics split by it (``None``:
#: every metric written). Only these metric × dimension pairs are computed; a metric that cannot be split by
#: the dimension (not among its registry ``dimensions`` nor an account attribute it accepts) is skipped.
GROUP_BY: dict[str, tuple[str, ...] | None] = {
    "segment": None,
    "touchpoint": CX_BREAKDOWN_METRICS,
    "journey_stage": CX_BREAKDOWN_METRICS,
    "persona": CX_BREAKDOWN_METRICS,
    "channel": CX_BREAKDOWN_METRICS + SUPPORT_BREAKDOWN_METRICS,
    "priority": SUPPORT_BREAKDOWN_METRICS,
    "team": SUPPORT_BREAKDOWN_METRICS,
}
#: Scores copied onto the snapshot: ``health``, and the churn-risk and CLV score of the preferred horizon
#: (``churn_risk_<CHURN_HORIZON>``, ``clv_<CLV_HORIZON>``, the names the CLIs write); see :func:`pick_scores`.
SNAPSHOT_SCORES = ("health", "churn_risk", "clv")
#: Preferred horizons of the churn-risk and CLV scores (``recompute(..., churn_horizon=, clv_horizon=)``).
CHURN_HORIZON = "90d"
CLV_HORIZON = "12m"
#: Length of the "during" stage when no first-value milestone ends it earlier.
ONBOARDING_DAYS = 90
#: Usage-count milestones shown on the timeline (the N-th usage event of the account).
USAGE_COUNT_MILESTONES = (100, 1000, 10000)

Progress = Callable[[str], None]


@dataclass
class RecomputeReport:
    as_of: dt.date
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    #: Snapshot score → the stored score name that filled it (``None``: none stored); see :func:`pick_scores`.
    scores: dict[str, str | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "counts": dict(self.counts), "seconds": dict(self.seconds),
                "scores": dict(self.scores)}


# -- helpers -----------------------------------------------------------------------------------------------
def _clean(value: Any) -> Any:
    """A JSON/SQL-safe scalar: NaN/NaT → None, numpy → Python, timestamps → datetime."""
    if value is None:
        return None
    if isinstance(value, complex):
        # a real number carried as complex (imaginary part 0) is that number; anything else is not a value
        return value.real if value.imag == 0 and not cmath.isnan(value) else None
    if isinstance(value, decimal.Decimal):
        return None if value.is_nan() else float(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.to_pydatetime().replace(tzinfo=None)
    if hasattr(value, "item") and not isinstance(value, (str, bytes, dict, list)):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if value is pd.NaT:
        return None
    return value


def _float(value: Any) -> float | None:
    clean = _clean(value)
    return None if clean is None else float(clean)


def _date(value: Any) -> dt.date:
    clean = _clean(value)
    if isinstance(clean, dt.datetime):
        return clean.date()
    if isinstance(clean, dt.date):
        return clean
    raise UsageError(f"not a date: {value!r}")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    clean = _clean(value)
    if isinstance(clean, (dt.datetime, dt.date)):
        return clean.isoformat()
    return clean


def journey_stage(at: dt.datetime, first_paid: dt.datetime | None, onboarding_end: dt.datetime | None) -> str:
    """``before`` the first paid subscription or order; ``during`` onboarding — from the first purchase
    until the first-value milestone or :data:`ONBOARDING_DAYS` days, whichever comes first; ``after``: the rest.

    An account that never paid is entirely ``before``.
    """
    if first_paid is None or at < first_paid:
        return "before"
    if onboarding_end is None or at < onboarding_end:
        return "during"
    return "after"


# -- the parts ---------------------------------------------------------------------------------------------
def _context(ws: Workspace, source: TableSource, as_of: dt.date) -> MetricContext:
    return MetricContext(source, as_of, periods_ending(as_of, "day", 1), ws.config.metrics, ws.config.currency, "day")


def _stored_score_names(ws: Workspace, as_of: dt.date) -> list[str]:
    """The score names with at least one row on or before ``as_of`` in the engine's score history."""
    from sinergia.scores.history import TABLE

    con = ws.duckdb_reader()
    try:
        exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [TABLE]).fetchone()
        if not exists or not exists[0]:
            return []
        found = con.execute(f"SELECT DISTINCT score FROM {TABLE} WHERE as_of <= ? ORDER BY score", [as_of]).fetchall()
        return [str(r[0]) for r in found]
    finally:
        con.close()


def _horizon_key(name: str, family: str) -> tuple[float, str]:
    """Sort key of a fallback horizon variant: shortest horizon in days first (``churn_risk_30d`` < ``_90d``)."""
    suffix = name[len(family) + 1:]
    unit = {"d": 1.0, "w": 7.0, "m": 30.4375, "y": 365.25}.get(suffix[-1:], math.inf)
    try:
        return float(suffix[:-1]) * unit, name
    except ValueError:
        return math.inf, name


def pick_scores(available: Iterable[str], *, churn_horizon: str = CHURN_HORIZON,
                clv_horizon: str = CLV_HORIZON) -> dict[str, str | None]:
    """Which stored score fills each snapshot score (``health``, ``churn_risk``, ``clv``), from the names present.

    ``health`` is ``health``. Churn risk and CLV: ``<family>_<preferred horizon>`` (``churn_risk_90d``,
    ``clv_12m``) when stored, else a score named exactly ``<family>``, else the stored ``<family>_*`` variant
    of the shortest horizon (one name for every account, so ARR at risk compares like with like); ``None``
    when there is none.
    """
    names = set(available)
    chosen: dict[str, str | None] = {"health": "health" if "health" in names else None}
    for family, horizon in (("churn_risk", churn_horizon), ("clv", clv_horizon)):
        preferred = f"{family}_{horizon}"
        if preferred in names:
            chosen[family] = preferred
        elif family in names:
            chosen[family] = family
        else:
            variants = sorted((n for n in names if n.startswith(family + "_")),
                              key=functools.partial(_horizon_key, family=family))
            chosen[family] = variants[0] if variants else None
    return chosen


def _snapshot_rows(ws: Workspace, source: TableSource, as_of: dt.date,
                   picked: dict[str, str | None] | None = None) -> list[dict[str, Any]]:
    from sinergia.scores.history import latest_scores

    cut = ibis.literal(cutoff(as_of))
    acc = source.table("accounts")
    acc = acc.filter(acc.created_at.isnull() | (acc.created_at < cut))
    accounts = source.execute(acc.drop("_source", "_import_id", "_loaded_at"))
    ctx = _context(ws, source, as_of)
    mrr = source.execute(account_period_mrr(ctx).select("account_id", "end_mrr"))
    mrr_by_account = {str(a): float(m) for a, m in zip(mrr["account_id"], mrr["end_mrr"], strict=True)}
    tickets = source.table("tickets")
    still_open = (
        (tickets.created_at < cut)
        & (tickets.solved_at.isnull() | (tickets.solved_at >= cut))
        & (tickets.closed_at.isnull() | (tickets.closed_at >= cut))
        & tickets.account_id.notnull()
    )
    open_frame = source.execute(tickets.filter(still_open).group_by("account_id").aggregate(n=lambda t: t.count()))
    open_by_account = {str(a): int(n) for a, n in zip(open_frame["account_id"], open_frame["n"], strict=True)}
    text_sentiment = _text_sentiment_by_account(ws, as_of)
    picked = picked if picked is not None else pick_scores(_stored_score_names(ws, as_of))
    scores: dict[str, dict[str, dict[str, Any]]] = {}
    for key in SNAPSHOT_SCORES:
        stored = picked.get(key)
        frame = latest_scores(ws, stored, as_of) if stored else pd.DataFrame()
        scores[key] = {str(r["account_id"]): r for r in frame.to_dict(orient="records")}
    base_fields = {
        "account_id",
        "name",
        "segment",
        "plan",
        "owner",
        "country",
        "lifecycle_stage",
        "currency",
        "created_at",
        "renewal_at",
        "attributes",
    }
    rows: list[dict[str, Any]] = []
    for record in accounts.to_dict(orient="records"):
        account_id = str(record["account_id"])
        month = round(mrr_by_account.get(account_id, 0.0), 2)
        health = scores["health"].get(account_id, {})
        risk = scores["churn_risk"].get(account_id, {})
        clv = scores["clv"].get(account_id, {})
        extra = {k: _json_safe(v) for k, v in record.items() if k not in base_fields}
        source_attributes = _json_safe(record.get("attributes"))
        if isinstance(source_attributes, str):
            import json

            try:
                source_attributes = json.loads(source_attributes)
            except ValueError:
                source_attributes = {"raw": source_attributes}
        drivers = {
            name: {"as_of": _json_safe(found.get("as_of")), "explanation": _json_safe(found.get("explanation")),
                   "score": picked[name]}
            for name, found in (("health", health), ("churn_risk", risk), ("clv", clv))
            if found
        }
        rows.append(
            {
                "as_of": as_of,
                "account_id": account_id,
                "name": _clean(record.get("name")),
                "segment": _clean(record.get("segment")),
                "plan": _clean(record.get("plan")),
                "owner": _clean(record.get("owner")),
                "country": _clean(record.get("country")),
                "lifecycle_stage": _clean(record.get("lifecycle_stage")),
                "currency": ws.config.currency,
                "customer_since": _clean(record.get("created_at")),
                "renewal_at": _clean(record.get("renewal_at")),
                "mrr": month,
                "arr": round(12 * month, 2),
                "health_score": _float(health.get("value")),
                "health_band": _clean(health.get("band")),
                "health_trend": _clean(health.get("trend")),
                "churn_risk": _float(risk.get("value")),
                "clv": _float(clv.get("value")),
                "arr_at_risk": round(12 * month * (_float(risk.get("value")) or 0.0), 2),
                "open_tickets": open_by_account.get(account_id, 0),
                "drivers": drivers,
                "attributes": {**extra, "source": source_attributes or {},
                               **({"text_sentiment": text_sentiment[account_id]}
                                  if account_id in text_sentiment else {})},
            }
        )
    return rows


def _text_sentiment_by_account(ws: Workspace, as_of: dt.date) -> dict[str, dict[str, Any]]:
    """Per-account text sentiment of the last 90 days (``sinergia.text.workspace``), for ``attributes``."""
    from sinergia.text.workspace import account_sentiment_details

    con = ws.duckdb_reader()
    try:
        return account_sentiment_details(con, as_of)
    finally:
        con.close()


def _text_rows(ws: Workspace, as_of: dt.date) -> list[dict[str, Any]]:
    """Text sentiment monthly and per topic as ``metric_points`` rows (metric ``text_sentiment``)."""
    from sinergia.text.workspace import sentiment_points

    con = ws.duckdb_reader()
    try:
        return [{"as_of": as_of, **row} for row in sentiment_points(con, as_of, months=MONTHS)]
    finally:
        con.close()


def _splittable(names: Sequence[str], dimension: str) -> list[str]:
    """The metrics of ``names`` that can be split by ``dimension`` (the registry's rule, :func:`valid_by`)."""
    from sinergia.metrics.aggregate import valid_by
    from sinergia.metrics.registry import get_metric

    return [n for n in names if dimension in valid_by(get_metric(n))]


def _metric_rows(ws: Workspace, source: TableSource, as_of: dt.date, names: Sequence[str]) -> list[dict[str, Any]]:
    from sinergia.metrics.aggregate import evaluate
    from sinergia.metrics.registry import get_metric

    rows: list[dict[str, Any]] = []
    # One metric context for every split: what :func:`sinergia.metrics.compute` does per call (``evaluate`` of
    # each metric), with the intermediate tables several metrics read (``ctx.shared``: ticket facts, account
    # MRR) computed once for the overall series and all the splits instead of once per split. Same rows.
    ctx = MetricContext(source, as_of, periods_ending(as_of, "month", MONTHS), ws.config.metrics,
                        ws.config.currency, "month")
    frames: list[tuple[str | None, pd.DataFrame]] = [
        (None, pd.concat([evaluate(get_metric(n), ctx, []).astype(object) for n in names], ignore_index=True))
    ] if names else []
    for dimension, wanted in GROUP_BY.items():
        chosen = _splittable(names if wanted is None else [n for n in wanted if n in names], dimension)
        if chosen:
            frame = pd.concat([evaluate(get_metric(n), ctx, [dimension]).astype(object) for n in chosen],
                              ignore_index=True)
            frames.append((dimension, frame))
    for split, frame in frames:
        for record in frame.to_dict(orient="records"):
            group = "" if split is None else f"{split}={_clean(record.get(split)) or ''}"
            n = _clean(record.get("n"))
            rows.append(
                {
                    "as_of": as_of,
                    "metric": str(record["metric"]),
                    "period": "month",
                    "period_start": _date(record["period_start"]),
                    "period_end": _date(record["period_end"]),
                    "partial": bool(_clean(record.get("partial"))),
                    "group_key": group,
                    "value": _float(record.get("value")),
                    "numerator": _float(record.get("numerator")),
                    "denominator": _float(record.get("denominator")),
                    "n": None if n is None else int(n),
                    "ci_low": _float(record.get("ci_low")),
                    "ci_high": _float(record.get("ci_high")),
                    "small_sample": bool(_clean(record.get("small_sample"))),
                }
            )
    return rows


def _score_rows(ws: Workspace, as_of: dt.date) -> list[dict[str, Any]]:
    from sinergia.scores.history import read_scores

    frame = read_scores(ws, end=as_of)
    return [
        {
            "account_id": str(r["account_id"]),
            "score": str(r["score"]),
            "as_of": _date(r["as_of"]),
            "value": _float(r.get("value")),
            "band": _clean(r.get("band")),
            "trend": _clean(r.get("trend")),
            "explanation": _json_safe(r.get("explanation")) or {},
            "model_version": _clean(r.get("model_version")),
        }
        for r in frame.to_dict(orient="records")
    ]


def _ticket_sla(ws: Workspace, source: TableSource, as_of: dt.date) -> dict[str, dict[str, Any]]:
    """Per ticket, its SLA targets' status at the end of ``as_of`` (the metrics' SLA logic, not a second formula).

    The targets that apply are :func:`sinergia.metrics.support.sla_targets`; a target is ``achieved`` or
    ``breached`` when ``sla_achievement_rate`` has an observation for it (its rows behind, over every month
    since the first ticket), else ``pending``. The ticket's ``status`` is ``breached`` when any target is,
    else ``pending`` when any is, else ``achieved``. No policies → no entry.
    """
    from sinergia.metrics.support import sla_targets

    settings = ws.config.metrics
    if not settings.sla_policies:
        return {}
    ctx = _context(ws, source, as_of)
    applied = _records(source.execute(sla_targets(ctx)))
    if not applied:
        return {}
    t = source.table("tickets")
    first = source.execute(t.filter(t.created_at < ibis.literal(cutoff(as_of))).aggregate(lo=t.created_at.min()))
    decided = metrics_api.rows(
        source, "sla_achievement_rate", as_of=as_of, period="month", start=_date(first["lo"].iloc[0]),
        settings=settings, currency=ws.config.currency,
    )
    found = {(str(r["ticket_id"]), str(r["sla_metric"])): r for r in _records(decided)}
    targets: dict[str, list[dict[str, Any]]] = {}
    for r in applied:
        ticket, metric = str(r["ticket_id"]), str(r["sla_metric"])
        hit = found.get((ticket, metric))
        measured = _float(hit.get("measured_hours")) if hit else None
        targets.setdefault(ticket, []).append({
            "policy": r["sla_policy"],
            "metric": metric,
            "target_hours": _float(r["target_hours"]),
            "status": str(hit["sla_status"]) if hit else "pending",
            "measured_hours": None if measured is None else round(measured, 2),
        })
    out: dict[str, dict[str, Any]] = {}
    for ticket, rows in targets.items():
        states = {row["status"] for row in rows}
        status = "breached" if "breached" in states else "pending" if "pending" in states else "achieved"
        out[ticket] = {"status": status, "targets": sorted(rows, key=lambda row: str(row["metric"]))}
    return out


def _event_rows(ws: Workspace, source: TableSource, as_of: dt.date) -> list[dict[str, Any]]:
    """The journey timeline: orders, MRR movements, tickets, survey answers and usage milestones."""
    from sinergia.metrics.lifecycle import milestone_reached

    cut = ibis.literal(cutoff(as_of))
    ctx = _context(ws, source, as_of)
    raw: list[tuple[str, dt.datetime, str, str, dict[str, Any]]] = []  # account, at, kind, title, details

    movements = source.execute(mrr_movements(ctx))
    for r in _records(movements):
        raw.append(
            (
                str(r["account_id"]),
                r["changed_at"],
                f"subscription_{r['kind']}",
                f"MRR {r['kind']}: {r['mrr_before']:.2f} → {r['mrr_after']:.2f}",
                {"kind": r["kind"], "mrr_before": r["mrr_before"], "mrr_after": r["mrr_after"]},
            )
        )
    orders = source.table("orders")
    orders = orders.filter((orders.ordered_at < cut) & orders.account_id.notnull())
    for r in _records(
        source.execute(orders.select("account_id", "order_id", "ordered_at", "kind", "status", "amount", "currency"))
    ):
        raw.append(
            (
                str(r["account_id"]),
                r["ordered_at"],
                "order",
                f"{r['kind'] or 'order'} {r['order_id']}",
                {k: r[k] for k in ("order_id", "kind", "status", "amount", "currency")},
            )
        )
    tickets = source.table("tickets")
    tickets = tickets.filter((tickets.created_at < cut) & tickets.account_id.notnull())
    sla = _ticket_sla(ws, source, as_of)
    for r in _records(
        source.execute(
            tickets.select(
                "account_id", "ticket_id", "created_at", "subject", "channel", "priority", "status", "solved_at"
            )
        )
    ):
        solved = r["solved_at"] if r["solved_at"] is not None and r["solved_at"] < cutoff(as_of) else None
        raw.append(
            (
                str(r["account_id"]),
                r["created_at"],
                "ticket",
                r["subject"] or f"ticket {r['ticket_id']}",
                {
                    "ticket_id": r["ticket_id"],
                    "channel": r["channel"],
                    "priority": r["priority"],
                    "solved_at": solved.isoformat() if solved else None,
                    **({"sla": sla[str(r["ticket_id"])]} if str(r["ticket_id"]) in sla else {}),
                },
            )
        )
    surveys = source.table("survey_responses")
    surveys = surveys.filter((surveys.responded_at < cut) & surveys.account_id.notnull())
    for r in _records(
        source.execute(
            surveys.select(
                "account_id",
                "response_id",
                "responded_at",
                "survey",
                "score",
                "scale_max",
                "comment",
                "touchpoint",
                "journey_stage",
            )
        )
    ):
        score = "unrated" if r["score"] is None else f"{r['score']:g}"
        raw.append(
            (
                str(r["account_id"]),
                r["responded_at"],
                "survey",
                f"{str(r['survey']).upper()} {score}",
                {
                    k: r[k]
                    for k in ("response_id", "survey", "score", "scale_max", "comment", "touchpoint", "journey_stage")
                },
            )
        )
    # usage milestones: first use, the N-th event, and the workspace's configured milestones
    ev = source.table("usage_events")
    ev = ev.filter((ev.occurred_at < cut) & ev.account_id.notnull())
    window = ibis.window(group_by=ev.account_id, order_by=[ev.occurred_at, ev.event_id])
    numbered = ev.mutate(_n=ibis.row_number().over(window) + 1)
    marks = numbered.filter(numbered._n.isin([1, *USAGE_COUNT_MILESTONES]))
    for r in _records(source.execute(marks.select("account_id", "occurred_at", "event", "_n"))):
        n = int(r["_n"])
        title = "first product use" if n == 1 else f"{n:,}th product event"
        raw.append(
            (str(r["account_id"]), r["occurred_at"], "usage_milestone", title, {"count": n, "event": r["event"]})
        )
    first_value: dict[str, dt.datetime] = {}
    settings = ws.config.metrics
    for name, milestone in settings.milestones.items():
        reached = source.execute(milestone_reached(ctx, name, milestone))
        for r in _records(reached):
            raw.append(
                (str(r["account_id"]), r["reached_at"], "milestone", f"milestone reached: {name}", {"milestone": name})
            )
            if name == settings.time_to_first_value:
                first_value[str(r["account_id"])] = r["reached_at"]

    first_paid: dict[str, dt.datetime] = {}
    for account, at, kind, _title, details in raw:
        paid = (kind == "subscription_new") or (kind == "order" and (details.get("amount") or 0) > 0)
        if paid and (account not in first_paid or at < first_paid[account]):
            first_paid[account] = at
    rows = []
    for account, at, kind, title, details in raw:
        start = first_paid.get(account)
        end = None
        if start is not None:
            end = start + dt.timedelta(days=ONBOARDING_DAYS)
            value_at = first_value.get(account)
            if value_at is not None and start <= value_at < end:
                end = value_at
        rows.append(
            {
                "as_of": as_of,
                "account_id": account,
                "at": at,
                "kind": kind,
                "stage": journey_stage(at, start, end),
                "title": str(title)[:500],
                "details": _json_safe(details),
            }
        )
    return rows


# -- the run -----------------------------------------------------------------------------------------------
def _insert(session: Session, model: Any, rows: Iterable[dict[str, Any]], batch: int = 5000) -> None:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            session.execute(insert(model), chunk)
            chunk = []
    if chunk:
        session.execute(insert(model), chunk)


def recompute(
    ws: Workspace,
    as_of: dt.date,
    *,
    store_url: str | None = None,
    metrics: Sequence[str] | None = None,
    actor: str = "system",
    progress: Progress | None = None,
    churn_horizon: str = CHURN_HORIZON,
    clv_horizon: str = CLV_HORIZON,
) -> RecomputeReport:
    """Compute everything for ``as_of`` from the engine, then replace that as-of in the store in one transaction.

    ``metrics`` limits the metric series (default: every registered metric). ``churn_horizon`` /
    ``clv_horizon`` pick the snapshot's churn-risk and CLV scores (``churn_risk_90d``, ``clv_12m`` by
    default; :func:`pick_scores` says what happens when that one is not stored); ``report.scores`` names
    the scores used.
    """
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise UsageError("as_of must be a date (YYYY-MM-DD)")
    say = progress or (lambda _msg: None)
    names = list(metrics) if metrics is not None else sorted(all_metrics())
    report = RecomputeReport(as_of)
    report.scores = pick_scores(_stored_score_names(ws, as_of), churn_horizon=churn_horizon,
                                clv_horizon=clv_horizon)
    started = utcnow()
    source = TableSource.from_workspace(ws)
    try:
        steps: list[tuple[str, Callable[[], list[dict[str, Any]]]]] = [
            ("snapshots", lambda: _snapshot_rows(ws, source, as_of, report.scores)),
            ("metric_points", lambda: _metric_rows(ws, source, as_of, names)),
            ("score_points", lambda: _score_rows(ws, as_of)),
            ("account_events", lambda: _event_rows(ws, source, as_of)),
            ("text_points", lambda: _text_rows(ws, as_of)),
        ]
        computed: dict[str, list[dict[str, Any]]] = {}
        for label, build in steps:
            say(label)
            t0 = time.perf_counter()
            computed[label] = build()
            report.seconds[label] = round(time.perf_counter() - t0, 3)
            report.counts[label] = len(computed[label])
    finally:
        disconnect = getattr(source.backend, "disconnect", None)
        if callable(disconnect):
            disconnect()
    say("writing")
    t0 = time.perf_counter()
    with transaction(store_url or ws.store_url) as session:
        if session.get_bind().dialect.name == "postgresql":  # two recomputes at once: the second waits
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext('sinergia.recompute'))"))
        session.execute(delete(AccountSnapshot).where(AccountSnapshot.as_of == as_of))
        session.execute(delete(MetricPoint).where(MetricPoint.as_of == as_of))
        session.execute(delete(AccountEvent).where(AccountEvent.as_of == as_of))
        session.execute(delete(ScorePoint).where(ScorePoint.as_of <= as_of))
        session.execute(delete(RecomputeRun).where(RecomputeRun.as_of == as_of))
        _insert(session, AccountSnapshot, computed["snapshots"])
        _insert(session, MetricPoint, computed["metric_points"])
        _insert(session, MetricPoint, computed["text_points"])
        _insert(session, ScorePoint, computed["score_points"])
        _insert(session, AccountEvent, computed["account_events"])
        session.add(RecomputeRun(as_of=as_of, started_at=started, finished_at=utcnow(), counts=dict(report.counts)))
        session.flush()
        # the timeline is kept for the newest as-of only (it repeats every older event each run)
        newest = session.scalar(select(func.max(RecomputeRun.as_of)))
        session.execute(delete(AccountEvent).where(AccountEvent.as_of < newest))
        session.add(
            AuditEntry(
                at=utcnow(),
                actor=actor,
                action="recompute",
                target=f"as_of:{as_of.isoformat()}",
                details={"counts": dict(report.counts), "scores": dict(report.scores)},
            )
        )
    report.seconds["write"] = round(time.perf_counter() - t0, 3)
    _refresh_statistics(store_url or ws.store_url)
    return report


def _refresh_statistics(url: str) -> None:
    """Refresh the query planner's statistics on the tables just rewritten (SQLite's planner picks the
    sort index of the account list only with them). Outside the write transaction; readers are unaffected."""
    from sinergia.store.db import store_engine

    with store_engine(url).begin() as con:
        if con.dialect.name == "sqlite":
            con.execute(text("ANALYZE account_snapshots"))
            con.execute(text("ANALYZE metric_points"))
        else:
            con.execute(text("ANALYZE account_snapshots, metric_points"))
