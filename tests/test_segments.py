"""Segments and personas (sinergia.models.segments).

Hand-made RFM book, as of 2025-12-31 (5 customers, so each quintile score is the customer's rank):

    customer  purchase days (value)                                  recency  frequency  monetary
    c1        12-30, 12-01, 11-01, 10-01, 09-01 (100 each)            1        5          500
    c2        12-20, 11-20, 10-20, 09-20 (50 each)                    11       4          200
    c3        11-01 (300), 06-01 (300 + 100, one day)                 60       2          700
    c4        06-30, 03-01, 02-01 (20 each)                           184      3          60
    c5        2025-01-01 (10); a 2026-01-05 purchase is after as_of   364      1          10

R ranks −recency: c5 1, c4 2, c3 3, c2 4, c1 5. F: c5 1, c3 2, c4 3, c2 4, c1 5. M: c5 1, c4 2, c2 3, c1 4, c3 5.
(R, F) → c1 (5, 5) Champions, c2 (4, 4) Loyal, c3 (3, 2) About to sleep, c4 (2, 3) At risk, c5 (1, 1) Hibernating.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import require_shared_data
from sinergia.errors import InputError, UsageError
from sinergia.models.segments import (
    RFM_SEGMENT_MAP,
    LoyaltySettings,
    loyalty_tiers,
    personas,
    quintile_score,
    rfm_segments,
    rfm_table,
)

SINERGIA = Path(sys.executable).with_name("sinergia")

BOOK = [
    *[("c1", d, 100.0) for d in ("2025-12-30", "2025-12-01", "2025-11-01", "2025-10-01", "2025-09-01")],
    *[("c2", d, 50.0) for d in ("2025-12-20", "2025-11-20", "2025-10-20", "2025-09-20")],
    ("c3", "2025-11-01", 300.0), ("c3", "2025-06-01", 300.0), ("c3", "2025-06-01", 100.0),
    *[("c4", d, 20.0) for d in ("2025-06-30", "2025-03-01", "2025-02-01")],
    ("c5", "2025-01-01", 10.0), ("c5", "2026-01-05", 999.0),
]


@pytest.fixture(scope="module")
def segmented() -> pd.DataFrame:
    tx = pd.DataFrame(BOOK, columns=["customer", "date", "value"])
    return rfm_segments(rfm_table(tx, "customer", "date", "value", as_of=dt.date(2025, 12, 31)))


def test_rfm_values_scores_and_segments(segmented: pd.DataFrame) -> None:
    got = segmented.sort_index()
    assert list(got["recency_days"]) == [1, 11, 60, 184, 364]
    assert list(got["frequency"]) == [5, 4, 2, 3, 1]
    assert list(got["monetary"]) == [500.0, 200.0, 700.0, 60.0, 10.0]
    assert list(got["r"]) == [5, 4, 3, 2, 1]
    assert list(got["f"]) == [5, 4, 2, 3, 1]
    assert list(got["m"]) == [4, 3, 5, 2, 1]
    assert list(got["rfm"]) == ["554", "443", "325", "232", "111"]
    assert list(got["segment"]) == ["Champions", "Loyal", "About to sleep", "At risk", "Hibernating"]
    assert list(got["segment_pt"]) == ["Campeões", "Leais", "Quase dormindo", "Em risco", "Hibernando"]
    assert list(got["tenure_days"]) == [121, 102, 213, 333, 364]  # as_of - first purchase day


def test_ties_share_a_score() -> None:
    # frequency [1 ×6, 2, 3, 4, 5]: rank_min 1 (×6), 7, 8, 9, 10; s = 1 + floor(5 (rank - 1) / 10)
    scores = quintile_score(pd.Series([1, 1, 1, 1, 1, 1, 2, 3, 4, 5]))
    assert list(scores) == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]


def test_the_segment_map_covers_the_grid() -> None:
    assert len(RFM_SEGMENT_MAP) == 25
    assert RFM_SEGMENT_MAP[(1, 5)] == "Can't lose them" and RFM_SEGMENT_MAP[(3, 3)] == "Need attention"
    assert RFM_SEGMENT_MAP[(4, 1)] == "Promising" and RFM_SEGMENT_MAP[(5, 1)] == "New customers"
    assert RFM_SEGMENT_MAP[(4, 5)] == "Loyal" and RFM_SEGMENT_MAP[(5, 4)] == "Champions"
    assert RFM_SEGMENT_MAP[(5, 3)] == "Potential loyalists"


def test_loyalty_tiers() -> None:
    settings = LoyaltySettings.model_validate({"tiers": [
        {"name": "Bronze", "min_spend": 50}, {"name": "Silver", "min_tenure_days": 180, "min_spend": 1000},
        {"name": "Gold", "name_pt": "Ouro", "min_tenure_days": 365, "min_spend": 5000},
    ]})
    table = pd.DataFrame({"tenure_days": [10, 200, 400, 400, 10], "monetary": [10_000, 1000, 4999, 5000, 10]})
    got = loyalty_tiers(table, settings)
    # 10 days: Bronze only (tenure too short for Silver); 200 d / 1000: Silver; 400 d / 4999: Silver (spend
    # short of Gold); 400 d / 5000: Gold; 10 d / 10: below Bronze's 50 → no tier.
    assert list(got["tier"]) == ["Bronze", "Silver", "Silver", "Gold", None]
    assert list(got["tier_pt"]) == ["Bronze", "Silver", "Silver", "Ouro", None]
    with pytest.raises(ValueError, match="unique"):
        LoyaltySettings.model_validate({"tiers": [{"name": "A"}, {"name": "A"}]})


def _planted(seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Three planted groups of 60 on six features, each 6 sd away from the others on its own traits."""
    rng = np.random.default_rng(seed)
    n = 60
    base = {"usage": 10.0, "adoption": 5.0, "tickets": 3.0, "nps": 7.0, "mrr": 1000.0, "tenure": 400.0}
    sd = {"usage": 1.0, "adoption": 0.5, "tickets": 0.5, "nps": 0.5, "mrr": 100.0, "tenure": 40.0}
    shift = [
        {"usage": 8, "adoption": 6},  # heavy users with broad adoption
        {"tickets": 8, "nps": -6},  # many tickets, low NPS
        {"mrr": 8, "tenure": 6},  # high MRR, long-standing
    ]
    frames, truth = [], []
    for group, moves in enumerate(shift):
        cols = {c: base[c] + sd[c] * (rng.normal(size=n) + moves.get(c, 0)) for c in base}
        frames.append(pd.DataFrame(cols))
        truth += [group] * n
    data = pd.concat(frames, ignore_index=True)
    data.index = pd.Index([f"acc{i:03d}" for i in range(len(data))], name="account_id")
    return data, np.array(truth)


