"""Metrics: one registry of every CS, Support and CX metric, computed as of a date, by period and segment.

Python API::

    from sinergia import metrics
    metrics.compute(ws, ["nrr", "grr"], as_of=date(2026, 10, 31), period="month", count=12, by=["segment"])
    metrics.rows(ws, "nrr", as_of=date(2026, 10, 31), period="month")      # the observations behind it

Everything runs through Ibis, so the same code runs on DuckDB (the workspace) and PySpark.
"""

from __future__ import annotations

from sinergia.metrics.api import compute, definition, list_metrics, rows

__all__ = ["compute", "definition", "list_metrics", "rows"]
