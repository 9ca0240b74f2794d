"""Survival of paying accounts: lifetimes as of a date, Kaplan-Meier and Cox (sinergia.models.survival).

The hand-made book (as of 2025-12-31, so the cut-off is 2026-01-01 00:00 UTC), one subscription each:

    A  2025-06-01 → 2025-07-01   churn at 30 days
    B  2025-06-01 → 2025-07-31   churn at 60 days
    C  2025-11-16 → open         censored at 46 days (Nov 16 → Jan 1)
    D  2025-06-01 → 2026-03-01   the churn is after the cut-off: censored at 214 days (Jun 1 → Jan 1)
    E  2025-01-01 → open         censored at 365 days

Product-limit by hand: at 30 days 5 at risk, 1 churn → S(30) = 4/5 = 0.8; C leaves (censored) at 46; at 60 days
3 at risk (B, D, E), 1 churn → S(60) = 0.8 × 2/3 = 0.5333; no churn after → S(180) = S(365) = 0.5333; 730 days is
past the longest follow-up (365) → null; S never falls to 0.5 → median not reached.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from conftest import require_shared_data
from metric_fixtures import make_source
from sinergia.errors import UsageError
from sinergia.models.survival import (
    SurvivalModelError,
    account_lifetimes,
    cox_hazard_ratios,
    kaplan_meier,
)

SINERGIA = Path(sys.executable).with_name("sinergia")
AS_OF = dt.date(2025, 12, 31)


def _sub(sub_id: str, account: str, start: str, end: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "subscription_id": sub_id, "account_id": account, "started_at": start, "ended_at": end,
        "mrr": 100.0, "currency": "BRL", **extra,
    }  # fmt: skip


BOOK = [
    _sub("s-a", "A", "2025-06-01", "2025-07-01"),
    _sub("s-b", "B", "2025-06-01", "2025-07-31"),
    _sub("s-c", "C", "2025-11-16"),
    _sub("s-d", "D", "2025-06-01", "2026-03-01"),
    _sub("s-e", "E", "2025-01-01"),
]
ACCOUNTS = [
    {"account_id": "A", "segment": "SMB"},
    {"account_id": "B", "segment": "SMB"},
    {"account_id": "C", "segment": "Enterprise"},
    {"account_id": "D", "segment": "Enterprise"},
    {"account_id": "E"},  # no segment: null in lifetimes, "(unknown)" as a KM group
]


@pytest.fixture(scope="module")
def book() -> pd.DataFrame:
    source = make_source({"subscriptions": BOOK, "accounts": ACCOUNTS})
    return account_lifetimes(source, AS_OF, by=["segment"])


# ---------------------------------------------------------------------------------------------------------------
# lifetimes
# ---------------------------------------------------------------------------------------------------------------
def test_lifetimes_of_the_hand_made_book(book: pd.DataFrame) -> None:
    got = book.set_index("account_id")
    assert list(book.columns) == [
        "account_id", "life", "start", "end", "duration_days", "event", "cohort", "segment",
    ]  # fmt: skip
    assert got["duration_days"].to_dict() == {"A": 30.0, "B": 60.0, "C": 46.0, "D": 214.0, "E": 365.0}
    assert got["event"].to_dict() == {"A": 1, "B": 1, "C": 0, "D": 0, "E": 0}
    assert got.loc["A", "end"] == pd.Timestamp("2025-07-01")
    assert pd.isna(got.loc["D", "end"])  # churned in March 2026: not seen as of 2025-12-31
    assert got["cohort"].to_dict() == {"A": "2025-06", "B": "2025-06", "C": "2025-11", "D": "2025-06", "E": "2025-01"}
    assert got.loc["C", "segment"] == "Enterprise" and pd.isna(got.loc["E", "segment"])
    assert (got["life"] == 1).all()


def test_a_later_as_of_date_sees_the_churn() -> None:
    source = make_source({"subscriptions": BOOK})
    later = account_lifetimes(source, dt.date(2026, 6, 30)).set_index("account_id")
    # D: Jun 1 2025 → Mar 1 2026 = 273 days, now a churn; E is censored at Jul 1 2026 (546 days)
    assert later.loc["D", "duration_days"] == 273.0 and later.loc["D", "event"] == 1
    assert later.loc["E", "duration_days"] == 546.0 and later.loc["E", "event"] == 0
    # nothing before the first payment: as of 2025-05-31 only E has started
    early = account_lifetimes(source, dt.date(2025, 5, 31))
    assert early["account_id"].tolist() == ["E"] and early["duration_days"].tolist() == [151.0]


def test_reactivation_starts_a_new_life_and_overlaps_do_not_end_one() -> None:
    subs = [
        # F pays Jan-Feb, stops, comes back in May: life 1 churns at 59 days, life 2 is censored at 245 days
        _sub("f1", "F", "2025-01-01", "2025-03-01"),
        _sub("f2", "F", "2025-05-01"),
        # G: a second subscription starts before the first ends: one paying spell, censored at 334 days
        _sub("g1", "G", "2025-02-01", "2025-04-01"),
        _sub("g2", "G", "2025-03-01"),
        # H: a trial is not revenue, so no life at all
        _sub("h1", "H", "2025-02-01", "2025-03-01", is_trial=True),
    ]
    source = make_source({"subscriptions": subs})
    lives = account_lifetimes(source, AS_OF, cohort="quarter")
    rows = lives[["account_id", "life", "duration_days", "event", "cohort"]].to_dict("records")
    assert rows == [
        {"account_id": "F", "life": 1, "duration_days": 59.0, "event": 1, "cohort": "2025Q1"},
        {"account_id": "F", "life": 2, "duration_days": 245.0, "event": 0, "cohort": "2025Q2"},
        {"account_id": "G", "life": 1, "duration_days": 334.0, "event": 0, "cohort": "2025Q1"},
    ]
    first = account_lifetimes(source, AS_OF, lives="first")
    assert first[["account_id", "life"]].to_dict("records") == [
        {"account_id": "F", "life": 1},
        {"account_id": "G", "life": 1},
    ]


def test_lifetimes_reject_unknown_attributes() -> None:
    source = make_source({"subscriptions": BOOK})
    with pytest.raises(UsageError, match="cannot split lifetimes by colour"):
        account_lifetimes(source, AS_OF, by=["colour"])


# ---------------------------------------------------------------------------------------------------------------
# Kaplan-Meier
# ---------------------------------------------------------------------------------------------------------------
def test_kaplan_meier_by_hand(book: pd.DataFrame) -> None:
    km = kaplan_meier(book, times=[30, 60, 180, 365, 730]).set_index("time")
    assert km.loc[30.0, "survival"] == pytest.approx(4 / 5)
    assert km.loc[60.0, "survival"] == pytest.approx(4 / 5 * 2 / 3)
    assert km.loc[180.0, "survival"] == pytest.approx(4 / 5 * 2 / 3)
    assert km.loc[365.0, "survival"] == pytest.approx(4 / 5 * 2 / 3)
    assert pd.isna(km.loc[730.0, "survival"])  # past the longest follow-up
    assert km["at_risk"].tolist() == [5, 3, 2, 1, 0]
    assert km["n"].unique().tolist() == [5] and km["events"].unique().tolist() == [2]
    assert km["median"].isna().all()  # S stays at 0.533 > 0.5
    # 95 % exponential Greenwood interval at 60 days, written out:
    # V = Σ d/(n(n−d)) = 1/(5·4) + 1/(3·2); σ = √V / |log S|; bounds S^exp(∓1.96 σ)
    s = 8 / 15
    sigma = math.sqrt(1 / 20 + 1 / 6) / abs(math.log(s))
    z = 1.959963984540054
    assert km.loc[60.0, "ci_low"] == pytest.approx(s ** math.exp(z * sigma), rel=1e-6)
    assert km.loc[60.0, "ci_high"] == pytest.approx(s ** math.exp(-z * sigma), rel=1e-6)


def test_kaplan_meier_groups_include_unknown(book: pd.DataFrame) -> None:
    km = kaplan_meier(book, by="segment", times=[30, 60]).set_index(["segment", "time"])
    assert km.index.get_level_values(0).unique().tolist() == ["(unknown)", "Enterprise", "SMB"]
    # SMB: A churns at 30 (2 at risk), B at 60 (1 at risk) → S(30) = 1/2, S(60) = 0; median 30 days
    assert km.loc[("SMB", 30.0), "survival"] == pytest.approx(0.5)
    assert km.loc[("SMB", 60.0), "survival"] == pytest.approx(0.0)
    assert km.loc[("SMB", 30.0), "median"] == 30.0
    assert km.loc[("Enterprise", 60.0), "survival"] == 1.0


def test_kaplan_meier_agrees_with_lifelines() -> None:
    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame({
        "duration_days": np.round(rng.exponential(400, n), 1).clip(max=900),
        "plan": rng.choice(["basic", "pro"], n),
    })  # fmt: skip
    frame["event"] = ((frame["duration_days"] < 900) & (rng.random(n) < 0.7)).astype(int)
    times = [30, 90, 180, 365, 730]
    ours = kaplan_meier(frame, by="plan", times=times)
    for plan, part in frame.groupby("plan"):
        fitter = KaplanMeierFitter().fit(part["duration_days"], part["event"])
        expected = fitter.survival_function_at_times(times).to_numpy()
        got = ours[ours["plan"] == plan]
        np.testing.assert_allclose(got["survival"].to_numpy(float), expected, rtol=1e-12)
        median = got["median"].iloc[0]
        assert (math.isinf(fitter.median_survival_time_) and pd.isna(median)) or median == pytest.approx(
            fitter.median_survival_time_
        )


def test_kaplan_meier_input_errors(book: pd.DataFrame) -> None:
    with pytest.raises(UsageError, match="no column plan"):
        kaplan_meier(book, by="plan")
    with pytest.raises(SurvivalModelError, match="no lifetimes"):
        kaplan_meier(book.iloc[0:0])
    with pytest.raises(UsageError, match="non-negative"):
        kaplan_meier(book.assign(duration_days=-1.0))


# ---------------------------------------------------------------------------------------------------------------
# Cox
# ---------------------------------------------------------------------------------------------------------------
def _two_rate_book(n: int = 1500, seed: int = 11) -> pd.DataFrame:
    """Exponential lifetimes: 'SMB' churns at twice the hazard of 'Enterprise'; follow-up stops at 730 days."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(["Enterprise", "SMB"], n, p=[0.6, 0.4])
    rate = np.where(segment == "SMB", 2 / 500, 1 / 500)
    durations = rng.exponential(1 / rate)
    follow_up = rng.uniform(30, 730, n)  # staggered starts: each life is seen for a different time
    return pd.DataFrame({
        "duration_days": np.minimum(durations, follow_up),
        "event": (durations <= follow_up).astype(int),
        "segment": segment,
        "seats": rng.integers(1, 50, n),  # no effect on churn
    })  # fmt: skip


