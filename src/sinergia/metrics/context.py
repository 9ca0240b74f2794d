"""What a metric's expression sees: the canonical tables (on some engine), the as-of date and the periods."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis
import pandas as pd

from sinergia.metrics.periods import Period, cutoff
from sinergia.metrics.settings import MetricSettings
from sinergia.schema import ENTITIES

#: Account columns a result can be split by (``by=[...]``).
ACCOUNT_ATTRIBUTES = ("segment", "plan", "industry", "country", "region", "owner", "persona", "lifecycle_stage")


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

    @property
    def cutoff(self) -> dt.datetime:
        """Rows stamped at or after this instant are in the future of the as-of date and never count."""
        return cutoff(self.as_of)

    def table(self, name: str) -> Any:
        return self.source.table(name)

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
        joined = table.join(periods, (ts >= periods.period_start) & (ts < periods.period_end))
        return joined
