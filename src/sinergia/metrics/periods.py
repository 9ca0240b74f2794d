"""Calendar periods for as-of computation.

``as_of`` is a date meaning "as of the end of that day (UTC)": rows stamped on or before it count,
later rows never do. A period that has not ended by then is *partial* and its end is cut at the as-of
cut-off, so a metric never peeks past the as-of date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sinergia.errors import UsageError

PERIODS = ("day", "week", "month", "quarter", "year")


@dataclass(frozen=True)
class Period:
    """A half-open interval ``[start, end)`` in UTC; ``end`` is cut at the as-of cut-off when partial."""

    start: dt.datetime
    end: dt.datetime
    partial: bool

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


def check_period(period: str) -> str:
    if period not in PERIODS:
        raise UsageError(f"unknown period '{period}'; periods: {', '.join(PERIODS)}")
    return period


def _floor(day: dt.date, period: str) -> dt.date:
    if period == "day":
        return day
    if period == "week":  # ISO weeks start on Monday
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)


def _next(start: dt.date, period: str) -> dt.date:
    if period == "day":
        return start + dt.timedelta(days=1)
    if period == "week":
        return start + dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    total = start.year * 12 + start.month - 1 + months
    return dt.date(total // 12, total % 12 + 1, 1)


def _previous(start: dt.date, period: str) -> dt.date:
    if period == "day":
        return start - dt.timedelta(days=1)
    if period == "week":
        return start - dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    total = start.year * 12 + start.month - 1 - months
    return dt.date(total // 12, total % 12 + 1, 1)


def cutoff(as_of: dt.date) -> dt.datetime:
    """The first instant after ``as_of`` (midnight UTC of the next day)."""
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())


def periods_ending(as_of: dt.date, period: str, count: int = 1) -> list[Period]:
    """The ``count`` periods up to and including the one that contains ``as_of``, oldest first."""
    check_period(period)
    if count < 1:
        raise UsageError("count must be at least 1")
    limit = cutoff(as_of)
    starts = [_floor(as_of, period)]
    for _ in range(count - 1):
        starts.append(_previous(starts[-1], period))
    out = []
    for start in reversed(starts):
        end = dt.datetime.combine(_next(start, period), dt.time())
        out.append(Period(dt.datetime.combine(start, dt.time()), min(end, limit), end > limit))
    return out


def periods_between(start: dt.date, as_of: dt.date, period: str) -> list[Period]:
    """Every period from the one containing ``start`` to the one containing ``as_of``."""
    check_period(period)
    if start > as_of:
        raise UsageError(f"start {start} is after the as-of date {as_of}")
    count, day = 1, _floor(as_of, period)
    first = _floor(start, period)
    while day > first:
        day = _previous(day, period)
        count += 1
    return periods_ending(as_of, period, count)
