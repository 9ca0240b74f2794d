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
from sinergia.serving.recompute import MONTHS, pick_scores, recompute
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
    assert a1.drivers["health"] == {"as_of": "2026-03-30", "explanation": {"usage": 0.4}, "score": "health"}
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


# -- preferred score horizons, per-ticket SLA status, CX and support breakdowns -----------------------------
SLA_D = dt.date(2026, 3, 31)  # cut-off 2026-04-01 00:00 UTC
SLA_FILES = {
    "accounts.csv": """account_id,name,segment,persona,created_at
A1,Alpha,SMB,admin,2025-12-01T00:00:00Z
A2,Beta,Enterprise,exec,2025-06-01T00:00:00Z
""",
    "subscriptions.csv": """subscription_id,account_id,plan,started_at,ended_at,mrr,currency
s1,A1,pro,2026-01-10T00:00:00Z,,100,BRL
s2,A2,enterprise,2025-07-01T00:00:00Z,,250,BRL
""",
    "tickets.csv": """ticket_id,account_id,subject,channel,priority,team,status,created_at,first_reply_at,solved_at
t1,A1,Login fails,email,high,N1,open,2026-03-20T10:00:00Z,2026-03-20T12:00:00Z,
t2,A1,Invoice copy,email,low,N1,solved,2026-02-01T10:00:00Z,2026-02-02T12:00:00Z,2026-02-02T12:00:00Z
t3,A2,Export broken,chat,normal,N2,solved,2026-03-30T10:00:00Z,2026-03-30T11:00:00Z,2026-04-02T10:00:00Z
t4,A2,Outage,chat,high,N2,open,2026-03-31T21:00:00Z,,
""",
    "survey_responses.csv": """response_id,account_id,survey,score,scale_min,scale_max,responded_at,touchpoint
r1,A1,nps,9,0,10,2026-03-05T00:00:00Z,onboarding
r2,A1,nps,6,0,10,2026-03-06T00:00:00Z,onboarding
r3,A2,nps,10,0,10,2026-03-07T00:00:00Z,support
""",
}
SLA_CONFIG = """metrics:
  sla_policies:
    - name: Std
      targets:
        first_reply_time: {low: 24, normal: 8, high: 4}
        full_resolution_time: {high: 48}
"""


@pytest.fixture(scope="module")
def sla_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from sinergia.workspace import open_workspace

    root = tmp_path_factory.mktemp("sla")
    init_workspace(root / "ws")
    with (root / "ws" / "sinergia.yaml").open("a", encoding="utf-8") as config:
        config.write(SLA_CONFIG)
    ws = open_workspace(root / "ws")
    files = []
    for name, text in SLA_FILES.items():
        path = root / name
        path.write_text(text, encoding="utf-8")
        files.append(path)
    assert ingest_files(ws, files, preset="sinergia").totals().quarantined == 0
    day = dt.date(2026, 3, 30)
    stored = (("churn_risk_180d", [0.5, 0.3]), ("churn_risk_90d", [0.2, 0.1]), ("clv_24m", [5000.0, 9000.0]))
    for score, values in stored:
        frame = pd.DataFrame({"account_id": ["A1", "A2"], "as_of": [day, day], "value": values,
                              "explanation": [{"why": score}, {"why": score}]})
        write_scores(ws, frame, score=score)
    # every test below reads a computed store, whichever runs first (or alone)
    recompute(ws, SLA_D, metrics=METRICS)
    yield ws
    dispose_engine(ws.store_url)


METRICS = ["mrr", "nps", "sla_achievement_rate", "first_reply_time"]


def test_pick_scores_prefers_the_horizon_then_falls_back() -> None:
    stored = ["health", "churn_risk_30d", "churn_risk_90d", "churn_risk_180d", "clv_24m", "clv_12m"]
    assert pick_scores(stored) == {"health": "health", "churn_risk": "churn_risk_90d", "clv": "clv_12m"}
    assert pick_scores(stored, churn_horizon="180d", clv_horizon="24m") == {
        "health": "health", "churn_risk": "churn_risk_180d", "clv": "clv_24m"}
    # preferred one absent: a score named exactly like the family, else the shortest horizon stored
    assert pick_scores(["churn_risk", "churn_risk_180d"])["churn_risk"] == "churn_risk"
    assert pick_scores(["churn_risk_180d", "churn_risk_30d", "clv_24m", "clv_6m"]) == {
        "health": None, "churn_risk": "churn_risk_30d", "clv": "clv_6m"}
    assert pick_scores([]) == {"health": None, "churn_risk": None, "clv": None}


def test_snapshot_scores_use_the_preferred_horizon(sla_ws: Workspace) -> None:
    report = recompute(sla_ws, SLA_D, metrics=METRICS)
    assert report.scores == {"health": None, "churn_risk": "churn_risk_90d", "clv": "clv_24m"}  # clv_12m absent
    with _session(sla_ws) as s:
        rows = {r.account_id: r for r in s.scalars(select(AccountSnapshot).where(AccountSnapshot.as_of == SLA_D))}
        a1, a2 = rows["A1"], rows["A2"]
        assert (a1.arr, a1.churn_risk, a1.clv) == (1200.0, 0.2, 5000.0)
        assert a1.arr_at_risk == pytest.approx(240.0)  # 12 x 100 x 0.2
        assert a2.arr_at_risk == pytest.approx(300.0)  # 12 x 250 x 0.1
        assert a1.drivers["churn_risk"] == {"as_of": "2026-03-30", "explanation": {"why": "churn_risk_90d"},
                                            "score": "churn_risk_90d"}
        assert a1.drivers["clv"]["score"] == "clv_24m"
        at_risk = repo.list_accounts(s, repo.AccountFilter(min_churn_risk=0.0, paying=True), as_of=SLA_D,
                                     sort="-arr_at_risk", limit=10)
        assert [r.account_id for r in at_risk.items] == ["A2", "A1"]
    # another horizon, as asked
    report = recompute(sla_ws, SLA_D, metrics=METRICS, churn_horizon="180d")
    assert report.scores["churn_risk"] == "churn_risk_180d"
    with _session(sla_ws) as s:
        a1 = repo.get_account(s, "A1", as_of=SLA_D)
        assert (a1.churn_risk, a1.arr_at_risk) == (0.5, pytest.approx(600.0))  # 1200 x 0.5
    recompute(sla_ws, SLA_D, metrics=METRICS)