def test_personas_recover_planted_clusters_and_describe_them() -> None:
    from sklearn.metrics import adjusted_rand_score

    data, truth = _planted()
    result = personas(data, log_columns=[], k_range=(2, 6), seed=0)
    assert result.k == 3
    assert max(result.silhouettes, key=lambda k: result.silhouettes[k]) == 3
    assert adjusted_rand_score(truth, result.labels["persona"].to_numpy()) == 1.0
    by_group = {}
    for group in range(3):
        persona = int(result.labels["persona"].to_numpy()[truth == group][0])
        by_group[group] = result.profiles.set_index("persona").loc[persona]
    assert "heavy users" in by_group[0]["description"] and "broad feature adoption" in by_group[0]["description"]
    assert "usam muito o produto" in by_group[0]["description_pt"]
    assert "many tickets" in by_group[1]["description"] and "low NPS" in by_group[1]["description"]
    assert "muitos chamados" in by_group[1]["description_pt"] and "NPS baixo" in by_group[1]["description_pt"]
    assert "high MRR" in by_group[2]["description"] and "long-standing customers" in by_group[2]["description"]
    assert by_group[2]["traits"][0] == "mrr"  # the strongest trait first
    assert list(result.profiles["size"]) == [60, 60, 60]


def test_personas_are_deterministic_and_impute_missing_nps() -> None:
    data, _ = _planted(seed=2)
    data.loc[data.index[:5], "nps"] = np.nan
    one = personas(data, log_columns=[], k_range=(2, 5), seed=7)
    two = personas(data, log_columns=[], k_range=(2, 5), seed=7)
    pd.testing.assert_frame_equal(one.labels, two.labels)
    pd.testing.assert_frame_equal(one.profiles, two.profiles)
    assert set(one.imputed) == {"nps"}


def test_persona_errors() -> None:
    data, _ = _planted()
    with pytest.raises(UsageError, match="k range"):
        personas(data, k_range=(1, 3))
    with pytest.raises(InputError, match="too few"):
        personas(data.iloc[:2], k_range=(2, 3))
    with pytest.raises(InputError, match="do not differ"):
        personas(pd.DataFrame({"usage": [1.0] * 10}), k_range=(2, 3))


