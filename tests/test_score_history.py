"""The per-account, per-day score history (``account_scores``): upsert, atomicity, as-of reads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from sinergia.errors import InputError, UsageError
from sinergia.scores.history import latest_scores, read_scores, write_scores
from sinergia.workspace.workspace import Workspace, init_workspace

D1, D2, D3 = dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 5)


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "ws")


def _frame(rows: list[tuple[str, dt.date, float]], **extra: list[object]) -> pd.DataFrame:
    data = pd.DataFrame(rows, columns=["account_id", "as_of", "value"])
    for column, values in extra.items():
        data[column] = values
    return data


def test_write_then_read_round_trip(ws: Workspace) -> None:
    n = write_scores(
        ws,
        _frame(
            [("a", D1, 70.0), ("b", D1, 40.5)],
            band=["green", "red"],
            trend=["up", None],
            explanation=[{"measures": [{"name": "nps", "value": 9}]}, None],
        ),
        score="health",
        model_version="scorecard:v1",
    )
    assert n == 2
    got = read_scores(ws, score="health")
    assert list(got["account_id"]) == ["a", "b"]
    assert list(got["as_of"]) == [D1, D1]
    assert list(got["value"]) == [70.0, 40.5]
    assert list(got["band"]) == ["green", "red"]
    assert got["trend"].tolist() == ["up", None]
    assert got["explanation"][0] == {"measures": [{"name": "nps", "value": 9}]}
    assert got["explanation"][1] is None
    assert set(got["model_version"]) == {"scorecard:v1"}
    assert got["computed_at"].notna().all()


def test_rewriting_the_same_day_replaces_never_doubles(ws: Workspace) -> None:
    write_scores(ws, _frame([("a", D1, 70.0), ("b", D1, 40.0)]), score="health")
    write_scores(ws, _frame([("a", D1, 75.0), ("b", D1, 40.0)]), score="health")
    write_scores(ws, _frame([("a", D1, 75.0), ("b", D1, 40.0)]), score="health")
    got = read_scores(ws, score="health")
    assert len(got) == 2
    assert dict(zip(got["account_id"], got["value"], strict=True)) == {"a": 75.0, "b": 40.0}


def test_scores_and_days_are_independent_keys(ws: Workspace) -> None:
    write_scores(ws, _frame([("a", D1, 70.0)]), score="health")
    write_scores(ws, _frame([("a", D1, 0.12)]), score="churn_risk_90d")
    write_scores(ws, _frame([("a", D2, 72.0)]), score="health")
    assert len(read_scores(ws)) == 3
    assert read_scores(ws, score="churn_risk_90d")["value"].tolist() == [0.12]
    assert read_scores(ws, account_id="a", start=D2)["value"].tolist() == [72.0]
    assert read_scores(ws, score="health", end=D1)["value"].tolist() == [70.0]
    # a new write for one day leaves the other days alone
    write_scores(ws, _frame([("a", D2, 60.0)]), score="health")
    assert read_scores(ws, score="health")["value"].tolist() == [70.0, 60.0]


def test_failed_write_changes_nothing(ws: Workspace) -> None:
    """The second frame replaces a's row (DELETE runs) and then violates the key: the whole write is discarded."""
    write_scores(ws, _frame([("a", D1, 70.0), ("b", D1, 40.0)]), score="health")
    bad = _frame([("a", D1, 10.0), ("b", D1, 11.0), ("b", D1, 12.0)])
    with pytest.raises(InputError, match=r"account b has 2 rows for 2026-01-01.*nothing was written"):
        write_scores(ws, bad, score="health")
    got = read_scores(ws, score="health")
    assert dict(zip(got["account_id"], got["value"], strict=True)) == {"a": 70.0, "b": 40.0}
    assert not list(ws.path.glob(".engine-writing-*"))


def test_latest_scores_as_of(ws: Workspace) -> None:
    write_scores(ws, _frame([("a", D1, 70.0), ("b", D1, 50.0)]), score="health")
    write_scores(ws, _frame([("a", D2, 71.0)]), score="health")
    write_scores(ws, _frame([("a", D3, 90.0), ("b", D3, 10.0)]), score="health")
    write_scores(ws, _frame([("a", D3, 0.9)]), score="churn_risk_90d")
    # on D2: a's D2 row, b's D1 row (b has nothing on D2); the D3 rows (after the date) change nothing
    got = latest_scores(ws, "health", D2)
    assert list(zip(got["account_id"], got["as_of"], got["value"], strict=True)) == [("a", D2, 71.0), ("b", D1, 50.0)]
    got = latest_scores(ws, "health", dt.date(2026, 1, 4))
    assert got["value"].tolist() == [71.0, 50.0]
    assert latest_scores(ws, "health", dt.date(2025, 12, 31)).empty
    assert latest_scores(ws, "health", D3)["value"].tolist() == [90.0, 10.0]


def test_validation_messages(ws: Workspace) -> None:
    with pytest.raises(InputError, match=r"lacks the column.*value"):
        write_scores(ws, pd.DataFrame({"account_id": ["a"], "as_of": [D1]}), score="health")
    with pytest.raises(InputError, match=r"unknown column.*colour"):
        write_scores(ws, _frame([("a", D1, 1.0)], colour=["red"]), score="health")
    with pytest.raises(InputError, match=r"row 0 .*trend 'sideways'"):
        write_scores(ws, _frame([("a", D1, 1.0)], trend=["sideways"]), score="health")
    with pytest.raises(InputError, match="value is nan"):
        write_scores(ws, _frame([("a", D1, float("nan"))]), score="health")
    with pytest.raises(InputError, match="as_of 'yesterday' is not a date"):
        write_scores(ws, _frame([("a", "yesterday", 1.0)]), score="health")  # type: ignore[list-item]
    with pytest.raises(InputError, match="explanation is not valid JSON"):
        write_scores(ws, _frame([("a", D1, 1.0)], explanation=["{oops"]), score="health")
    with pytest.raises(UsageError, match="score name 'Health Score'"):
        write_scores(ws, _frame([("a", D1, 1.0)]), score="Health Score")
    assert read_scores(ws).empty


def test_dates_as_strings_and_timestamps_and_empty_frames(ws: Workspace) -> None:
    write_scores(ws, _frame([("a", "2026-01-01", 1.0), ("b", pd.Timestamp("2026-01-01"), 2.0)]), score="x")  # type: ignore[list-item]
    assert read_scores(ws, score="x")["as_of"].tolist() == [D1, D1]
    assert write_scores(ws, _frame([]), score="x") == 0
    assert len(read_scores(ws, score="x")) == 2


def test_workspace_made_before_the_table_existed(ws: Workspace) -> None:
    with ws.writer() as con:
        con.execute("DROP TABLE account_scores")
    assert read_scores(ws).empty
    assert latest_scores(ws, "health", D1).empty
    write_scores(ws, _frame([("a", D1, 5.0)]), score="health")
    assert read_scores(ws)["value"].tolist() == [5.0]
