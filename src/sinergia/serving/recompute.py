"""Recompute: read the analytics engine as of a date and write what the app reads into the serving store.

What one run writes, for an as-of date ``D``:

* ``account_snapshots`` — one row per account that exists by ``D`` (``created_at`` blank or before the
  end of ``D``): attributes, MRR in force at the end of ``D`` (the metrics' own MRR step function,
  :func:`sinergia.metrics.revenue.account_period_mrr`, in the workspace currency), ARR = 12 × MRR, open
  tickets at the end of ``D``, and the latest ``health`` / ``churn_risk`` / ``clv`` score on or before ``D``
  from the engine's score history (:func:`sinergia.scores.history.latest_scores`; null when absent) with
  their explanations as ``drivers``;
* ``metric_points`` — every registered metric, monthly, for the 24 months ending with the month of ``D``,
  overall (``group_key=""``) and by segment (``group_key="segment=<value>"``), straight from
  :func:`sinergia.metrics.compute`;
* ``score_points`` — the engine's score history up to ``D`` (rows after ``D`` are left alone);
* ``account_events`` — the journey timeline (see :func:`journey_stage`), kept for the newest as-of only
  (each run repeats every older event, so older copies are dropped in the same transaction);
* text sentiment (when ``sinergia text score`` has filled the engine's ``text_sentiment`` table): each
  snapshot's ``attributes.text_sentiment`` (last 90 days: n, mean, negative share, the latest negative
  texts as redacted excerpts) and ``metric_points`` rows of metric ``text_sentiment`` (monthly, and per
  topic over the last 90 days; :func:`sinergia.text.workspace.sentiment_points`);
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
#: Dimensions metric series are split by (besides the overall series).
GROUP_BY: tuple[str, ...] = ("segment",)
#: Scores copied onto the snapshot (name in the engine's score history → snapshot columns).
SNAPSHOT_SCORES = ("health", "churn_risk", "clv")
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

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "counts": dict(self.counts), "seconds": dict(self.seconds)}


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


def _snapshot_rows(ws: Workspace, source: TableSource, as_of: dt.date) -> list[dict[str, Any]]:
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
    scores: dict[str, dict[str, dict[str, Any]]] = {}
    for name in SNAPSHOT_SCORES:
        frame = latest_scores(ws, name, as_of)
        scores[name] = {str(r["account_id"]): r for r in frame.to_dict(orient="records")}
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
            name: {"as_of": _json_safe(found.get("as_of")), "explanation": _json_safe(found.get("explanation"))}
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


def _metric_rows(ws: Workspace, source: TableSource, as_of: dt.date, names: Sequence[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    frames: list[tuple[str | None, pd.DataFrame]] = [
        (
            None,
            metrics_api.compute(
                source,
                names,
                as_of=as_of,
                period="month",
                count=MONTHS,
                settings=ws.config.metrics,
                currency=ws.config.currency,
            ),
        )
    ]
    for dimension in GROUP_BY:
        frames.append(
            (
                dimension,
                metrics_api.compute(
                    source,
                    names,
                    as_of=as_of,
                    period="month",
                    count=MONTHS,
                    by=[dimension],
                    settings=ws.config.metrics,
                    currency=ws.config.currency,
                ),
            )
        )
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
) -> RecomputeReport:
    """Compute everything for ``as_of`` from the engine, then replace that as-of in the store in one transaction.

    ``metrics`` limits the metric series (default: every registered metric).
    """
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise UsageError("as_of must be a date (YYYY-MM-DD)")
    say = progress or (lambda _msg: None)
    names = list(metrics) if metrics is not None else sorted(all_metrics())
    report = RecomputeReport(as_of)
    started = utcnow()
    source = TableSource.from_workspace(ws)
    try:
        steps: list[tuple[str, Callable[[], list[dict[str, Any]]]]] = [
            ("snapshots", lambda: _snapshot_rows(ws, source, as_of)),
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
                details={"counts": dict(report.counts)},
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