# ---------------------------------------------------------------------------------------------------------------
# CDNOW: segment counts against an independent computation
# ---------------------------------------------------------------------------------------------------------------
def _independent_segments(log: pd.DataFrame) -> pd.Series:
    """RFM segments by plain pandas/numpy: same definitions, written separately (searchsorted ranks, regexes)."""
    import re

    if "day" not in log:
        log = log.assign(day=pd.to_datetime(log["date"], format="%Y%m%d"))
    log = log.assign(day=log["day"].dt.normalize(), value=log["value"].astype(float))
    end = log["day"].max()
    daily = log.groupby(["customer", "day"])["value"].sum().reset_index()
    daily = daily[daily["value"] > 0]
    per = daily.groupby("customer").agg(last=("day", "max"), frequency=("day", "count"))
    recency = (end - per["last"]).dt.days.to_numpy()
    n = len(per)

    def score(values: np.ndarray) -> np.ndarray:
        ordered = np.sort(values)
        rank_min = np.searchsorted(ordered, values, side="left") + 1  # 1 + number of strictly smaller values
        return 1 + (5 * (rank_min - 1)) // n

    r, f = score(-recency), score(per["frequency"].to_numpy())
    grid = {  # the R×F map as the regexes the RFM tutorials use
        r"[1-2][1-2]": "Hibernating", r"[1-2][3-4]": "At risk", r"[1-2]5": "Can't lose them",
        r"3[1-2]": "About to sleep", r"33": "Need attention", r"[3-4][4-5]": "Loyal", r"41": "Promising",
        r"51": "New customers", r"[4-5][2-3]": "Potential loyalists", r"5[4-5]": "Champions",
    }
    names = []
    for code in (f"{a}{b}" for a, b in zip(r, f, strict=True)):
        (name,) = [v for k, v in grid.items() if re.fullmatch(k, code)]
        names.append(name)
    return pd.Series(names).value_counts().sort_index()


def test_cdnow_segment_counts_match_an_independent_computation() -> None:
    data = require_shared_data()
    log = pd.read_csv(data / "cdnow" / "CDNOW_master.txt", sep=r"\s+", header=None, skiprows=1, dtype=str,
                      names=["customer", "date", "cds", "value"])
    ours = rfm_segments(rfm_table(log, "customer", "date", "value"))
    expected = _independent_segments(log)
    got = ours["segment"].value_counts().sort_index()
    pd.testing.assert_series_equal(got.rename(None), expected.rename(None), check_names=False)
    # 23,570 customers; 68 of them only have $0 rows (80 such rows in the file): no purchase day, no segment
    spent = log["value"].astype(float).groupby(log["customer"]).max() > 0
    assert int(got.sum()) == int(spent.sum()) == 23_502


def test_online_retail_segment_counts_match_an_independent_computation() -> None:
    data = require_shared_data()
    raw = pd.read_csv(data / "online_retail" / "online_retail_I_2010-12_2011-12.csv.gz", dtype=str)
    ours = rfm_segments(rfm_table(raw, "CustomerID", "InvoiceDate", "UnitPrice", quantity_col="Quantity"))
    known = raw[raw["CustomerID"].notna()]
    log = pd.DataFrame({
        "customer": known["CustomerID"], "day": pd.to_datetime(known["InvoiceDate"]),
        "value": known["UnitPrice"].astype(float) * known["Quantity"].astype(float),
    })
    expected = _independent_segments(log)
    got = ours["segment"].value_counts().sort_index()
    pd.testing.assert_series_equal(got.rename(None), expected.rename(None), check_names=False)
    # 4,372 customers; 38 have no day with a positive net value (only returns or cancellations)
    assert int(got.sum()) == 4_334


