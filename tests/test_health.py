"""Health scorecards: the three styles with hand-computed scores, explanations, bands, trend, assignment,
missing measures, CSM sentiment expiry, as-of correctness, history and config validation.

The workspace (as of 31 Mar 2026; the 30-day window is 2 Mar 00:00 – 1 Apr 00:00 UTC):

- A (SMB):        5 usage events on 20 Mar; ticket t1 opened 25 Mar, still open; NPS 9 on 1 Mar
- B (Enterprise): 10 usage events on 28 Mar; no tickets; no NPS
- C (no segment): 12 usage events on 10 Mar; ticket t2 opened 1 Mar, solved 5 Mar; ticket t3 opened 20 Mar,
                  solved 2 Apr (after the as-of date: open on 31 Mar); NPS 2 on 15 Feb
- Future rows (must change nothing): an event of A and an NPS 10 of C at 1 Apr 00:00, a ticket of B on 1 Apr.

Seven days earlier (24 Mar; window 23 Feb – 25 Mar): A 5 events, t1 not yet opened; B 0 events;
C 12 events, t3 open (opened 20 Mar).
"""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from metric_fixtures import frame
from sinergia.errors import ConfigError, UsageError
from sinergia.scores.config import Scorecard
from sinergia.scores.health import compute_history, explain, measure_score, score_accounts
from sinergia.scores.history import read_scores
from sinergia.workspace.config import parse_config
from sinergia.workspace.workspace import Workspace, init_workspace, open_workspace

T = pd.Timestamp
AS_OF = dt.date(2026, 3, 31)
WEEK_BEFORE = dt.date(2026, 3, 24)


def _events(account: str, n: int, day: str) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{account}-{day}-{i}",
            "account_id": account,
            "contact_id": f"{account.lower()}1",
            "event": "report_viewed",
            "occurred_at": T(f"{day} 12:00"),
        }
        for i in range(n)
    ]


TABLES: dict[str, list[dict[str, Any]]] = {
    "accounts": [
        {"account_id": "A", "segment": "SMB", "created_at": T("2025-01-01"), "licenses": 4},
        {"account_id": "B", "segment": "Enterprise", "created_at": T("2025-01-01")},
        {"account_id": "C", "created_at": T("2025-01-01")},
    ],
    "usage_events": _events("A", 5, "2026-03-20") + _events("B", 10, "2026-03-28") + _events("C", 12, "2026-03-10"),
    "tickets": [
        {"ticket_id": "t1", "account_id": "A", "created_at": T("2026-03-25 09:00")},
        {"ticket_id": "t2", "account_id": "C", "created_at": T("2026-03-01 09:00"), "solved_at": T("2026-03-05 09:00")},
        {"ticket_id": "t3", "account_id": "C", "created_at": T("2026-03-20 09:00"), "solved_at": T("2026-04-02 09:00")},
    ],
    "survey_responses": [
        {"response_id": "r1", "account_id": "A", "survey": "nps", "score": 9.0, "responded_at": T("2026-03-01 10:00")},
        {"response_id": "r2", "account_id": "C", "survey": "nps", "score": 2.0, "responded_at": T("2026-02-15 10:00")},
    ],
}
FUTURE: dict[str, list[dict[str, Any]]] = {
    "usage_events": [{"event_id": "late", "account_id": "A", "event": "x", "occurred_at": T("2026-04-01 00:00")}],
    "survey_responses": [
        {
            "response_id": "late",
            "account_id": "C",
            "survey": "nps",
            "score": 10.0,
            "responded_at": T("2026-04-01 00:00"),
        }
    ],
    "tickets": [{"ticket_id": "late", "account_id": "B", "created_at": T("2026-04-01 08:00")}],
}

MEASURES = [
    {"feature": "usage_events", "weight": 3, "scoring": {"type": "linear", "points": [[0, 0], [10, 100]]}},
    {
        "feature": "open_tickets",
        "weight": 1,
        "scoring": {"type": "thresholds", "steps": [{"max": 0, "score": 100}, {"max": 2, "score": 50}, {"score": 0}]},
    },
    {"feature": "last_nps", "weight": 2, "scoring": {"type": "linear", "points": [[0, 0], [10, 100]]}},
]
WEIGHTED = {"name": "weighted", "accounts": "all", "trend": {"days": 7, "tolerance": 2}, "measures": MEASURES}
POINTS = {
    "name": "points",
    "style": "points",
    "accounts": "all",
    "base": 50,
    "measures": [{"feature": "usage_events"}, {"feature": "open_tickets"}, {"feature": "last_nps"}],
    "criteria": [
        {"measure": "usage_events", "op": ">=", "value": 5, "points": 20},
        {"measure": "open_tickets", "op": ">", "value": 0, "points": -15},
        {"measure": "last_nps", "op": ">=", "value": 9, "points": 30},
        {"measure": "last_nps", "op": "<=", "value": 6, "points": -30},
    ],
}
RULES = {
    "name": "rules",
    "style": "rules",
    "accounts": "all",
    "measures": [{"feature": "usage_events"}, {"feature": "open_tickets"}, {"feature": "last_nps"}],
    "rules": [
        {
            "name": "silent or detractor",
            "band": "red",
            "match": "any",
            "when": [
                {"measure": "usage_events", "op": "<", "value": 1},
                {"measure": "last_nps", "op": "<=", "value": 6},
            ],
        },
        {
            "name": "open tickets",
            "band": "yellow",
            "score": 60,
            "when": [{"measure": "open_tickets", "op": ">", "value": 0}],
        },
        {"name": "otherwise", "band": "green"},
    ],
}