def test_cox_recovers_a_doubled_hazard() -> None:
    result = cox_hazard_ratios(_two_rate_book(), ["segment", "seats"])
    table = result.hazard_ratios.set_index("covariate")
    smb = table.loc["segment"]
    assert smb["level"] == "SMB" and smb["reference"] == "Enterprise"  # the most common level is the reference
    assert smb["ci_low"] < 2 < smb["ci_high"]
    assert 1.6 < smb["hazard_ratio"] < 2.5 and smb["p_value"] < 1e-10
    seats = table.loc["seats"]
    assert pd.isna(seats["level"]) and seats["ci_low"] < 1 < seats["ci_high"]
    assert result.n == 1500 and 0.5 < result.concordance < 0.7


def test_cox_reference_level_can_be_chosen() -> None:
    result = cox_hazard_ratios(_two_rate_book(), ["segment"], references={"segment": "SMB"})
    row = result.hazard_ratios.iloc[0]
    assert (row["level"], row["reference"]) == ("Enterprise", "SMB")
    assert row["ci_low"] < 0.5 < row["ci_high"]


def test_cox_errors_are_clear() -> None:
    data = _two_rate_book(300)
    with pytest.raises(UsageError, match="covariate 'plan' has one level \\('pro'\\)"):
        cox_hazard_ratios(data.assign(plan="pro"), ["plan"])
    with pytest.raises(UsageError, match="no column colour"):
        cox_hazard_ratios(data, ["colour"])
    silent = data.assign(event=np.where(data["segment"] == "Enterprise", 0, data["event"]))
    with pytest.raises(SurvivalModelError, match=r"no churn at level 'Enterprise'.*does not converge"):
        cox_hazard_ratios(silent, ["segment"])
    with pytest.raises(SurvivalModelError, match="no churn"):
        cox_hazard_ratios(data.assign(event=0), ["seats"])


