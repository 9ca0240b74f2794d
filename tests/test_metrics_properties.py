"""Properties that hold for any book of subscriptions (Hypothesis generates the books)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metric_fixtures import make_source
from sinergia.metrics import compute

AS_OF = dt.date(2024, 6, 30)
DAY0 = dt.datetime(2024, 1, 1)
NAMES = ["mrr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivated_mrr", "nrr", "grr",
         "logo_churn_rate", "revenue_churn_rate"]


@st.composite
def books(draw: Any) -> dict[str, list[dict[str, Any]]]:
    n_accounts = draw(st.integers(1, 6))
    accounts, subs, changes = [], [], []
    for a in range(n_accounts):
        acc = f"a{a}"
        accounts.append({"account_id": acc, "segment": draw(st.sampled_from(["SMB", "Enterprise", None]))})
        for s in range(draw(st.integers(1, 2))):
            sid = f"{acc}s{s}"
            start = DAY0 + dt.timedelta(days=draw(st.integers(-40, 170)))
            end_day = draw(st.one_of(st.none(), st.integers(1, 200)))
            end = start + dt.timedelta(days=end_day) if end_day else None
            mrr = float(draw(st.integers(1, 50)) * 10)
            subs.append({"subscription_id": sid, "account_id": acc, "started_at": start, "ended_at": end,
                         "mrr": mrr, "currency": "BRL"})
            if draw(st.booleans()):  # this subscription has an MRR history
                at, before = start, 0.0
                for c in range(draw(st.integers(1, 4))):
                    after = float(draw(st.integers(0, 50)) * 10)
                    kind = "new" if before == 0 else "churn" if after == 0 else (
                        "expansion" if after > before else "contraction")
                    changes.append({"change_id": f"{sid}c{c}", "subscription_id": sid, "account_id": acc,
                                    "changed_at": at, "kind": kind, "mrr_before": before, "mrr_after": after,
                                    "currency": "BRL"})
                    before = after
                    at = at + dt.timedelta(days=draw(st.integers(1, 60)))
    return {"accounts": accounts, "subscriptions": subs, "subscription_changes": changes}


def _compute(book: dict[str, list[dict[str, Any]]], by: list[str] | None = None) -> pd.DataFrame:
    return compute(make_source(book), NAMES, as_of=AS_OF, period="month", count=6, by=by or [])


def _series(frame: pd.DataFrame, metric: str) -> pd.Series:
    part = frame[frame.metric == metric].set_index("period_start").sort_index()
    return part.value.astype(float)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_retention_bounds_and_waterfall(book: dict[str, list[dict[str, Any]]]) -> None:
    frame = _compute(book)
    grr, nrr = _series(frame, "grr"), _series(frame, "nrr")
    both = pd.concat([grr, nrr], axis=1, keys=["grr", "nrr"]).dropna()
    assert ((both.grr >= -1e-9) & (both.grr <= 1 + 1e-9)).all()
    assert (both.grr <= both.nrr + 1e-9).all()
    churn = _series(frame, "logo_churn_rate").dropna()
    assert ((churn >= 0) & (churn <= 1)).all()
    # revenue churn is exactly 1 − GRR
    rc = _series(frame, "revenue_churn_rate").dropna()
    assert (abs(rc + grr.dropna() - 1) < 1e-9).all()
    # the waterfall reconciles: previous end + movements = end
    mrr = _series(frame, "mrr")
    moved = (_series(frame, "new_mrr") + _series(frame, "reactivated_mrr") + _series(frame, "expansion_mrr")
             - _series(frame, "contraction_mrr") - _series(frame, "churned_mrr"))
    ends = mrr.tolist()
    # MRR before the first period comes from the book itself: segments started before 1 Jan
    start = compute(make_source(book), "mrr", as_of=dt.date(2023, 12, 31)).value.astype(float).iloc[0]
    for i, end in enumerate(ends):
        previous = start if i == 0 else ends[i - 1]
        assert previous + moved.iloc[i] == pytest.approx(end, abs=0.01)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.randoms(use_true_random=False))
def test_segment_sums_and_shuffle_invariance(book: dict[str, list[dict[str, Any]]], rnd: Any) -> None:
    total = _compute(book)
    split = _compute(book, ["segment"])
    for metric in ("mrr", "new_mrr", "churned_mrr"):
        by_period = split[split.metric == metric].groupby("period_start").value.sum()
        assert by_period.reindex(_series(total, metric).index, fill_value=0).tolist() == pytest.approx(
            _series(total, metric).tolist()
        )
    for metric in ("nrr", "grr"):
        part = split[split.metric == metric].groupby("period_start")[["numerator", "denominator"]].sum()
        whole = total[total.metric == metric].set_index("period_start")[["numerator", "denominator"]].dropna()
        assert part.reindex(whole.index).fillna(0).to_numpy() == pytest.approx(whole.to_numpy())
    shuffled = {name: rnd.sample(rows, len(rows)) for name, rows in book.items()}
    again = _compute(shuffled)
    pd.testing.assert_frame_equal(total.reset_index(drop=True), again.reset_index(drop=True))
