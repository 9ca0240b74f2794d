"""Revenue and retention metrics on a hand-made book of four accounts, on DuckDB and Spark.

The book (all BRL, monthly MRR):
- a1: 100 from 1 Jan; expands to 150 on 10 Feb;
- a2: 200 from 1 Jan; cancels on 20 Feb (subscription ended_at, no change rows);
- a3: new on 5 Feb at 50;
- a4: 300 from 1 Jan; contracts to 250 on 15 Feb;
- a5: 80 from 1 Jan, churns 5 Jan, comes back 25 Jan at 90 (two subscriptions);
- a6: 40 USD from 1 Jan (fx 5.0 → 200 BRL); a7: 10 EUR with no rate (left out);
- t1: a trial (not revenue).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from metric_fixtures import ENGINES, make_source
from sinergia.errors import UsageError
from sinergia.metrics import compute, rows
from sinergia.metrics.settings import MetricSettings

T = pd.Timestamp
SETTINGS = MetricSettings(fx_rates={"USD": 5.0}, gross_margin=0.8)


def sub(sid: str, acc: str, start: str, mrr: float, end: str | None = None, cur: str = "BRL", trial: bool = False):
    return {"subscription_id": sid, "account_id": acc, "started_at": T(start), "ended_at": T(end) if end else None,
            "mrr": mrr, "currency": cur, "is_trial": trial}


def chg(cid: str, sid: str, acc: str, at: str, kind: str, before: float, after: float) -> dict[str, Any]:
    return {"change_id": cid, "subscription_id": sid, "account_id": acc, "changed_at": T(at), "kind": kind,
            "mrr_before": before, "mrr_after": after, "currency": "BRL"}


BOOK = {
    "accounts": [{"account_id": a, "segment": "SMB" if a in ("a1", "a2", "a5") else "Enterprise"}
                 for a in ("a1", "a2", "a3", "a4", "a5", "a6", "a7", "t1")],
    "subscriptions": [
        sub("s1", "a1", "2024-01-01", 150),
        sub("s2", "a2", "2024-01-01", 200, end="2024-02-20"),
        sub("s3", "a3", "2024-02-05", 50),
        sub("s4", "a4", "2024-01-01", 250),
        sub("s5", "a5", "2024-01-01", 80, end="2024-01-05"),
        sub("s5b", "a5", "2024-01-25", 90),
        sub("s6", "a6", "2024-01-01", 40, cur="USD"),
        sub("s7", "a7", "2024-01-01", 10, cur="EUR"),
        sub("st", "t1", "2024-01-01", 999, trial=True),
    ],
    "subscription_changes": [
        chg("c1", "s1", "a1", "2024-01-01", "new", 0, 100),
        chg("c2", "s1", "a1", "2024-02-10", "expansion", 100, 150),
        chg("c3", "s4", "a4", "2024-01-01", "new", 0, 300),
        chg("c4", "s4", "a4", "2024-02-15", "contraction", 300, 250),
    ],
}


def values(frame: pd.DataFrame, metric: str) -> list[Any]:
    part = frame[frame.metric == metric].sort_values("period_start")
    return [None if pd.isna(v) else round(float(v), 6) for v in part.value]


@pytest.fixture(scope="module", params=ENGINES)
def result(request: pytest.FixtureRequest) -> pd.DataFrame:
    source = make_source(BOOK, request.param)
    names = ["mrr", "arr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivated_mrr", "nrr",
             "grr", "logo_churn_rate", "revenue_churn_rate", "arpa", "ltv_simple", "expansion_index",
             "logo_churn_rate_monthly", "logo_churn_rate_annual"]
    return compute(source, names, as_of=dt.date(2024, 2, 29), period="month", count=2, settings=SETTINGS)


def test_mrr_and_arr(result: pd.DataFrame) -> None:
    # End of Jan: a1 100 + a2 200 + a4 300 + a5 90 + a6 40 USD × 5 = 200 → 890 (a7 EUR has no rate; t1 is a trial)
    # End of Feb: a1 150 + a3 50 + a4 250 + a5 90 + a6 200 = 740 (a2 ended 20 Feb)
    assert values(result, "mrr") == [890.0, 740.0]
    assert values(result, "arr") == [890.0 * 12, 740.0 * 12]


def test_movements_reconcile(result: pd.DataFrame) -> None:
    # Jan: new = a1 100 + a2 200 + a4 300 + a5 80 + a6 200 = 880; a5 churns 80 on 5 Jan, reactivates 90 on 25 Jan
    assert values(result, "new_mrr") == [880.0, 50.0]
    assert values(result, "churned_mrr") == [80.0, 200.0]
    assert values(result, "reactivated_mrr") == [90.0, 0.0]
    assert values(result, "expansion_mrr") == [0.0, 50.0]
    assert values(result, "contraction_mrr") == [0.0, 50.0]
    # start + new + reactivated + expansion − contraction − churned = end, both months
    start = [0.0, 890.0]
    for i, end in enumerate(values(result, "mrr")):
        gained = sum(values(result, name)[i] for name in ("new_mrr", "reactivated_mrr", "expansion_mrr"))
        moved = gained - values(result, "contraction_mrr")[i] - values(result, "churned_mrr")[i]
        assert start[i] + moved == pytest.approx(end)


def test_retention(result: pd.DataFrame) -> None:
    # Jan has no account with MRR at its start → null, never 0.
    # Feb starting base: a1 100, a2 200, a4 300, a5 90, a6 200 = 890
    # NRR = (150 + 0 + 250 + 90 + 200) / 890 = 690/890
    assert values(result, "nrr") == [None, round(690 / 890, 6)]
    # GRR = (min(150,100) + 0 + 250 + 90 + 200) / 890 = 640/890
    assert values(result, "grr") == [None, round(640 / 890, 6)]
    assert values(result, "revenue_churn_rate") == [None, round(1 - 640 / 890, 6)]
    # logo churn: a2 of 5 starting accounts
    assert values(result, "logo_churn_rate") == [None, 0.2]
    # monthly equivalent of a 29-day February: 1 − 0.8^(30.4375/29); annual: 1 − 0.8^(365.25/29)
    assert values(result, "logo_churn_rate_monthly")[1] == pytest.approx(1 - 0.8 ** (30.4375 / 29), abs=1e-6)
    assert values(result, "logo_churn_rate_annual")[1] == pytest.approx(1 - 0.8 ** (365.25 / 29), abs=1e-6)
    # expansion index: a1 expanded, of 5 starting accounts
    assert values(result, "expansion_index") == [None, 0.2]


def test_arpa_and_ltv(result: pd.DataFrame) -> None:
    # ARPA Feb = 740 / 5 paying accounts = 148; LTV = 148 × 0.8 / monthly churn
    assert values(result, "arpa") == [round(890 / 5, 6), 148.0]
    monthly = 1 - 0.8 ** (30.4375 / 29)
    assert values(result, "ltv_simple")[1] == pytest.approx(148 * 0.8 / monthly, rel=1e-6)
    assert values(result, "ltv_simple")[0] is None  # no churn measurable in January


def test_intervals_and_flags(result: pd.DataFrame) -> None:
    churn = result[(result.metric == "logo_churn_rate")].sort_values("period_start").iloc[1]
    # Wilson 95 % for 1/5: (0.0362, 0.6245)
    assert churn.ci_low == pytest.approx(0.03622, abs=1e-4)
    assert churn.ci_high == pytest.approx(0.62450, abs=1e-4)
    assert bool(churn.small_sample) is True
    assert int(churn.n) == 5


@pytest.mark.parametrize("engine", ENGINES)
def test_split_by_segment_sums_to_total(engine: str) -> None:
    source = make_source(BOOK, engine)
    kw: dict[str, Any] = {"as_of": dt.date(2024, 2, 29), "period": "month", "count": 2, "settings": SETTINGS}
    total = compute(source, ["mrr", "nrr"], **kw)
    split = compute(source, ["mrr", "nrr"], by=["segment"], **kw)
    feb = split[split.period_start == T("2024-02-01")]
    assert feb[feb.metric == "mrr"].value.sum() == pytest.approx(740.0)
    nrr = feb[feb.metric == "nrr"]
    assert nrr.numerator.sum() == pytest.approx(690.0)
    assert nrr.denominator.sum() == pytest.approx(890.0)
    assert values(total, "mrr")[1] == 740.0


def test_drill_down_lists_the_rows_behind() -> None:
    source = make_source(BOOK)
    behind = rows(source, "nrr", as_of=dt.date(2024, 2, 29), settings=SETTINGS)
    assert sorted(behind.account_id) == ["a1", "a2", "a4", "a5", "a6"]
    assert behind.num.sum() == pytest.approx(690.0)
    only = rows(source, "nrr", as_of=dt.date(2024, 2, 29), settings=SETTINGS, where={"segment": "SMB"})
    assert sorted(only.account_id) == ["a1", "a2", "a5"]


def test_as_of_never_sees_the_future() -> None:
    # As of 14 Feb, a4's contraction (15 Feb) and a2's cancellation (20 Feb) have not happened.
    source = make_source(BOOK)
    mid = compute(source, ["mrr", "contraction_mrr"], as_of=dt.date(2024, 2, 14), settings=SETTINGS)
    assert bool(mid.partial.iloc[0]) is True
    # a1 150 (expanded 10 Feb) + a2 200 + a3 50 + a4 300 + a5 90 + a6 200 = 990
    assert values(mid, "mrr") == [990.0]
    assert values(mid, "contraction_mrr") == [0.0]


def test_errors_name_the_valid_choices() -> None:
    source = make_source(BOOK)
    with pytest.raises(UsageError, match=r"unknown metric 'nrrr'; metrics: .*nrr"):
        compute(source, "nrrr", as_of=dt.date(2024, 2, 29))
    with pytest.raises(UsageError, match="unknown period 'fortnight'; periods: day, week, month"):
        compute(source, "nrr", as_of=dt.date(2024, 2, 29), period="fortnight")
    with pytest.raises(UsageError, match=r"cannot be split by colour; attributes: .*segment"):
        compute(source, "nrr", as_of=dt.date(2024, 2, 29), by=["colour"])
    with pytest.raises(UsageError, match="as_of must be a date"):
        compute(source, "nrr", as_of="2024-02-29")  # type: ignore[arg-type]


def test_rate_conversion_clamps_interval_bounds_outside_0_1() -> None:
    """A delta-method bound above 1 (or below 0) must not turn into a complex number when compounded."""
    from sinergia.metrics.revenue import annual_rate, monthly_rate

    # 1 − (1 − 1)^k = 1 for any k > 0; 1 − (1 − 0)^k = 0
    assert monthly_rate(1.3, 30.0) == 1.0
    assert annual_rate(1.3, 30.0) == 1.0
    assert annual_rate(-0.2, 30.0) == 0.0
    # inside [0, 1] unchanged: a 10 % quarterly rate is 1 − 0.9^(365.25/91.3125) ≈ 0.3439 a year
    assert abs(annual_rate(0.1, 91.3125) - (1 - 0.9 ** 4)) < 1e-12
    assert isinstance(monthly_rate(1.3, 30.0), float)