# ---------------------------------------------------------------------------------------------------------------
# Telco (shared data): tenure in months, Churn = Yes
# ---------------------------------------------------------------------------------------------------------------
def _product_limit(durations: pd.Series, events: pd.Series, t: float) -> float:
    """S(t) = Π over event times t_i ≤ t of (1 − d_i / n_i); n_i = lives with duration ≥ t_i."""
    s = 1.0
    for t_i in sorted(durations[(events == 1) & (durations <= t)].unique()):
        n_i = int((durations >= t_i).sum())
        d_i = int(((durations == t_i) & (events == 1)).sum())
        s *= 1 - d_i / n_i
    return s


@pytest.mark.shared_data
def test_telco_contracts() -> None:
    path = require_shared_data() / "telco_churn" / "WA_Fn-UseC_-Telco-Customer-Churn.train.csv"
    raw = pd.read_csv(path)
    lifetimes = pd.DataFrame({
        "account_id": raw["customerID"],
        "duration_months": raw["tenure"].astype(float),
        "event": (raw["Churn"] == "Yes").astype(int),
        "contract": raw["Contract"],
    })  # fmt: skip
    km = kaplan_meier(lifetimes, by="contract", times=[12], duration="duration_months").set_index("contract")
    assert km.loc["Month-to-month", "survival"] < km.loc["One year", "survival"] < km.loc["Two year", "survival"]
    for contract, part in lifetimes.groupby("contract"):
        by_hand = _product_limit(part["duration_months"], part["event"], 12)
        assert km.loc[contract, "survival"] == pytest.approx(by_hand, rel=1e-12)
    assert 0.6 < km.loc["Month-to-month", "survival"] < 0.8 and km.loc["Two year", "survival"] > 0.99
    # and month-to-month contracts carry by far the larger churn hazard
    cox = cox_hazard_ratios(lifetimes, ["contract"], duration="duration_months").hazard_ratios.set_index("level")
    assert cox.loc["Two year", "reference"] == "Month-to-month" and cox.loc["Two year", "ci_high"] < 0.2


