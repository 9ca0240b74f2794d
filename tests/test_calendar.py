"""The business-hours calendar engine, against hand-computed cases, in Python and in the engine (DuckDB, Spark).

Calendars used here:
- ``split``: UTC, Mon–Fri 09:00–12:00 and 13:00–18:00 (8 h a day), holiday Wed 2024-12-25;
- ``sp``: America/São Paulo, Mon–Fri 09:00–18:00. Brazil had summer time until 2019: on Sun 2018-11-04
  the clocks jumped from 00:00 to 01:00 (UTC−3 → UTC−2), back on Sun 2019-02-17;
- ``sp_sunday``: São Paulo, Sundays 00:00–06:00 only — a shift that starts at a wall time that did not
  exist on 2018-11-04;
- ``lisbon``: Europe/Lisbon, every day 00:00–24:00 — a day is 23 h on 2024-03-31 (01:00 UTC → clocks
  +1 h) and 25 h on 2024-10-27.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from typing import Any

import ibis
import pandas as pd
import pytest

from metric_fixtures import ENGINES, spark_backend
from sinergia.metrics.calendar import BusinessClock, business_clock, business_intervals, epoch, epoch_seconds
from sinergia.metrics.settings import WEEKDAYS, Calendar

D = dt.datetime
CALENDARS = {
    "split": Calendar(
        hours={d: ["09:00-12:00", "13:00-18:00"] for d in WEEKDAYS[:5]}, holidays=[dt.date(2024, 12, 25)]
    ),
    "sp": Calendar(timezone="America/Sao_Paulo", hours={d: ["09:00-18:00"] for d in WEEKDAYS[:5]}),
    "sp_sunday": Calendar(timezone="America/Sao_Paulo", hours={"sun": ["00:00-06:00"]}),
    "lisbon": Calendar(timezone="Europe/Lisbon", hours={d: ["00:00-24:00"] for d in WEEKDAYS}),
}

# (calendar, a, b, business hours from a to b), every one worked out by hand.
CASES: list[tuple[str | None, dt.datetime, dt.datetime, float]] = [
    # a night: Tue 17:00–18:00 + Wed 09:00–10:00
    ("split", D(2024, 3, 5, 17), D(2024, 3, 6, 10), 2.0),
    # a weekend: Fri 16:00–18:00 + Mon 09:00–10:00
    ("split", D(2024, 3, 8, 16), D(2024, 3, 11, 10), 3.0),
    # a holiday: Tue 24 Dec 17:00–18:00, Wed 25 Dec nothing, Thu 26 Dec 09:00–09:30
    ("split", D(2024, 12, 24, 17), D(2024, 12, 26, 9, 30), 1.5),
    # the split shift: 11:00–12:00 + 13:00–14:00; inside the lunch break nothing
    ("split", D(2024, 3, 4, 11), D(2024, 3, 4, 14), 2.0),
    ("split", D(2024, 3, 4, 12, 15), D(2024, 3, 4, 12, 45), 0.0),
    # start and end outside business hours: Saturday → Monday 08:00 is nothing; 07:00 → 20:00 a full day
    ("split", D(2024, 3, 9, 10), D(2024, 3, 11, 8), 0.0),
    ("split", D(2024, 3, 11, 7), D(2024, 3, 11, 20), 8.0),
    # b before a: minus the forward time
    ("split", D(2024, 3, 6, 10), D(2024, 3, 5, 17), -2.0),
    # DST start in São Paulo: Fri 2 Nov 20:00 UTC = 17:00 (UTC−3) → 1 h; Mon 5 Nov 12:00 UTC = 10:00 (UTC−2)
    # → 09:00–10:00 local = 1 h. (A fixed UTC−3 offset would read Mon 09:00 local and say 1 h in total.)
    ("sp", D(2018, 11, 2, 20), D(2018, 11, 5, 12), 2.0),
    # DST end: Fri 15 Feb 2019 19:00 UTC = 17:00 (UTC−2) → 1 h; Mon 18 Feb 12:00 UTC = 09:00 (UTC−3) → 0 h
    ("sp", D(2019, 2, 15, 19), D(2019, 2, 18, 12), 1.0),
    # a shift starting at the skipped midnight: 00:00 local does not exist on 4 Nov 2018; the shift runs
    # from the jump (03:00 UTC) to 06:00 UTC−2 = 08:00 UTC: 5 real hours
    ("sp_sunday", D(2018, 11, 4, 0), D(2018, 11, 4, 12), 5.0),
    # a week earlier the same shift is 6 h (03:00–09:00 UTC)
    ("sp_sunday", D(2018, 10, 28, 0), D(2018, 10, 28, 12), 6.0),
    # Lisbon round-the-clock: local 31 Mar 00:00 (00:00 UTC) → local 1 Apr 00:00 (31 Mar 23:00 UTC) = 23 h
    ("lisbon", D(2024, 3, 31, 0), D(2024, 3, 31, 23), 23.0),
    # and local 27 Oct 00:00 (26 Oct 23:00 UTC) → local 28 Oct 00:00 (28 Oct 00:00 UTC) = 25 h
    ("lisbon", D(2024, 10, 26, 23), D(2024, 10, 28, 0), 25.0),
    # no calendar: calendar hours
    (None, D(2024, 3, 8, 16), D(2024, 3, 11, 10), 66.0),
]

# (calendar, start, business hours, the instant they have passed), by hand.
INSTANTS: list[tuple[str, dt.datetime, float, dt.datetime]] = [
    ("split", D(2024, 3, 8, 17), 2.0, D(2024, 3, 11, 10)),  # Fri 17–18, Mon 09–10
    ("split", D(2024, 3, 4, 10), 4.0, D(2024, 3, 4, 15)),  # 10–12, lunch, 13–15
    ("split", D(2024, 3, 9, 10), 0.5, D(2024, 3, 11, 9, 30)),  # from a Saturday
    ("sp", D(2018, 11, 2, 20), 2.0, D(2018, 11, 5, 12)),  # across the DST start (see CASES)
]


@functools.cache
def clock() -> BusinessClock:
    return business_clock(CALENDARS, dt.date(2018, 10, 1), dt.date(2024, 12, 31))


@pytest.mark.parametrize(("name", "a", "b", "hours"), CASES)
def test_python_clock(name: str | None, a: dt.datetime, b: dt.datetime, hours: float) -> None:
    if name is None:
        assert (b - a).total_seconds() / 3600 == hours
        return
    assert clock().seconds_between(name, a, b) / 3600 == pytest.approx(hours)


@pytest.mark.parametrize(("name", "start", "hours", "expected"), INSTANTS)
def test_python_instant(name: str, start: dt.datetime, hours: float, expected: dt.datetime) -> None:
    assert clock().instant_after(name, start, hours * 3600) == expected


def test_intervals_are_local_shifts_in_utc() -> None:
    # Friday 2 Nov 2018 09:00–18:00 in São Paulo (UTC−3) is 12:00–21:00 UTC; Monday 5 Nov (UTC−2) 11:00–20:00.
    found = business_intervals(CALENDARS["sp"], dt.date(2018, 11, 2), dt.date(2018, 11, 5))
    assert found == [
        (epoch(D(2018, 11, 2, 12)), epoch(D(2018, 11, 2, 21))),
        (epoch(D(2018, 11, 5, 11)), epoch(D(2018, 11, 5, 20))),
    ]
    # touching shifts merge (Lisbon round the clock is one interval)
    lisbon = business_intervals(CALENDARS["lisbon"], dt.date(2024, 3, 30), dt.date(2024, 4, 1))
    assert len(lisbon) == 1


def test_every_instant_is_in_exactly_one_slot() -> None:
    slots = clock().slots_frame()
    for name, group in slots.groupby("calendar"):
        spans = group.drop_duplicates(["start", "end"]).sort_values("start")
        assert (spans.start.iloc[1:].to_numpy() == spans.end.iloc[:-1].to_numpy()).all(), name
        assert ((group.day * 86400 < group.end) & (group.start < (group.day + 1) * 86400)).all()


def _engine_frame(engine: str) -> pd.DataFrame:
    bc = clock()
    spans = pd.DataFrame([{"case": i, "cal": c, "a": a, "b": b} for i, (c, a, b, _) in enumerate(CASES)])
    t = ibis.memtable(spans, schema={"case": "int64", "cal": "string", "a": "timestamp", "b": "timestamp"})
    t = t.mutate(ea=epoch_seconds(t.a), eb=epoch_seconds(t.b))
    t = bc.clock(t, "ea", "cal", "fa")
    t = bc.clock(t, "eb", "cal", "fb")
    t = t.mutate(hours=(t.fb - t.fa) / 3600, target=t.fa + 2 * 3600.0)  # also: 2 business hours after a
    t = bc.instant(t, "target", "cal", "after2")
    backend: Any = ibis.duckdb.connect() if engine == "duckdb" else spark_backend()
    return backend.execute(t.select("case", "hours", "after2")).sort_values("case").reset_index(drop=True)


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_clock_matches_hand_computed(engine: str) -> None:
    got = _engine_frame(engine)
    assert [round(float(h), 6) for h in got.hours] == [h for *_, h in CASES]
    # the inverse agrees with the Python reference for every case (2 business hours after a)
    bc = clock()
    for (name, a, _, _), after in zip(CASES, got.after2, strict=True):
        expected = a + dt.timedelta(hours=2) if name is None else bc.instant_after(name, a, 7200)
        assert expected is not None
        assert float(after) == pytest.approx(epoch(expected)), (name, a)


def test_engine_matches_python_on_random_instants() -> None:
    rng = random.Random(7)
    lo, hi = epoch(D(2018, 10, 2)), epoch(D(2024, 12, 30))
    names = list(CALENDARS)
    rows = [
        {"cal": rng.choice(names), "a": D(1970, 1, 1) + dt.timedelta(seconds=rng.randrange(lo, hi))}
        for _ in range(300)
    ]
    for r in rows:  # b within the materialised range too (outside it the engine's clock is null)
        r["b"] = min(r["a"] + dt.timedelta(seconds=rng.randrange(-5 * 86400, 20 * 86400)), D(2024, 12, 31))
    bc = clock()
    t = ibis.memtable(pd.DataFrame(rows), schema={"cal": "string", "a": "timestamp", "b": "timestamp"})
    t = t.mutate(ea=epoch_seconds(t.a), eb=epoch_seconds(t.b))
    t = bc.clock(bc.clock(t, "ea", "cal", "fa"), "eb", "cal", "fb")
    got = ibis.duckdb.connect().execute(t.mutate(s=t.fb - t.fa))
    assert len(got) == len(rows)
    for r in got.to_dict("records"):
        expected = bc.seconds_between(r["cal"], r["a"].to_pydatetime(), r["b"].to_pydatetime())
        assert float(r["s"]) == pytest.approx(expected), r


def test_range_start_does_not_change_durations() -> None:
    narrow = business_clock(CALENDARS, dt.date(2024, 3, 1), dt.date(2024, 3, 31))
    wide = clock()
    a, b = D(2024, 3, 8, 16), D(2024, 3, 11, 10)
    assert narrow.seconds_between("split", a, b) == wide.seconds_between("split", a, b) == 3 * 3600
    assert narrow.clock_at("split", a) != wide.clock_at("split", a)  # the clock's origin differs, not spans
