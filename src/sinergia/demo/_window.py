"""The time window of a demo and how moments are placed inside it.

The window is made of ``months`` calendar months ending with the month of ``end``; it starts on the first
day of the first month and ends (exclusive) at midnight after ``end``. All times are epoch seconds (UTC).
Days are weighted (weekends and Brazilian holidays are quiet) and hours follow a local working-day curve.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from sinergia.demo._catalog import HOLIDAYS, TICKET_HOURS, USAGE_HOURS
from sinergia.demo._types import DAY, F64, HOUR, I64

#: Months of history before the window kept for accounts that became customers earlier.
HISTORY_MONTHS = 60
#: Months after the window kept for next-renewal dates.
FUTURE_MONTHS = 13
_EPOCH = dt.datetime(1970, 1, 1)


def _epoch(day: dt.date) -> int:
    return int((dt.datetime(day.year, day.month, day.day) - _EPOCH).total_seconds())


def _add_months(year: int, month: int, k: int) -> dt.date:
    index = year * 12 + (month - 1) + k
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Window:
    """Calendar of a demo run."""

    months: int
    #: Start of month k for k in [-HISTORY_MONTHS, months + FUTURE_MONTHS], at index k + HISTORY_MONTHS.
    month_start_ext: I64
    start: int
    end: int
    #: Calendar month (0 = January) of each window month.
    calendar_month: I64
    usage_day_cdf: F64
    ticket_day_cdf: F64
    usage_hour_cdf: F64
    ticket_hour_cdf: F64

    @property
    def month_start(self) -> I64:
        """Start of each window month and of the month after the window, shape (months + 1,)."""
        return self.month_start_ext[HISTORY_MONTHS : HISTORY_MONTHS + self.months + 1]

    def month_end(self, m: int) -> int:
        """End (exclusive) of window month ``m``, cut at the window end."""
        return min(int(self.month_start[m + 1]), self.end)

    def month_ts(self, k: I64) -> I64:
        """Start of (possibly negative) months ``k``."""
        return self.month_start_ext[k + HISTORY_MONTHS]

    def days_in_month(self, k: I64) -> I64:
        """Length in days of months ``k``."""
        return (self.month_start_ext[k + HISTORY_MONTHS + 1] - self.month_start_ext[k + HISTORY_MONTHS]) // DAY

    def place(
        self, lo: I64, hi: I64, u_day: F64, u_hour: F64, u_sec: F64, utc_offset: I64, *, tickets: bool = False
    ) -> I64:
        """Times inside [lo, hi): a weighted day, a local hour from the working-day curve, converted to UTC."""
        day_cdf = self.ticket_day_cdf if tickets else self.usage_day_cdf
        hour_cdf = self.ticket_hour_cdf if tickets else self.usage_hour_cdf
        d_lo = (lo - self.start) // DAY
        d_hi = np.maximum((hi - self.start + DAY - 1) // DAY, d_lo + 1)
        d_lo = np.clip(d_lo, 0, len(day_cdf) - 2)
        d_hi = np.clip(d_hi, 1, len(day_cdf) - 1)
        target = day_cdf[d_lo] + u_day * (day_cdf[d_hi] - day_cdf[d_lo])
        day = np.clip(np.searchsorted(day_cdf, target, side="right") - 1, d_lo, d_hi - 1)
        hour = np.minimum(np.searchsorted(hour_cdf, u_hour, side="right") - 1, 23)
        ts = self.start + day * DAY + hour * HOUR + (u_sec * HOUR).astype(np.int64) - utc_offset * HOUR
        return np.asarray(np.clip(ts, lo, np.maximum(hi - 1, lo)), np.int64)


def build_window(end: dt.date, months: int) -> Window:
    """The window of ``months`` calendar months ending with the month of ``end``."""
    if months < 1:
        raise ValueError("months must be at least 1")
    first = _add_months(end.year, end.month, -(months - 1))
    ext = np.array(
        [_epoch(_add_months(first.year, first.month, k)) for k in range(-HISTORY_MONTHS, months + 1 + FUTURE_MONTHS)],
        np.int64,
    )
    start = int(ext[HISTORY_MONTHS])
    stop = _epoch(end + dt.timedelta(days=1))
    calendar = np.array([(_add_months(first.year, first.month, k).month - 1) for k in range(months)], np.int64)
    n_days = (stop - start) // DAY
    days = [dt.date(first.year, first.month, 1) + dt.timedelta(days=i) for i in range(n_days)]
    holiday = np.array([(d.month, d.day) in HOLIDAYS for d in days])
    weekday = np.array([d.weekday() for d in days])
    usage_w = np.where(weekday < 5, 1.0, np.where(weekday == 5, 0.15, 0.08))
    ticket_w = np.where(weekday < 5, 1.0, np.where(weekday == 5, 0.06, 0.04))
    usage_w = np.where(holiday, 0.1, usage_w)
    ticket_w = np.where(holiday, 0.05, ticket_w)
    return Window(
        months=months,
        month_start_ext=ext,
        start=start,
        end=stop,
        calendar_month=calendar,
        usage_day_cdf=np.concatenate([[0.0], np.cumsum(usage_w)]),
        ticket_day_cdf=np.concatenate([[0.0], np.cumsum(ticket_w)]),
        usage_hour_cdf=_unit_cdf(USAGE_HOURS),
        ticket_hour_cdf=_unit_cdf(TICKET_HOURS),
    )


def _unit_cdf(weights: tuple[float, ...]) -> F64:
    cum = np.cumsum(np.asarray(weights, np.float64))
    return np.concatenate([[0.0], cum / cum[-1]])
