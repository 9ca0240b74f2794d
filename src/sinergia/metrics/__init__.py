"""Metrics: one registry of every CS, Support and CX metric, computed as of a date, by period and segment.

Python API::

    from sinergia import metrics
    metrics.compute(ws, ["nrr", "grr"], as_of=date(2026, 10, 31), period="month", count=12, by=["segment"])
    metrics.rows(ws, "nrr", as_of=date(2026, 10, 31), period="month")      # the observations behind it

Everything runs through Ibis, so the same code runs on DuckDB (the workspace) and PySpark. The heavy
modules load on first use, so importing ``sinergia.metrics.settings`` (the config model) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sinergia.metrics.api import compute, definition, list_metrics, rows

__all__ = ["compute", "definition", "list_metrics", "rows"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sinergia.metrics import api

        return getattr(api, name)
    raise AttributeError(f"module 'sinergia.metrics' has no attribute '{name}'")
