"""Metrics: the registry's definition cards, the stored series, and the rows behind a value (drill-down)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from sinergia import metrics
from sinergia.errors import UsageError
from sinergia.store import repo

from ..deps import Permission, db
from ..schemas import MetricPointOut, MetricSummary, MetricValuesOut, RowsOut

router = APIRouter(tags=["metrics"], dependencies=[Depends(Permission("metrics:read"))])
DB = Annotated[Session, Depends(db)]
MAX_ROWS = 5000


@router.get("/metrics")
def list_metrics(family: str | None = None) -> list[MetricSummary]:
    return [
        MetricSummary(name=m.name, family=m.family, title=dict(m.title), unit=m.unit, direction=m.direction)
        for m in metrics.list_metrics()
        if family is None or m.family == family
    ]


@router.get("/metrics/{name}")
def metric_definition(name: str) -> dict[str, Any]:
    """The definition card: formula, inputs, unit, direction, variant and edge cases."""
    try:
        return metrics.definition(name)
    except UsageError as error:
        raise repo.NotFound(str(error)) from error


@router.get("/metrics/{name}/values")
def metric_values(
    name: str,
    session: DB,
    group: Annotated[str, Query(description="'' for the portfolio, or e.g. 'segment=SMB'.")] = "",
    as_of: dt.date | None = None,
) -> MetricValuesOut:
    """The stored monthly series (written by the last recompute, or the one at ``as_of``)."""
    metric_definition(name)
    points = repo.metric_series(session, name, group_key=group, as_of=as_of)
    day = as_of or repo.latest_as_of(session)
    assert day is not None  # metric_series raised otherwise
    return MetricValuesOut(
        metric=name,
        as_of=day,
        period="month",
        group=group,
        points=[MetricPointOut.model_validate(p) for p in points],
        groups=repo.metric_groups(session, name, as_of=day),
    )


@router.get("/metrics/{name}/rows")
def metric_rows(
    name: str,
    request: Request,
    session: DB,
    period_start: Annotated[dt.date | None, Query(description="The month to open (default: as-of's month).")] = None,
    as_of: dt.date | None = None,
    segment: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 500,
) -> RowsOut:
    """The observations behind one month's value, read from the engine (read-only)."""
    metric_definition(name)
    day = as_of or repo.latest_as_of(session)
    if day is None:
        raise repo.NotFound("no recompute yet and no as_of given")
    if period_start is not None and period_start > day:
        raise repo.NotFound(f"period_start {period_start} is after the as-of date {day}")
    start = period_start.replace(day=1) if period_start is not None else None
    frame = metrics.rows(
        request.app.state.workspace,
        name,
        as_of=day,
        period="month",
        start=start,
        count=1,
        where={"segment": segment} if segment is not None else None,
        limit=limit + 1,
    )
    if start is not None and "period_start" in frame.columns:
        frame = frame[frame["period_start"].astype("datetime64[ns]").dt.date == start]
    truncated = len(frame) > limit
    frame = frame.head(limit)
    records = [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]
    return RowsOut(metric=name, as_of=day, columns=[str(c) for c in frame.columns], rows=records, truncated=truncated)


def _plain(value: Any) -> Any:
    import math

    import pandas as pd

    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if value is pd.NaT:
        return None
    return value
