"""Account-level inputs of a scorecard, computed as of a date (nothing stamped after it counts).

* :func:`metric_by_account` — any registered metric over a trailing window, one value per account. The
  metrics registry splits results by account *attributes* only, so this evaluates the metric's own
  observations grouped by ``account_id`` (its definition, edge cases and aggregation are the registry's).
* :func:`feature_values` — the built-in features of :mod:`sinergia.scores.catalog`, written in Ibis over
  the canonical tables, so they run on DuckDB and on the other Ibis backends alike.
* :func:`sentiment_values` — the manual CSM sentiment file, with its validity period.
* ``text_sentiment`` / ``negative_text_share`` read the derived ``text_sentiment`` table that
  ``sinergia text score`` writes (:mod:`sinergia.text.workspace`), by each text's own timestamp.

Each returns a ``pandas.Series`` indexed by ``account_id``; accounts without a value are absent (missing).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from sinergia.errors import InputError
from sinergia.metrics.aggregate import evaluate
from sinergia.metrics.context import MetricContext, TableSource
from sinergia.metrics.periods import Period, cutoff
from sinergia.metrics.registry import Metric, get_metric
from sinergia.metrics.settings import MetricSettings
from sinergia.scores.catalog import FEATURES
from sinergia.scores.config import SENTIMENT_LABELS, Measure


def window_context(
    source: TableSource, as_of: dt.date, days: int, settings: MetricSettings, currency: str
) -> MetricContext:
    """A metric context with one period: the ``days`` days ending with ``as_of`` (cut-off excluded)."""
    end = cutoff(as_of)
    return MetricContext(source, as_of, [Period(end - dt.timedelta(days=days), end, False)], settings, currency)


def _per_account(metric: Metric, ctx: MetricContext) -> pd.DataFrame:
    if metric.derived_from:
        parts = [
            _per_account(get_metric(n), ctx)[["account_id", "value"]].rename(columns={"value": n})
            for n in metric.derived_from
        ]
        merged = parts[0]
        for part in parts[1:]:
            merged = merged.merge(part, on="account_id", how="outer")
        assert metric.combine is not None
        combine = metric.combine
        values = [
            combine({n: (None if pd.isna(r[n]) else float(r[n])) for n in metric.derived_from}, ctx.settings)
            for r in merged.to_dict("records")
        ]
        return pd.DataFrame(
            {"account_id": merged["account_id"], "value": values, "numerator": None, "denominator": None}
        )
    # account_id is a column of every observation table: declaring it a dimension groups by it.
    by_account = dataclasses.replace(metric, dimensions=(*metric.dimensions, "account_id"))
    out = evaluate(by_account, ctx, ["account_id"])
    return out[out["account_id"].notna()][["account_id", "value", "numerator", "denominator"]]


def zero_when_absent(name: str) -> bool:
    """Counts and sums are 0 for an account without observations (as the registry gives empty periods 0)."""
    metric = get_metric(name)
    return metric.aggregation in ("count", "sum", "distinct") and not metric.derived_from and metric.transform is None


def metric_by_account(
    source: TableSource,
    name: str,
    as_of: dt.date,
    *,
    window_days: int,
    settings: MetricSettings | None = None,
    currency: str = "BRL",
) -> pd.DataFrame:
    """``name`` per account over the ``window_days`` days ending on ``as_of``.

    Columns: account_id, value, numerator, denominator (the metric's own, per account).
    """
    ctx = window_context(source, as_of, window_days, settings or MetricSettings(), currency)
    return _per_account(get_metric(name), ctx).reset_index(drop=True)


def _series(frame: pd.DataFrame, column: str = "value") -> pd.Series:
    frame = frame[frame["account_id"].notna() & frame[column].notna()]
    return pd.Series([float(v) for v in frame[column]], index=[str(a) for a in frame["account_id"]], dtype="float64")


def _ts(value: dt.datetime) -> Any:
    return ibis.literal(value, type="timestamp")


def _usage_events(ctx: MetricContext) -> Any:
    """Usage events before the cut-off with their account, resolved through the user when the event has none.

    The same convention as ``sinergia.metrics.lifecycle.events``, left as an expression (not materialised):
    each feature reads a narrow window of it, and a history computes it for many dates.
    """
    e = ctx.table("usage_events")
    e = e.filter(e.occurred_at < _ts(ctx.cutoff))
    contacts = ctx.table("contacts")
    contacts = contacts.select(_c_id=contacts.contact_id, _c_account=contacts.account_id)
    j = e.left_join(contacts, e.contact_id == contacts._c_id)
    ev = j.select(
        account_id=ibis.coalesce(j.account_id, j._c_account), contact_id=j.contact_id, occurred_at=j.occurred_at
    )
    return ev.filter(ev.account_id.notnull())


def _count_in(ev: Any, start: dt.datetime, end: dt.datetime) -> Any:
    return ibis.ifelse((ev.occurred_at >= _ts(start)) & (ev.occurred_at < _ts(end)), 1, 0).sum()


def feature_values(
    source: TableSource,
    name: str,
    as_of: dt.date,
    params: dict[str, Any] | None = None,
    *,
    settings: MetricSettings | None = None,
    currency: str = "BRL",
) -> pd.Series:
    """The built-in feature ``name`` per account as of ``as_of`` (see :mod:`sinergia.scores.catalog`)."""
    spec = FEATURES[name]
    p: dict[str, Any] = {**spec.params, **(params or {})}
    end = cutoff(as_of)
    days = int(p.get("days") or 30)
    start = end - dt.timedelta(days=days)
    settings = settings or MetricSettings()
    ctx = window_context(source, as_of, days, settings, currency)
    run = source.execute

    if name in ("usage_events", "usage_trend"):
        ev = _usage_events(ctx)
        ev = ev.filter(ev.occurred_at >= _ts(end - dt.timedelta(days=2 * days)))
        agg = ev.group_by("account_id").aggregate(
            recent=_count_in(ev, start, end), prior=_count_in(ev, end - dt.timedelta(days=2 * days), start)
        )
        frame = run(agg)
        if name == "usage_events":
            return _zero_filled(ctx, frame.assign(value=frame["recent"]), as_of)
        frame = frame[frame["prior"] > 0]
        return _series(frame.assign(value=frame["recent"] / frame["prior"] - 1.0))
    if name in ("active_users", "license_utilization"):
        ev = _usage_events(ctx)
        ev = ev.filter((ev.occurred_at >= _ts(start)) & ev.contact_id.notnull())
        users = ev.group_by("account_id").aggregate(users=ev.contact_id.nunique())
        if name == "active_users":
            return _zero_filled(ctx, run(users).rename(columns={"users": "value"}), as_of)
        acc = ctx.table("accounts")
        acc = acc.filter(acc.licenses > 0).select("account_id", "licenses")
        joined = acc.left_join(users, acc.account_id == users.account_id).select(
            account_id=acc.account_id, value=ibis.coalesce(users.users, 0).cast("float64") / acc.licenses
        )
        return _series(run(joined))
    if name == "days_since_last_activity":
        ev = _usage_events(ctx)
        last = ev.group_by("account_id").aggregate(last=ev.occurred_at.max())
        frame = run(last)
        values = [(as_of - pd.Timestamp(t).date()).days for t in frame["last"]]
        return _series(frame.assign(value=values))
    if name in ("open_tickets", "tickets_opened"):
        t = ctx.table("tickets")
        t = t.filter(t.account_id.notnull() & (t.created_at < _ts(end)))
        if name == "open_tickets":
            done = ibis.coalesce(t.solved_at, t.closed_at)
            t = t.filter(done.isnull() | (done >= _ts(end)))
        else:
            t = t.filter(t.created_at >= _ts(start))
            priorities = p.get("priorities")
            if priorities:
                t = t.filter(t.priority.isin([str(x) for x in priorities]))
        counts = t.group_by("account_id").aggregate(value=t.count())
        return _zero_filled(ctx, run(counts), as_of)
    if name == "sla_breaches":
        frame = metric_by_account(
            source, "sla_achievement_rate", as_of, window_days=days, settings=settings, currency=currency
        )
        frame = frame[frame["denominator"].notna()]
        return _series(frame.assign(value=frame["denominator"].astype(float) - frame["numerator"].astype(float)))
    if name == "last_nps":
        s = ctx.table("survey_responses")
        max_age = int(p.get("max_age_days") or 365)
        s = s.filter(
            (s.survey == "nps")
            & s.account_id.notnull()
            & s.score.notnull()
            & (s.responded_at < _ts(end))
            & (s.responded_at >= _ts(end - dt.timedelta(days=max_age)))
        )
        low = ibis.coalesce(s.scale_min, 0).cast("float64")
        high = ibis.coalesce(s.scale_max, 10).cast("float64")
        s = s.mutate(norm=(s.score.cast("float64") - low) / (high - low) * 10.0)
        w = ibis.window(group_by=s.account_id, order_by=[ibis.desc(s.responded_at), ibis.desc(s.response_id)])
        latest = s.mutate(rank=ibis.row_number().over(w)).filter(lambda x: x["rank"] == 0)
        return _series(run(latest.select("account_id", value=latest.norm)))
    if name in ("text_sentiment", "negative_text_share"):
        return _text_feature(source, name, start, end, int(p.get("min_texts") or 1))
    if name in ("days_to_renewal", "tenure_days"):
        acc = ctx.table("accounts")
        column = "renewal_at" if name == "days_to_renewal" else "created_at"
        frame = run(acc.filter(acc[column].notnull()).select("account_id", column))
        day = [pd.Timestamp(v).date() for v in frame[column]]
        values = [(d - as_of).days if name == "days_to_renewal" else (as_of - d).days for d in day]
        return _series(frame.assign(value=values))
    raise AssertionError(name)  # pragma: no cover - names are validated by the config


def _text_feature(source: TableSource, name: str, start: dt.datetime, end: dt.datetime, min_texts: int) -> pd.Series:
    """Mean sentiment / negative share of the account's scored texts stamped in ``[start, end)``.

    Reads the derived ``text_sentiment`` table (``sinergia text score``); every account is missing while the
    workspace has none.
    """
    from ibis.common.exceptions import TableNotFound

    try:
        t = source.backend.table("text_sentiment")  # a derived table, not a canonical entity of TableSource
    except TableNotFound:
        return pd.Series(dtype="float64")
    t = t.filter(t.account_id.notnull() & (t["at"] >= _ts(start)) & (t["at"] < _ts(end)))
    agg = t.group_by("account_id").aggregate(
        n=t.count(),
        mean=t.sentiment.mean(),
        negative=ibis.ifelse(t.polarity == "negative", 1, 0).sum(),
    )
    frame = source.execute(agg)
    frame = frame[frame["n"] >= max(1, min_texts)]
    if name == "text_sentiment":
        return _series(frame.assign(value=frame["mean"].astype(float)))
    return _series(frame.assign(value=frame["negative"].astype(float) / frame["n"].astype(float)))


def _zero_filled(ctx: MetricContext, counts: pd.DataFrame, as_of: dt.date) -> pd.Series:
    """Counts per account, 0 for every account that existed on ``as_of`` and had none."""
    acc = ctx.table("accounts")
    acc = acc.filter(acc.created_at.isnull() | (acc.created_at < _ts(cutoff(as_of))))
    ids = [str(a) for a in ctx.source.execute(acc.select("account_id"))["account_id"]]
    series = _series(counts)
    return series.reindex(sorted(set(ids) | set(series.index)), fill_value=0.0)


# -- many dates at once (histories) ---------------------------------------------------------------------------
#: Features :func:`feature_values_many` computes for all dates in one query; the others loop over the dates.
BATCHED = frozenset(
    {
        "usage_events",
        "usage_trend",
        "active_users",
        "license_utilization",
        "days_since_last_activity",
        "open_tickets",
        "tickets_opened",
        "last_nps",
        "days_to_renewal",
        "tenure_days",
    }
)


def _dates_table(dates: list[dt.date], *spans: tuple[str, int]) -> Any:
    """One row per date: ``as_of``, ``cut`` (its cut-off) and, per ``(name, days)``, ``name = cut − days``."""
    cut = [cutoff(d) for d in dates]
    frame = pd.DataFrame({"as_of": pd.to_datetime(dates), "cut": pd.to_datetime(cut)})
    schema = {"as_of": "timestamp", "cut": "timestamp"}
    for column, days in spans:
        frame[column] = pd.to_datetime([c - dt.timedelta(days=days) for c in cut])
        schema[column] = "timestamp"
    return ibis.memtable(frame, schema=schema)


def _per_date(frame: pd.DataFrame, dates: list[dt.date], fill: pd.DataFrame | None) -> dict[dt.date, pd.Series]:
    """Split an (as_of, account_id, value) frame by date; with ``fill`` (as_of, account_id), absent pairs are 0."""
    frame = frame.assign(as_of=[pd.Timestamp(v).date() for v in frame["as_of"]])
    if fill is not None:
        frame = fill.merge(frame, on=["as_of", "account_id"], how="outer")
        frame["value"] = frame["value"].fillna(0.0)
    out: dict[dt.date, pd.Series] = {}
    groups = dict(list(frame.groupby("as_of"))) if len(frame) else {}
    for day in dates:
        part = groups.get(day)
        out[day] = pd.Series(dtype="float64") if part is None else _series(part).sort_index()
    return out


def _existing_accounts(source: TableSource, dates: list[dt.date]) -> pd.DataFrame:
    """(as_of, account_id) for every account created by the end of each date (or without created_at)."""
    acc = source.execute(source.table("accounts").select("account_id", "created_at"))
    rows = []
    for day in dates:
        end = pd.Timestamp(cutoff(day))
        alive = acc[acc["created_at"].isna() | (pd.to_datetime(acc["created_at"]) < end)]
        rows.append(pd.DataFrame({"as_of": day, "account_id": alive["account_id"].astype(str)}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["as_of", "account_id"])


def feature_values_many(
    source: TableSource,
    name: str,
    dates: list[dt.date],
    params: dict[str, Any] | None = None,
    *,
    settings: MetricSettings | None = None,
    currency: str = "BRL",
) -> dict[dt.date, pd.Series]:
    """:func:`feature_values` for several dates, with one engine query per feature (same values, tested)."""
    dates = sorted(set(dates))
    if name not in BATCHED or not dates:
        return {d: feature_values(source, name, d, params, settings=settings, currency=currency) for d in dates}
    p: dict[str, Any] = {**FEATURES[name].params, **(params or {})}
    days = int(p.get("days") or 30)
    last = cutoff(dates[-1])
    run = source.execute
    ctx = window_context(source, dates[-1], days, settings or MetricSettings(), currency)

    if name in ("usage_events", "usage_trend", "active_users", "license_utilization"):
        d = _dates_table(dates, ("start", days), ("lo", 2 * days))
        ev = _usage_events(ctx)
        if name in ("active_users", "license_utilization"):
            ev = ev.filter(ev.contact_id.notnull())
        ev = ev.filter(ev.occurred_at >= _ts(cutoff(dates[0]) - dt.timedelta(days=2 * days)))
        low = d.start if name in ("active_users", "license_utilization") else d.lo
        j = ev.join(d, (ev.occurred_at >= low) & (ev.occurred_at < d.cut))
        if name in ("usage_events", "usage_trend"):
            agg = j.group_by(["as_of", "account_id"]).aggregate(
                recent=ibis.ifelse(j.occurred_at >= j.start, 1, 0).sum(),
                prior=ibis.ifelse(j.occurred_at < j.start, 1, 0).sum(),
            )
            frame = run(agg)
            if name == "usage_events":
                return _per_date(
                    frame.assign(value=frame["recent"].astype(float)), dates, _existing_accounts(source, dates)
                )
            frame = frame[frame["prior"] > 0]
            return _per_date(frame.assign(value=frame["recent"] / frame["prior"] - 1.0), dates, None)
        users = run(j.group_by(["as_of", "account_id"]).aggregate(value=j.contact_id.nunique()))
        users["value"] = users["value"].astype(float)
        if name == "active_users":
            return _per_date(users, dates, _existing_accounts(source, dates))
        acc = source.execute(source.table("accounts").select("account_id", "licenses"))
        acc = acc[acc["licenses"].notna() & (acc["licenses"] > 0)]
        acc["account_id"] = acc["account_id"].astype(str)
        users = users.assign(as_of=[pd.Timestamp(v).date() for v in users["as_of"]])
        grid = pd.DataFrame(
            {
                "as_of": [dd for dd in dates for _ in range(len(acc))],
                "account_id": list(acc["account_id"]) * len(dates),
                "licenses": list(acc["licenses"]) * len(dates),
            }
        )
        grid = grid.merge(users, on=["as_of", "account_id"], how="left")
        grid["value"] = grid["value"].fillna(0.0) / grid["licenses"].astype(float)
        return _per_date(grid[["as_of", "account_id", "value"]], dates, None)
    if name == "days_since_last_activity":
        ev = _usage_events(ctx)
        daily = run(ev.group_by([ev.account_id, ev.occurred_at.date().name("day")]).aggregate(n=ev.count()))
        daily["day"] = pd.to_datetime(daily["day"]).astype("datetime64[ns]")
        daily["account_id"] = daily["account_id"].astype(str)
        grid = pd.DataFrame(
            {
                "as_of": pd.to_datetime([dd for dd in dates for _ in daily["account_id"].unique()]).astype(
                    "datetime64[ns]"
                ),
                "account_id": list(daily["account_id"].unique()) * len(dates),
            }
        )
        merged = pd.merge_asof(
            grid.sort_values("as_of"),
            daily.sort_values("day")[["day", "account_id"]],
            left_on="as_of",
            right_on="day",
            by="account_id",
            direction="backward",
        )
        merged = merged[merged["day"].notna()]
        merged["value"] = (merged["as_of"] - merged["day"]).dt.days.astype(float)
        return _per_date(merged[["as_of", "account_id", "value"]], dates, None)
    if name in ("open_tickets", "tickets_opened"):
        d = _dates_table(dates, ("start", days))
        t = ctx.table("tickets")
        t = t.filter(t.account_id.notnull() & (t.created_at < _ts(last)))
        if name == "open_tickets":
            done = ibis.coalesce(t.solved_at, t.closed_at)
            t = t.mutate(_done=done)
            j = t.join(d, (t.created_at < d.cut) & (t._done.isnull() | (t._done >= d.cut)))
        else:
            priorities = p.get("priorities")
            if priorities:
                t = t.filter(t.priority.isin([str(x) for x in priorities]))
            j = t.join(d, (t.created_at >= d.start) & (t.created_at < d.cut))
        counts = run(j.group_by(["as_of", "account_id"]).aggregate(value=j.count()))
        counts["value"] = counts["value"].astype(float)
        return _per_date(counts, dates, _existing_accounts(source, dates))
    if name == "last_nps":
        max_age = int(p.get("max_age_days") or 365)
        d = _dates_table(dates, ("oldest", max_age))
        s = ctx.table("survey_responses")
        s = s.filter((s.survey == "nps") & s.account_id.notnull() & s.score.notnull() & (s.responded_at < _ts(last)))
        low = ibis.coalesce(s.scale_min, 0).cast("float64")
        high = ibis.coalesce(s.scale_max, 10).cast("float64")
        s = s.mutate(norm=(s.score.cast("float64") - low) / (high - low) * 10.0)
        j = s.join(d, (s.responded_at < d.cut) & (s.responded_at >= d.oldest))
        w = ibis.window(
            group_by=[j.as_of, j.account_id], order_by=[ibis.desc(j.responded_at), ibis.desc(j.response_id)]
        )
        latest = j.mutate(rank=ibis.row_number().over(w)).filter(lambda x: x["rank"] == 0)
        return _per_date(run(latest.select("as_of", "account_id", value=latest.norm)), dates, None)
    column = "renewal_at" if name == "days_to_renewal" else "created_at"
    acc = run(ctx.table("accounts").select("account_id", column))
    acc = acc[acc[column].notna()]
    out = {}
    for day in dates:
        when = [pd.Timestamp(v).date() for v in acc[column]]
        values = [(w - day).days if name == "days_to_renewal" else (day - w).days for w in when]
        out[day] = _series(acc.assign(value=values))
    return out


# -- manual CSM sentiment -------------------------------------------------------------------------------------
SENTIMENT_COLUMNS = ("account_id", "recorded_at", "sentiment")


def read_sentiment_file(path: Path) -> pd.DataFrame:
    """The sentiment CSV: account_id, recorded_at (YYYY-MM-DD), sentiment (good/average/poor or 0–100), and
    optionally valid_days (overrides the measure's), author, note. Errors name the file and line."""
    if not path.exists():
        return pd.DataFrame(columns=[*SENTIMENT_COLUMNS, "valid_days"])
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(
            f"{path}: the sentiment file is empty; it needs the header {','.join(SENTIMENT_COLUMNS)}"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the sentiment file ({error})") from None
    missing = [c for c in SENTIMENT_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; needs {', '.join(SENTIMENT_COLUMNS)}")
    rows = []
    for i, row in enumerate(frame.to_dict("records")):
        line = i + 2
        try:
            recorded = dt.date.fromisoformat(str(row["recorded_at"]).strip()[:10])
        except ValueError:
            raise InputError(
                f"{path}, line {line}: recorded_at {row['recorded_at']!r} is not a date (YYYY-MM-DD)"
            ) from None
        raw = str(row["sentiment"]).strip().lower()
        value: float | str
        if raw in SENTIMENT_LABELS:
            value = raw
        else:
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if not 0 <= value <= 100:  # NaN fails too
                raise InputError(
                    f"{path}, line {line}: sentiment {row['sentiment']!r} is neither good/average/poor nor 0–100"
                )
        valid = str(row.get("valid_days", "") or "").strip()
        if valid and (not valid.isdigit() or int(valid) < 1):
            raise InputError(f"{path}, line {line}: valid_days {valid!r} is not a positive whole number")
        rows.append(
            {
                "account_id": str(row["account_id"]).strip(),
                "recorded_at": recorded,
                "sentiment": value,
                "valid_days": int(valid) if valid else None,
                "author": row.get("author") or None,
                "note": row.get("note") or None,
                "line": line,
            }
        )
    return pd.DataFrame(rows, columns=[*SENTIMENT_COLUMNS, "valid_days", "author", "note", "line"])


def sentiment_values(
    workspace_path: Path | None, measure: Measure, as_of: dt.date
) -> tuple[pd.Series, dict[str, dict[str, Any]]]:
    """Latest entry per account recorded on or before ``as_of`` and still valid on it.

    Returns (values, details): details[account] says when it was recorded, until when it is valid, and
    for expired entries why the measure is missing.
    """
    assert measure.sentiment is not None
    path = Path(measure.sentiment.file)
    if not path.is_absolute() and workspace_path is not None:
        path = workspace_path / path
    frame = read_sentiment_file(path)
    frame = frame[frame["recorded_at"] <= as_of]
    values: dict[str, Any] = {}
    details: dict[str, dict[str, Any]] = {}
    if frame.empty:
        return pd.Series(values, dtype=object), details
    frame = frame.sort_values(["account_id", "recorded_at", "line"]).groupby("account_id").tail(1)
    for row in frame.to_dict("records"):
        days = (
            row["valid_days"]
            if row["valid_days"] is not None and not pd.isna(row["valid_days"])
            else measure.sentiment.valid_days
        )
        until = row["recorded_at"] + dt.timedelta(days=int(days))
        info: dict[str, Any] = {
            "recorded_at": row["recorded_at"].isoformat(),
            "valid_until": (until - dt.timedelta(days=1)).isoformat(),
        }
        if row.get("author"):
            info["author"] = row["author"]
        if row.get("note"):
            info["note"] = row["note"]
        if as_of >= until:
            info["expired"] = True
            details[row["account_id"]] = info
            continue
        values[row["account_id"]] = row["sentiment"]
        details[row["account_id"]] = info
    return pd.Series(values, dtype=object), details
