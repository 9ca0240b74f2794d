"""CLV models: BG/NBD, Gamma-Gamma, sBG and the transaction summary behind them.

Published values pinned here (see ../shared/data/cdnow/SOURCE.md and ../shared/data/saas_subscription/SOURCE.md):

* BG/NBD on CDNOW (2,357 customers, 39-week calibration): r 0.243, α 4.414, a 0.793, b 2.426, LL −9,582.4
  (Fader, Hardie & Lee 2005, Marketing Science 24(2)).
* Gamma-Gamma on CDNOW's 946 repeat buyers: p 6.25, q 3.74, γ 15.44 (Fader & Hardie 2013 note).
* sBG, years 1-7 of 1,000-customer cohorts: regular α 0.704 β 1.182, high end α 0.668 β 3.806, and the projected
  survivors for years 8-12 (Fader & Hardie 2007, J. Interactive Marketing 21(1)).

Model-only checks compare the closed forms with numerical integration of the individual-level model, which
shares no code or algebra with the closed forms.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from conftest import require_shared_data
from sinergia.errors import InputError, UsageError
from sinergia.models import clv
from sinergia.models.clv import (
    BetaGeoFitter,
    GammaGammaFitter,
    ShiftedBetaGeometric,
    predict_customers,
    simulate_bgnbd,
)
from sinergia.models.rfm import read_transactions, rfm_summary

SINERGIA = Path(sys.executable).with_name("sinergia")
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def _cdnow() -> Path:
    return require_shared_data() / "cdnow"


def _survivors() -> pd.DataFrame:
    return pd.read_csv(require_shared_data() / "saas_subscription" / "sbg_fader_hardie_2007_survivors.csv")


# ---------------------------------------------------------------------------------------------------------------
# BG/NBD on CDNOW
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.shared_data
def test_bgnbd_reproduces_published_cdnow_estimates() -> None:
    data = pd.read_csv(_cdnow() / "cdnow_customers_summary.csv")
    bg = BetaGeoFitter().fit(data["frequency"], data["recency"], data["T"])
    assert bg.params_ is not None
    assert {k: round(v, 3) for k, v in bg.params_.items()} == PUBLISHED_BGNBD
    assert round(bg.log_likelihood_, 1) == -9582.4
    assert bg.converged_
    assert bg.n_customers_ == 2357
    # Standard errors as printed by lifetimes 0.11.3's BetaGeoFitter.summary on the same file.
    expected_se = {"r": 0.012557, "alpha": 0.378221, "a": 0.185719, "b": 0.705345}
    for name, se in expected_se.items():
        assert bg.standard_errors_[name] == pytest.approx(se, rel=1e-3)
    summary = bg.summary()
    assert list(summary.index) == ["r", "alpha", "a", "b"]
    assert (summary["lower_95"] < summary["estimate"]).all()
    assert (summary["estimate"] < summary["upper_95"]).all()
    # Per-customer log-likelihood (unaggregated code path) sums to the fitted one.
    rows = bg.individual_log_likelihood(data["frequency"], data["recency"], data["T"])
    assert rows.sum() == pytest.approx(bg.log_likelihood_, abs=1e-6)


@pytest.mark.shared_data
def test_bgnbd_cdnow_holdout_expectation() -> None:
    """Σ E[Y(39) | x, t_x, T] over the 2,357 customers = 1,653 (SOURCE.md; actual holdout purchases 1,882)."""
    data = pd.read_csv(_cdnow() / "cdnow_customers_summary.csv")
    bg = BetaGeoFitter().fit(data["frequency"], data["recency"], data["T"])
    expected = bg.predict(39, data["frequency"], data["recency"], data["T"])
    assert round(expected.sum()) == 1653
    low, high = bg.predict_interval(39, data["frequency"], data["recency"], data["T"], draws=200, seed=1)
    assert np.all(low <= expected + 1e-12)
    assert np.all(expected <= high + 1e-12)
    assert low.sum() < 1653 < high.sum()


@pytest.mark.shared_data
def test_rfm_summary_from_raw_sample_matches_the_published_summary() -> None:
    """CDNOW_sample.txt → rfm_summary(until 1997-09-30, weeks) = cdnow_customers_summary_with_transactions.csv."""
    transactions = read_transactions(_cdnow() / "CDNOW_sample.txt")
    assert list(transactions.columns) == ["1", "2", "3", "4", "5"]  # no header: columns by position
    summary = rfm_summary(transactions, "2", "3", "5", until="1997-09-30", time_unit="week")
    summary.index = summary.index.astype(int)
    published = pd.read_csv(_cdnow() / "cdnow_customers_summary_with_transactions.csv").set_index("ID")
    assert len(summary) == len(published) == 2357
    summary = summary.loc[published.index]
    assert (summary["frequency"].to_numpy() == published["x"].to_numpy()).all()
    half_cent = 0.005 + 1e-9  # the CSV is rounded to 2 decimals
    assert np.abs(summary["recency"] - published["t_x"]).max() <= half_cent
    assert np.abs(summary["T"] - published["T"]).max() <= half_cent
    assert np.abs(summary["monetary_value"] - published["zbar"]).max() <= half_cent
    assert summary["T"].max() == pytest.approx(272 / 7)  # 1997-01-01 → 1997-09-30 is 272 days = 38.86 weeks

    bg = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    assert bg.params_ is not None
    assert {k: round(v, 3) for k, v in bg.params_.items()} == PUBLISHED_BGNBD


# ---------------------------------------------------------------------------------------------------------------
# Gamma-Gamma
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.shared_data
def test_gamma_gamma_reproduces_published_cdnow_estimates() -> None:
    data = pd.read_csv(_cdnow() / "cdnow_customers_summary_with_transactions.csv")
    gg = GammaGammaFitter().fit(data["x"], data["zbar"])
    assert gg.params_ is not None
    assert gg.n_customers_ == 946
    assert round(gg.params_["p"], 2) == 6.25
    assert round(gg.params_["q"], 2) == 3.74
    assert gg.params_["gamma"] == pytest.approx(15.44, abs=0.01)  # the MLE is 15.448; the note prints 15.44
    assert gg.log_likelihood_ == pytest.approx(-4055.92, abs=0.01)  # SOURCE.md's reproduction
    assert gg.converged_
    # E[Z | x = 0] is the population mean pγ / (q - 1); it shrinks a customer's mean toward it.
    p, q, g = gg.params_["p"], gg.params_["q"], gg.params_["gamma"]
    assert gg.conditional_expected_average_profit(0, 0.0)[0] == pytest.approx(p * g / (q - 1))
    one = gg.conditional_expected_average_profit(1, 100.0)[0]
    assert p * g / (q - 1) < one < 100.0
    # Individual log-densities sum to the fitted log-likelihood (customers with x = 0 give nan).
    assert np.nansum(gg.individual_log_likelihood(data["x"], data["zbar"])) == pytest.approx(gg.log_likelihood_)


@pytest.mark.shared_data
def test_clv_is_the_discounted_sum_of_monthly_expected_purchases() -> None:
    data = pd.read_csv(_cdnow() / "cdnow_customers_summary_with_transactions.csv")
    bg = BetaGeoFitter().fit(data["x"], data["t_x"], data["T"])
    gg = GammaGammaFitter().fit(data["x"], data["zbar"])
    x, t_x, age, m = data["x"], data["t_x"], data["T"], data["zbar"]
    spend = gg.conditional_expected_average_profit(x, m)
    month = 365.25 / 12 / 7  # weeks
    # Undiscounted: the monthly increments telescope to E[Y(12 months)].
    flat = gg.customer_lifetime_value(bg, x, t_x, age, m, time=12, discount_rate=0.0)
    np.testing.assert_allclose(flat, spend * bg.predict(12 * month, x, t_x, age), rtol=1e-10)
    # Discounted, spelled out month by month.
    d = 0.01
    by_hand = sum(
        spend * (bg.predict(k * month, x, t_x, age) - bg.predict((k - 1) * month, x, t_x, age)) / (1 + d) ** k
        for k in range(1, 13)
    )
    np.testing.assert_allclose(gg.customer_lifetime_value(bg, x, t_x, age, m, time=12, discount_rate=d), by_hand)
    assert np.all(gg.customer_lifetime_value(bg, x, t_x, age, m, time=12, discount_rate=d) < flat + 1e-12)
    # Daily units give the same answer once alpha is rescaled: the month is 30.4375 days in both.
    assert bg.params_ is not None
    days = BetaGeoFitter()
    days.params_ = {**bg.params_, "alpha": bg.params_["alpha"] * 7}
    daily = gg.customer_lifetime_value(days, x, t_x * 7, age * 7, m, time=12, discount_rate=d, time_unit="day")
    np.testing.assert_allclose(daily, by_hand, rtol=1e-9)
    with pytest.raises(UsageError):
        gg.customer_lifetime_value(bg, x, t_x, age, m, time=0)


# ---------------------------------------------------------------------------------------------------------------
# sBG
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("segment", "alpha", "beta", "projected", "log_likelihood"),
    [
        ("regular_alive", 0.704, 1.182, [220, 204, 191, 180, 170], -1680.3),
        ("highend_alive", 0.668, 3.806, [460, 436, 414, 395, 378], -1611.2),
    ],
)
def test_sbg_reproduces_fader_hardie_2007(
    segment: str, alpha: float, beta: float, projected: list[int], log_likelihood: float
) -> None:
    counts = _survivors()
    calibration = counts.loc[counts["year"] <= 7, segment]
    sbg = ShiftedBetaGeometric().fit(calibration)
    assert sbg.params_ is not None
    assert round(sbg.params_["alpha"], 3) == alpha
    assert round(sbg.params_["beta"], 3) == beta
    assert round(sbg.log_likelihood_, 1) == log_likelihood
    assert [round(float(v)) for v in sbg.projected_survivors(range(8, 13))] == projected
    # The projection stays within 5 % of what happened in years 8-12 (slightly under, as in the paper).
    actual = counts.loc[counts["year"] >= 8, segment].to_numpy()
    error = sbg.projected_survivors(range(8, 13)) / actual - 1
    assert np.all((error < 0) & (error > -0.05))


def test_sbg_identities() -> None:
    sbg = ShiftedBetaGeometric().fit([1000, 631, 468, 382, 326, 289, 262, 241])
    t = np.arange(1, 40)
    # S(t) = 1 - Σ P(T = k); r_t = S(t) / S(t - 1); retention rises with tenure.
    np.testing.assert_allclose(sbg.survival(t), 1 - np.cumsum(sbg.churn_probability(t)), atol=1e-12)
    np.testing.assert_allclose(sbg.retention_rate(t), sbg.survival(t) / sbg.survival(t - 1))
    assert np.all(np.diff(sbg.retention_rate(t)) > 0)
    assert sbg.survival(0)[0] == 1.0
    # DERL and DEL against the series they stand for.
    d = 0.1
    k = np.arange(0, 5000)
    for renewals in (0, 1, 4):
        n = renewals + 1
        series = np.sum(sbg.survival(n + k) / sbg.survival(n - 1) / (1 + d) ** k)
        assert sbg.discounted_expected_residual_lifetime(d, renewals)[0] == pytest.approx(series, rel=1e-9)
    assert sbg.discounted_expected_lifetime(d) == pytest.approx(np.sum(sbg.survival(k) / (1 + d) ** k), rel=1e-9)
    # A customer who already renewed is worth more (survivors are the loyal ones).
    derl = sbg.derl(d, [0, 1, 2, 5])
    assert np.all(np.diff(derl) > 0)
    with pytest.raises(UsageError):
        sbg.derl(0.0)


def test_sbg_recovers_parameters_from_simulated_cohort() -> None:
    rng = np.random.default_rng(2007)
    alpha, beta, n = 1.3, 3.5, 200_000
    theta = rng.beta(alpha, beta, size=n)
    lifetime = rng.geometric(theta)  # period in which each customer churns (1, 2, ...)
    survivors = [int((lifetime > t).sum()) for t in range(10)]
    sbg = ShiftedBetaGeometric().fit(survivors)
    assert sbg.params_ is not None
    for name, true in (("alpha", alpha), ("beta", beta)):
        assert abs(sbg.params_[name] - true) < 4 * sbg.standard_errors_[name], name


def test_sbg_rejects_bad_counts() -> None:
    with pytest.raises(InputError, match="must not increase"):
        ShiftedBetaGeometric().fit([100, 80, 90])
    with pytest.raises(InputError, match="at least two"):
        ShiftedBetaGeometric().fit([100])
    with pytest.raises(UsageError, match="not fitted"):
        ShiftedBetaGeometric().survival(1)


# ---------------------------------------------------------------------------------------------------------------
# BG/NBD against the individual-level model (numerical integration) and simulation
# ---------------------------------------------------------------------------------------------------------------
# Shapes above 1 keep the mixing densities bounded, so plain quadrature is accurate.
_R, _ALPHA, _A, _B = 1.6, 3.0, 1.4, 2.5


def _fixed_bgnbd() -> BetaGeoFitter:
    bg = BetaGeoFitter()
    bg.params_ = {"r": _R, "alpha": _ALPHA, "a": _A, "b": _B}
    return bg


def _integrate(f: Callable[[float, float], float]) -> float:
    """∫∫ f(λ, p) g(λ | r, α) h(p | a, b) dλ dp over λ > 0, 0 < p < 1 (gamma and beta densities by hand)."""
    log_gamma_norm = _R * math.log(_ALPHA) - math.lgamma(_R)
    log_beta_norm = math.lgamma(_A + _B) - math.lgamma(_A) - math.lgamma(_B)

    def integrand(lam: float, p: float) -> float:
        if lam <= 0 or not 0 < p < 1:
            return 0.0
        log_density = (log_gamma_norm + (_R - 1) * math.log(lam) - _ALPHA * lam
                       + log_beta_norm + (_A - 1) * math.log(p) + (_B - 1) * math.log1p(-p))
        return f(lam, p) * math.exp(log_density)

    value, _ = integrate.dblquad(integrand, 0, 1, 0, np.inf, epsabs=1e-13, epsrel=1e-9)
    return float(value)


@pytest.mark.parametrize(("x", "t_x", "T"), [(0, 0.0, 10.0), (1, 2.0, 10.0), (3, 9.0, 10.0), (5, 1.5, 12.0)])
def test_bgnbd_closed_forms_match_numerical_integration(x: int, t_x: float, T: float) -> None:
    def alive(lam: float, p: float) -> float:
        return (1 - p) ** x * lam**x * math.exp(-lam * T)

    def dead(lam: float, p: float) -> float:
        return p * (1 - p) ** (x - 1) * lam**x * math.exp(-lam * t_x) if x > 0 else 0.0

    likelihood = _integrate(lambda lam, p: alive(lam, p) + dead(lam, p))
    bg = _fixed_bgnbd()
    ll = bg.individual_log_likelihood(x, t_x, T)[0]
    assert ll == pytest.approx(math.log(likelihood), abs=1e-7)

    p_alive = _integrate(alive) / likelihood
    assert bg.conditional_probability_alive(x, t_x, T)[0] == pytest.approx(p_alive, rel=1e-7)

    t = 8.0  # alive at T: a further (1 - e^{-λpt}) / p purchases are expected in (T, T + t]
    future = _integrate(lambda lam, p: alive(lam, p) * (1 - math.exp(-lam * p * t)) / p) / likelihood
    assert bg.predict(t, x, t_x, T)[0] == pytest.approx(future, rel=1e-6)


def test_p_alive_hand_cases() -> None:
    bg = _fixed_bgnbd()
    # x = 0: dropout only follows a repeat purchase, so P(alive) = 1 whatever T.
    assert np.all(bg.conditional_probability_alive([0, 0], [0.0, 0.0], [1.0, 500.0]) == 1.0)
    # x = 1, t_x = T: 1 / (1 + a / b)  (the ratio (α+T)/(α+t_x) is 1)
    assert bg.conditional_probability_alive(1, 5.0, 5.0)[0] == pytest.approx(1 / (1 + _A / _B))
    # x = 2, t_x = 1, T = 5: 1 / (1 + a/(b+1) · ((α+5)/(α+1))^(r+2)), by hand with math.pow
    by_hand = 1 / (1 + _A / (_B + 1) * math.pow((_ALPHA + 5) / (_ALPHA + 1), _R + 2))
    assert bg.conditional_probability_alive(2, 1.0, 5.0)[0] == pytest.approx(by_hand, rel=1e-12)
    # The longer the silence since the last purchase, the less likely alive.
    assert np.all(np.diff(bg.conditional_probability_alive(3, 2.0, [2.0, 5.0, 10.0, 50.0])) < 0)


def test_expectation_is_continuous_at_a_equal_one() -> None:
    """The closed form divides by a - 1; at a = 1 the limit is used."""
    x, t_x, T = np.array([0, 1, 5]), np.array([0.0, 3.0, 9.0]), np.array([10.0, 10.0, 10.0])
    values = []
    for a in (1 - 1e-4, 1.0, 1 + 1e-4):
        bg = BetaGeoFitter()
        bg.params_ = {"r": _R, "alpha": _ALPHA, "a": a, "b": _B}
        values.append(bg.predict(8.0, x, t_x, T))
    assert np.all(np.isfinite(values[1]))
    np.testing.assert_allclose(values[1], (values[0] + values[2]) / 2, rtol=1e-6)


def test_unconditional_expectation_matches_simulation() -> None:
    bg = _fixed_bgnbd()
    sim = simulate_bgnbd(400_000, 6.0, _R, _ALPHA, _A, _B, seed=11)
    mean, se = sim["frequency"].mean(), sim["frequency"].std() / math.sqrt(len(sim))
    assert abs(bg.expected_number_of_purchases_up_to_time(6.0)[0] - mean) < 4 * se
    # A brand-new customer (x = 0, t_x = T = 0) expects exactly E[X(t)].
    assert bg.predict(6.0, 0, 0.0, 0.0)[0] == pytest.approx(bg.expected_number_of_purchases_up_to_time(6.0)[0])


def test_bgnbd_recovers_parameters_from_simulation() -> None:
    rng = np.random.default_rng(2005)
    true = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    n = 60_000
    age = (273 - rng.integers(0, 84, size=n)) / 7  # CDNOW-like: first purchases over 12 weeks, 39-week window
    sim = simulate_bgnbd(n, age, seed=rng, **true)
    bg = BetaGeoFitter().fit(sim["frequency"], sim["recency"], sim["T"])
    assert bg.params_ is not None and bg.converged_
    for name, value in true.items():
        assert abs(bg.params_[name] - value) < 4 * bg.standard_errors_[name], name
        assert bg.params_[name] == pytest.approx(value, rel=0.25)


def test_gradient_is_the_derivative_of_the_likelihood() -> None:
    sim = simulate_bgnbd(3000, 30.0, 0.5, 6.0, 0.9, 2.0, seed=3)
    x, t_x, age = (sim[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    data = clv._BGData(x, t_x, age, np.ones(len(sim)))
    point = np.log([0.4, 5.0, 1.1, 1.7])
    _, grad = clv._bgnbd_negll(point, data)
    step = 1e-6
    numeric = [
        (clv._bgnbd_negll(point + e, data)[0] - clv._bgnbd_negll(point - e, data)[0]) / (2 * step)
        for e in np.eye(4) * step
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-9)


def test_weights_equal_repeated_rows() -> None:
    sim = simulate_bgnbd(2000, 20.0, 0.5, 6.0, 0.9, 2.0, seed=4)
    sim["recency"] = sim["recency"].round(0)
    counts = sim.groupby(["frequency", "recency", "T"]).size().reset_index(name="n")
    expanded = BetaGeoFitter().fit(sim["frequency"], sim["recency"], sim["T"])
    weighted = BetaGeoFitter().fit(counts["frequency"], counts["recency"], counts["T"], weights=counts["n"])
    assert expanded.params_ is not None and weighted.params_ is not None
    for name in expanded.params_:
        assert weighted.params_[name] == pytest.approx(expanded.params_[name], rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(expanded.log_likelihood_)
    assert weighted.n_customers_ == expanded.n_customers_ == 2000
    assert expanded.n_unique_ == len(counts)


def test_gamma_gamma_recovers_parameters_from_simulation() -> None:
    rng = np.random.default_rng(2013)
    p, q, gamma, n = 6.0, 4.0, 15.0, 30_000
    x = rng.integers(1, 8, size=n)
    nu = rng.gamma(q, 1 / gamma, size=n)
    spend = np.array([rng.gamma(p, 1 / v, size=k).mean() for v, k in zip(nu, x, strict=True)])
    gg = GammaGammaFitter().fit(x, spend)
    assert gg.params_ is not None
    for name, value in (("p", p), ("q", q), ("gamma", gamma)):
        assert abs(gg.params_[name] - value) < 4 * gg.standard_errors_[name], name


def test_input_validation() -> None:
    with pytest.raises(InputError, match="recency > T"):
        BetaGeoFitter().fit([1], [5.0], [3.0])
    with pytest.raises(InputError, match="whole numbers"):
        BetaGeoFitter().fit([1.5], [1.0], [3.0])
    with pytest.raises(InputError, match="no customer made a repeat purchase"):
        BetaGeoFitter().fit([0, 0], [0.0, 0.0], [3.0, 4.0])
    with pytest.raises(InputError, match="missing or infinite"):
        BetaGeoFitter().fit([1, np.nan], [1.0, 0.0], [3.0, 4.0])
    with pytest.raises(UsageError, match="not fitted"):
        BetaGeoFitter().predict(1.0, [1], [1.0], [2.0])
    with pytest.raises(InputError, match="fewer than 3"):
        GammaGammaFitter().fit([0, 1], [0.0, 5.0])
    with pytest.raises(InputError, match="non-negative"):
        GammaGammaFitter().fit([1, 1, 1], [-1.0, 5.0, 3.0])


# ---------------------------------------------------------------------------------------------------------------
# rfm_summary and read_transactions
# ---------------------------------------------------------------------------------------------------------------
LOG = pd.DataFrame(
    {
        "id": ["a", "a", "a", "a", "b", "c"],
        "day": ["2024-01-01", "2024-01-01T15:00:00", "2024-01-15", "2024-03-01", "2024-01-08", "2024-02-20"],
        "value": [10.0, 5.0, 20.0, 99.0, 7.0, 3.0],
    }
)


def test_rfm_summary_by_hand() -> None:
    out = rfm_summary(LOG, "id", "day", "value", until="2024-01-29")  # 2024-03-01 and customer c come later
    assert list(out.index) == ["a", "b"]
    a, b = out.loc["a"], out.loc["b"]
    # a: purchase days Jan 1 (10 + 5, same day) and Jan 15 → one repeat day, 14 days later; 28 days to Jan 29.
    assert (a["frequency"], a["recency"], a["T"], a["monetary_value"]) == (1, 2.0, 4.0, 20.0)
    assert (b["frequency"], b["recency"], b["T"], b["monetary_value"]) == (0, 0.0, 3.0, 0.0)
    days = rfm_summary(LOG, "id", "day", until="2024-01-29", time_unit="day")
    assert days.loc["a", "recency"] == 14.0 and days.loc["a", "T"] == 28.0
    assert "monetary_value" not in days.columns
    # Without until, T runs to the last date in the data (2024-03-01).
    full = rfm_summary(LOG, "id", "day", "value", time_unit="day")
    assert full.loc["a", "T"] == 60.0 and full.loc["c", "T"] == 10.0
    assert full.loc["a", "monetary_value"] == pytest.approx((20 + 99) / 2)


def test_rfm_summary_accepts_datetimes_and_yyyymmdd() -> None:
    stamps = pd.to_datetime(["2024-01-01 23:30", "2024-01-02 00:30"]).tz_localize("America/Sao_Paulo")
    tz = rfm_summary(pd.DataFrame({"id": [1, 1], "at": stamps}), "id", "at", time_unit="day")
    # Two local days, one UTC day (Jan 2, 02:30 and 03:30 UTC): days are counted in UTC.
    assert tz.loc[1, "frequency"] == 0
    ints = rfm_summary(pd.DataFrame({"id": [1, 1], "d": [19970101, 19970108]}), "id", "d", time_unit="week")
    assert ints.loc[1, "recency"] == 1.0


def test_rfm_summary_errors() -> None:
    with pytest.raises(InputError, match=r"missing column\(s\) when; columns found: id, day, value"):
        rfm_summary(LOG, "id", "when")
    bad_date = LOG.assign(day=["2024-01-01", "yesterday", "2024-01-15", "2024-03-01", "2024-01-08", "2024-02-20"])
    with pytest.raises(InputError, match=r"1 row\(s\) have an unparseable date in column 'day' \(first: 'yesterday'\)"):
        rfm_summary(bad_date, "id", "day")
    with pytest.raises(InputError, match="negative value"):
        rfm_summary(LOG.assign(value=[1, 2, -3, 4, 5, 6]), "id", "day", "value")
    with pytest.raises(InputError, match="non-numeric value"):
        rfm_summary(LOG.assign(value=["1", "x", "3", "4", "5", "6"]), "id", "day", "value")
    with pytest.raises(InputError, match="no transaction on or before 2023-12-31"):
        rfm_summary(LOG, "id", "day", until="2023-12-31")
    with pytest.raises(UsageError, match="time unit"):
        rfm_summary(LOG, "id", "day", time_unit="month")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no customer id"):
        rfm_summary(LOG.assign(id=["a", None, "a", "a", "b", "c"]), "id", "day")


@pytest.mark.parametrize(
    ("text", "columns"),
    [
        ("id,day,value\n1,2024-01-01,3.5\n1,2024-01-09,4\n", ["id", "day", "value"]),
        ("id;day;value\n1;2024-01-01;3.5\n1;2024-01-09;4\n", ["id", "day", "value"]),
        ("id\tday\tvalue\n1\t2024-01-01\t3.5\n1\t2024-01-09\t4\n", ["id", "day", "value"]),
        (" id  day   value\r\n 001 20240101  3.5\r\n 001 20240109  4\r\n", ["id", "day", "value"]),
        (" 001 20240101  3.5\n 001 20240109  4\n", ["1", "2", "3"]),
    ],
    ids=["comma", "semicolon", "tab", "whitespace-crlf", "no-header"],
)
def test_read_transactions_detects_the_layout(tmp_path: Path, text: str, columns: list[str]) -> None:
    path = tmp_path / "tx.txt"
    path.write_bytes(text.encode())
    frame = read_transactions(path)
    assert list(frame.columns) == columns
    summary = rfm_summary(frame, columns[0], columns[1], columns[2], time_unit="day")
    assert summary["frequency"].tolist() == [1] and summary["recency"].tolist() == [8.0]
    assert summary["monetary_value"].tolist() == [4.0]


def test_read_transactions_parquet_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "tx.parquet"
    LOG.to_parquet(path)
    assert len(read_transactions(path)) == len(LOG)
    with pytest.raises(InputError, match="no such file"):
        read_transactions(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        read_transactions(tmp_path / "empty.csv")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="Parquet"):
        read_transactions(tmp_path / "bad.parquet")


def test_predict_customers_columns() -> None:
    sim = simulate_bgnbd(500, 30.0, 0.5, 6.0, 0.9, 2.0, seed=5)
    sim["monetary_value"] = np.where(sim["frequency"] > 0, 20.0 + sim.index % 7, 0.0)
    bg = BetaGeoFitter().fit(sim["frequency"], sim["recency"], sim["T"])
    gg = GammaGammaFitter().fit(sim["frequency"], sim["monetary_value"])
    out = predict_customers(sim, bg, gg, horizon_months=6, draws=50)
    assert list(out.columns) == [
        "frequency", "recency", "T", "p_alive", "expected_purchases", "expected_purchases_low",
        "expected_purchases_high", "monetary_value", "expected_average_value", "clv",
    ]
    assert (out["expected_purchases_low"] <= out["expected_purchases"]).all()
    assert (out["expected_purchases"] <= out["expected_purchases_high"]).all()
    assert (out["clv"] > 0).all() and out["p_alive"].between(0, 1).all()


# ---------------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------------
def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SINERGIA), "clv", *(str(a) for a in args)], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.shared_data
@pytest.mark.slow
def test_cli_fit_on_cdnow_sample_prints_published_parameters() -> None:
    result = _cli("fit", "--transactions", _cdnow() / "CDNOW_sample.txt", "--customer-col", "2", "--date-col", "3",
                  "--value-col", "5", "--until", "1997-09-30", "--time-unit", "week", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {k: round(data[k], 3) for k in PUBLISHED_BGNBD} == PUBLISHED_BGNBD
    assert round(data["log_likelihood"], 1) == -9582.4
    assert data["n_customers"] == 2357 and data["n_repeat_buyers"] == 946
    assert set(data["standard_errors"]) == {"r", "alpha", "a", "b"}

    result = _cli("fit", "--transactions", _cdnow() / "CDNOW_sample.txt", "--customer-col", "2", "--date-col", "3",
                  "--value-col", "5", "--until", "1997-09-30", "--model", "ggamma", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (round(data["p"], 2), round(data["q"], 2)) == (6.25, 3.74)
    assert data["gamma"] == pytest.approx(15.44, abs=0.01)
    assert data["n_customers"] == 946


@pytest.mark.shared_data
@pytest.mark.slow
def test_cli_fit_on_cdnow_master() -> None:
    """The full 23,570-customer master gives r 0.252, α 4.789, a 0.723, b 2.161 (not published: ours)."""
    result = _cli("fit", "--transactions", _cdnow() / "CDNOW_master.txt", "--customer-col", "customer_id",
                  "--date-col", "date", "--value-col", "dollar_value", "--until", "1997-09-30", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {k: round(data[k], 3) for k in PUBLISHED_BGNBD} == {"r": 0.252, "alpha": 4.789, "a": 0.723, "b": 2.161}
    assert data["n_customers"] == 23570 and data["n_transactions"] == 69659
    # Ten times the sample: the same model, with standard errors about √10 smaller.
    assert data["standard_errors"]["r"] < 0.005


@pytest.mark.shared_data
@pytest.mark.slow
def test_cli_predict_writes_every_customer(tmp_path: Path) -> None:
    out = tmp_path / "pred.csv"
    result = _cli("predict", "--transactions", _cdnow() / "CDNOW_sample.txt", "--customer-col", "2",
                  "--date-col", "3", "--value-col", "5", "--until", "1997-09-30", "--horizon", "9",
                  "--draws", "50", "--out", out, "--format", "json")
    assert result.returncode == 0, result.stderr
    totals = json.loads(result.stdout)
    assert totals["n_customers"] == 2357 and totals["clv"] > 0
    table = pd.read_csv(out, dtype={"customer": str})
    assert len(table) == 2357 and table["customer"].iloc[0] == "0001"
    assert {"p_alive", "expected_purchases", "expected_purchases_low", "expected_purchases_high",
            "expected_average_value", "clv"} <= set(table.columns)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sinergia.cli.main import app

    path = tmp_path / "tx.csv"
    path.write_text("id,day,value\n1,2024-01-01,3\n1,2024-01-09,4\n2,2024-01-03,5\n2,2024-01-05,5\n3,2024-01-02,1\n")
    runner = CliRunner()
    result = runner.invoke(app, ["clv", "fit", "-t", str(path), "--customer-col", "who", "--date-col", "day"])
    assert isinstance(result.exception, InputError)
    assert "columns found: id, day, value" in str(result.exception)
    result = runner.invoke(app, ["clv", "fit", "-t", str(path), "--customer-col", "id", "--date-col", "day",
                                 "--model", "ggamma"])
    assert isinstance(result.exception, UsageError)
    result = runner.invoke(app, ["clv", "fit", "-t", str(path), "--customer-col", "id", "--date-col", "day",
                                 "--until", "June", "--format", "json"])
    assert isinstance(result.exception, UsageError)


# ---------------------------------------------------------------------------------------------------------------
# workspace scoring: clv_12m per account as of a date
# ---------------------------------------------------------------------------------------------------------------
#: Subscription book as of 2025-12-31 (cut-off 2026-01-01), months of 30.4375 days:
#:   A 2025-01-01 → 2025-03-03   61 days = 2.004 months → churned in month T = 2
#:   B 2025-01-01 → 2025-05-02  121 days = 3.975 months → T = 4
#:   C 2025-07-01 → open        184 days = 6.045 months → 6 completed, MRR 100
#:   D 2025-03-01 → open        306 days = 10.05 months → 10 completed, MRR 200
#:   E 2026-02-01 → open        starts after the as-of date: not seen
SUBSCRIPTION_BOOK = [
    {"subscription_id": "s-a", "account_id": "A", "started_at": "2025-01-01", "ended_at": "2025-03-03", "mrr": 50.0},
    {"subscription_id": "s-b", "account_id": "B", "started_at": "2025-01-01", "ended_at": "2025-05-02", "mrr": 50.0},
    {"subscription_id": "s-c", "account_id": "C", "started_at": "2025-07-01", "mrr": 100.0},
    {"subscription_id": "s-d", "account_id": "D", "started_at": "2025-03-01", "mrr": 200.0},
    {"subscription_id": "s-e", "account_id": "E", "started_at": "2026-02-01", "mrr": 999.0},
]


def _book_source() -> object:
    from metric_fixtures import make_source

    return make_source({"subscriptions": [{**r, "currency": "BRL"} for r in SUBSCRIPTION_BOOK]})


def test_workspace_simple_clv_by_hand() -> None:
    import datetime as dt

    frame, info = clv.score_workspace(_book_source(), dt.date(2025, 12, 31), model="simple", discount_rate=0.0,
                                      margin=1.0)
    # c = churned lives / months at risk = 2 / ((61 + 121 + 184 + 306) / 30.4375)
    c = 2 / (672 / 30.4375)
    assert info["params"]["monthly_churn"] == pytest.approx(c)
    kept = sum((1 - c) ** m for m in range(1, 13))  # the 12 coming monthly payments, each if still paying
    values = dict(zip(frame["account_id"], frame["value"], strict=True))
    assert values == pytest.approx({"C": 100 * kept, "D": 200 * kept})
    assert list(frame["as_of"]) == [dt.date(2025, 12, 31)] * 2
    d = frame.set_index("account_id").loc["D"]
    assert d["band"] == "high" and frame.set_index("account_id").loc["C", "band"] == "low"  # 1 of 2 above → 50 %
    assert d["explanation"]["months_paid"] == 10 and d["explanation"]["mrr"] == 200
    assert d["explanation"]["p_renew_next_month"] == pytest.approx(1 - c, abs=1e-6)


def test_workspace_sbg_clv_by_hand() -> None:
    import datetime as dt

    from scipy import special

    frame, info = clv.score_workspace(_book_source(), dt.date(2025, 12, 31), model="sbg", discount_rate=0.01,
                                      margin=0.5)
    sbg = ShiftedBetaGeometric().fit_durations([2, 4, 6, 10], [1, 1, 0, 0])
    assert info["params"] == pytest.approx(sbg.params_)
    al, be = sbg.params_["alpha"], sbg.params_["beta"]  # type: ignore[index]

    def s(t: float) -> float:  # S(t) = B(α, β + t) / B(α, β)
        return math.exp(special.betaln(al, be + t) - special.betaln(al, be))

    def value(mrr: float, t: int) -> float:
        return mrr * 0.5 * sum(s(t + m) / s(t) / 1.01**m for m in range(1, 13))

    values = dict(zip(frame["account_id"], frame["value"], strict=True))
    assert values == pytest.approx({"C": value(100, 6), "D": value(200, 10)})


def test_fit_durations_equals_the_cohort_fit() -> None:
    # one cohort's survivors ↔ per-customer durations: n_{t-1} - n_t churned at t, n_n censored at n
    survivors = [1000, 631, 468, 382, 326, 289, 262, 241]
    periods: list[int] = []
    churned: list[int] = []
    for t in range(1, len(survivors)):
        lost = survivors[t - 1] - survivors[t]
        periods += [t] * lost
        churned += [1] * lost
    periods += [7] * survivors[-1]
    churned += [0] * survivors[-1]
    by_customer = ShiftedBetaGeometric().fit_durations(periods, churned)
    cohort = ShiftedBetaGeometric().fit(survivors)
    assert by_customer.params_ == pytest.approx(cohort.params_, rel=1e-6)
    assert by_customer.log_likelihood_ == pytest.approx(cohort.log_likelihood_)
    assert round(by_customer.params_["alpha"], 3) == 0.704 and round(by_customer.params_["beta"], 3) == 1.182  # type: ignore[index]
    with pytest.raises(InputError, match="no customer churned"):
        ShiftedBetaGeometric().fit_durations([1, 2], [0, 0])


def test_clv_tiers_share_ties() -> None:
    # greater-than shares: 10..40 → ≥ 0.6 low; 50, 50 → 0.4 medium; 60 → 0.3, 70 → 0.2 medium; 80 → 0.1, 90 → 0 high
    values = [10, 20, 30, 40, 50, 50, 60, 70, 80, 90]
    assert clv.clv_tiers(values) == ["low"] * 4 + ["medium"] * 4 + ["high"] * 2


def test_workspace_scoring_sees_nothing_after_as_of() -> None:
    import datetime as dt

    from metric_fixtures import make_source

    later = [*SUBSCRIPTION_BOOK,
             {"subscription_id": "s-f", "account_id": "F", "started_at": "2026-01-01", "mrr": 10.0},
             {"subscription_id": "s-c2", "account_id": "C", "started_at": "2026-01-01", "mrr": 500.0}]
    source = make_source({"subscriptions": [{**r, "currency": "BRL"} for r in later]})
    one, _ = clv.score_workspace(_book_source(), dt.date(2025, 12, 31), model="sbg")
    two, _ = clv.score_workspace(source, dt.date(2025, 12, 31), model="sbg")
    pd.testing.assert_frame_equal(one, two)


@pytest.fixture(scope="module")
def cdnow_workspace(tmp_path_factory: pytest.TempPathFactory) -> object:
    """CDNOW's 1/10 sample as the orders of a workspace (customer = account)."""
    from test_signals import workspace_with

    log = read_transactions(_cdnow() / "CDNOW_sample.txt")
    rows = [{"order_id": f"o{i}", "account_id": c, "ordered_at": pd.Timestamp(d), "amount": float(v)}
            for i, (c, d, v) in enumerate(zip(log["2"], log["3"], log["5"], strict=True))]
    return workspace_with({"orders": rows}, tmp_path_factory.mktemp("clv") / "ws")


