"""Business time: seconds of working time between two instants, for a calendar, computed in the engine.

A calendar (``metrics.calendars`` in the workspace config) has shifts per weekday in *local* time,
several per day, holidays (local dates) and a time zone. Shifts are wall-clock times, so a shift's
length in real time changes on the days the zone changes its offset (DST).

The construction:

1. Python lays the calendar's shifts out as business intervals ``[a_i, b_i)`` in UTC epoch seconds for
   the date range the data needs (a few thousand rows for years of data), each with the cumulative
   business seconds ``C_i`` before it.
2. The *business clock* ``F(t) = C_i + clamp(t − a_i, 0, b_i − a_i)`` for the last interval ``i`` that
   starts at or before ``t`` counts business seconds since the range start; it is non-decreasing, so
   business seconds between ``a`` and ``b`` are ``F(b) − F(a)`` (negative when ``b < a``).
3. In the engine, ``F`` is one left join: the timeline is cut into *slots* ``[a_i, a_{i+1})`` (plus a
   leading slot before the first interval), each slot repeated once per UTC day it touches, so every
   instant matches exactly one row on ``(calendar, day)`` equality plus ``slot_start <= t < slot_end``.
   The equality makes it a hash join on DuckDB and PySpark alike (no nested-loop range join).
4. The inverse ``G(v)`` — the earliest instant at which the clock reads ``v`` — is the same kind of
   join on buckets of clock values; SLA breach instants ("target hours of business time after
   creation") use it.

Timestamps are naive UTC (the canonical convention). An instant outside the materialised range, or
with a null calendar, has no business clock: with a null calendar the clock is the epoch itself
(calendar time), outside the range it is null.
"""

from __future__ import annotations

import bisect
import calendar as _calendar
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import pandas as pd

from sinergia.metrics.settings import WEEKDAYS, Calendar

DAY = 86400
_PREFIX = "_bc_"


def epoch(moment: dt.datetime) -> int:
    """Epoch seconds of a naive-UTC (or aware) datetime, truncated to the second."""
    if moment.tzinfo is not None:
        return int(moment.timestamp())
    return _calendar.timegm(moment.timetuple())


def epoch_seconds(ts: Any) -> Any:
    """Ibis: epoch seconds (int64) of a naive-UTC timestamp column, truncated to the second on every engine."""
    return ts.truncate("s").epoch_seconds().cast("int64")


def _shifts(calendar: Calendar) -> dict[int, list[tuple[int, int]]]:
    """Weekday (0 = Monday) → shifts as (start, end) minutes after local midnight."""
    out: dict[int, list[tuple[int, int]]] = {i: [] for i in range(7)}
    for day, shifts in calendar.hours.items():
        for shift in shifts:
            start, end = shift.split("-")
            h1, m1 = (int(x) for x in start.split(":"))
            h2, m2 = (int(x) for x in end.split(":"))
            out[WEEKDAYS.index(day)].append((h1 * 60 + m1, h2 * 60 + m2))
    return {k: sorted(v) for k, v in out.items()}


def _local_epoch(day: dt.date, minutes: int, zone: ZoneInfo) -> int:
    """The UTC instant at which the wall clock of ``zone`` reads ``day`` + ``minutes``.

    A wall time skipped by a DST change (São Paulo's midnight on the first day of summer time) is read
    with the offset in force before the change, i.e. the instant the clock jumped; a repeated wall time
    is its first occurrence.
    """
    wall = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minutes)
    return int(wall.replace(tzinfo=zone).timestamp())


def business_intervals(calendar: Calendar, first: dt.date, last: dt.date) -> list[tuple[int, int]]:
    """The calendar's working intervals ``[start, end)`` in UTC epoch seconds for local dates first..last.

    Sorted and merged (touching or overlapping intervals become one). Holidays are local dates.
    """
    zone = ZoneInfo(calendar.timezone)
    shifts = _shifts(calendar)
    holidays = set(calendar.holidays)
    raw: list[tuple[int, int]] = []
    day = first
    while day <= last:
        if day not in holidays:
            for start, end in shifts[day.weekday()]:
                a, b = _local_epoch(day, start, zone), _local_epoch(day, end, zone)
                if b > a:
                    raw.append((a, b))
        day += dt.timedelta(days=1)
    raw.sort()
    merged: list[tuple[int, int]] = []
    for a, b in raw:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


