"""What a metric's expression sees: the canonical tables (on some engine), the as-of date and the periods."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ibis
import pandas as pd

from sinergia.metrics.periods import Period, cutoff
from sinergia.metrics.settings import MetricSettings
from sinergia.schema import ENTITIES

#: Account columns a result can be split by (``by=[...]``).
ACCOUNT_ATTRIBUTES = ("segment", "plan", "industry", "country", "region", "owner", "persona", "lifecycle_stage")
#: Ibis truncation unit of each period kind (ISO weeks start on Monday, as in :mod:`sinergia.metrics.periods`).
_TRUNCATE = {"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}


def _materialises(backend: Any) -> bool:
    """Whether :meth:`MetricContext.shared` keeps intermediate tables on ``backend`` (DuckDB only)."""
    return getattr(backend, "name", None) == "duckdb"


class TableSource:
    """Canonical tables on an Ibis backend (DuckDB by default, PySpark, or any backend Ibis supports)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self._cache: dict[str, Any] = {}

    @classmethod
    def from_workspace(cls, workspace: Any) -> TableSource:
        return cls(workspace.connect())

    def table(self, name: str) -> Any:
        if name not in ENTITIES:
            raise KeyError(name)
        if name not in self._cache:
            self._cache[name] = self.backend.table(name)
        return self._cache[name]

    def execute(self, expr: Any) -> Any:
        """Run an Ibis expression: a table gives a pandas DataFrame, a scalar gives its value."""
        return self.backend.execute(expr)


@dataclass
class MetricContext:
    source: TableSource
    as_of: dt.date
    periods: list[Period]
    settings: MetricSettings = field(default_factory=MetricSettings)
    currency: str = "BRL"
    #: The kind of the periods ("month", ...) when they are calendar periods of one kind; lets
    #: :meth:`in_periods` find a row's period by truncation (a hash join) instead of a range join.
    period: str | None = None
    #: Intermediate tables of :meth:`shared`, by key (per context: they depend on its periods and settings).
    _shared: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def cutoff(self) -> dt.datetime:
        """Rows stamped at or after this instant are in the future of the as-of date and never count."""
        return cutoff(self.as_of)

    def table(self, name: str) -> Any:
        return self.source.table(name)

    def shared(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()``, computed once per context and kept on the engine (a temporary table) where that is safe.

        For intermediate tables several metrics read (the account MRR per period, the usage events with
        their account, the tickets' facts): one :func:`~sinergia.metrics.compute` of many metrics computes
        each once instead of once per metric, and the metrics' own queries stay small. Same rows either way.

        Only DuckDB materialises them (``expr.cache()`` is a temporary table there). On other engines the
        expression is returned as it is and each query recomputes it: Ibis' PySpark ``cache()`` compiles
        the query without registering the in-memory tables it reads (the periods), which then fail with
        ``TABLE_OR_VIEW_NOT_FOUND``; Spark plans each query whole and reuses what it can on its own.
        """
        if key not in self._shared:
            expr = build()
            self._shared[key] = expr.cache() if _materialises(self.source.backend) else expr
        return self._shared[key]

    def periods_table(self) -> Any:
        """One row per period: ``period_start``, ``period_end`` (exclusive, cut at the as-of cut-off)."""
        frame = pd.DataFrame(
            {
                "period_start": pd.to_datetime([p.start for p in self.periods]),
                "period_end": pd.to_datetime([p.end for p in self.periods]),
            }
        )
        return ibis.memtable(frame, schema={"period_start": "timestamp", "period_end": "timestamp"})

    def money(self, amount: Any, currency: Any) -> Any:
        """``amount`` in the workspace currency; null when its currency has no rate in ``fx_rates``.

        A missing currency is taken to be the workspace's own.
        """
        rates = {self.currency: 1.0, **self.settings.fx_rates}
        rate = ibis.cases(
            *((currency.upper() == code, value) for code, value in rates.items()), else_=ibis.null("float64")
        )
        rate = ibis.coalesce(ibis.ifelse(currency.isnull(), 1.0, rate), ibis.null("float64"))
        return amount.cast("float64") * rate

    def in_periods(self, table: Any, column: str) -> Any:
        """Rows of ``table`` whose ``column`` falls in a period, with ``period_start``/``period_end`` added."""
        periods = self.periods_table()
        ts = table[column]
        key = self.period_start_of(ts)
        if key is not None:
            # The periods are consecutive calendar periods, so the one containing ts starts at ts truncated:
            # an equality (hash) join; the end bound keeps the as-of cut-off of a partial period.
            return table.join(periods, (key == periods.period_start) & (ts < periods.period_end))
        joined = table.join(periods, (ts >= periods.period_start) & (ts < periods.period_end))
        return joined

    def period_start_of(self, ts: Any) -> Any | None:
        """Start of the calendar period (of this context's kind) containing ``ts``; None when the kind is unknown."""
        return ts.truncate(_TRUNCATE[self.period]) if self.period in _TRUNCATE else None

    def may_contain_period_end(self, start: Any, end: Any) -> Any:
        """False only for intervals ``(start, end]`` that contain no period end (``end`` null: still open).

        A cheap filter before a range join on period ends: with calendar periods, an interval inside one
        period and ending before the as-of cut-off contains none. True for every row when the kind is unknown.
        """
        first = self.period_start_of(start)
        if first is None:
            return ibis.literal(True)
        return end.isnull() | (self.period_start_of(end) != first) | (end >= ibis.literal(self.cutoff))
