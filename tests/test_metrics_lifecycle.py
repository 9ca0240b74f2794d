"""Lifecycle metrics (activity, stickiness, adoption, licences, time to value, outcome ROI), DuckDB and Spark.

As of 15 Mar 2024, monthly periods: February (29 days) and March (partial: 1–15 Mar, 15 days). Every
timestamp is at 12:00 of its day.

Accounts (plan, licences, created, segment):
- A Growth 4, 1 Jan, SMB — paying (subscription from 1 Jan); users a1, a2
- B Basic 2, 10 Jan, Enterprise — users b1, b2
- C Growth 0, 1 Feb, SMB — user c1
- D Basic 5, 1 Dec 2023, Enterprise — paying (subscription from 1 Dec), never active before the cut-off
- E Growth 3, 20 Feb, SMB — user e1
- G Basic (no licences), 20 Jan, SMB — never active
- H Basic (no licences), 10 Mar, SMB — user h1, who used the product in a trial before H was created

Settings: milestones first_value = report_created (the time-to-first-value milestone) and integrated =
integration_connected; automations only on the Growth plan; outcomes hours_saved (higher is better) and
handle_time (lower is better).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pandas as pd
import pytest

from metric_fixtures import ENGINES, make_source
from sinergia.metrics import compute, rows
from sinergia.metrics.settings import MetricSettings

T = pd.Timestamp
AS_OF = dt.date(2024, 3, 15)
FEB, MAR = T("2024-02-01"), T("2024-03-01")
LIFECYCLE = ["active_accounts", "active_users", "stickiness", "feature_adoption_rate", "adoption_breadth",
             "adoption_depth", "license_utilization", "time_to_first_value", "ttfv_reached_rate", "time_to_value",
             "outcome_roi"]
SETTINGS = MetricSettings.model_validate({
    "milestones": {"first_value": {"event": "report_created"}, "integrated": {"event": "integration_connected"}},
    "time_to_first_value": "first_value",
    "features": {"automations": {"plans": ["Growth"]}},
    "outcomes": {"hours_saved": {"event": "kpi_hours_saved"},
                 "handle_time": {"event": "kpi_handle_time", "higher_is_better": False}},
})


def acc(aid: str, plan: str, licenses: int | None, created: str, segment: str) -> dict[str, Any]:
    return {"account_id": aid, "plan": plan, "licenses": licenses, "created_at": T(f"{created} 12:00"),
            "segment": segment}


def ev(eid: str, account: str | None, contact: str | None, event: str, feature: str | None, day: str,
       quantity: float | None = None) -> dict[str, Any]:
    return {"event_id": eid, "account_id": account, "contact_id": contact, "event": event, "feature": feature,
            "occurred_at": T(f"{day} 12:00"), "quantity": quantity}


def kpi(eid: str, account: str, event: str, day: str, value: float | None) -> dict[str, Any]:
    return ev(eid, account, None, event, None, day, value)


EVENTS = [
    # outcome KPIs, account-level (no user): baselines in each account's first 30 days
    kpi("k01", "A", "kpi_hours_saved", "2024-01-05", 10),
    kpi("k02", "A", "kpi_hours_saved", "2024-01-20", 20),
    kpi("k03", "A", "kpi_handle_time", "2024-01-10", 50),
    kpi("k04", "B", "kpi_hours_saved", "2024-01-15", 8),
    kpi("k05", "B", "kpi_hours_saved", "2024-02-05", 12),  # before B's baseline ends (9 Feb): baseline
    kpi("k06", "A", "kpi_hours_saved", "2024-02-10", 18),
    kpi("k07", "A", "kpi_handle_time", "2024-02-12", 35),
    kpi("k08", "B", "kpi_hours_saved", "2024-02-15", 9),
    kpi("k09", "A", "kpi_hours_saved", "2024-02-20", 24),
    kpi("k10", "A", "kpi_hours_saved", "2024-02-25", None),  # no value: left out
    kpi("k11", "A", "kpi_hours_saved", "2024-03-05", 30),
    # February use
    ev("u01", "A", "a1", "login", None, "2024-02-01"),
    ev("u02", "A", "a1", "report_created", "reports", "2024-02-02"),
    ev("u03", "A", "a1", "report_created", "reports", "2024-02-03"),
    ev("u04", "A", "a1", "automation_run", "automations", "2024-02-03"),
    ev("u05", "A", "a2", "integration_connected", "integrations", "2024-02-04"),
    ev("u06", "B", "b1", "report_created", "reports", "2024-02-05"),
    ev("u07", "B", "b1", "automation_run", "automations", "2024-02-06"),  # B's plan does not include it
    ev("u08", None, "b2", "login", None, "2024-02-08"),  # account from the contact: B
    ev("u09", None, "c1", "report_created", "reports", "2024-02-10"),  # account from the contact: C
    ev("u10", None, None, "login", None, "2024-02-11"),  # nobody's: left out
    # March use (by the cut-off)
    ev("u11", "A", "a1", "report_created", "reports", "2024-03-04"),
    ev("u12", "E", "e1", "login", None, "2024-03-02"),
    ev("u17", "H", "h1", "report_created", "reports", "2024-03-08"),  # before H's created_at (10 Mar)
    # after the as-of date: never seen
    ev("u13", "A", "a2", "report_created", "reports", "2024-03-20"),
    ev("u14", "D", None, "login", None, "2024-03-25"),
    ev("u15", "E", "e1", "report_created", "reports", "2024-03-20"),
    ev("u16", "B", "b1", "integration_connected", "integrations", "2024-03-20"),
]
BOOK = {
    "accounts": [
        acc("A", "Growth", 4, "2024-01-01", "SMB"),
        acc("B", "Basic", 2, "2024-01-10", "Enterprise"),
        acc("C", "Growth", 0, "2024-02-01", "SMB"),
        acc("D", "Basic", 5, "2023-12-01", "Enterprise"),
        acc("E", "Growth", 3, "2024-02-20", "SMB"),
        acc("G", "Basic", None, "2024-01-20", "SMB"),
        acc("H", "Basic", None, "2024-03-10", "SMB"),
    ],
    "contacts": [{"contact_id": c, "account_id": c[0].upper()} for c in ("a1", "a2", "b1", "b2", "c1", "e1", "h1")],
    "subscriptions": [
        {"subscription_id": "sA", "account_id": "A", "started_at": T("2024-01-01"), "mrr": 200, "currency": "BRL"},
        {"subscription_id": "sD", "account_id": "D", "started_at": T("2023-12-01"), "mrr": 100, "currency": "BRL"},
    ],
    "usage_events": EVENTS,
}
KW: dict[str, Any] = {"as_of": AS_OF, "period": "month", "count": 2, "settings": SETTINGS}


def row(frame: pd.DataFrame, metric: str, period: pd.Timestamp, **group: Any) -> pd.Series:
    part = frame[(frame.metric == metric) & (frame.period_start == period)]
    for column, value in group.items():
        part = part[part[column] == value]
    assert len(part) == 1, (metric, period, group, part)
    return part.iloc[0]


def value(frame: pd.DataFrame, metric: str, period: pd.Timestamp, **group: Any) -> float | None:
    v = row(frame, metric, period, **group).value
    return None if pd.isna(v) else float(v)


def both(frame: pd.DataFrame, metric: str) -> list[float | None]:
    return [value(frame, metric, FEB), value(frame, metric, MAR)]


@pytest.fixture(scope="module", params=ENGINES)
def result(request: pytest.FixtureRequest) -> pd.DataFrame:
    return compute(make_source(BOOK, request.param), LIFECYCLE, **KW)


def test_active_accounts_and_users(result: pd.DataFrame) -> None:
    # Feb: A, B (u08 through its contact b2), C (u09 through c1); u10 has no account. Mar: A, E, H
    # (D's event of 25 Mar is after the as-of date)
    assert both(result, "active_accounts") == [3.0, 3.0]
    # Feb: a1, a2, b1, b2, c1 (KPI events have no user); Mar: a1, e1, h1 (a2's 20 Mar event is in the future)
    assert both(result, "active_users") == [5.0, 3.0]


def test_stickiness(result: pd.DataFrame) -> None:
    # Feb active days: a1 {1, 2, 3} = 3, a2 1, b1 {5, 6} = 2, b2 1, c1 1 → Σ 8 / (29 days × 5 users) = 8/145
    feb = row(result, "stickiness", FEB)
    assert feb.value == pytest.approx(8 / 145)
    assert (feb.numerator, feb.denominator) == (8.0, 145.0)
    # Mar (partial, 1–15 Mar = 15 days): a1, e1, h1 one day each → 3 / (15 × 3) = 1/15
    assert value(result, "stickiness", MAR) == pytest.approx(1 / 15)


def test_feature_adoption(result: pd.DataFrame) -> None:
    # Features: reports, automations, integrations (all first used in Feb; automations also configured).
    # Feb eligible pairs: A (Growth) 3, B (Basic, no automations) 2, C (Growth) 3 = 8.
    # Used: A reports, automations, integrations; B reports (its automations use is ineligible); C reports → 5/8
    feb = row(result, "feature_adoption_rate", FEB)
    assert (feb.numerator, feb.denominator, feb.value) == (5.0, 8.0, 0.625)
    # Mar: A (Growth) 3 + E (Growth) 3 + H (Basic) 2 = 8 pairs; used: A reports, H reports → 2/8
    assert value(result, "feature_adoption_rate", MAR) == 0.25
    # breadth Feb: A 3/3, B 1/2, C 1/3 → (1 + 0.5 + 0.3333) / 3 = 11/18
    assert value(result, "adoption_breadth", FEB) == pytest.approx(11 / 18)
    # breadth Mar: A 1/3, E 0/3, H 1/2 → (1/3 + 0 + 1/2) / 3 = 5/18
    assert value(result, "adoption_breadth", MAR) == pytest.approx(5 / 18)
    # depth Feb: A 4 feature events / 3 features, B 2/2 (ineligible use still counts), C 1/1 → (4/3 + 1 + 1) / 3
    assert value(result, "adoption_depth", FEB) == pytest.approx(10 / 9)
    # depth Mar: A 1/1, H 1/1 (E has no feature event: left out) → 1
    assert value(result, "adoption_depth", MAR) == 1.0


def test_license_utilization(result: pd.DataFrame) -> None:
    # Feb: paying or active accounts with licences > 0: A (2 users / 4), B (2 / 2), D (paying, 0 / 5);
    # C has 0 licences → (2 + 2 + 0) / (4 + 2 + 5) = 4/11
    feb = row(result, "license_utilization", FEB)
    assert (feb.numerator, feb.denominator) == (4.0, 11.0)
    # Mar: A 1/4, D 0/5, E 1/3 (H has no licences; B neither pays nor is active) → 2/12
    assert value(result, "license_utilization", MAR) == pytest.approx(2 / 12)


def test_time_to_value(result: pd.DataFrame) -> None:
    # first report_created: A 2 Feb − 1 Jan = 32 d, B 5 Feb − 10 Jan = 26 d, C 10 Feb − 1 Feb = 9 d → median 26
    feb = row(result, "time_to_first_value", FEB)
    assert (feb.value, int(feb.n)) == (26.0, 3)
    # Mar: H reached it on 8 Mar, 2 days before it was created → 0 days; E reaches it on 20 Mar (future)
    assert (value(result, "time_to_first_value", MAR), int(row(result, "time_to_first_value", MAR).n)) == (0.0, 1)
    # reached rate, accounts whose first 30 days ended in the period: Feb B (9 Feb, reached 5 Feb ✓), G (19 Feb,
    # never ✗) → 1/2; Mar C (2 Mar, reached 10 Feb ✓) → 1/1. E (21 Mar) and H (9 Apr) are too young.
    assert both(result, "ttfv_reached_rate") == [0.5, 1.0]
    # all milestones: only A has both (report 2 Feb, integration 4 Feb) → 4 Feb − 1 Jan = 34 d;
    # B's integration (20 Mar) is after the as-of date
    assert both(result, "time_to_value") == [34.0, None]


def test_outcome_roi(result: pd.DataFrame) -> None:
    # hours_saved A: baseline (10 + 20) / 2 = 15, Feb (18 + 24) / 2 = 21 (k10 has no value) → +6 / 15
    # hours_saved B: baseline (8 + 12) / 2 = 10 (k05 is inside B's first 30 days), Feb 9 → −1 / 10
    # handle_time A (lower is better): baseline 50, Feb 35 → +15 / 50
    # ROI Feb = (6 − 1 + 15) / (15 + 10 + 50) = 20/75
    feb = row(result, "outcome_roi", FEB)
    assert (feb.numerator, feb.denominator) == (20.0, 75.0)
    assert feb.value == pytest.approx(20 / 75)
    # Mar: hours_saved A 30 → (30 − 15) / 15 = 1
    assert value(result, "outcome_roi", MAR) == pytest.approx(1.0)


def test_splits_sum_to_totals() -> None:
    source = make_source(BOOK)
    seg = compute(source, ["active_accounts", "stickiness", "license_utilization", "feature_adoption_rate"],
                  by=["segment"], **KW)
    feb = seg[seg.period_start == FEB]
    # active accounts Feb: SMB A, C = 2; Enterprise B = 1 → 3
    assert value(seg, "active_accounts", FEB, segment="SMB") == 2.0
    assert feb[feb.metric == "active_accounts"].value.sum() == 3.0
    # licences Feb: SMB A 2/4; Enterprise B 2/2 + D 0/5 = 2/7 → Σ 4/11
    assert value(seg, "license_utilization", FEB, segment="Enterprise") == pytest.approx(2 / 7)
    for metric, total in (("stickiness", (8.0, 145.0)), ("license_utilization", (4.0, 11.0)),
                          ("feature_adoption_rate", (5.0, 8.0))):
        part = feb[feb.metric == metric]
        assert (part.numerator.sum(), part.denominator.sum()) == total, metric

    feature = compute(source, "feature_adoption_rate", by=["feature"], **KW)
    # reports A B C / A B C = 1; automations A / A C = 0.5 (B not eligible); integrations A / A B C = 1/3
    assert value(feature, "feature_adoption_rate", FEB, feature="reports") == 1.0
    assert value(feature, "feature_adoption_rate", FEB, feature="automations") == 0.5
    assert value(feature, "feature_adoption_rate", FEB, feature="integrations") == pytest.approx(1 / 3)
    part = feature[feature.period_start == FEB]
    assert (part.numerator.sum(), part.denominator.sum()) == (5.0, 8.0)

    outcome = compute(source, "outcome_roi", by=["outcome"], **KW)
    # hours_saved (6 − 1) / (15 + 10) = 0.2; handle_time 15 / 50 = 0.3
    assert value(outcome, "outcome_roi", FEB, outcome="hours_saved") == pytest.approx(0.2)
    assert value(outcome, "outcome_roi", FEB, outcome="handle_time") == pytest.approx(0.3)
    part = outcome[outcome.period_start == FEB]
    assert (part.numerator.sum(), part.denominator.sum()) == (20.0, 75.0)


def test_absent_settings_give_nulls_not_numbers() -> None:
    kw = {**KW, "settings": MetricSettings()}
    out = compute(make_source(BOOK), ["time_to_first_value", "ttfv_reached_rate", "time_to_value", "outcome_roi",
                                      "feature_adoption_rate"], **kw)
    for metric in ("time_to_first_value", "ttfv_reached_rate", "time_to_value", "outcome_roi"):
        assert both(out, metric) == [None, None], metric
        assert list(out[out.metric == metric].n) == [0, 0]
    # no plan rules: every active account is eligible for every feature. Feb: 3 accounts × 3 features = 9;
    # used A 3, B 2 (reports, automations), C 1 → 6/9
    assert value(out, "feature_adoption_rate", FEB) == pytest.approx(6 / 9)


def test_shuffled_input_gives_the_same_result() -> None:
    shuffled = {name: random.Random(11).sample(rows_, len(rows_)) for name, rows_ in BOOK.items()}
    a = compute(make_source(BOOK), LIFECYCLE, **KW)
    b = compute(make_source(shuffled), LIFECYCLE, **KW)
    pd.testing.assert_frame_equal(a, b)


def test_drill_down_shows_who_reached_and_who_did_not() -> None:
    source = make_source(BOOK)
    ttfv = rows(source, "time_to_first_value", **KW)
    assert sorted(zip(ttfv.account_id, ttfv.x, strict=True)) == [("A", 32.0), ("B", 26.0), ("C", 9.0), ("H", 0.0)]
    reached = rows(source, "ttfv_reached_rate", **KW)
    assert sorted(zip(reached.account_id, reached.num, strict=True)) == [("B", 1), ("C", 1), ("G", 0)]
    users = rows(source, "license_utilization", where={"segment": "Enterprise"}, **KW)
    assert sorted(zip(users.period_start.dt.month, users.account_id, users.num, strict=True)) == [
        (2, "B", 2), (2, "D", 0), (3, "D", 0)
    ]