@dataclass
class _Layout:
    """One calendar's intervals over the clock's range, with cumulative business seconds."""

    starts: list[int]
    ends: list[int]
    cums: list[int]

    def clock(self, t: float) -> float:
        i = bisect.bisect_right(self.starts, t) - 1
        if i < 0:
            return 0.0
        return float(self.cums[i] + min(max(t - self.starts[i], 0), self.ends[i] - self.starts[i]))

    def instant(self, value: float) -> float | None:
        """Earliest epoch second at which the clock reads ``value`` (None when outside the range)."""
        if value <= 0:
            return float(self.starts[0]) if self.starts and value == 0 else None
        tops = [c + (e - s) for c, s, e in zip(self.cums, self.starts, self.ends, strict=True)]
        i = bisect.bisect_left(tops, value)
        if i >= len(tops):
            return None
        return float(self.starts[i] + (value - self.cums[i]))


@dataclass
class BusinessClock:
    """The business clocks of a workspace's calendars over UTC dates ``first``..``last``."""

    calendars: Mapping[str, Calendar]
    first: dt.date
    last: dt.date
    _layouts: dict[str, _Layout] = field(default_factory=dict, init=False, repr=False)
    _tables: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def range_start(self) -> int:
        return epoch(dt.datetime.combine(self.first, dt.time()))

    @property
    def range_end(self) -> int:
        return epoch(dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time()))

    def layout(self, name: str) -> _Layout:
        if name not in self._layouts:
            # Local dates one day either side cover every UTC instant of the range in any zone.
            found = business_intervals(
                self.calendars[name], self.first - dt.timedelta(days=1), self.last + dt.timedelta(days=1)
            )
            lo, hi = self.range_start, self.range_end
            clipped = [(max(a, lo), min(b, hi)) for a, b in found if b > lo and a < hi]
            cums, total = [], 0
            for a, b in clipped:
                cums.append(total)
                total += b - a
            self._layouts[name] = _Layout([a for a, _ in clipped], [b for _, b in clipped], cums)
        return self._layouts[name]

    # -- Python (constants and reference) -----------------------------------------------------------------

    def clock_at(self, name: str, moment: dt.datetime) -> float:
        """F(moment): business seconds of calendar ``name`` from the range start to ``moment``."""
        return self.layout(name).clock(epoch(moment))

    def seconds_between(self, name: str, a: dt.datetime, b: dt.datetime) -> float:
        """Business seconds from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
        layout = self.layout(name)
        return layout.clock(epoch(b)) - layout.clock(epoch(a))

    def instant_after(self, name: str, moment: dt.datetime, seconds: float) -> dt.datetime | None:
        """The instant at which ``seconds`` of business time have passed since ``moment``."""
        layout = self.layout(name)
        found = layout.instant(layout.clock(epoch(moment)) + seconds)
        return None if found is None else dt.datetime(1970, 1, 1) + dt.timedelta(seconds=found)

    # -- engine tables ------------------------------------------------------------------------------------

    def slots_frame(self) -> pd.DataFrame:
        """Rows (calendar, day, start, end, anchor, length, cum): each instant of the range is in one row."""
        rows: list[tuple[str, int, int, int, int, int, int]] = []
        lo, hi = self.range_start, self.range_end
        for name in self.calendars:
            lay = self.layout(name)
            slots: list[tuple[int, int, int, int, int]] = []
            if not lay.starts:
                slots.append((lo, hi, lo, 0, 0))
            else:
                if lay.starts[0] > lo:
                    slots.append((lo, lay.starts[0], lay.starts[0], 0, 0))
                for i, (a, b) in enumerate(zip(lay.starts, lay.ends, strict=True)):
                    nxt = lay.starts[i + 1] if i + 1 < len(lay.starts) else hi
                    slots.append((a, nxt, a, b - a, lay.cums[i]))
            for start, end, anchor, length, cum in slots:
                if end <= start:
                    continue
                for day in range(start // DAY, (end - 1) // DAY + 1):
                    rows.append((name, day, start, end, anchor, length, cum))
        return pd.DataFrame(rows, columns=["calendar", "day", "start", "end", "anchor", "length", "cum"])

    def inverse_frame(self) -> pd.DataFrame:
        """Rows (calendar, bucket, lo, hi, anchor): clock values ``lo < v <= hi`` are reached at anchor + v − lo."""
        rows: list[tuple[str, int, int, int, int]] = []
        for name in self.calendars:
            lay = self.layout(name)
            for a, b, cum in zip(lay.starts, lay.ends, lay.cums, strict=True):
                lo, hi = cum, cum + (b - a)
                for bucket in range(lo // DAY, hi // DAY + 1):
                    rows.append((name, bucket, lo, hi, a))
        return pd.DataFrame(rows, columns=["calendar", "bucket", "lo", "hi", "anchor"])

    def _memtable(self, kind: str) -> Any:
        if kind not in self._tables:
            frame = self.slots_frame() if kind == "slots" else self.inverse_frame()
            schema = {"calendar": "string", **dict.fromkeys(frame.columns[1:], "int64")}
            frame = frame.rename(columns={c: _PREFIX + c for c in frame.columns})
            self._tables[kind] = ibis.memtable(frame, schema={_PREFIX + k: v for k, v in schema.items()})
        return self._tables[kind]

    # -- Ibis ---------------------------------------------------------------------------------------------

    def clock(self, table: Any, epoch_column: str, calendar_column: str, out: str) -> Any:
        """``table`` with ``out`` = F(epoch_column) under the calendar named in ``calendar_column``.

        A null calendar means calendar time: the clock is the epoch itself. Float64 seconds.
        """
        return self._clock(table, table[epoch_column], calendar_column, out)

    def clock_ts(self, table: Any, ts_column: str, calendar_column: str, out: str) -> Any:
        """Like :meth:`clock`, from a (naive UTC) timestamp column."""
        return self._clock(table, epoch_seconds(table[ts_column]), calendar_column, out)

    def _clock(self, table: Any, epoch_value: Any, calendar_column: str, out: str) -> Any:
        slots = self._memtable("slots")
        epoch_column = f"{_PREFIX}epoch"
        base = table.mutate(**{epoch_column: epoch_value, f"{_PREFIX}key": epoch_value // DAY})
        ep, cal = base[epoch_column], base[calendar_column]
        joined = base.left_join(
            slots,
            [
                cal == slots[f"{_PREFIX}calendar"],
                base[f"{_PREFIX}key"] == slots[f"{_PREFIX}day"],
                slots[f"{_PREFIX}start"] <= ep,
                ep < slots[f"{_PREFIX}end"],
            ],
        )
        offset = joined[epoch_column] - joined[f"{_PREFIX}anchor"]
        inside = ibis.greatest(ibis.least(offset, joined[f"{_PREFIX}length"]), 0)
        value = ibis.ifelse(
            joined[calendar_column].isnull(),
            joined[epoch_column].cast("float64"),
            (joined[f"{_PREFIX}cum"] + inside).cast("float64"),
        )
        return joined.select(*[joined[c] for c in table.columns], **{out: value})

    def instant(self, table: Any, value_column: str, calendar_column: str, out: str) -> Any:
        """``table`` with ``out`` = G(value_column): the epoch second at which the clock reads that value.

        A null calendar means calendar time (G is the identity). Null outside the range.
        """
        inv = self._memtable("inverse")
        base = table.mutate(**{f"{_PREFIX}key": (table[value_column] / DAY).floor().cast("int64")})
        v, cal = base[value_column], base[calendar_column]
        joined = base.left_join(
            inv,
            [
                cal == inv[f"{_PREFIX}calendar"],
                base[f"{_PREFIX}key"] == inv[f"{_PREFIX}bucket"],
                inv[f"{_PREFIX}lo"] < v,
                v <= inv[f"{_PREFIX}hi"],
            ],
        )
        found = joined[f"{_PREFIX}anchor"] + (joined[value_column] - joined[f"{_PREFIX}lo"])
        value = ibis.ifelse(
            joined[calendar_column].isnull(), joined[value_column].cast("float64"), found.cast("float64")
        )
        return joined.select(*[joined[c] for c in table.columns], **{out: value})

    def cases_at(self, calendar: Any, moment: dt.datetime) -> Any:
        """Ibis: F(moment) for the calendar named by the ``calendar`` column (epoch when it is null)."""
        branches = [(calendar == name, ibis.literal(self.clock_at(name, moment))) for name in self.calendars]
        return ibis.cases(*branches, else_=ibis.literal(float(epoch(moment))))


def business_clock(calendars: Mapping[str, Calendar], first: dt.date, last: dt.date) -> BusinessClock:
    """Business clocks for every calendar, materialised for UTC dates ``first``..``last`` (padded a day)."""
    return BusinessClock(calendars, first - dt.timedelta(days=1), last + dt.timedelta(days=1))
