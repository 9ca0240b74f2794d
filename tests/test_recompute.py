"""Recompute: hand-computed snapshots and journey stages on a tiny workspace; metric series equal to
``sinergia.metrics.compute`` on a demo workspace; idempotent; readers never see a half-written state."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pandas as pd
import pytest
from sqlalchemy import func, select

from sinergia import metrics
from sinergia.ingest import ingest_files
from sinergia.scores.history import write_scores
from sinergia.serving.recompute import MONTHS, recompute
from sinergia.store import repo
from sinergia.store.db import dispose_engine, session_factory
from sinergia.store.models import AccountEvent, AccountSnapshot, MetricPoint, RecomputeRun, ScorePoint
from sinergia.workspace import Workspace, init_workspace

D = dt.date(2026, 3, 31)

FILES = {
    "accounts.csv": """account_id,name,segment,owner,created_at
A1,Alpha,SMB,ana@x.com,2025-12-01T00:00:00Z
A2,Beta,Enterprise,bia@x.com,2025-06-01T00:00:00Z
A3,Gamma,SMB,ana@x.com,2026-05-01T00:00:00Z
""",
    "subscriptions.csv": """subscription_id,account_id,plan,started_at,ended_at,mrr,currency
s1,A1,pro,2026-01-10T00:00:00Z,,100,BRL
s2,A2,enterprise,2025-07-01T00:00:00Z,2026-02-15T00:00:00Z,250,BRL
s3,A3,pro,2026-05-02T00:00:00Z,,80,BRL
""",
    "orders.csv": """order_id,account_id,kind,ordered_at,amount,currency
o1,A2,order,2025-06-15T00:00:00Z,500,BRL
""",
    "tickets.csv": """ticket_id,account_id,subject,channel,priority,status,created_at,solved_at
t1,A1,Login fails,email,high,open,2026-03-20T10:00:00Z,
t2,A1,Invoice copy,email,low,solved,2026-02-01T10:00:00Z,2026-02-02T10:00:00Z
t3,A2,Export broken,chat,normal,solved,2026-03-30T10:00:00Z,2026-04-02T10:00:00Z
""",
    "survey_responses.csv": """response_id,account_id,survey,score,scale_min,scale_max,responded_at
r1,A1,nps,9,0,10,2025-12-15T00:00:00Z
r2,A1,nps,6,0,10,2026-03-01T00:00:00Z
r3,A2,csat,4,1,5,2026-01-05T00:00:00Z
""",
    "usage_events.csv": """event_id,account_id,event,occurred_at