def _insert(ws: Workspace, tables: dict[str, list[dict[str, Any]]]) -> None:
    with ws.writer() as con:
        for name, rows in tables.items():
            data, _ = frame(name, rows)
            con.register("_rows", data)
            con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM _rows')
            con.unregister("_rows")


def make_ws(
    tmp_path: Path,
    scorecards: list[dict[str, Any]] | None,
    tables: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Workspace:
    ws = init_workspace(tmp_path / "ws")
    sections = {**({"scorecards": scorecards} if scorecards is not None else {}), **(extra or {})}
    if sections:
        config = ws.path / "sinergia.yaml"
        config.write_text(config.read_text() + yaml.safe_dump(sections, allow_unicode=True))
    _insert(ws, TABLES if tables is None else tables)
    return open_workspace(ws.path)


def by_account(frame_: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {r["account_id"]: r for r in frame_.to_dict("records")}


def assert_sums(explanation: dict[str, Any]) -> None:
    """The explanation adds back up to the score."""
    score = explanation["score"]
    if explanation["style"] == "weighted":
        assert sum(m["contribution"] for m in explanation["measures"]) == pytest.approx(score, abs=1e-4)
        assert sum(m["points_lost"] for m in explanation["measures"]) == pytest.approx(100 - score, abs=1e-4)
    elif explanation["style"] == "points":
        total = explanation["base"] + sum(c["awarded"] for c in explanation["criteria"])
        total += sum(a["points"] for a in explanation["adjustments"])
        assert total == pytest.approx(score, abs=1e-6)


# -- weighted (Gainsight) -------------------------------------------------------------------------------------------
def test_weighted_scores_by_hand(tmp_path: Path) -> None:
    ws = make_ws(tmp_path, [WEIGHTED])
    got = by_account(score_accounts(ws, AS_OF))
    # A: usage 5 → 50; 1 open ticket → 50; NPS 9 → 90.  (3·50 + 1·50 + 2·90) / 6 = 380/6
    assert got["A"]["score"] == pytest.approx(380 / 6)
    # B: usage 10 → 100; 0 open → 100; NPS missing → re-weighted over 3+1: (3·100 + 1·100) / 4
    assert got["B"]["score"] == pytest.approx(100.0)
    # C: usage 12 → 100 (flat beyond the last point); t3 open on 31 Mar → 50; NPS 2 → 20.  (300 + 50 + 40) / 6
    assert got["C"]["score"] == pytest.approx(65.0)
    assert [got[a]["band"] for a in "ABC"] == ["yellow", "green", "yellow"]

    a = got["A"]["explanation"]
    measures = {m["name"]: m for m in a["measures"]}
    assert measures["usage_events"]["value"] == 5 and measures["usage_events"]["score"] == 50
    assert measures["usage_events"]["effective_weight"] == pytest.approx(0.5)
    assert measures["usage_events"]["contribution"] == pytest.approx(25.0)  # 3/6 · 50
    assert measures["usage_events"]["points_lost"] == pytest.approx(25.0)  # 3/6 · (100 − 50)
    assert measures["open_tickets"]["points_lost"] == pytest.approx(50 / 6)  # 1/6 · 50
    assert measures["last_nps"]["points_lost"] == pytest.approx(20 / 6)  # 2/6 · 10
    assert [d["name"] for d in a["top_drags"]] == ["usage_events", "open_tickets", "last_nps"]
    assert "Product usage events (−25.0)" in a["summary"]["en"]
    assert a["band"]["label"] == {"en": "Needs attention", "pt-BR": "Atenção"}
    for account in "ABC":
        assert_sums(got[account]["explanation"])

    b = got["B"]["explanation"]
    assert b["missing"] == ["last_nps"] and b["reweighted"] is True
    assert b["coverage"] == pytest.approx(4 / 6)
    assert "scaled up" in b["note"]["en"]


def test_two_level_group_weights(tmp_path: Path) -> None:
    card = {
        **WEIGHTED,
        "groups": [{"name": "use", "weight": 1}, {"name": "cx", "weight": 3}],
        "measures": [{**MEASURES[0], "group": "use"}, {**MEASURES[1], "group": "use"}, {**MEASURES[2], "group": "cx"}],
    }
    got = by_account(score_accounts(make_ws(tmp_path, [card]), AS_OF))
    # A: group use = (3·50 + 1·50)/4 = 50, group cx = 90;  overall = (1·50 + 3·90)/4 = 80   (Gainsight: Σ Wᵢ·Mᵢ / Σ Wᵢ)
    assert got["A"]["score"] == pytest.approx(80.0)
    groups = {g["name"]: g for g in got["A"]["explanation"]["groups"]}
    assert groups["use"]["score"] == pytest.approx(50.0) and groups["cx"]["score"] == pytest.approx(90.0)
    assert groups["cx"]["contribution"] == pytest.approx(67.5)  # 3/4 · 90
    # B: the cx group (3/4 of the weight) has no data → coverage 1/4, below min_coverage 0.5: no score
    assert math.isnan(got["B"]["score"])
    assert got["B"]["explanation"]["coverage"] == pytest.approx(0.25)
    assert_sums(got["A"]["explanation"])


def test_gainsight_documented_example() -> None:
    """Gainsight's doc example: (20·47 + 15·59 + 22·21)/57 = 40.12."""
    from sinergia.scores.health import score_card

    card = Scorecard.model_validate(
        {
            "name": "g",
            "measures": [
                {"feature": "usage_events", "name": f"m{i}", "weight": w, "scoring": {"type": "identity"}}
                for i, w in enumerate((20, 15, 22))
            ],
        }
    )
    result = score_card(card, {"m0": 47.0, "m1": 59.0, "m2": 21.0})
    assert result.score == pytest.approx((20 * 47 + 15 * 59 + 22 * 21) / 57)
    assert round(result.score or 0, 2) == 40.12


def test_missing_policies(tmp_path: Path) -> None:
    zero = {**WEIGHTED, "name": "zero", "missing": {"policy": "score", "score": 0}}
    strict = {**WEIGHTED, "name": "strict", "missing": {"min_coverage": 0.7}}
    ws = make_ws(tmp_path, [zero, strict])
    # B with its missing NPS scored 0: (3·100 + 1·100 + 2·0)/6
    got = by_account(score_accounts(ws, AS_OF, scorecard="zero"))
    assert got["B"]["score"] == pytest.approx(400 / 6)
    assert got["B"]["explanation"]["reweighted"] is False
    # B has 4/6 = 0.667 of the weight: below 0.7 → no score, and the explanation says why
    got = by_account(score_accounts(ws, AS_OF, scorecard="strict"))
    assert math.isnan(got["B"]["score"]) and got["B"]["band"] is None
    assert "67%" in got["B"]["explanation"]["note"]["en"]
    assert got["A"]["score"] == pytest.approx(380 / 6)


def test_measure_scorings() -> None:
    def m(scoring: dict[str, Any]) -> Any:
        return Scorecard.model_validate(
            {"name": "x", "measures": [{"feature": "usage_events", "scoring": scoring}]}
        ).measures[0]

    linear = m({"type": "linear", "points": [[0, 0], [6, 30], [8, 70], [10, 100]]})
    assert measure_score(linear, 7.0) == pytest.approx(50.0)  # 30 + (70 − 30)·(7 − 6)/(8 − 6)
    assert measure_score(linear, -3.0) == 0.0 and measure_score(linear, 12.0) == 100.0
    steps = m({"type": "thresholds", "steps": [{"min": 0.8, "score": 100}, {"min": 0.5, "score": 50}, {"score": 0}]})
    assert [measure_score(steps, v) for v in (0.9, 0.8, 0.6, 0.1)] == [100, 100, 50, 0]
    lower_better = m({"type": "grade", "good_at": 2, "poor_at": 10})  # e.g. open tickets: fewer is better
    assert [measure_score(lower_better, v) for v in (1.0, 5.0, 10.0)] == [100, 50, 0]
    labels = m({"type": "grade"})
    assert [measure_score(labels, v) for v in ("good", "average", "poor")] == [100, 50, 0]
    assert measure_score(labels, None) is None


# -- points (HubSpot / Planhat) -------------------------------------------------------------------------------------
def test_points_style_by_hand(tmp_path: Path) -> None:
    got = by_account(score_accounts(make_ws(tmp_path, [POINTS]), AS_OF))
    assert got["A"]["score"] == 85.0  # 50 + 20 (usage ≥ 5) − 15 (open ticket) + 30 (NPS ≥ 9)
    assert got["B"]["score"] == 70.0  # 50 + 20; NPS missing: neither NPS criterion holds
    assert got["C"]["score"] == 25.0  # 50 + 20 − 15 − 30 (NPS ≤ 6)
    assert [got[a]["band"] for a in "ABC"] == ["green", "green", "red"]
    c = got["C"]["explanation"]
    # points lost: 30 not won (NPS ≥ 9 fails), 30 taken (NPS ≤ 6 holds), 15 taken (open ticket)
    assert [(d["name"], d["points_lost"]) for d in c["top_drags"]] == [
        ("last_nps >= 9", 30.0),
        ("last_nps <= 6", 30.0),
        ("open_tickets > 0", 15.0),
    ]
    for account in "ABC":
        assert_sums(got[account]["explanation"])


def test_points_planhat_scale_with_clamp(tmp_path: Path) -> None:
    card = {
        "name": "planhat",
        "style": "points",
        "accounts": "all",
        "base": 5,
        "min_score": 0,
        "max_score": 10,
        "bands": [{"name": "red", "min": 0}, {"name": "yellow", "min": 4}, {"name": "green", "min": 7}],
        "measures": [{"feature": "usage_events"}, {"feature": "open_tickets"}, {"feature": "last_nps"}],
        "criteria": [
            {"measure": "usage_events", "op": ">=", "value": 5, "points": 3},
            {"measure": "open_tickets", "op": ">", "value": 0, "points": -2},
            {"measure": "last_nps", "op": ">=", "value": 9, "points": 4},
            {"measure": "last_nps", "op": "<=", "value": 6, "points": -4},
            {"measure": "last_nps", "op": "present", "points": 2},
        ],
    }
    got = by_account(score_accounts(make_ws(tmp_path, [card]), AS_OF))
    assert got["A"]["score"] == 10.0  # 5 + 3 − 2 + 4 + 2 = 12, clamped to 10
    assert got["A"]["explanation"]["adjustments"] == [
        {"kind": "clamp", "points": -2.0, "detail": "total 12 kept within [0, 10]"}
    ]
    assert got["B"]["score"] == 8.0  # 5 + 3
    assert got["C"]["score"] == 4.0  # 5 + 3 − 2 − 4 + 2
    assert [got[a]["band"] for a in "ABC"] == ["green", "green", "yellow"]
    for account in "ABC":
        assert_sums(got[account]["explanation"])


def test_points_group_caps(tmp_path: Path) -> None:
    card = {
        **POINTS,
        "base": 0,
        "groups": [{"name": "use", "max_points": 30}, {"name": "cx", "max_points": 70}],
        "criteria": [
            {"measure": "usage_events", "op": ">=", "value": 5, "points": 20, "group": "use"},
            {"measure": "usage_events", "op": ">=", "value": 10, "points": 20, "group": "use"},
            {"measure": "last_nps", "op": ">=", "value": 9, "points": 70, "group": "cx"},
            {"measure": "open_tickets", "op": ">", "value": 0, "points": -15, "group": "cx"},
        ],
    }
    got = by_account(score_accounts(make_ws(tmp_path, [card]), AS_OF))
    assert got["A"]["score"] == 75.0  # use: 20; cx: 70 − 15 = 55
    assert got["B"]["score"] == 30.0  # use: 20 + 20 = 40, capped at 30; cx: 0
    assert got["C"]["score"] == 30.0  # use: 40 → 30; cx: −15, kept at 0
    assert [a["kind"] for a in got["C"]["explanation"]["adjustments"]] == ["group_cap", "group_cap"]
    for account in "ABC":
        assert_sums(got[account]["explanation"])


# -- rules (Totango) ------------------------------------------------------------------------------------------------
def test_rules_style_by_hand(tmp_path: Path) -> None:
    got = by_account(score_accounts(make_ws(tmp_path, [RULES]), AS_OF))
    # A: usage 5, NPS 9 → not rule 1; 1 open ticket → rule 2: yellow, its score 60
    assert (got["A"]["band"], got["A"]["score"]) == ("yellow", 60.0)
    # B: usage 10, NPS missing (a condition on a missing value does not hold); no open ticket
    # → green, the band's midpoint (70+100)/2
    assert (got["B"]["band"], got["B"]["score"]) == ("green", 85.0)
    # C: NPS 2 ≤ 6 → rule 1 (any): red, midpoint (0+40)/2
    assert (got["C"]["band"], got["C"]["score"]) == ("red", 20.0)
    c = got["C"]["explanation"]
    assert c["matched_rule"]["name"] == "silent or detractor"
    assert [x["holds"] for x in c["matched_rule"]["conditions"]] == [False, True]
    assert c["points_lost"] == 80.0
    b = got["B"]["explanation"]
    assert [r["matched"] for r in b["rules_checked"]] == [False, False, True]
    assert b["rules_checked"][0]["conditions"][1]["missing"] is True


# -- assignment, bands, trend -----------------------------------------------------------------------------------------
def test_scorecard_assignment_by_segment(tmp_path: Path) -> None:
    cards: list[dict[str, Any]] = [
        {**POINTS, "applies_to": {"segment": ["Enterprise"]}},
        {**RULES, "applies_to": {"segment": ["SMB"]}},
        {**WEIGHTED, "default": True},
    ]
    ws = make_ws(tmp_path, cards)
    got = by_account(score_accounts(ws, AS_OF))
    assert {a: r["scorecard"] for a, r in got.items()} == {"A": "rules", "B": "points", "C": "weighted"}
    assert got["A"]["score"] == 60.0 and got["B"]["score"] == 70.0 and got["C"]["score"] == pytest.approx(65.0)
    forced = by_account(score_accounts(ws, AS_OF, scorecard="points"))
    assert forced["A"]["score"] == 85.0
    with pytest.raises(UsageError, match="unknown scorecard 'nope'; scorecards: points, rules, weighted"):
        score_accounts(ws, AS_OF, scorecard="nope")


def test_custom_bands_with_labels(tmp_path: Path) -> None:
    bands = [
        {"name": "vermelho", "min": 0, "label": {"en": "Red", "pt-BR": "Vermelho"}},
        {"name": "amarelo", "min": 50, "label": {"en": "Yellow", "pt-BR": "Amarelo"}},
        {"name": "verde", "min": 65, "label": {"en": "Green", "pt-BR": "Verde"}},
    ]
    got = by_account(score_accounts(make_ws(tmp_path, [{**WEIGHTED, "bands": bands}]), AS_OF))
    # 63.33 → amarelo; 100 → verde; 65.0 → verde (a band's min is inclusive)
    assert [got[a]["band"] for a in "ABC"] == ["amarelo", "verde", "verde"]
    assert got["A"]["explanation"]["band"]["label"]["pt-BR"] == "Amarelo"


def test_trend_against_seven_days_earlier(tmp_path: Path) -> None:
    got = by_account(score_accounts(make_ws(tmp_path, [WEIGHTED]), AS_OF))
    # A on 24 Mar: usage 5 → 50, t1 not yet opened → 100, NPS 90: (150 + 100 + 180)/6 = 71.67 → 63.33 − 71.67 = −8.33
    assert got["A"]["trend"] == "down"
    assert got["A"]["explanation"]["trend"]["previous"] == pytest.approx(430 / 6, abs=1e-5)
    assert got["A"]["explanation"]["trend"]["delta"] == pytest.approx(-50 / 6, abs=1e-5)
    # B on 24 Mar: usage 0 → 0, no tickets → 100, NPS missing: (0 + 100)/4 = 25 → +75
    assert got["B"]["trend"] == "up"
    # C on 24 Mar: usage 12 → 100, t3 open → 50, NPS 20: (300 + 50 + 40)/6 = 65 → 0, within ±2
    assert got["C"]["trend"] == "same"


# -- as-of correctness -----------------------------------------------------------------------------------------------
def test_rows_after_the_as_of_date_change_nothing(tmp_path: Path) -> None:
    ws = make_ws(tmp_path, [WEIGHTED, POINTS, RULES])
    before = {c: score_accounts(ws, AS_OF, scorecard=c) for c in ("weighted", "points", "rules")}
    _insert(ws, FUTURE)
    for card, frame_before in before.items():
        after = score_accounts(ws, AS_OF, scorecard=card)
        pd.testing.assert_frame_equal(frame_before.drop(columns="explanation"), after.drop(columns="explanation"))
        assert list(frame_before["explanation"]) == list(after["explanation"])
    # ... while on 1 Apr they count: C's NPS 10 replaces the 2 (NPS → 100), the late event adds to A's usage
    later = by_account(score_accounts(ws, dt.date(2026, 4, 1), scorecard="weighted"))
    assert {m["name"]: m["value"] for m in later["C"]["explanation"]["measures"]}["last_nps"] == 10.0


def test_metric_measure_per_account(tmp_path: Path) -> None:
    card = {
        "name": "m",
        "accounts": "all",
        "measures": [
            {"metric": "ticket_volume", "window_days": 30, "scoring": {"type": "linear", "points": [[0, 100], [2, 0]]}},
        ],
    }
    got = by_account(score_accounts(make_ws(tmp_path, [card]), AS_OF))
    # tickets opened 2 Mar – 31 Mar: A t1, C t3 (t2 opened 1 Mar is outside); B none: a count is 0, not missing
    assert got["A"]["explanation"]["measures"][0]["value"] == 1.0 and got["A"]["score"] == 50.0
    assert got["C"]["score"] == 50.0
    assert got["B"]["explanation"]["measures"][0]["value"] == 0.0 and got["B"]["score"] == 100.0
    assert got["A"]["explanation"]["measures"][0]["source"] == "metric:ticket_volume (last 30 days)"


def test_sla_breaches_feature(tmp_path: Path) -> None:
    tickets = [
        # first reply after 6 h against a 4 h target: breached (decided 25 Mar 13:00)
        {
            "ticket_id": "t1",
            "account_id": "A",
            "priority": "normal",
            "created_at": T("2026-03-25 09:00"),
            "first_reply_at": T("2026-03-25 15:00"),
        },
        # 1 h: achieved
        {
            "ticket_id": "t3",
            "account_id": "C",
            "priority": "normal",
            "created_at": T("2026-03-20 09:00"),
            "first_reply_at": T("2026-03-20 10:00"),
        },
        # breached on 1 Mar 13:00, before the 30-day window (2 Mar – 31 Mar)
        {
            "ticket_id": "t2",
            "account_id": "C",
            "priority": "normal",
            "created_at": T("2026-03-01 09:00"),
            "first_reply_at": T("2026-03-01 20:00"),
        },
    ]
    card = {
        "name": "sla",
        "accounts": "all",
        "measures": [
            {
                "feature": "sla_breaches",
                "params": {"days": 30},
                "scoring": {"type": "thresholds", "steps": [{"max": 0, "score": 100}, {"score": 0}]},
            }
        ],
    }
    policies = {"metrics": {"sla_policies": [{"name": "all", "targets": {"first_reply_time": {"normal": 4}}}]}}
    ws = make_ws(tmp_path, [card], {**TABLES, "tickets": tickets}, policies)
    got = by_account(score_accounts(ws, AS_OF))
    assert got["A"]["explanation"]["measures"][0]["value"] == 1.0 and got["A"]["score"] == 0.0
    assert got["C"]["explanation"]["measures"][0]["value"] == 0.0 and got["C"]["score"] == 100.0
    assert math.isnan(got["B"]["score"])  # no SLA target decided: missing


# -- manual CSM sentiment --------------------------------------------------------------------------------------------
def test_sentiment_validity_and_expiry(tmp_path: Path) -> None:
    card = {
        "name": "s",
        "accounts": "all",
        "measures": [
            {"feature": "usage_events", "scoring": {"type": "linear", "points": [[0, 0], [10, 100]]}},
            {"sentiment": {"file": "sentiment.csv", "valid_days": 90}},
        ],
    }
    ws = make_ws(tmp_path, [card])
    (ws.path / "sentiment.csv").write_text(
        "account_id,recorded_at,sentiment,valid_days,author,note\n"
        "A,2026-01-15,good,,ana@x.com,renewal call went well\n"  # valid 15 Jan – 14 Apr
        "B,2025-12-01,poor,,,\n"  # valid 1 Dec – 28 Feb: expired on 31 Mar
        "C,2026-03-01,average,10,,\n"  # valid_days 10: 1–10 Mar, expired on 31 Mar
        "C,2026-04-05,good,,,\n"  # recorded after the as-of date: ignored
    )
    got = by_account(score_accounts(ws, AS_OF))
    assert got["A"]["score"] == pytest.approx(75.0)  # (50 + 100)/2
    a = {m["name"]: m for m in got["A"]["explanation"]["measures"]}["csm_sentiment"]
    assert a["value"] == "good" and a["detail"]["valid_until"] == "2026-04-14" and a["detail"]["author"] == "ana@x.com"
    assert got["B"]["score"] == pytest.approx(100.0)  # sentiment expired → re-weighted onto usage (10 events → 100)
    b = {m["name"]: m for m in got["B"]["explanation"]["measures"]}["csm_sentiment"]
    assert b["missing"] is True and b["detail"]["expired"] is True and b["detail"]["valid_until"] == "2026-02-28"
    c = {m["name"]: m for m in got["C"]["explanation"]["measures"]}["csm_sentiment"]
    assert c["missing"] is True and c["detail"]["recorded_at"] == "2026-03-01"
    # on 15 Feb B's "poor" was still valid (0) and B had no usage yet (0): (0 + 0)/2
    earlier = by_account(score_accounts(ws, dt.date(2026, 2, 15)))
    assert earlier["B"]["score"] == 0.0


def test_sentiment_file_errors(tmp_path: Path) -> None:
    from sinergia.errors import InputError

    card = {"name": "s", "accounts": "all", "measures": [{"sentiment": {}}]}
    ws = make_ws(tmp_path, [card])
    (ws.path / "sentiment.csv").write_text("account_id,recorded_at,sentiment\nA,2026-01-15,great\n")
    with pytest.raises(InputError, match=r"sentiment.csv, line 2: sentiment 'great' is neither"):
        score_accounts(ws, AS_OF)


# -- default scorecard, history, CLI ---------------------------------------------------------------------------------
def test_default_scorecard_when_none_configured(tmp_path: Path) -> None:
    ws = make_ws(tmp_path, None)
    got = by_account(score_accounts(ws, AS_OF))
    a = got["A"]
    assert a["scorecard"] == "default"
    m = {x["name"]: x for x in a["explanation"]["measures"]}
    # usage_trend: no events 30–60 days before → missing; sentiment: no file → missing; re-weighted over 60 of 100:
    # days since last activity: 20 Mar → 31 Mar = 11; linear [[3,100],[14,50]] at 11 → 100 − 50·(11 − 3)/(14 − 3)
    assert m["days_since_last_activity"]["value"] == 11.0
    assert m["days_since_last_activity"]["score"] == pytest.approx(100 - 50 * 8 / 11, abs=1e-5)
    assert m["license_utilization"]["value"] == 0.25  # 1 active user / 4 licences → [[0.2,0],[0.5,50]]: 50·0.05/0.3
    assert (
        m["open_tickets"]["score"] == 70.0 and m["urgent_tickets"]["score"] == 100.0 and m["last_nps"]["score"] == 85.0
    )
    expected = (15 * (100 - 50 * 8 / 11) + 10 * (50 * 0.05 / 0.3) + 10 * 70 + 10 * 100 + 15 * 85) / 60
    assert a["score"] == pytest.approx(expected)
    assert_sums(a["explanation"])


def test_compute_history_writes_daily_scores(tmp_path: Path) -> None:
    ws = make_ws(tmp_path, [WEIGHTED])
    written = compute_history(ws, WEEK_BEFORE, AS_OF)
    assert written == 8 * 3  # 8 days × 3 accounts (each has enough data every day)
    stored = read_scores(ws, score="health")
    assert len(stored) == 24
    last = stored[stored["as_of"] == AS_OF].set_index("account_id")
    assert last.loc["A", "value"] == pytest.approx(380 / 6)
    assert (last.loc["A", "band"], last.loc["A", "trend"]) == ("yellow", "down")
    assert last.loc["A", "explanation"]["measures"][0]["name"] == "usage_events"
    assert last.loc["A", "model_version"].startswith("scorecards:")
    assert compute_history(ws, WEEK_BEFORE, AS_OF) == 24  # re-running replaces
    assert len(read_scores(ws, score="health")) == 24
    assert compute_history(ws, WEEK_BEFORE, AS_OF, every_days=7) == 6  # 24 Mar and 31 Mar
    with pytest.raises(UsageError, match="before start"):
        compute_history(ws, AS_OF, WEEK_BEFORE)


def test_explain_and_cli(tmp_path: Path) -> None:
    from sinergia.cli.main import app

    ws = make_ws(tmp_path, [WEIGHTED])
    info = explain(ws, "A", AS_OF)
    assert info["account_id"] == "A" and info["score"] == pytest.approx(380 / 6, abs=1e-5)
    with pytest.raises(UsageError, match="account 'Z' has no health score"):
        explain(ws, "Z", AS_OF)

    runner = CliRunner()
    result = runner.invoke(
        app, ["health", "score", "--workspace", str(ws.path), "--as-of", "2026-03-31", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    import json

    rows = json.loads(result.output)
    assert [(r["account_id"], r["score"], r["band"]) for r in rows] == [
        ("A", 63.33, "yellow"),
        ("B", 100.0, "green"),
        ("C", 65.0, "yellow"),
    ]
    result = runner.invoke(app, ["health", "explain", "A", "-w", str(ws.path), "--as-of", "2026-03-31", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "pulled down most by Product usage events (−25.0)" in result.output
    result = runner.invoke(app, ["health", "history", "-w", str(ws.path), "--from", "2026-03-30", "--to", "2026-03-31"])
    assert result.exit_code == 0, result.output
    assert "Stored 6 health scores for 2 day(s)" in result.output
    done = subprocess.run(
        [sys.executable, "-m", "sinergia.cli.main", "health", "score", "-w", str(ws.path), "--as-of", "31/03/2026"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "--as-of must be a date like 2026-10-31, got '31/03/2026'" in done.stderr


# -- config validation -----------------------------------------------------------------------------------------------
def _config_error(scorecards: list[dict[str, Any]]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config({"scorecards": scorecards}, "sinergia.yaml")
    return str(info.value)


def test_config_validation_names_the_path() -> None:
    card = {**WEIGHTED, "measures": [*MEASURES, {"metric": "nrr_x", "scoring": {"type": "identity"}}]}
    message = _config_error([POINTS, card])
    assert "sinergia.yaml: scorecards.1.measures.3.metric: unknown metric 'nrr_x'; valid: active_accounts" in message
    assert "unknown feature 'usage'; valid: usage_events" in _config_error(
        [{"name": "x", "measures": [{"feature": "usage", "scoring": {"type": "identity"}}]}]
    )
    assert "measures.0.scoring: the weighted style needs a scoring for 'usage_events'" in _config_error(
        [{"name": "x", "measures": [{"feature": "usage_events"}]}]
    )
    assert "rules.0.when.0.measure: unknown measure 'nps'" in _config_error(
        [{**RULES, "rules": [{"band": "red", "when": [{"measure": "nps", "op": "<", "value": 1}]}, {"band": "green"}]}]
    )
    assert "rules.0.band: unknown band 'amber'" in _config_error([{**RULES, "rules": [{"band": "amber"}]}])
    assert "the last rule must have no `when`" in _config_error([{**RULES, "rules": RULES["rules"][:2]}])
    assert "the first band must start at min 0" in _config_error([{**WEIGHTED, "bands": [{"name": "g", "min": 10}]}])
    assert "only one scorecard can be the default; marked: a, b" in _config_error(
        [{**WEIGHTED, "name": "a", "default": True}, {**WEIGHTED, "name": "b", "default": True}]
    )
    assert "scorecard names must be unique; repeated: weighted" in _config_error([WEIGHTED, WEIGHTED])
    assert "the groups' max_points add up to 90; they must total 100" in _config_error(
        [{**POINTS, "groups": [{"name": "u", "max_points": 40}, {"name": "c", "max_points": 50}]}]
    )
    assert "cannot assign by colour" in _config_error([{**WEIGHTED, "applies_to": {"colour": ["red"]}}])
    assert "feature 'usage_events' has no parameter window" in _config_error(
        [
            {
                "name": "x",
                "measures": [{"feature": "usage_events", "params": {"window": 3}, "scoring": {"type": "identity"}}],
            }
        ]
    )
    assert "a measure needs exactly one of metric, feature or sentiment (got metric, feature)" in _config_error(
        [{"name": "x", "measures": [{"feature": "usage_events", "metric": "nps", "scoring": {"type": "identity"}}]}]
    )
    assert "point 1: values must increase" in _config_error(
        [
            {
                "name": "x",
                "measures": [{"feature": "usage_events", "scoring": {"type": "linear", "points": [[1, 0], [1, 9]]}}],
            }
        ]
    )
    assert "op '<' needs a value" in _config_error(
        [{**POINTS, "criteria": [{"measure": "usage_events", "op": "<", "points": 3}]}]
    )


def test_every_feature_is_documented() -> None:
    from sinergia.scores.catalog import FEATURES

    text = (Path(__file__).resolve().parents[1] / "docs" / "health.md").read_text(encoding="utf-8")
    for name, spec in FEATURES.items():
        assert f"| `{name}` | {spec.title['en']} / {spec.title['pt-BR']} |" in text, name


# -- every feature as of the date --------------------------------------------------------------------------------------
def _all_features_card() -> dict[str, Any]:
    from sinergia.scores.catalog import FEATURES

    measures: list[dict[str, Any]] = [{"feature": name, "scoring": {"type": "identity"}} for name in FEATURES]
    measures += [
        {"metric": m, "name": f"metric_{m}", "window_days": 60, "scoring": {"type": "identity"}}
        for m in ("ticket_volume", "nps", "active_users", "first_reply_time")
    ]
    measures.append({"sentiment": {}, "name": "sentiment"})
    return {"name": "all", "accounts": "all", "missing": {"min_coverage": 0}, "measures": measures}


def _values(frame_: pd.DataFrame) -> dict[tuple[str, str], Any]:
    return {
        (r["account_id"], m["name"]): m["value"]
        for r in frame_.to_dict("records")
        for m in r["explanation"]["measures"]
    }


def test_no_feature_peeks_past_the_as_of_date(tmp_path: Path) -> None:
    tables = {
        **TABLES,
        "accounts": [
            {**TABLES["accounts"][0], "renewal_at": T("2026-06-29")},
            *TABLES["accounts"][1:],
        ],
        "contacts": [{"contact_id": "b1", "account_id": "B"}],
        "usage_events": TABLES["usage_events"] + _events("A", 4, "2026-02-15"),
        "tickets": [
            {**t, "priority": "normal", "first_reply_at": t["created_at"] + pd.Timedelta(hours=2)}
            for t in TABLES["tickets"]
        ],
    }
    policies = {"metrics": {"sla_policies": [{"name": "all", "targets": {"first_reply_time": {"normal": 1}}}]}}
    ws = make_ws(tmp_path, [_all_features_card()], tables, policies)
    (ws.path / "sentiment.csv").write_text("account_id,recorded_at,sentiment\nA,2026-03-01,good\n")
    before = score_accounts(ws, AS_OF)
    values = _values(before)
    # hand checks: A's usage 5 (20 Mar) vs 4 (15 Feb, in the 30 days before 2 Mar): 5/4 − 1
    assert values[("A", "usage_trend")] == pytest.approx(0.25)
    assert values[("A", "usage_events")] == 5.0 and values[("A", "active_users")] == 1.0
    assert values[("A", "license_utilization")] == 0.25
    assert values[("A", "days_to_renewal")] == 90.0  # 31 Mar → 29 Jun
    assert values[("A", "tenure_days")] == 454.0  # 1 Jan 2025 → 31 Mar 2026
    assert values[("C", "open_tickets")] == 1.0 and values[("C", "days_since_last_activity")] == 21.0
    assert values[("C", "metric_ticket_volume")] == 2.0  # t2 (1 Mar) and t3 (20 Mar) in the 60 days
    # every first reply took 2 h against a 1 h target: A t1; C t2 and t3 (both in the 90 days)
    assert values[("A", "sla_breaches")] == 1.0 and values[("C", "sla_breaches")] == 2.0

    future_day = "2026-04-01 00:00"
    _insert(
        ws,
        {
            **FUTURE,
            "accounts": [{"account_id": "D", "created_at": T("2026-04-01 00:00")}],
            "contacts": [{"contact_id": "late", "account_id": "B"}],
            "usage_events": FUTURE["usage_events"]
            + [
                {"event_id": "late-b1", "contact_id": "b1", "event": "x", "occurred_at": T(future_day)},
                {
                    "event_id": "late-c",
                    "account_id": "C",
                    "contact_id": "late",
                    "event": "x",
                    "occurred_at": T(future_day),
                },
            ],
            "tickets": [
                {
                    "ticket_id": "late-a",
                    "account_id": "A",
                    "priority": "urgent",
                    "created_at": T(future_day),
                    "first_reply_at": T("2026-04-01 09:00"),
                }
            ],
            "survey_responses": FUTURE["survey_responses"]
            + [
                {
                    "response_id": "late-a",
                    "account_id": "A",
                    "survey": "nps",
                    "score": 0.0,
                    "responded_at": T(future_day),
                }
            ],
        },
    )
    with (ws.path / "sentiment.csv").open("a") as out:
        out.write("A,2026-04-01,poor\n")
    after = score_accounts(ws, AS_OF)
    assert list(after["account_id"]) == ["A", "B", "C"]  # D was created after the date
    assert _values(after) == values
    pd.testing.assert_frame_equal(before.drop(columns="explanation"), after.drop(columns="explanation"))


def test_active_accounts_follow_subscriptions_as_of(tmp_path: Path) -> None:
    card = {**WEIGHTED, "accounts": "active"}
    subscriptions = [
        {"subscription_id": "sa", "account_id": "A", "started_at": T("2025-01-01"), "mrr": 100.0},
        # B cancelled on 31 Mar 10:00: not live at the end of the day
        {
            "subscription_id": "sb",
            "account_id": "B",
            "started_at": T("2025-01-01"),
            "ended_at": T("2026-03-31 10:00"),
            "mrr": 100.0,
        },
        # C: a trial only, and a paid plan starting after the date
        {"subscription_id": "sc1", "account_id": "C", "started_at": T("2026-03-01"), "mrr": 0.0, "is_trial": True},
        {"subscription_id": "sc2", "account_id": "C", "started_at": T("2026-04-02"), "mrr": 50.0},
    ]
    ws = make_ws(tmp_path, [card], {**TABLES, "subscriptions": subscriptions})
    assert list(score_accounts(ws, AS_OF)["account_id"]) == ["A"]
    assert list(score_accounts(ws, dt.date(2026, 3, 30))["account_id"]) == ["A", "B"]
    assert list(score_accounts(ws, dt.date(2026, 4, 2))["account_id"]) == ["A", "C"]


def test_points_measures_carry_their_criteria_points(tmp_path: Path) -> None:
    got = by_account(score_accounts(make_ws(tmp_path, [POINTS]), AS_OF))
    measures = {m["name"]: m for m in got["C"]["explanation"]["measures"]}
    # C: usage +20 (nothing lost); open ticket −15 (15 lost); NPS 2: ≥ 9 fails (30 not won), ≤ 6 holds (−30)
    assert (measures["usage_events"]["awarded"], measures["usage_events"]["points_lost"]) == (20.0, 0.0)
    assert (measures["open_tickets"]["awarded"], measures["open_tickets"]["points_lost"]) == (-15.0, 15.0)
    assert (measures["last_nps"]["awarded"], measures["last_nps"]["points_lost"]) == (-30.0, 60.0)


def test_batched_features_equal_the_per_date_ones(tmp_path: Path) -> None:
    """Histories compute features for many dates in one query; each date must equal the one-date computation."""
    from sinergia.metrics.context import TableSource
    from sinergia.scores.catalog import FEATURES
    from sinergia.scores.features import BATCHED, feature_values, feature_values_many

    tables = {
        **TABLES,
        "accounts": [
            {**TABLES["accounts"][0], "renewal_at": T("2026-06-29")},
            *TABLES["accounts"][1:],
            {"account_id": "D", "created_at": T("2026-03-15 10:00"), "licenses": 2},
        ],
        "contacts": [{"contact_id": "b1", "account_id": "B"}, {"contact_id": "d1", "account_id": "D"}],
        "usage_events": TABLES["usage_events"]
        + _events("A", 4, "2026-02-15")
        + FUTURE["usage_events"]
        + [
            {"event_id": "d-1", "contact_id": "d1", "event": "x", "occurred_at": T("2026-03-16 08:00")},
            {
                "event_id": "a-cut",
                "account_id": "A",
                "contact_id": "a2",
                "event": "x",
                "occurred_at": T("2026-03-09 23:59"),
            },
        ],
        "tickets": [{**t, "priority": p} for t, p in zip(TABLES["tickets"], ["urgent", "normal", "high"], strict=True)]
        + FUTURE["tickets"],
        "survey_responses": TABLES["survey_responses"]
        + FUTURE["survey_responses"]
        + [
            {
                "response_id": "r3",
                "account_id": "A",
                "survey": "nps",
                "score": 4.0,
                "scale_min": 1,
                "scale_max": 5,
                "responded_at": T("2026-03-21 10:00"),
            }
        ],
    }
    ws = make_ws(tmp_path, [WEIGHTED], tables)
    source = TableSource.from_workspace(ws)
    dates = [dt.date(2026, 2, 10) + dt.timedelta(days=i) for i in range(0, 55, 4)] + [dt.date(2026, 3, 9), AS_OF]
    variants: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in sorted(BATCHED)]
    variants += [
        ("usage_trend", {"days": 7}),
        ("tickets_opened", {"days": 30, "priorities": ["urgent", "high"]}),
        ("last_nps", {"max_age_days": 20}),
    ]
    assert {n for n, _ in variants} <= set(FEATURES)
    for name, params in variants:
        many = feature_values_many(source, name, dates, params)
        for day in dates:
            one = feature_values(source, name, day, params).sort_index()
            got = many[day].sort_index()
            assert list(got.index) == list(one.index), (name, params, day)
            assert got.to_numpy(dtype=float) == pytest.approx(one.to_numpy(dtype=float)), (name, params, day)
