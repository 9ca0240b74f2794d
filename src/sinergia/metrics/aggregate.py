"""Turn a metric's observations into values per period and group, with intervals and a small-sample flag.

The heavy part (grouping millions of observations) runs on the engine through Ibis; what comes back is
a handful of sufficient statistics per (period, group), from which values and intervals are computed
here. A value whose denominator is empty is null, never 0.
"""

from __future__ import annotations

import math
from typing import Any

import ibis
import pandas as pd

from sinergia.errors import UsageError
from sinergia.metrics import stats
from sinergia.metrics.context import ACCOUNT_ATTRIBUTES, MetricContext
from sinergia.metrics.registry import Metric

RESULT_COLUMNS = [
    "metric", "period_start", "period_end", "partial", "value", "ci_low", "ci_high", "n", "numerator",
    "denominator", "small_sample",
]


def valid_by(metric: Metric) -> tuple[str, ...]:
    return (*metric.dimensions, *(ACCOUNT_ATTRIBUTES if metric.account_level else ()))


def check_by(metric: Metric, by: list[str]) -> None:
    allowed = valid_by(metric)
    unknown = [b for b in by if b not in allowed]
    if unknown:
        raise UsageError(
            f"{metric.name} cannot be split by {', '.join(unknown)}; attributes: {', '.join(allowed) or 'none'}"
        )


def observations(metric: Metric, ctx: MetricContext, by: list[str]) -> Any:
    """The metric's observation table, with the account attributes in ``by`` joined on."""
    check_by(metric, by)
    obs = metric.observations(ctx)
    wanted = [b for b in by if b not in metric.dimensions]
    if wanted:
        accounts = ctx.table("accounts").select("account_id", *wanted)
        accounts = accounts.rename({f"_acc_{c}": c for c in ("account_id", *wanted)})
        obs = obs.left_join(accounts, obs.account_id == accounts["_acc_account_id"])
        obs = obs.mutate(**{c: obs[f"_acc_{c}"] for c in wanted}).drop(
            "_acc_account_id", *[f"_acc_{c}" for c in wanted]
        )
    return obs


def _aggregates(metric: Metric, obs: Any) -> dict[str, Any]:
    kind = metric.aggregation
    if kind in ("ratio", "proportion"):
        num, den = obs.num.cast("float64"), obs.den.cast("float64")
        return {
            "s_num": num.sum(), "s_den": den.sum(), "s_nn": (num * num).sum(), "s_dd": (den * den).sum(),
            "s_nd": (num * den).sum(), "n": obs.count(),
        }
    if kind == "mean":
        x = obs.x.cast("float64")
        return {"s_x": x.sum(), "s_xx": (x * x).sum(), "n": x.count()}
    if kind == "median":
        x = obs.x.cast("float64")
        return {"med": x.median(), "n": x.count()}
    if kind == "sum":
        return {"s_x": obs.x.cast("float64").sum(), "n": obs.count()}
    if kind == "count":
        return {"n": obs.count()}
    if kind == "nps":
        return {"s_p": obs.promoter.cast("int64").sum(), "s_d": obs.detractor.cast("int64").sum(), "n": obs.count()}
    if kind == "distinct":
        return {"n": obs.unit_id.nunique()}
    raise AssertionError(kind)  # pragma: no cover


def _f(value: Any) -> float:
    if value is None:
        return 0.0
    try:
        result = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(result) else result


def _finish(metric: Metric, row: dict[str, Any], small: int) -> dict[str, Any]:
    """Value, interval, numerator/denominator and flag from one row of sufficient statistics."""
    kind = metric.aggregation
    n = int(_f(row.get("n")))
    value = low = high = num = den = None
    if kind in ("ratio", "proportion") and n:
        num, den = _f(row.get("s_num")), _f(row.get("s_den"))
        if den != 0:
            value = num / den
            if kind == "proportion":
                low, high = stats.wilson(num, den)
            else:
                squares = (_f(row.get("s_nn")), _f(row.get("s_dd")), _f(row.get("s_nd")))
                low, high = stats.ratio_interval(num, den, *squares, n)
    elif kind == "mean":
        if n:
            value = _f(row.get("s_x")) / n
            low, high = stats.mean_interval(_f(row.get("s_x")), _f(row.get("s_xx")), n)
    elif kind == "median":
        if n:
            value = _f(row.get("med"))
    elif kind == "sum":
        value = _f(row.get("s_x"))
    elif kind in ("count", "distinct"):
        value = float(n)
    elif kind == "nps" and n:
        promoters, detractors = _f(row.get("s_p")), _f(row.get("s_d"))
        value = 100.0 * (promoters - detractors) / n
        low, high = stats.nps_interval(promoters, detractors, n)
        num, den = promoters - detractors, float(n)
    flagged = kind in ("ratio", "proportion", "mean", "median", "nps") and n < small
    return {
        "value": value, "ci_low": low, "ci_high": high, "n": n, "numerator": num, "denominator": den,
        "small_sample": flagged,
    }