@pytest.mark.shared_data
def test_workspace_bgnbd_reproduces_cdnow_and_writes_scores(cdnow_workspace: object) -> None:
    import datetime as dt

    from sinergia.scores.history import read_scores

    frame, info = clv.score_workspace(cdnow_workspace, dt.date(1997, 9, 30))
    assert info["model"] == "bgnbd" and info["accounts"] == 2357  # no subscriptions: orders → BG/NBD
    for name, published in PUBLISHED_BGNBD.items():
        assert info["params"][name] == pytest.approx(published, rel=0.005)
    for name, published in {"gg_p": 6.25, "gg_q": 3.74, "gg_gamma": 15.44}.items():
        assert info["params"][name] == pytest.approx(published, rel=0.005)
    result = subprocess.run(
        [str(SINERGIA), "clv", "score", "-w", str(cdnow_workspace.path), "--as-of", "1997-09-30",  # type: ignore[attr-defined]
         "--format", "json"], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["score"] == "clv_12m" and out["written"] == 2357 and out["model_version"] == "clv-bgnbd-1997-09-30"
    stored = read_scores(cdnow_workspace, score="clv_12m")  # type: ignore[arg-type]
    assert len(stored) == 2357 and set(stored["band"]) == {"high", "medium", "low"}
    row = stored.set_index("account_id").loc["0001"]
    ours = frame.set_index("account_id").loc["0001"]
    assert row["value"] == pytest.approx(ours["value"])
    assert row["explanation"]["p_alive"] == ours["explanation"]["p_alive"]
    # running again the same day replaces the rows
    again = subprocess.run(
        [str(SINERGIA), "clv", "score", "-w", str(cdnow_workspace.path), "--as-of", "1997-09-30"],  # type: ignore[attr-defined]
        capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0 and len(read_scores(cdnow_workspace, score="clv_12m")) == 2357  # type: ignore[arg-type]
    bad = subprocess.run([str(SINERGIA), "clv", "score", "-w", str(cdnow_workspace.path),  # type: ignore[attr-defined]
                          "--as-of", "1997-09-30", "--model", "sbg"], capture_output=True, text=True, timeout=300,
                         check=False)
    assert bad.returncode != 0 and "no account pays MRR" in bad.stderr
