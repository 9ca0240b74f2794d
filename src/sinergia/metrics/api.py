"""Public entry points: compute values, list the rows behind them, read definition cards."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd

from sinergia.errors import UsageError
from sinergia.metrics.aggregate import evaluate, rows_behind
from sinergia.metrics.context import MetricContext, TableSource
from sinergia.metrics.periods import periods_between, periods_ending
from sinergia.metrics.registry import Metric, all_metrics, get_metric
from sinergia.metrics.settings import MetricSettings


def _context(
    source: Any,
    as_of: dt.date,
    period: str,
    count: int,
    start: dt.date | None,
    settings: MetricSettings | None,
    currency: str | None,
) -> MetricContext:
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise UsageError("as_of must be a date (YYYY-MM-DD); there is no default")
    periods = periods_between(start, as_of, period) if start is not None else periods_ending(as_of, period, count)
    if isinstance(source, TableSource):
        table_source = source
        config_settings, config_currency = None, None
    else:  # a Workspace
        table_source = TableSource.from_workspace(source)
        config_settings, config_currency = source.config.metrics, source.config.currency
    return MetricContext(
        table_source,
        as_of,
        periods,
        settings or config_settings or MetricSettings(),
        currency or config_currency or "BRL",
        period,
    )


def compute(
    source: Any,
    names: str | Sequence[str],
    *,
    as_of: dt.date,
    period: str = "month",
    count: int = 1,
    start: dt.date | None = None,
    by: Sequence[str] = (),
    settings: MetricSettings | None = None,
    currency: str | None = None,
) -> pd.DataFrame:
    """Values of the named metrics per period (and group), one row each.

    ``source`` is a workspace or a :class:`TableSource` (any Ibis backend). The periods are the ``count``
    periods ending with the one containing ``as_of`` — or, with ``start``, every period from ``start``.
    Columns: metric, period_start, period_end, partial, <by...>, value, ci_low, ci_high, n, numerator,
    denominator, small_sample.
    """
    wanted = [names] if isinstance(names, str) else list(names)
    metrics = [get_metric(n) for n in wanted]
    ctx = _context(source, as_of, period, count, start, settings, currency)
    frames = [evaluate(m, ctx, list(by)) for m in metrics]
    if not frames:
        return pd.DataFrame()
    out = pd.concat([f.astype(object) for f in frames], ignore_index=True)
    return out.infer_objects()


def rows(
    source: Any,
    name: str,
    *,
    as_of: dt.date,
    period: str = "month",
    count: int = 1,
    start: dt.date | None = None,
    where: dict[str, Any] | None = None,
    limit: int | None = None,
    settings: MetricSettings | None = None,
    currency: str | None = None,
) -> pd.DataFrame:
    """The observations behind a metric's values (drill-down), optionally filtered by attribute values."""
    ctx = _context(source, as_of, period, count, start, settings, currency)
    return rows_behind(get_metric(name), ctx, where, limit)


def list_metrics() -> list[Metric]:
    return sorted(all_metrics().values(), key=lambda m: (m.family, m.name))


def definition(name: str) -> dict[str, Any]:
    return get_metric(name).card()