def test_ticket_sla_status_by_hand(sla_ws: Workspace) -> None:
    with _session(sla_ws) as s:
        events = s.scalars(select(AccountEvent).where(AccountEvent.as_of == SLA_D, AccountEvent.kind == "ticket"))
        sla = {e.details["ticket_id"]: e.details["sla"] for e in events}

    def targets(ticket: str) -> list[tuple[str, str, float, float | None]]:
        return [(t["metric"], t["status"], t["target_hours"], t["measured_hours"]) for t in sla[ticket]["targets"]]

    # t1 (high): replied after 2 h <= 4 h; unresolved 11 days 14 h at the cut-off > 48 h
    assert sla["t1"]["status"] == "breached"
    assert targets("t1") == [("first_reply_time", "achieved", 4.0, 2.0), ("full_resolution_time", "breached", 48.0,
                                                                           278.0)]  # 20 Mar 10:00 -> 1 Apr 00:00
    # t2 (low): replied after 26 h > 24 h; no full-resolution target for low
    assert sla["t2"]["status"] == "breached"
    assert targets("t2") == [("first_reply_time", "breached", 24.0, 26.0)]
    # t3 (normal): replied after 1 h <= 8 h (solved after the cut-off; no full-resolution target for normal)
    assert sla["t3"] == {"status": "achieved", "targets": [
        {"policy": "Std", "metric": "first_reply_time", "target_hours": 8.0, "status": "achieved",
         "measured_hours": 1.0}]}
    # t4 (high): created 3 h before the cut-off, no reply yet: both targets still running -> pending
    assert sla["t4"]["status"] == "pending"
    assert targets("t4") == [("first_reply_time", "pending", 4.0, None), ("full_resolution_time", "pending", 48.0,
                                                                          None)]


def test_cx_and_support_breakdowns_by_hand(sla_ws: Workspace) -> None:
    march = dt.date(2026, 3, 1)
    with _session(sla_ws) as s:
        def value(metric: str, group: str, start: dt.date = march) -> float | None:
            return next(p.value for p in repo.metric_series(s, metric, group_key=group, as_of=SLA_D)
                        if p.period_start == start)

        # SLA targets decided in March: t1 reply achieved (20 Mar), t1 resolution breached (22 Mar 10:00),
        # t3 reply achieved (30 Mar); February: t2 reply breached
        assert value("sla_achievement_rate", "") == pytest.approx(2 / 3)
        assert value("sla_achievement_rate", "priority=high") == pytest.approx(1 / 2)
        assert value("sla_achievement_rate", "priority=normal") == pytest.approx(1.0)
        assert value("sla_achievement_rate", "priority=low", dt.date(2026, 2, 1)) == pytest.approx(0.0)
        assert value("sla_achievement_rate", "channel=email") == pytest.approx(1 / 2)
        assert value("sla_achievement_rate", "channel=chat") == pytest.approx(1.0)
        assert value("sla_achievement_rate", "team=N1") == pytest.approx(1 / 2)
        # NPS in March: onboarding 9 (promoter) and 6 (detractor) -> 100 x (1 - 1) / 2 = 0; support 10 -> 100
        assert value("nps", "touchpoint=onboarding") == pytest.approx(0.0)
        assert value("nps", "touchpoint=support") == pytest.approx(100.0)
        # persona: the respondent contact's, else the account's (A1 admin, A2 exec)
        assert value("nps", "persona=admin") == pytest.approx(0.0)
        assert value("nps", "persona=exec") == pytest.approx(100.0)
        groups = set(repo.metric_groups(s, "nps", as_of=SLA_D))
        assert {"touchpoint=onboarding", "persona=exec", "segment=SMB"} <= groups
        assert not any(g.startswith(("priority=", "team=")) for g in groups)  # NPS cannot be split by them
        # MRR is only split by segment (not a CX or support metric)
        assert set(repo.metric_groups(s, "mrr", as_of=SLA_D)) == {"", "segment=Enterprise", "segment=SMB"}


def test_demo_workspace_config_carries_the_generators_sla() -> None:
    import yaml

    from sinergia.demo.workspace_config import config_section
    from sinergia.metrics.settings import MetricSettings

    settings = MetricSettings(**yaml.safe_load(config_section())["metrics"])
    (policy,) = settings.sla_policies
    assert policy.when == {} and policy.calendar is None  # every ticket, calendar hours
    # the first-reply SLA the generator answers against (sinergia.demo._support.SLA_HOURS, tag sla_breach)
    assert policy.targets["first_reply_time"] == {"low": 24.0, "normal": 8.0, "high": 4.0, "urgent": 1.0}
    assert policy.targets["full_resolution_time"] == {"low": 240.0, "normal": 120.0, "high": 72.0, "urgent": 24.0}
    # and the first-value milestone (time to value, the onboarding_stuck playbook): the first report created
    assert settings.time_to_first_value == "first_value"
    assert settings.milestones["first_value"].event == "report_created"
