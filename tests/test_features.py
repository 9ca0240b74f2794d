"""Point-in-time account features and labels (sinergia.models.features) on a hand-made book.

As of 2025-06-30 the cut-off is 2025-07-01 00:00 UTC; the 30/60/90-day windows start 2025-06-01, 2025-05-02
and 2025-04-02. The label window of a 90-day horizon is [2025-07-01, 2025-09-29).

    A  annual subscription from 2025-01-01: new 100 → expansion 150 (05-15) → contraction 120 (06-10)
       → expansion 200 (08-01, after the as-of date: a label, never a feature)
    B  monthly, plain row (no changes) from 2025-04-01 at 50, ended 2025-08-15   (churns inside the window)
    C  2025-01-01 → 2025-05-01                                                    (not paying on 06-30)
    D  starts 2025-07-10                                                          (not paying on 06-30)
    E  monthly from 2025-02-01 at 10, ended exactly 2025-09-29 00:00             (the window's open end)
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd
import pytest

from metric_fixtures import make_source
from sinergia.errors import UsageError
from sinergia.models.features import (
    FEATURE_NAMES,
    FEATURES,
    NO_USAGE_DAYS,
    account_features,
    churn_labels,
    data_end,
    data_start,
    expansion_labels,
    feature_label,
)

AS_OF = dt.date(2025, 6, 30)


def _ev(i: int, account: str, when: str, contact: str | None, feature: str | None) -> dict[str, Any]:
    return {"event_id": f"e{i}", "account_id": account, "contact_id": contact, "event": "click", "feature": feature,
            "occurred_at": when}


def _chg(i: str, account: str, when: str, kind: str, before: float, after: float, sub: str = "s-a") -> dict[str, Any]:
    return {"change_id": i, "subscription_id": sub, "account_id": account, "changed_at": when, "kind": kind,
            "mrr_before": before, "mrr_after": after, "currency": "BRL"}


def _sub(sub: str, account: str, start: str, end: str | None, mrr: float, period: str) -> dict[str, Any]:
    return {"subscription_id": sub, "account_id": account, "started_at": start, "ended_at": end, "mrr": mrr,
            "currency": "BRL", "billing_period": period}


def _ticket(tid: str, created: str, priority: str, **extra: Any) -> dict[str, Any]:
    return {"ticket_id": tid, "account_id": "A", "created_at": created, "priority": priority, **extra}


def _tev(eid: str, tid: str, when: str, status: str, seq: int) -> dict[str, Any]:
    return {"event_id": eid, "ticket_id": tid, "occurred_at": when, "kind": "status", "status": status, "sequence": seq}


def _nps(rid: str, when: str, score: float | None, survey: str = "nps", low: int = 0, high: int = 10) -> dict[str, Any]:
    return {"response_id": rid, "account_id": "A", "survey": survey, "score": score, "scale_min": low,
            "scale_max": high, "responded_at": when}


def book() -> dict[str, list[dict[str, Any]]]:
    return {
        "contacts": [{"contact_id": "a1", "account_id": "A"}],
        "accounts": [{"account_id": a, "segment": "SMB" if a == "A" else "Enterprise", "industry": "Retail"}
                     for a in "ABCDE"],
        "subscriptions": [
            _sub("s-a", "A", "2025-01-01", None, 200, "year"),
            _sub("s-b", "B", "2025-04-01", "2025-08-15", 50, "month"),
            _sub("s-c", "C", "2025-01-01", "2025-05-01", 80, "month"),
            _sub("s-d", "D", "2025-07-10", None, 90, "month"),
            _sub("s-e", "E", "2025-02-01", "2025-09-29", 10, "month"),
        ],
        "subscription_changes": [
            _chg("c1", "A", "2025-01-01", "new", 0, 100),
            _chg("c2", "A", "2025-05-15", "expansion", 100, 150),
            _chg("c3", "A", "2025-06-10", "contraction", 150, 120),
            _chg("c4", "A", "2025-08-01", "expansion", 120, 200),
        ],
        "usage_events": [
            _ev(1, "A", "2025-03-01 10:00", "a1", "core"),       # before the 90-day window
            _ev(2, "A", "2025-04-15 10:00", "a1", "dashboards"),  # 90-day window only
            _ev(3, "A", "2025-05-10 10:00", "a1", "core"),       # previous 30 days
            _ev(4, "A", "2025-05-31 10:00", "a3", "api"),        # previous 30 days (last day)
            _ev(5, "A", "2025-06-05 10:00", "a1", "core"),       # last 30 days
            _ev(6, "A", "2025-06-20 10:00", "a2", "reports"),    # last 30 days
            _ev(7, "A", "2025-06-30 23:59:59", "a1", "core"),    # last 30 days (last second)
            {**_ev(8, "A", "2025-06-10 10:00", "a1", "core"), "account_id": None},  # A's through its contact a1
        ],
        "tickets": [
            # urgent, first reply after 2 h > 1 h target: a breach; solved next day
            _ticket("t1", "2025-06-01 10:00", "urgent", first_reply_at="2025-06-01 12:00", solved_at="2025-06-02"),
            # high, deadline 2025-07-01 00:00 = the cut-off: not breached yet; open at the cut-off
            _ticket("t2", "2025-06-30 20:00", "high"),
            # normal, replied within 1 h; history: solved, reopened 05-20, solved again
            _ticket("t3", "2025-05-01 08:00", "normal", first_reply_at="2025-05-01 09:00", solved_at="2025-05-21"),
            # before the window, no history: its 2 reopens count at its last update (04-10, in the window)
            _ticket("t4", "2025-03-01 08:00", "low", first_reply_at="2025-03-01 09:00", solved_at="2025-03-05",
                    updated_at="2025-04-10", reopens=2),
        ],
        "ticket_events": [
            _tev("h1", "t3", "2025-05-01 08:00", "new", 1),
            _tev("h2", "t3", "2025-05-02 08:00", "solved", 2),
            _tev("h3", "t3", "2025-05-20 08:00", "open", 3),
            _tev("h4", "t3", "2025-05-21 08:00", "solved", 4),
        ],
        "survey_responses": [
            _nps("r0", "2024-05-01", 2),               # more than 365 days before the cut-off: not seen
            _nps("r1", "2025-01-10", 6),
            _nps("r2", "2025-06-15", 9),
            _nps("r3", "2025-05-03", 2, "csat", 1, 5),
            _nps("r4", "2025-06-02", 4, "csat", 1, 5),
            _nps("r5", "2025-06-20", None, "csat", 1, 5),  # unrated: ignored
        ],
    }  # fmt: skip


def after_the_cut_off() -> dict[str, list[dict[str, Any]]]:
    """Rows stamped at or after the cut-off, for every table a feature reads."""
    return {
        "subscriptions": [_sub("s-b2", "B", "2025-07-02", None, 500, "year")],
        "subscription_changes": [_chg("c9", "A", "2025-07-01", "contraction", 120, 60),
                                 _chg("c10", "A", "2025-07-05", "expansion", 60, 120)],
        "usage_events": [_ev(100 + i, acc, f"2025-07-0{1 + i % 5} 00:00", f"z{i}", f"new{i}")
                         for i, acc in enumerate("AABBE")],
        "tickets": [_ticket("t9", "2025-07-01 00:00", "urgent"),
                    {"ticket_id": "t8", "account_id": "B", "created_at": "2025-07-03", "priority": "low"}],
        "ticket_events": [_tev("h9", "t3", "2025-07-02 08:00", "open", 5),
                          _tev("h10", "t1", "2025-07-02 08:00", "open", 9)],
        "survey_responses": [_nps("r9", "2025-07-01 00:00", 0), _nps("r8", "2025-07-02", 1, "ces", 1, 7)],
        "text_sentiment": [_text("x9", "A", "2025-07-01 00:00", -1.0, "negative"),
                           _text("x8", "B", "2025-07-02", -0.8, "negative")],
    }  # fmt: skip


def _text(tid: str, account: str, when: str, sentiment: float, polarity: str) -> dict[str, Any]:
    return {"source_entity": "feedback", "source_id": tid, "field": "text", "account_id": account, "at": when,
            "sentiment": sentiment, "polarity": polarity}


def _source(data: dict[str, list[dict[str, Any]]]) -> Any:
    """make_source with the text times parsed one by one (they mix 'YYYY-MM-DD' and 'YYYY-MM-DD HH:MM[:SS]');
    ``text_sentiment`` rows (a derived table, not an entity) become that table of the backend."""
    stamped = {name: [{k: pd.Timestamp(v) if k.endswith("_at") and isinstance(v, str) else v for k, v in row.items()}
                      for row in rows] for name, rows in data.items()}  # fmt: skip
    source = make_source(stamped)
    if "text_sentiment" in data:
        import ibis

        from sinergia.engine.tables import TEXT_TABLES

        columns = TEXT_TABLES["text_sentiment"]
        rows = pd.DataFrame([{c: r.get(c) for c in columns} for r in data["text_sentiment"]], columns=list(columns))
        rows["at"] = [pd.Timestamp(v) for v in rows["at"]]  # mixed "YYYY-MM-DD" and "YYYY-MM-DD HH:MM"
        rows["sentiment"] = rows["sentiment"].astype("float64")
        types = {"VARCHAR": "string", "TIMESTAMP": "timestamp", "DOUBLE": "float64"}
        schema = {c: types[t] for c, t in columns.items()}
        source.backend.create_table("text_sentiment", ibis.memtable(rows, schema=schema), overwrite=True)
    return source


def _merge(*books: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for b in books:
        for name, rows in b.items():
            out.setdefault(name, []).extend(rows)
    return out


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return account_features(_source(book()), [AS_OF]).set_index("account_id")


def test_population_is_the_accounts_paying_at_the_as_of_date(features: pd.DataFrame) -> None:
    assert sorted(features.index) == ["A", "B", "E"]  # C ended before, D starts after
    assert list(account_features(_source(book()), [AS_OF]).columns) == ["account_id", "as_of", *FEATURE_NAMES]
    assert set(features["as_of"]) == {AS_OF}


def test_billing_features_by_hand(features: pd.DataFrame) -> None:
    a, b = features.loc["A"], features.loc["B"]
    assert a["mrr"] == 120.0                  # after the 06-10 contraction; the 08-01 expansion is in the future
    assert a["mrr_change_90d"] == 20.0        # 120 − 100 (MRR on 2025-04-02)
    assert a["contractions_90d"] == 1 and a["expansions_90d"] == 1   # 06-10 and 05-15
    assert a["tenure_days"] == 181.0          # 2025-01-01 → 2025-07-01
    assert a["annual_contract"] == 1
    assert a["days_to_renewal"] == pytest.approx(365.25 - 181, abs=0.01)   # 184.25
    assert b["mrr"] == 50.0 and b["mrr_change_90d"] == 0.0   # already 50 on 04-02 (started 04-01)
    assert b["tenure_days"] == 91.0 and b["annual_contract"] == 0
    # 91 days into monthly periods of 30.4375 d: 2 whole periods (60.875), 30.125 into the third → 0.3125 left
    assert b["days_to_renewal"] == pytest.approx(0.31, abs=0.01)
    assert a["segment"] == "SMB" and b["industry"] == "Retail"


def test_usage_features_by_hand(features: pd.DataFrame) -> None:
    a, b = features.loc["A"], features.loc["B"]
    assert a["events_30d"] == 4               # 06-05, 06-10 (no account_id: contact a1's), 06-20, 06-30 23:59:59
    assert a["events_prev_30d"] == 2          # 05-10, 05-31
    assert a["usage_trend"] == pytest.approx(2.0)   # 4 / 2
    assert a["events_90d"] == 7               # + 04-15; 03-01 is older than 90 days
    assert a["days_since_last_event"] == 0    # used on the as-of day itself
    assert a["active_users_30d"] == 2         # a1, a2
    assert a["features_used_30d"] == 2        # core, reports
    assert a["features_used_90d"] == 4        # core, reports, api, dashboards
    assert b["events_30d"] == 0 and b["events_90d"] == 0
    assert b["days_since_last_event"] == NO_USAGE_DAYS
    assert math.isnan(b["usage_trend"])       # no previous usage: undefined, not 0


def test_support_features_by_hand(features: pd.DataFrame) -> None:
    a, b = features.loc["A"], features.loc["B"]
    assert a["tickets_90d"] == 3              # t1, t2, t3 (t4 is from March)
    assert a["urgent_tickets_90d"] == 2       # t1 urgent, t2 high
    assert a["sla_breaches_90d"] == 1         # t1: replied after 2 h, target 1 h; t2's deadline is the cut-off
    assert a["reopens_90d"] == 3              # t3's history: solved → open on 05-20; t4: 2 at its update 04-10
    assert a["open_tickets"] == 1             # t2
    assert b["tickets_90d"] == 0 and b["open_tickets"] == 0


def test_survey_features_by_hand(features: pd.DataFrame) -> None:
    a, b = features.loc["A"], features.loc["B"]
    assert a["nps_last"] == 9.0 and a["nps_change"] == 3.0        # 9 − 6; the 2024 answer is out of the window
    assert a["csat_last"] == pytest.approx(0.75)                  # (4 − 1) / (5 − 1); the unrated answer is ignored
    assert a["csat_change"] == pytest.approx(0.5)                 # 0.75 − (2 − 1) / 4
    assert math.isnan(a["ces_last"]) and math.isnan(b["nps_last"])


TEXTS = [
    _text("x1", "A", "2025-06-20 10:00", -0.5, "negative"),
    _text("x2", "A", "2025-05-01 10:00", 0.3, "positive"),
    _text("x3", "A", "2025-03-01 10:00", -0.9, "negative"),   # older than 90 days (window from 2025-04-02)
    _text("x4", "E", "2025-04-02 00:00", 0.0, "neutral"),     # exactly the window's start: counts
]


def test_text_sentiment_features_by_hand() -> None:
    got = account_features(_source({**book(), "text_sentiment": TEXTS}), [AS_OF]).set_index("account_id")
    assert got.loc["A", "text_sentiment_90d"] == pytest.approx(-0.1)        # (−0.5 + 0.3) / 2; x3 too old
    assert got.loc["A", "negative_text_share_90d"] == pytest.approx(0.5)    # 1 of 2
    assert got.loc["E", "text_sentiment_90d"] == 0.0 and got.loc["E", "negative_text_share_90d"] == 0.0
    assert math.isnan(got.loc["B", "text_sentiment_90d"])                    # no texts: missing, not 0
    # a workspace whose texts were never scored has no table: the features are missing for everyone
    plain = account_features(_source(book()), [AS_OF])
    assert plain["text_sentiment_90d"].isna().all() and plain["negative_text_share_90d"].isna().all()
    # a later text (x9 at the cut-off) changes nothing
    later = account_features(_source({**book(), "text_sentiment": [*TEXTS, *after_the_cut_off()["text_sentiment"]]}),
                             [AS_OF]).set_index("account_id")
    pd.testing.assert_frame_equal(got, later)


def test_many_as_of_dates_at_once_equal_one_at_a_time() -> None:
    source = _source(book())
    days = [dt.date(2025, 4, 30), dt.date(2025, 5, 31), AS_OF]
    together = account_features(source, days)
    for day in days:
        alone = account_features(source, [day])
        pd.testing.assert_frame_equal(together[together["as_of"] == day].reset_index(drop=True), alone)
    # on 2025-05-31 A is at 150 (the 05-15 expansion), tenure 151 days
    may = together[(together["as_of"] == dt.date(2025, 5, 31)) & (together["account_id"] == "A")].iloc[0]
    assert may["mrr"] == 150.0 and may["tenure_days"] == 151.0 and may["contractions_90d"] == 0


# ---------------------------------------------------------------------------------------------------------------
# leakage: nothing at or after the cut-off may move a feature
# ---------------------------------------------------------------------------------------------------------------
def test_rows_after_the_cut_off_change_no_feature() -> None:
    before = account_features(_source(book()), [AS_OF])
    after = account_features(_source(_merge(book(), after_the_cut_off())), [AS_OF])
    pd.testing.assert_frame_equal(before, after)


def test_the_leakage_test_has_teeth() -> None:
    """The same extra rows one second *before* the cut-off do change features: the test above can fail."""
    extra = after_the_cut_off()
    moved = {name: [{**row, **{k: "2025-06-30 23:59:59" for k in ("occurred_at", "created_at", "responded_at",
                                                                   "changed_at", "started_at", "at") if k in row}}
                    for row in rows] for name, rows in extra.items()}  # fmt: skip
    before = account_features(_source(book()), [AS_OF]).set_index("account_id")
    leaked = account_features(_source(_merge(book(), moved)), [AS_OF]).set_index("account_id")
    changed = [c for c in FEATURE_NAMES if not before[c].equals(leaked.loc[before.index, c])]
    for name in ("events_30d", "tickets_90d", "nps_last", "mrr", "urgent_tickets_90d", "ces_last",
                 "text_sentiment_90d", "negative_text_share_90d"):
        assert name in changed, name


def test_answer_and_reply_times_after_the_cut_off_are_not_seen() -> None:
    """A first reply stamped after the cut-off does not clear a breach the as-of date already knew about."""
    data = book()
    data["tickets"][0]["first_reply_at"] = "2025-07-05 00:00"   # t1: no reply at all before the cut-off
    got = account_features(_source(data), [AS_OF]).set_index("account_id").loc["A"]
    assert got["sla_breaches_90d"] == 1


# ---------------------------------------------------------------------------------------------------------------
# labels
# ---------------------------------------------------------------------------------------------------------------
def test_churn_and_expansion_labels() -> None:
    source = _source(book())
    churn = churn_labels(source, [AS_OF], 90).set_index("account_id")["churned"].to_dict()
    assert churn == {"A": 0, "B": 1, "E": 0}   # B ends 08-15; E ends exactly at the window's open end 09-29
    assert churn_labels(source, [AS_OF], 180).set_index("account_id")["churned"].to_dict() == {"A": 0, "B": 1, "E": 1}
    assert churn_labels(source, [AS_OF], 30).set_index("account_id")["churned"].to_dict() == {"A": 0, "B": 0, "E": 0}
    expansion = expansion_labels(source, [AS_OF], 90).set_index("account_id")["expanded"].to_dict()
    assert expansion == {"A": 1, "B": 0, "E": 0}   # A: 120 → 200 on 08-01
    # the label population is the feature population
    assert sorted(churn) == sorted(account_features(source, [AS_OF])["account_id"])


def test_labels_are_about_the_future_only() -> None:
    """A churn before the as-of date is not a label (the account is not in the population); one inside is."""
    source = _source(book())
    may = churn_labels(source, [dt.date(2025, 4, 15)], 30).set_index("account_id")["churned"].to_dict()
    assert may["C"] == 1            # paying on 04-15, ends 05-01: inside [04-16, 05-16)
    later = churn_labels(source, [dt.date(2025, 5, 15)], 30)
    assert "C" not in set(later["account_id"])


def test_bad_input_and_readable_names() -> None:
    source = _source(book())
    with pytest.raises(UsageError):
        account_features(source, [])
    with pytest.raises(UsageError):
        churn_labels(source, [AS_OF], 0)
    assert feature_label("usage_trend", "pt-BR").startswith("Tendência de uso")
    assert feature_label("usage_trend") == "Usage trend (last 30 d / previous 30 d)"
    assert all(f.en and f.pt and f.definition for f in FEATURES)
    # first days: usage and tickets 03-01, billing 01-01, answers 2024-05-01 → the latest of them
    assert data_start(source) == dt.date(2025, 3, 1)
    assert data_end(source) == dt.date(2025, 8, 1)   # A's 08-01 expansion is the last dated row