def test_cli_rfm_on_a_transaction_file_and_personas() -> None:
    data = require_shared_data()
    sample = data / "cdnow" / "CDNOW_sample.txt"
    result = subprocess.run(
        [str(SINERGIA), "segments", "rfm", "-t", str(sample), "--customer-col", "2", "--date-col", "3",
         "--value-col", "5", "--format", "json"], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    # 2,357 sampled customers, 8 of whom only have $0 rows (no purchase day)
    assert out["customers"] == 2349 and sum(s["customers"] for s in out["segments"]) == 2349
    result = subprocess.run(
        [str(SINERGIA), "segments", "personas", "-t", str(sample), "--customer-col", "2", "--date-col", "3",
         "--value-col", "5", "--k-max", "4", "--lang", "pt-BR", "--format", "json"],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    personas_out = json.loads(result.stdout)
    assert 2 <= personas_out["k"] <= 4 and sum(p["size"] for p in personas_out["personas"]) == 2349
    assert all(p["description_pt"] for p in personas_out["personas"])
    bad = subprocess.run([str(SINERGIA), "segments", "rfm", "-t", str(sample)], capture_output=True, text=True,
                         timeout=300, check=False)
    assert bad.returncode == 2 and "--customer-col" in bad.stderr


# ---------------------------------------------------------------------------------------------------------------
# workspace: features as of a date
# ---------------------------------------------------------------------------------------------------------------
def test_workspace_features_and_rfm_as_of(tmp_path: Path) -> None:
    from sinergia.models.segments import account_features, account_transactions
    from test_signals import _book, workspace_with

    book = _book()
    book["orders"] = [
        {"order_id": "o1", "account_id": "A", "ordered_at": "2025-03-01", "amount": 100, "currency": "BRL"},
        {"order_id": "o2", "account_id": "A", "ordered_at": "2025-12-01", "amount": 100, "currency": "BRL"},
        {"order_id": "o3", "account_id": "A", "ordered_at": "2026-01-02", "amount": 100, "currency": "BRL"},
        {"order_id": "o4", "account_id": "B", "ordered_at": "2025-12-01", "amount": 50, "currency": "BRL",
         "status": "void"},
    ]
    book["tickets"] = [
        {"ticket_id": "t1", "account_id": "A", "created_at": "2025-12-01"},
        {"ticket_id": "t2", "account_id": "A", "created_at": "2025-09-01"},  # > 90 days before the cut-off
        {"ticket_id": "t3", "account_id": "A", "created_at": "2026-01-02"},  # after it
    ]
    ws = workspace_with(book, tmp_path / "ws")
    as_of = dt.date(2025, 12, 31)
    tx = account_transactions(ws, as_of)
    assert sorted(tx["amount"]) == [100.0, 100.0]  # o3 is after as_of, o4 is void
    features = account_features(ws, as_of)
    assert list(features.index) == ["A", "B", "C"]
    a = features.loc["A"]
    assert a["usage"] == pytest.approx(9 / 10)  # 9 December events on 10 seats
    assert a["active_users"] == 9 and a["adoption"] == 1 and a["tickets"] == 1
    assert a["mrr"] == 100 and a["tenure"] == pytest.approx((dt.date(2026, 1, 1) - dt.date(2025, 1, 1)).days)
    assert np.isnan(a["nps"]) and features.loc["C", "nps"] == 6 and features.loc["C", "adoption"] == 2
    rfm = rfm_segments(rfm_table(tx, "account_id", "ordered_at", "amount", as_of=as_of))
    assert rfm.loc["A", "recency_days"] == 30 and rfm.loc["A", "frequency"] == 2


@pytest.fixture(scope="module")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sinergia.demo import generate
    from sinergia.ingest import ingest_files
    from sinergia.workspace import init_workspace

    root = tmp_path_factory.mktemp("segments-demo")
    ws = init_workspace(root / "ws")
    files = generate(root / "data", accounts=300, seed=3)
    ingest_files(ws, list(files.values()), preset="sinergia")
    return ws.path


def _segments_cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SINERGIA), "segments", *(str(a) for a in args)], capture_output=True, text=True,
                          timeout=300, check=False)


def test_workspace_cli_on_the_demo(demo_workspace: Path) -> None:
    from sinergia.models.segments import account_features
    from sinergia.workspace import open_workspace

    result = _segments_cli("rfm", "-w", demo_workspace, "--as-of", "2026-10-31", "--format", "json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["customers"] > 0 and sum(s["customers"] for s in out["segments"]) == out["customers"]
    assert sum(out["tiers"].values()) == out["customers"]
    first = _segments_cli("personas", "-w", demo_workspace, "--as-of", "2026-10-31", "--format", "json")
    second = _segments_cli("personas", "-w", demo_workspace, "--as-of", "2026-10-31", "--format", "json")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout  # seeded: the same personas every run
    personas_out = json.loads(first.stdout)
    paying = len(account_features(open_workspace(demo_workspace), dt.date(2026, 10, 31)))
    assert 2 <= personas_out["k"] <= 8 and sum(p["size"] for p in personas_out["personas"]) == paying
    assert all(p["description"] and p["description_pt"] for p in personas_out["personas"])
    table = _segments_cli("personas", "-w", demo_workspace, "--as-of", "2026-10-31", "--lang", "pt-BR")
    assert table.returncode == 0 and "Silhouette by k" in table.stdout
    missing = _segments_cli("rfm", "-w", demo_workspace)
    assert missing.returncode == 2 and "--as-of is required" in missing.stderr