# ---------------------------------------------------------------------------------------------------------------
# demo workspace through the CLI
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sinergia.demo import generate
    from sinergia.ingest import ingest_files
    from sinergia.workspace import init_workspace

    root = tmp_path_factory.mktemp("survival-demo")
    ws = init_workspace(root / "ws")
    files = generate(root / "data", accounts=300, seed=3)
    ingest_files(ws, list(files.values()), preset="sinergia")
    return ws.path


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SINERGIA), "survival", *(str(a) for a in args)], capture_output=True, text=True, timeout=300, check=False
    )


def test_demo_km_and_cox_through_the_cli(demo_workspace: Path) -> None:
    # the demo churns about 1-2 % of paying accounts a month: a year's survival around 0.8
    result = _cli("km", "-w", demo_workspace, "--as-of", "2026-10-31", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {r["time"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {30.0, 90.0, 180.0, 365.0, 730.0}
    year = rows[365.0]
    assert 0.7 < year["survival"] < 0.95 and year["ci_low"] < year["survival"] < year["ci_high"]
    assert year["n"] > 200 and year["events"] > 20
    result = _cli("cox", "-w", demo_workspace, "--as-of", "2026-10-31", "--covariate", "segment", "--format", "json")
    assert result.returncode == 0, result.stderr
    cox = json.loads(result.stdout)
    assert {r["level"] for r in cox["hazard_ratios"]} == {"Enterprise", "Mid-Market"}
    assert {r["reference"] for r in cox["hazard_ratios"]} == {"SMB"}
    result = _cli("km", "-w", demo_workspace, "--as-of", "2026-10-31", "--by", "segment")
    assert result.returncode == 0, result.stderr
    assert "Median survival" in result.stdout and "SMB" in result.stdout


def test_cli_errors_are_one_line(demo_workspace: Path) -> None:
    result = _cli("km", "-w", demo_workspace, "--as-of", "31/10/2026")
    assert result.returncode == 2 and result.stderr.strip() == (
        "error: --as-of must be a date like 2026-10-31, got '31/10/2026'"
    )
    result = _cli("km", "-w", demo_workspace, "--as-of", "2010-01-01")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "no lifetimes" in result.stderr and "Traceback" not in result.stderr