def _apply_transform(metric: Metric, out: pd.DataFrame) -> pd.DataFrame:
    if metric.transform is None:
        return out
    days = (out["period_end"] - out["period_start"]).dt.total_seconds() / 86400
    transform = metric.transform
    for column in ("value", "ci_low", "ci_high"):
        out[column] = [
            None if v is None or (isinstance(v, float) and math.isnan(v)) else transform(float(v), float(d))
            for v, d in zip(out[column], days, strict=True)
        ]
    return out


def _evaluate_derived(metric: Metric, ctx: MetricContext, by: list[str]) -> pd.DataFrame:
    from sinergia.metrics.registry import get_metric

    assert metric.combine is not None
    keys = ["period_start", "period_end", "partial", *by]
    merged: pd.DataFrame | None = None
    for name in metric.derived_from:
        part = evaluate(get_metric(name), ctx, by)[[*keys, "value", "n"]].rename(
            columns={"value": name, "n": f"n_{name}"}
        )
        merged = part if merged is None else merged.merge(part, on=keys, how="outer")
    assert merged is not None
    combine = metric.combine
    values = [
        combine({n: (None if pd.isna(r[n]) else float(r[n])) for n in metric.derived_from}, ctx.settings)
        for r in merged.to_dict("records")
    ]
    n = merged[[f"n_{name}" for name in metric.derived_from]].min(axis=1).fillna(0).astype(int)
    out = merged[keys].copy()
    out.insert(0, "metric", metric.name)
    out["value"] = values
    out["ci_low"] = None
    out["ci_high"] = None
    out["n"] = n
    out["numerator"] = None
    out["denominator"] = None
    out["small_sample"] = n < ctx.settings.small_sample
    return out.sort_values(["period_start", *by], kind="stable").reset_index(drop=True)


def evaluate(metric: Metric, ctx: MetricContext, by: list[str] | None = None) -> pd.DataFrame:
    """The metric per period (and per group of ``by``): one row each, oldest period first."""
    by = list(by or [])
    if metric.derived_from:
        check_by(metric, by)
        return _evaluate_derived(metric, ctx, by)
    obs = observations(metric, ctx, by)
    keys = ["period_start", *by]
    grouped = obs.group_by(keys).aggregate(**_aggregates(metric, obs))
    stats_frame = ctx.source.execute(grouped)
    small = ctx.settings.small_sample
    periods = pd.DataFrame(
        {
            "period_start": pd.to_datetime([p.start for p in ctx.periods]),
            "period_end": pd.to_datetime([p.end for p in ctx.periods]),
            "partial": [p.partial for p in ctx.periods],
        }
    )
    if not len(stats_frame):
        stats_frame = pd.DataFrame(columns=keys)
    stats_frame["period_start"] = pd.to_datetime(stats_frame["period_start"])
    if not by:  # every period appears, empty ones included (value null, or 0 for counts and sums)
        stats_frame = periods[["period_start"]].merge(stats_frame, on="period_start", how="left")
    merged = stats_frame.merge(periods, on="period_start", how="inner")
    finished = pd.DataFrame(
        [_finish(metric, row, small) for row in merged.to_dict("records")],
        columns=["value", "ci_low", "ci_high", "n", "numerator", "denominator", "small_sample"],
    )
    out = pd.concat([merged[["period_start", "period_end", "partial", *by]].reset_index(drop=True), finished], axis=1)
    out.insert(0, "metric", metric.name)
    out = _apply_transform(metric, out)
    return out.sort_values(keys, kind="stable").reset_index(drop=True)[
        ["metric", "period_start", "period_end", "partial", *by, *RESULT_COLUMNS[4:]]
    ]


def rows_behind(
    metric: Metric, ctx: MetricContext, filters: dict[str, Any] | None = None, limit: int | None = None
) -> pd.DataFrame:
    """The observations behind the metric's values, optionally filtered by attribute values."""
    filters = dict(filters or {})
    if metric.derived_from:
        from sinergia.metrics.registry import get_metric

        metric = get_metric(metric.derived_from[0])
    obs = observations(metric, ctx, [k for k in filters if k in valid_by(metric)])
    unknown = [k for k in filters if k not in valid_by(metric)]
    if unknown:
        raise UsageError(
            f"{metric.name} has no attribute {', '.join(unknown)}; attributes: {', '.join(valid_by(metric))}"
        )
    for column, value in filters.items():
        obs = obs.filter(obs[column].isnull() if value is None else obs[column] == value)
    obs = obs.order_by([ibis.asc("period_start"), *(ibis.asc(k) for k in metric.row_keys)])
    if limit is not None:
        obs = obs.limit(limit)
    return ctx.source.execute(obs)
