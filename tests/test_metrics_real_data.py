"""Metrics on real (and one synthetic) public datasets, checked against independent pandas computations.

- RavenStack (synthetic SaaS, USD): the monthly MRR waterfall reconciles and MRR matches a direct sum.
- IBM Telco: logo churn of the last month, under the convention stated in ``TELCO_MAPPING``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import sinergia
from conftest import require_shared_data
from sinergia.ingest import ingest_files
from sinergia.metrics import compute

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def ravenstack(tmp_path_factory: pytest.TempPathFactory) -> tuple[sinergia.Workspace, Path]:
    folder = require_shared_data() / "saas_subscription" / "ravenstack_SYNTHETIC"
    ws = sinergia.init_workspace(tmp_path_factory.mktemp("raven") / "ws", currency="USD")
    ingest_files(ws, sorted(folder.glob("ravenstack_*.csv")), preset="ravenstack")
    return ws, folder


def test_ravenstack_waterfall_reconciles(ravenstack: tuple[sinergia.Workspace, Path]) -> None:
    ws, _ = ravenstack
    names = ["mrr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivated_mrr"]
    frame = compute(ws, names, as_of=dt.date(2024, 12, 31), period="month", start=dt.date(2023, 1, 1))
    wide = frame.pivot(index="period_start", columns="metric", values="value").astype(float).sort_index()
    assert len(wide) == 24
    previous = 0.0  # no RavenStack subscription starts before 2023
    for month, row in wide.iterrows():
        moved = row.new_mrr + row.reactivated_mrr + row.expansion_mrr - row.contraction_mrr - row.churned_mrr
        assert previous + moved == pytest.approx(row.mrr, abs=0.01), month
        previous = row.mrr
    assert wide.mrr.iloc[-1] > 0 and wide.churned_mrr.sum() > 0 and wide.expansion_mrr.sum() > 0


def test_ravenstack_mrr_matches_a_direct_sum(ravenstack: tuple[sinergia.Workspace, Path]) -> None:
    ws, folder = ravenstack
    subs = pd.read_csv(folder / "ravenstack_subscriptions.csv", parse_dates=["start_date", "end_date"])
    for month_end in (dt.date(2023, 6, 30), dt.date(2024, 3, 31), dt.date(2024, 12, 31)):
        cut = pd.Timestamp(month_end + dt.timedelta(days=1))
        # In force just before the cut-off: started before it, not ended before it, not a trial.
        live = subs[(subs.start_date < cut) & (subs.end_date.isna() | (subs.end_date >= cut)) & ~subs.is_trial]
        ours = compute(ws, "mrr", as_of=month_end).value.iloc[0]
        assert ours == pytest.approx(float(live.mrr_amount.sum()), abs=0.01), month_end


def test_money_in_another_currency_is_left_out_not_mixed(tmp_path: Path) -> None:
    folder = require_shared_data() / "saas_subscription" / "ravenstack_SYNTHETIC"
    ws = sinergia.init_workspace(tmp_path / "brl", currency="BRL")  # RavenStack is USD, no fx rate given
    ingest_files(ws, [folder / "ravenstack_subscriptions.csv"], preset="ravenstack")
    assert compute(ws, "mrr", as_of=dt.date(2024, 12, 31)).value.iloc[0] == 0.0


#: IBM Telco has no dates. IBM defines Churn as "customers who left within the last month" and tenure in
#: months up to an undated snapshot. Convention for this test only (not the preset): snapshot = the end of
#: an arbitrary month (2020-06-30; only relative dates matter); a customer started `tenure` months before
#: the snapshot date (tenure 0 = joined on 30 June); a churned customer's subscription ended on 15 June,
#: inside the last month. MRR =
#: MonthlyCharges.
TELCO_MAPPING = """
entity: subscriptions
source: telco-test-convention
columns:
  subscription_id: customerID
  account_id: customerID
  mrr: MonthlyCharges
  currency: {value: USD}
  started_at: {sql: "strftime(DATE '2020-06-30' - to_months(CAST(tenure AS INTEGER)), '%Y-%m-%d')"}
  ended_at: {sql: "CASE WHEN \\"Churn\\" = 'Yes' THEN '2020-06-15' END"}
"""


def test_telco_logo_churn_of_the_last_month(tmp_path: Path) -> None:
    path = require_shared_data() / "telco_churn" / "WA_Fn-UseC_-Telco-Customer-Churn.train.csv"
    mapping = tmp_path / "telco.yaml"
    mapping.write_text(TELCO_MAPPING, encoding="utf-8")
    ws = sinergia.init_workspace(tmp_path / "ws", currency="USD")
    report = ingest_files(ws, [path], mapping=mapping)
    raw = pd.read_csv(path)
    assert report.totals().read == len(raw) and report.totals().quarantined == 0
    result = compute(ws, ["logo_churn_rate", "mrr", "churned_mrr"], as_of=dt.date(2020, 6, 30))
    by_metric = result.set_index("metric")
    # Starting base of June: subscriptions in force just before 1 June = started on or before 30 May = tenure ≥ 1.
    base = raw[raw.tenure >= 1]
    churned = base[base.Churn == "Yes"]
    assert int(by_metric.loc["logo_churn_rate", "n"]) == len(base)
    assert by_metric.loc["logo_churn_rate", "value"] == pytest.approx(len(churned) / len(base))
    # Churned MRR counts every churn movement in June (no churned customer has tenure 0).
    left = raw[raw.Churn == "Yes"]
    assert by_metric.loc["churned_mrr", "value"] == pytest.approx(float(left.MonthlyCharges.sum()), abs=0.01)
    staying = raw[raw.Churn == "No"]
    assert by_metric.loc["mrr", "value"] == pytest.approx(float(staying.MonthlyCharges.sum()), abs=0.01)


def test_olist_csat_per_quarter_matches_review_scores(tmp_path: Path) -> None:
    """CSAT (top-2 of 1–5) on Olist's post-delivery review scores, quarter by quarter."""
    path = require_shared_data() / "olist" / "order_sample_8k" / "olist_order_reviews_dataset.train.csv"
    ws = sinergia.init_workspace(tmp_path / "ws")
    ingest_files(ws, [path], preset="olist")
    raw = pd.read_csv(path)
    # The preset reads Olist's local times as São Paulo time; the answer's quarter is taken in UTC. Times in
    # the hour repeated when DST ended (17 Feb 2018) are mid-quarter, so either reading gives the same quarter.
    local = pd.to_datetime(raw.review_answer_timestamp)
    answered = local.dt.tz_localize("America/Sao_Paulo", ambiguous=True).dt.tz_convert("UTC")
    raw["quarter"] = answered.dt.tz_localize(None).dt.to_period("Q").dt.start_time
    expected = raw.groupby("quarter").review_score.agg(good=lambda s: int((s >= 4).sum()), n="count")
    ours = compute(ws, "csat", as_of=dt.date(2018, 12, 31), period="quarter", start=dt.date(2016, 10, 1))
    ours = ours.set_index("period_start")
    compared = 0
    for quarter, row in expected.iterrows():
        assert int(ours.loc[quarter, "n"]) == row.n, quarter
        assert ours.loc[quarter, "value"] == pytest.approx(row.good / row.n), quarter
        compared += 1
    assert compared >= 6
    # Quarters without answers have no value (null, never 0).
    empty = ours[ours.n == 0]
    assert empty.value.isna().all()
