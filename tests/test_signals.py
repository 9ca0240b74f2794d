"""Expansion signals (sinergia.models.signals): hand-made accounts as of 2025-12-31 (cut-off 2026-01-01 00:00).

    A  line s-a: 10 seats, plan Basic, since 2025-01-01. Users a1..a9 active in December → 9 / 10 = 0.9 ≥ 0.9:
       usage_above_licences fires. Users a1..a6 active in August (the 90 days before the last 90) and a1..a9 in
       the last 90 → (9 - 6) / 6 = +50 % ≥ 20 %: seat_growth fires (seats 10 → 10, +0 %). User a10's event on
       2026-01-05 is after the cut-off: never counted.
    B  lines s-b1 (4 seats, since 2025-01-01) and s-b2 (4 seats, since 2025-11-01): seats at 2025-10-03 = 4,
       now 8 → +100 %: seat_growth fires; 2 active users / 8 seats = 0.25: usage does not. Last NPS 10 → the
       promoter rule needs a health score: "unknown" without one, fired with a green one.
    C  a line without a quantity, accounts.licenses = 5, 5 active users → 5 / 5 = 1.0 fires (licences from the
       account); NPS 9 in June, then 6 in December → last NPS 6: not a promoter (a 10 on 2026-01-02 is in the
       future). Uses 'sso', reserved to Enterprise, on plan Basic → cross_sell fires.
    D  ended 2025-11-30, E starts 2026-01-10: neither pays at the cut-off, neither is evaluated.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from metric_fixtures import IBIS_TYPES, frame, make_source
from sinergia.errors import UsageError
from sinergia.metrics.settings import MetricSettings
from sinergia.models.signals import SignalSettings, expansion_signals

SINERGIA = Path(sys.executable).with_name("sinergia")
AS_OF = dt.date(2025, 12, 31)
FEATURES = MetricSettings.model_validate({"features": {"sso": {"plans": ["Enterprise"]}}})


def _sub(sid: str, account: str, start: str, end: str | None = None, quantity: int | None = None,
         plan: str = "Basic") -> dict[str, Any]:
    return {"subscription_id": sid, "account_id": account, "started_at": start, "ended_at": end, "mrr": 100.0,
            "currency": "BRL", "quantity": quantity, "plan": plan}


def _event(n: int, account: str, user: str, at: str, feature: str = "reports") -> dict[str, Any]:
    return {"event_id": f"e{n}", "account_id": account, "contact_id": user, "event": "used", "feature": feature,
            "occurred_at": at}


def _book() -> dict[str, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    for i in range(1, 10):
        events.append(_event(len(events), "A", f"a{i}", f"2025-12-{i + 10:02d} 10:00"))
    for i in range(1, 7):
        events.append(_event(len(events), "A", f"a{i}", "2025-08-01 10:00"))
    events.append(_event(len(events), "A", "a10", "2026-01-05 10:00"))  # after the cut-off
    for i in (1, 2):
        events.append(_event(len(events), "B", f"b{i}", "2025-12-15 09:00"))
    for i in range(1, 6):
        events.append(_event(len(events), "C", f"c{i}", "2025-12-20 09:00"))
    events.append(_event(len(events), "C", "c1", "2025-12-21 09:00", feature="sso"))
    return {
        "accounts": [
            {"account_id": "A", "plan": "Basic"}, {"account_id": "B"}, {"account_id": "C", "licenses": 5},
            {"account_id": "D"}, {"account_id": "E"},
        ],
        "contacts": [{"contact_id": "b1", "account_id": "B"}, {"contact_id": "c1", "account_id": "C"}],
        "subscriptions": [
            _sub("s-a", "A", "2025-01-01", quantity=10),
            _sub("s-b1", "B", "2025-01-01", quantity=4), _sub("s-b2", "B", "2025-11-01", quantity=4),
            _sub("s-c", "C", "2025-01-01"),
            _sub("s-d", "D", "2025-01-01", "2025-11-30", quantity=3),
            _sub("s-e", "E", "2026-01-10", quantity=3),
        ],
        "usage_events": events,
        "survey_responses": [
            {"response_id": "r1", "contact_id": "b1", "survey": "nps", "score": 10, "responded_at": "2025-12-10"},
            {"response_id": "r2", "account_id": "C", "survey": "nps", "score": 9, "responded_at": "2025-06-01"},
            {"response_id": "r3", "contact_id": "c1", "survey": "nps", "score": 6, "responded_at": "2025-12-01"},
            {"response_id": "r4", "contact_id": "c1", "survey": "nps", "score": 10, "responded_at": "2026-01-02"},
        ],
    }


@pytest.fixture(scope="module")
def signals() -> pd.DataFrame:
    return expansion_signals(make_source(_book()), AS_OF, metric_settings=FEATURES)


def _get(table: pd.DataFrame, account: str, signal: str) -> dict[str, Any]:
    rows = table[(table["account_id"] == account) & (table["signal"] == signal)]
    assert len(rows) == 1, (account, signal)
    result: dict[str, Any] = rows.iloc[0].to_dict()
    return result


def test_only_accounts_paying_at_the_cut_off_are_evaluated(signals: pd.DataFrame) -> None:
    assert sorted(set(signals["account_id"])) == ["A", "B", "C"]
    assert len(signals) == 3 * 4


def test_usage_above_licences(signals: pd.DataFrame) -> None:
    a = _get(signals, "A", "usage_above_licences")
    assert a["fired"] and a["value"] == pytest.approx(9 / 10)  # 9 users on 10 seats, threshold 0.9 inclusive
    assert a["evidence"]["active_users"] == 9
    assert "a10" not in a["evidence"]["active_user_ids"]  # 2026-01-05 is after the cut-off
    assert a["evidence"]["subscription_lines"] == ["s-a"]
    assert a["evidence"]["licences_source"] == "subscriptions.quantity"
    b = _get(signals, "B", "usage_above_licences")
    assert not b["fired"] and b["status"] == "not_fired" and b["value"] == pytest.approx(2 / 8)
    assert b["evidence"]["subscription_lines"] == ["s-b1", "s-b2"]
    c = _get(signals, "C", "usage_above_licences")
    assert c["fired"] and c["value"] == pytest.approx(5 / 5)
    assert c["evidence"]["licences_source"] == "accounts.licenses"


def test_seat_growth(signals: pd.DataFrame) -> None:
    a = _get(signals, "A", "seat_growth")
    assert a["fired"] and a["value"] == pytest.approx((9 - 6) / 6)
    assert a["evidence"]["seat_growth"] == pytest.approx(0.0)  # 10 → 10 seats
    b = _get(signals, "B", "seat_growth")
    assert b["fired"] and b["value"] == pytest.approx((8 - 4) / 4)
    assert b["evidence"]["user_growth"] is None  # 2 earlier users < min_base 3
    assert b["evidence"]["seat_lines_earlier"] == ["s-b1"] and b["evidence"]["seat_lines_recent"] == ["s-b1", "s-b2"]
    c = _get(signals, "C", "seat_growth")
    assert c["status"] == "unknown" and not c["fired"]  # no earlier users, no seat history


def test_promoter_rule_never_guesses_a_missing_health(signals: pd.DataFrame) -> None:
    b = _get(signals, "B", "promoter_healthy")
    assert b["status"] == "unknown" and not b["fired"] and b["value"] == 10
    assert "health unknown" in b["message"] and "saúde desconhecida" in b["message_pt"]
    assert b["evidence"]["nps_response_id"] == "r1"
    c = _get(signals, "C", "promoter_healthy")
    assert c["status"] == "not_fired" and c["value"] == 6  # r3; r4 (2026-01-02) is in the future
    assert c["evidence"]["nps_response_id"] == "r3"


def test_promoter_rule_with_health_scores() -> None:
    health = pd.DataFrame({
        "account_id": ["A", "B"], "as_of": [dt.date(2025, 12, 31), dt.date(2025, 12, 20)],
        "value": [40.0, 85.0], "band": ["red", "green"],
    })
    table = expansion_signals(make_source(_book()), AS_OF, health=health, metric_settings=FEATURES)
    b = _get(table, "B", "promoter_healthy")
    assert b["fired"] and b["evidence"]["health_band"] == "green" and b["evidence"]["health_age_days"] == 11
    a = _get(table, "A", "promoter_healthy")
    assert a["status"] == "not_fired"  # no NPS answer and a red band
    stale = expansion_signals(make_source(_book()), AS_OF, health=health.assign(as_of=dt.date(2025, 10, 1)),
                              metric_settings=FEATURES)
    assert _get(stale, "B", "promoter_healthy")["status"] == "unknown"  # 91 days old > 31
    future = pd.concat([health, pd.DataFrame({"account_id": ["B"], "as_of": [dt.date(2026, 1, 5)], "value": [10.0],
                                              "band": ["red"]})])
    table = expansion_signals(make_source(_book()), AS_OF, health=future, metric_settings=FEATURES)
    assert _get(table, "B", "promoter_healthy")["fired"]  # the red score of 2026-01-05 is after as_of


def test_cross_sell(signals: pd.DataFrame) -> None:
    c = _get(signals, "C", "cross_sell")
    assert c["fired"] and c["evidence"]["account_plans"] == ["Basic"]
    assert c["evidence"]["features_outside_plan"][0]["feature"] == "sso"
    assert c["evidence"]["features_outside_plan"][0]["plans_with_feature"] == ["Enterprise"]
    assert not _get(signals, "A", "cross_sell")["fired"]
    plain = expansion_signals(make_source(_book()), AS_OF)
    assert set(plain.loc[plain["signal"] == "cross_sell", "status"]) == {"not_configured"}


def test_thresholds_are_configurable() -> None:
    settings = SignalSettings.model_validate({
        "usage_above_licences": {"threshold": 0.95},
        "seat_growth": {"growth": 0.6},
        "cross_sell": {"enabled": False},
    })
    table = expansion_signals(make_source(_book()), AS_OF, settings, metric_settings=FEATURES)
    assert not _get(table, "A", "usage_above_licences")["fired"]  # 0.9 < 0.95
    assert not _get(table, "A", "seat_growth")["fired"]  # +50 % < 60 %
    assert _get(table, "B", "seat_growth")["fired"]  # +100 %
    assert "cross_sell" not in set(table["signal"])


def test_rows_after_the_as_of_date_change_nothing() -> None:
    book = _book()
    late = {k: [dict(r) for r in v] for k, v in book.items()}
    late["usage_events"] += [_event(900 + i, "B", f"late{i}", "2026-01-01 00:00") for i in range(20)]
    late["subscriptions"].append(_sub("s-b3", "B", "2026-01-01", quantity=100))
    late["survey_responses"].append(
        {"response_id": "r9", "contact_id": "b1", "survey": "nps", "score": 0, "responded_at": "2026-01-01"})
    before = expansion_signals(make_source(book), AS_OF, metric_settings=FEATURES)
    after = expansion_signals(make_source(late), AS_OF, metric_settings=FEATURES)
    pd.testing.assert_frame_equal(before, after)


# ---------------------------------------------------------------------------------------------------------------
# a real workspace: health scores from the score history, the CLI
# ---------------------------------------------------------------------------------------------------------------
def workspace_with(tables: dict[str, list[dict[str, Any]]], root: Path) -> Any:
    """An initialised workspace whose canonical tables hold ``tables`` (written through the workspace writer)."""
    from sinergia.workspace import init_workspace

    ws = init_workspace(root)
    with ws.writer() as con:
        for name, rows in tables.items():
            data, schema = frame(name, rows)
            con.register("_rows", data)
            select = ", ".join(f'CAST("{c}" AS {_sql(t)}) AS "{c}"' for c, t in schema.items())
            con.execute(f'INSERT INTO "{name}" BY NAME SELECT {select} FROM _rows')
            con.unregister("_rows")
    return ws


def _sql(ibis_type: str) -> str:
    return {v: k for k, v in {"VARCHAR": "string", "BIGINT": "int64", "DOUBLE": "float64",
                              "DECIMAL(18,2)": "decimal(18, 2)", "BOOLEAN": "boolean", "TIMESTAMP": "timestamp",
                              "DATE": "date"}.items()}[ibis_type]


assert set(IBIS_TYPES.values()) <= {"string", "int64", "float64", "decimal(18, 2)", "boolean", "timestamp", "date"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from sinergia.scores.history import write_scores

    ws = workspace_with(_book(), tmp_path_factory.mktemp("signals") / "ws")
    health = pd.DataFrame({"account_id": ["B", "C"], "as_of": [dt.date(2025, 12, 31)] * 2, "value": [90.0, 88.0],
                           "band": ["green", "green"], "explanation": [{}, {}]})
    write_scores(ws, health, score="health", model_version="test")
    # a later health score (after the as-of date) must not be read
    write_scores(ws, health.assign(as_of=dt.date(2026, 1, 15), band="red"), score="health")
    return ws


def test_workspace_reads_stored_health_as_of_the_date(workspace: Any) -> None:
    table = expansion_signals(workspace, AS_OF)
    b = _get(table, "B", "promoter_healthy")
    assert b["fired"] and b["evidence"]["health_as_of"] == "2025-12-31" and b["evidence"]["health_band"] == "green"
    assert _get(table, "C", "promoter_healthy")["status"] == "not_fired"  # green but last NPS 6


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SINERGIA), *(str(a) for a in args)], capture_output=True, text=True, timeout=300,
                          check=False)


def test_cli_json_and_errors(workspace: Any) -> None:
    result = _cli("signals", "expansion", "-w", workspace.path, "--as-of", "2025-12-31", "--fired-only",
                  "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    fired = sorted((r["account_id"], r["signal"]) for r in rows)
    assert fired == [("A", "seat_growth"), ("A", "usage_above_licences"), ("B", "promoter_healthy"),
                     ("B", "seat_growth"), ("C", "usage_above_licences")]
    assert all(r["evidence"] for r in rows)
    result = _cli("signals", "expansion", "-w", workspace.path, "--as-of", "2025-12-31", "--lang", "pt-BR",
                  "--signal", "seat_growth", "--format", "csv")
    assert result.returncode == 0 and "licenças 4 → 8" in result.stdout
    bad = _cli("signals", "expansion", "-w", workspace.path, "--as-of", "31/12/2025")
    assert bad.returncode == 2 and "--as-of must be a date" in bad.stderr
    bad = _cli("signals", "expansion", "-w", workspace.path, "--as-of", "2025-12-31", "--signal", "nope")
    assert bad.returncode == 2 and "unknown signal 'nope'" in bad.stderr


def test_unknown_signal_name() -> None:
    from sinergia.models.signals import check_signal

    with pytest.raises(UsageError, match="signals: usage_above_licences"):
        check_signal("upsell")


def test_config_section_is_validated() -> None:
    from sinergia.errors import ConfigError
    from sinergia.workspace.config import parse_config

    config = parse_config({"signals": {"seat_growth": {"growth": 0.5}}}, "sinergia.yaml")
    assert config.signals.seat_growth.growth == 0.5 and config.signals.usage_above_licences.threshold == 0.9
    with pytest.raises(ConfigError, match=r"sinergia\.yaml: signals\.seat_growth\.growth"):
        parse_config({"signals": {"seat_growth": {"growth": -1}}}, "sinergia.yaml")
    with pytest.raises(ConfigError, match=r"signals\.usage_above_licences\.treshold: unknown key"):
        parse_config({"signals": {"usage_above_licences": {"treshold": 0.8}}}, "sinergia.yaml")
    with pytest.raises(ConfigError, match=r"segments\.loyalty: at least one loyalty tier"):
        parse_config({"segments": {"loyalty": {"tiers": []}}}, "sinergia.yaml")