e1,A1,login,2026-01-11T09:00:00Z
e2,A1,login,2026-01-12T09:00:00Z
""",
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("tiny")
    ws = init_workspace(root / "ws")
    files = []
    for name, text in FILES.items():
        path = root / name
        path.write_text(text, encoding="utf-8")
        files.append(path)
    report = ingest_files(ws, files, preset="sinergia")
    assert report.totals().quarantined == 0
    write_scores(
        ws,
        pd.DataFrame(
            {
                "account_id": ["A1", "A1"],
                "as_of": [dt.date(2026, 3, 30), dt.date(2026, 4, 15)],  # the second is after D: ignored
                "value": [72.0, 10.0],
                "band": ["green", "red"],
                "trend": ["up", "down"],
                "explanation": [{"usage": 0.4}, {"usage": -1.0}],
            }
        ),
        score="health",
    )
    recompute(ws, D, metrics=["mrr", "arr", "nps", "logo_churn_rate"])
    yield ws
    dispose_engine(ws.store_url)


def _session(ws: Workspace):  # type: ignore[no-untyped-def]
    return session_factory(ws.store_url)()


def test_snapshots_by_hand(tiny: Workspace) -> None:
    with _session(tiny) as s:
        rows = {r.account_id: r for r in s.scalars(select(AccountSnapshot).where(AccountSnapshot.as_of == D))}
    assert set(rows) == {"A1", "A2"}  # A3 is created after D
    a1, a2 = rows["A1"], rows["A2"]
    assert (a1.mrr, a1.arr) == (100.0, 1200.0)  # s1 in force at the end of D; ARR = 12 x 100
    assert (a2.mrr, a2.arr) == (0.0, 0.0)  # s2 ended on 2026-02-15
    assert a1.open_tickets == 1  # t1 unsolved; t2 solved in February
    assert a2.open_tickets == 1  # t3 solved on 2026-04-02, after D
    assert (a1.name, a1.segment, a1.owner, a1.currency) == ("Alpha", "SMB", "ana@x.com", "BRL")
    # the latest health on or before D (2026-03-30), not the later one
    assert (a1.health_score, a1.health_band, a1.health_trend) == (72.0, "green", "up")
    assert a1.drivers["health"] == {"as_of": "2026-03-30", "explanation": {"usage": 0.4}}
    # absent scores are null
    assert a2.health_score is None and a1.churn_risk is None and a1.clv is None


def test_journey_stages_by_hand(tiny: Workspace) -> None:
    with _session(tiny) as s:
        events = s.scalars(select(AccountEvent).where(AccountEvent.as_of == D).order_by(AccountEvent.at)).all()
    got = [(e.account_id, e.at.date().isoformat(), e.kind, e.stage) for e in events]
    # A1 first paid 2026-01-10 (subscription new) → onboarding until 2026-04-10 (90 days)
    # A2 first paid 2025-06-15 (order of 500) → onboarding until 2025-09-13
    assert sorted(got) == sorted(
        [
            ("A1", "2025-12-15", "survey", "before"),
            ("A1", "2026-01-10", "subscription_new", "during"),
            ("A1", "2026-01-11", "usage_milestone", "during"),  # first product use
            ("A1", "2026-02-01", "ticket", "during"),
            ("A1", "2026-03-01", "survey", "during"),
            ("A1", "2026-03-20", "ticket", "during"),
            ("A2", "2025-06-15", "order", "during"),
            ("A2", "2025-07-01", "subscription_new", "during"),
            ("A2", "2026-01-05", "survey", "after"),
            ("A2", "2026-02-15", "subscription_churn", "after"),
            ("A2", "2026-03-30", "ticket", "after"),
        ]
    )


def test_metric_points_and_score_history(tiny: Workspace) -> None:
    with _session(tiny) as s:
        mrr = repo.metric_series(s, "mrr")
        assert len(mrr) == MONTHS
        assert mrr[-1].period_start == dt.date(2026, 3, 1)
        assert mrr[-1].value == 100.0  # only A1 pays at the end of March
        feb = next(p for p in mrr if p.period_start == dt.date(2026, 2, 1))
        assert feb.value == 100.0  # A2 ended on Feb 15; A1 pays 100
        jan = next(p for p in mrr if p.period_start == dt.date(2026, 1, 1))
        assert jan.value == 350.0  # at the end of January: A1 100 + A2 250
        groups = repo.metric_groups(s, "mrr")
        assert groups == ["", "segment=Enterprise", "segment=SMB"]
        history = repo.score_history(s, "A1")
        assert [(p.score, p.as_of, p.value) for p in history] == [("health", dt.date(2026, 3, 30), 72.0)]
        run = s.get(RecomputeRun, D)
        assert run is not None and run.counts["snapshots"] == 2


def test_recompute_is_idempotent(tiny: Workspace) -> None:
    def counts() -> tuple[int, ...]:
        with _session(tiny) as s:
            return tuple(
                int(s.scalar(select(func.count()).select_from(m)) or 0)
                for m in (AccountSnapshot, MetricPoint, ScorePoint, AccountEvent, RecomputeRun)
            )

    before = counts()
    recompute(tiny, D, metrics=["mrr", "arr", "nps", "logo_churn_rate"])
    assert counts() == before


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from sinergia.demo import generate

    root = tmp_path_factory.mktemp("demo")
    ws = init_workspace(root / "ws", timezone="America/Sao_Paulo")
    files = generate(root / "data", accounts=40, seed=11, months=24)
    ingest_files(ws, list(files.values()), preset="sinergia")
    yield ws
    dispose_engine(ws.store_url)


def test_demo_series_equal_the_metrics_engine(demo: Workspace) -> None:
    as_of = dt.date(2026, 10, 31)
    report = recompute(demo, as_of)  # every registered metric
    names = sorted(m.name for m in metrics.list_metrics())
    with _session(demo) as s:
        stored = set(s.scalars(select(MetricPoint.metric).where(MetricPoint.as_of == as_of).distinct()))
        assert stored == set(names)
        for name in ("mrr", "nrr", "nps", "first_reply_time", "logo_churn_rate"):
            expected = metrics.compute(demo, name, as_of=as_of, period="month", count=MONTHS)
            points = repo.metric_series(s, name, as_of=as_of)
            assert len(points) == MONTHS == len(expected)
            for point, (_, row) in zip(points, expected.iterrows(), strict=True):
                assert point.period_start == row["period_start"].date()
                if pd.isna(row["value"]):
                    assert point.value is None
                else:
                    assert point.value == pytest.approx(float(row["value"]), rel=1e-12)
            by_segment = metrics.compute(demo, name, as_of=as_of, period="month", count=MONTHS, by=["segment"])
            last = by_segment[by_segment["period_start"] == by_segment["period_start"].max()]
            for _, row in last.iterrows():
                series = repo.metric_series(s, name, group_key=f"segment={row['segment']}", as_of=as_of)
                value = series[-1].value
                assert (value is None) if pd.isna(row["value"]) else value == pytest.approx(float(row["value"]))
        # the snapshot's MRR adds up to the metric's end-of-day MRR
        day = metrics.compute(demo, "mrr", as_of=as_of, period="day")
        total = s.scalar(select(func.sum(AccountSnapshot.mrr)).where(AccountSnapshot.as_of == as_of))
        assert total == pytest.approx(float(day["value"].iloc[-1]), abs=0.01 * report.counts["snapshots"])


def test_readers_keep_reading_during_a_recompute(demo: Workspace) -> None:
    """A recompute of a new as-of runs while readers query; they always see a complete snapshot."""
    first, second = dt.date(2026, 11, 10), dt.date(2026, 11, 20)  # after every earlier as-of
    recompute(demo, first, metrics=["mrr"])
    with _session(demo) as s:
        full = {first: s.scalar(select(func.count()).where(AccountSnapshot.as_of == first))}
    phases: list[tuple[float, str]] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            recompute(demo, second, metrics=["mrr", "nrr"], progress=lambda p: phases.append((time.monotonic(), p)))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            done.set()

    seen: list[tuple[float, dt.date, int, float]] = []
    worker = threading.Thread(target=run)
    worker.start()
    while not done.is_set():
        t0 = time.monotonic()
        with _session(demo) as s:
            latest = repo.latest_as_of(s)
            assert latest is not None
            count = int(s.scalar(select(func.count()).where(AccountSnapshot.as_of == latest)) or 0)
        seen.append((t0, latest, count, time.monotonic() - t0))
    worker.join()
    assert not errors
    with _session(demo) as s:
        full[second] = s.scalar(select(func.count()).where(AccountSnapshot.as_of == second))
    with _session(demo) as s:  # the timeline is kept for the newest as-of only
        assert set(s.scalars(select(AccountEvent.as_of).distinct())) == {second}
    # every read saw a complete snapshot of the as-of it saw as the latest
    assert {latest for _, latest, _, _ in seen} <= {first, second}
    assert all(count == full[latest] for _, latest, count, _ in seen)
    write_started = next(t for t, p in phases if p == "writing")
    during_write = [r for r in seen if r[0] >= write_started]
    assert len(seen) > 10 and during_write, "readers ran before and while the recompute wrote"
    assert max(r[3] for r in seen) < 2.0  # no reader waited on the writer
