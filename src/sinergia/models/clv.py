r"""Customer lifetime value: BG/NBD, Gamma-Gamma and the shifted-beta-geometric (sBG) model.

Our own maximum-likelihood code (numpy + scipy), checked against the published estimates on CDNOW and on
Fader & Hardie's (2007) renewal data (``tests/test_clv.py``; formulas and figures in ``docs/clv.md``).

* :class:`BetaGeoFitter` - BG/NBD (non-contractual purchasing: how many purchases, is the customer alive).
* :class:`GammaGammaFitter` - spend per purchase; with a fitted BG/NBD it gives a discounted CLV.
* :class:`ShiftedBetaGeometric` - contractual renewals (cohort survival, retention, DERL).

The simple contractual LTV (ARPA × margin / churn rate) is a registered metric, ``ltv_simple``
(``sinergia.metrics.revenue``); it is not repeated here.

Conventions (lifelines / scikit-learn): ``fit`` returns ``self``; fitted attributes end in ``_``; parameters
are estimated on the log scale (all are positive) with an analytic gradient; standard errors come from the
observed information (a finite-difference Hessian of the analytic gradient at the optimum) by the delta method.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, special

from sinergia.errors import InputError, UsageError
from sinergia.models.rfm import days_per_unit

FloatArray = npt.NDArray[np.float64]

#: Average Gregorian month in days (365.25 / 12 = 30.4375), the month of CLV horizons and discounting.
DAYS_PER_MONTH = 365.25 / 12

__all__ = [
    "CLV_TIERS",
    "DAYS_PER_MONTH",
    "BetaGeoFitter",
    "GammaGammaFitter",
    "ShiftedBetaGeometric",
    "clv_tiers",
    "describe",
    "predict_customers",
    "score_workspace",
    "simulate_bgnbd",
]


# --------------------------------------------------------------------------------------------------------------
# shared maximum-likelihood machinery
# --------------------------------------------------------------------------------------------------------------
class _Fit:
    """Optimum on the log scale, its covariance and the log-likelihood."""

    def __init__(self, log_params: FloatArray, log_cov: FloatArray, log_likelihood: float, converged: bool,
                 message: str, iterations: int) -> None:
        self.log_params, self.log_cov = log_params, log_cov
        self.log_likelihood, self.converged, self.message, self.iterations = (
            log_likelihood, converged, message, iterations,
        )


def _maximise(mean_negll: Callable[[FloatArray], tuple[float, FloatArray]], x0: FloatArray, n: float) -> _Fit:
    """Minimise a *mean* negative log-likelihood (with gradient) over log-parameters.

    The mean (not the sum) keeps the gradient tolerance independent of the number of customers. BFGS first
    (faster here than L-BFGS-B, whose Fortran-era core calls a multi-threaded BLAS); if it stops early (a
    line-search failure on a flat ridge), Nelder-Mead polishes from where it stopped.
    """
    with np.errstate(all="ignore"):
        result = optimize.minimize(mean_negll, x0, jac=True, method="BFGS", options={"gtol": 1e-8, "maxiter": 5000})
        x = np.asarray(result.x, dtype=np.float64)
        grad_norm = float(np.max(np.abs(mean_negll(x)[1])))
        if not np.isfinite(result.fun) or grad_norm > 1e-5:
            polish = optimize.minimize(lambda v: mean_negll(v)[0], x, method="Nelder-Mead",
                                       options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000, "maxfev": 40000})
            if polish.fun <= result.fun or not np.isfinite(result.fun):
                x = np.asarray(polish.x, dtype=np.float64)
            grad_norm = float(np.max(np.abs(mean_negll(x)[1])))
        value = float(mean_negll(x)[0])
        hessian = _hessian(lambda v: mean_negll(v)[1], x) * n
    converged = bool(np.isfinite(value) and grad_norm < 1e-4)
    try:
        log_cov = np.asarray(np.linalg.inv(hessian), dtype=np.float64)
        if not np.all(np.isfinite(log_cov)) or np.any(np.diag(log_cov) <= 0):
            raise np.linalg.LinAlgError("not positive definite")
    except np.linalg.LinAlgError:
        log_cov = np.full((x.size, x.size), np.nan)
    message = "converged" if converged else f"did not converge (max |gradient| {grad_norm:.2g})"
    return _Fit(x, log_cov, -value * n, converged, message, int(result.nit))


def _hessian(grad: Callable[[FloatArray], FloatArray], x: FloatArray, step: float = 1e-5) -> FloatArray:
    """Central finite differences of an analytic gradient, symmetrised."""
    k = x.size
    out = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = step
        out[:, i] = (grad(x + e) - grad(x - e)) / (2 * step)
    sym: FloatArray = (out + out.T) / 2
    return sym


def _dot(u: npt.ArrayLike, v: npt.ArrayLike) -> float:
    """Σ u·v without BLAS: a multi-threaded BLAS ``ddot`` is up to 30× slower on a busy machine."""
    return float(np.multiply(u, v).sum())


def _natural_se(log_params: FloatArray, log_cov: FloatArray) -> FloatArray:
    """Delta method: se(θ) = θ · se(log θ)."""
    se: FloatArray = np.exp(log_params) * np.sqrt(np.diag(log_cov))
    return se


def _summary(names: Sequence[str], log_params: FloatArray, log_cov: FloatArray) -> pd.DataFrame:
    se_log = np.sqrt(np.diag(log_cov))
    z = 1.959963984540054
    return pd.DataFrame(
        {
            "estimate": np.exp(log_params),
            "se": _natural_se(log_params, log_cov),
            "lower_95": np.exp(log_params - z * se_log),
            "upper_95": np.exp(log_params + z * se_log),
        },
        index=pd.Index(list(names), name="parameter"),
    )


def _array(values: npt.ArrayLike, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} holds {int((~np.isfinite(array)).sum())} missing or infinite value(s)")
    return array


def _rfm_arrays(frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike) -> tuple[
        FloatArray, FloatArray, FloatArray]:
    x, t_x, age = _array(frequency, "frequency"), _array(recency, "recency"), _array(T, "T")
    x, t_x, age = np.broadcast_arrays(x, t_x, age)
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise InputError("frequency must hold non-negative whole numbers (repeat purchase periods)")
    if np.any(t_x < 0):
        raise InputError("recency must be non-negative")
    bad = t_x > age * (1 + 1e-9) + 1e-9
    if np.any(bad):
        raise InputError(f"{int(bad.sum())} customer(s) have recency > T (last purchase after the end of the period)")
    return x.astype(np.float64), t_x.astype(np.float64), age.astype(np.float64)


def _require(fitted: dict[str, float] | None, model: str) -> dict[str, float]:
    if fitted is None:
        raise UsageError(f"{model} is not fitted; call fit() first")
    return fitted


# --------------------------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------------------------
class BetaGeoFitter:
    r"""BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

    While alive, a customer buys as a Poisson process with rate :math:`\lambda`; after each *repeat* purchase
    she drops out with probability :math:`p`. Across customers :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`
    (shape, rate) and :math:`p \sim \mathrm{Beta}(a, b)`. With :math:`x` repeat purchases, the last at
    :math:`t_x`, and age :math:`T`, the likelihood of one customer is

    .. math::

        L(r, \alpha, a, b \mid x, t_x, T) =
            \frac{B(a, b + x)}{B(a, b)} \frac{\Gamma(r + x)\,\alpha^r}{\Gamma(r)\,(\alpha + T)^{r + x}}
            + \delta_{x > 0}\,\frac{B(a + 1, b + x - 1)}{B(a, b)}
              \frac{\Gamma(r + x)\,\alpha^r}{\Gamma(r)\,(\alpha + t_x)^{r + x}}

    computed on the log scale as :math:`A_1 + A_2 + \log(e^{A_3} + \delta_{x>0} e^{A_4})` (FHL 2005, eq. 6;
    Fader, Hardie & Lee 2005b, "Implementing the BG/NBD model"). The log-likelihood is evaluated once per
    *distinct* :math:`(x, t_x, T)` weighted by its count, the Gamma/Beta terms once per distinct :math:`x`, and
    the logarithms once per distinct :math:`t_x` and :math:`T`; the gradient is analytic.

    Attributes
    ----------
    params_ : dict[str, float]
        ``r``, ``alpha``, ``a``, ``b`` (``alpha`` is in the time unit of the data: weeks or days).
    standard_errors_ : dict[str, float]
        From the observed information matrix (delta method from the log scale).
    log_likelihood_ : float
        Maximised log-likelihood (sum over customers).
    log_params_covariance_ : numpy.ndarray
        Asymptotic covariance of :math:`(\log r, \log\alpha, \log a, \log b)`; used for parameter draws.
    n_customers_, n_unique_ : int
        Customers fitted, and rows the likelihood was evaluated on: distinct :math:`(x, t_x, T)` among repeat
        buyers plus distinct :math:`T` among the others.
    converged_ : bool

    References
    ----------
    Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). "Counting Your Customers" the Easy Way: An Alternative
    to the Pareto/NBD Model. *Marketing Science*, 24(2), 275-284.

    Examples
    --------
    >>> import pandas as pd
    >>> cdnow = pd.read_csv("cdnow_customers_summary.csv")  # doctest: +SKIP
    >>> bg = BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])  # doctest: +SKIP
    >>> {k: round(v, 3) for k, v in bg.params_.items()}  # doctest: +SKIP
    {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
    """

    param_names = ("r", "alpha", "a", "b")

    def __init__(self) -> None:
        self.params_: dict[str, float] | None = None
        self.standard_errors_: dict[str, float] = {}
        self.log_likelihood_: float = math.nan
        self.log_params_covariance_: FloatArray = np.full((4, 4), np.nan)
        self.n_customers_ = 0
        self.n_unique_ = 0
        self.converged_ = False
        self.message_ = ""

    def fit(self, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike,
            weights: npt.ArrayLike | None = None) -> BetaGeoFitter:
        """Maximum-likelihood fit; ``weights`` optionally counts customers per row (default 1 each)."""
        x, t_x, age = _rfm_arrays(frequency, recency, T)
        w = np.ones_like(x) if weights is None else _array(weights, "weights")
        if w.shape != x.shape or np.any(w < 0):
            raise InputError("weights must be non-negative, one per customer")
        if x.size == 0 or w.sum() <= 0:
            raise InputError("no customers to fit")
        if not np.any(x > 0):
            raise InputError("no customer made a repeat purchase; the BG/NBD dropout parameters cannot be estimated")
        data = _BGData(x, t_x, age, w)
        n = float(w.sum())
        mean_x, mean_t = float(np.average(x, weights=w)), float(np.average(age, weights=w))
        x0 = np.log(np.array([1.0, max(mean_t / max(mean_x, 0.05), 1e-3), 1.0, 1.0]))
        fit = _maximise(lambda v: _bgnbd_negll(v, data), x0, n)
        self._store(fit)
        self.n_customers_ = round(n)
        self.n_unique_ = data.size
        return self

    def _store(self, fit: _Fit) -> None:
        values = np.exp(fit.log_params)
        self.params_ = dict(zip(self.param_names, (float(v) for v in values), strict=True))
        se = _natural_se(fit.log_params, fit.log_cov)
        self.standard_errors_ = dict(zip(self.param_names, (float(v) for v in se), strict=True))
        self.log_likelihood_ = fit.log_likelihood
        self.log_params_covariance_ = fit.log_cov
        self.converged_, self.message_ = fit.converged, fit.message

    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and 95 % intervals (log-normal, so always positive)."""
        params = _require(self.params_, "BetaGeoFitter")
        return _summary(self.param_names, np.log(np.array(list(params.values()))), self.log_params_covariance_)

    # -- predictions ------------------------------------------------------------------------------------------
    def conditional_probability_alive(self, frequency: npt.ArrayLike, recency: npt.ArrayLike,
                                      T: npt.ArrayLike) -> FloatArray:
        r"""P(alive at :math:`T` | :math:`x, t_x, T`) (FHL 2005b, eq. 13).

        .. math::

            P(\text{alive}) = \left[1 + \delta_{x>0} \frac{a}{b + x - 1}
                \left(\frac{\alpha + T}{\alpha + t_x}\right)^{r + x}\right]^{-1}

        A customer with no repeat purchase (:math:`x = 0`) is alive with probability 1 under BG/NBD: dropout can
        only happen right after a repeat purchase.
        """
        r, alpha, a, b = self._params()
        x, t_x, age = _rfm_arrays(frequency, recency, T)
        return _p_alive(r, alpha, a, b, x, t_x, age)

    def predict(self, t: float, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:
        r"""Expected number of purchases in :math:`(T, T + t]` given :math:`x, t_x, T` (FHL 2005, eq. 10).

        .. math::

            E[Y(t) \mid x, t_x, T] = \frac{\dfrac{a + b + x - 1}{a - 1}
                \left[1 - \left(\dfrac{\alpha + T}{\alpha + T + t}\right)^{r + x}
                {}_2F_1\!\left(r + x, b + x; a + b + x - 1; \dfrac{t}{\alpha + T + t}\right)\right]}
                {1 + \delta_{x>0} \dfrac{a}{b + x - 1} \left(\dfrac{\alpha + T}{\alpha + t_x}\right)^{r + x}}

        ``t`` is in the time unit of the fitted data.
        """
        r, alpha, a, b = self._params()
        x, t_x, age = _rfm_arrays(frequency, recency, T)
        return _conditional_expected(float(t), r, alpha, a, b, x, t_x, age)

    conditional_expected_number_of_purchases_up_to_time = predict

    def expected_number_of_purchases_up_to_time(self, t: npt.ArrayLike) -> FloatArray:
        r"""Expected repeat purchases of a new customer in :math:`(0, t]` (FHL 2005, eq. 9).

        .. math::

            E[X(t)] = \frac{a + b - 1}{a - 1}\left[1 - \left(\frac{\alpha}{\alpha + t}\right)^r
                {}_2F_1\!\left(r, b; a + b - 1; \frac{t}{\alpha + t}\right)\right]
        """
        r, alpha, a, b = self._params()
        time = _array(t, "t")
        if np.any(time < 0):
            raise UsageError("t must be non-negative")
        # A new customer is x = t_x = T = 0 in the conditional formula.
        zero = np.zeros_like(time)
        return np.array([_conditional_expected(float(v), r, alpha, a, b, zero[:1], zero[:1], zero[:1])[0]
                         for v in time], dtype=np.float64)

    def predict_interval(self, t: float, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike,
                         level: float = 0.95, draws: int = 500, seed: int = 0) -> tuple[FloatArray, FloatArray]:
        r"""Interval for :meth:`predict` from parameter uncertainty (parametric bootstrap of the estimates).

        ``draws`` parameter vectors are drawn from the asymptotic normal distribution of
        :math:`(\log r, \log\alpha, \log a, \log b)` (mean: the estimate; covariance:
        ``log_params_covariance_``); :meth:`predict` is evaluated for each, and the ``(1 ± level) / 2`` quantiles
        are returned. It is an interval for the *expected* number of purchases, not for the count a customer
        will actually make (that one is much wider: a Poisson-like count around the expectation).
        """
        self._params()
        if not 0 < level < 1:
            raise UsageError(f"level must be between 0 and 1, got {level}")
        if draws < 2:
            raise UsageError("draws must be at least 2")
        x, t_x, age = _rfm_arrays(frequency, recency, T)
        cov = self.log_params_covariance_
        if not np.all(np.isfinite(cov)):
            nan = np.full(x.shape, np.nan)
            return nan, nan.copy()
        keys = pd.MultiIndex.from_arrays([x, t_x, age])
        codes, uniques = pd.factorize(keys)
        ux = np.asarray(uniques.get_level_values(0), dtype=np.float64)
        utx = np.asarray(uniques.get_level_values(1), dtype=np.float64)
        uage = np.asarray(uniques.get_level_values(2), dtype=np.float64)
        params = self._draws(draws, seed)
        samples = np.empty((draws, ux.size))
        for i, (r, alpha, a, b) in enumerate(params):
            samples[i] = _conditional_expected(float(t), r, alpha, a, b, ux, utx, uage)
        tail = (1 - level) / 2
        low, high = np.nanquantile(samples, [tail, 1 - tail], axis=0)
        return np.asarray(low[codes], dtype=np.float64), np.asarray(high[codes], dtype=np.float64)

    def _draws(self, draws: int, seed: int) -> FloatArray:
        params = _require(self.params_, "BetaGeoFitter")
        rng = np.random.default_rng(seed)
        mean = np.log(np.array(list(params.values())))
        out: FloatArray = np.exp(rng.multivariate_normal(mean, self.log_params_covariance_, size=draws))
        return out

    def individual_log_likelihood(self, frequency: npt.ArrayLike, recency: npt.ArrayLike,
                                  T: npt.ArrayLike) -> FloatArray:
        """Log-likelihood of each customer at the fitted parameters."""
        r, alpha, a, b = self._params()
        x, t_x, age = _rfm_arrays(frequency, recency, T)
        return _bgnbd_loglik_rows(r, alpha, a, b, x, t_x, age)

    def _params(self) -> tuple[float, float, float, float]:
        p = _require(self.params_, "BetaGeoFitter")
        return p["r"], p["alpha"], p["a"], p["b"]


class _BGData:
    r"""The data reduced for a fast likelihood: distinct values with their customer counts.

    Only customers with :math:`x > 0` need per-row work, once per distinct :math:`(x, t_x, T)`: the
    :math:`x = 0` customers, and the :math:`-(r + x)\log(\alpha + T)` term of everyone, are sums over distinct
    :math:`T`; the Gamma and Beta terms are sums over distinct :math:`x`. ``size`` counts the rows evaluated:
    distinct :math:`(x, t_x, T)` among repeat buyers plus distinct :math:`T` among the others.
    """

    def __init__(self, x: FloatArray, t_x: FloatArray, age: FloatArray, w: FloatArray) -> None:
        self.n = float(w.sum())
        # every row: Gamma/Beta terms by distinct x, -(r + x) log(alpha + T) by distinct T
        self.ux, ix = _unique(x)
        self.wx = np.bincount(ix, weights=w, minlength=self.ux.size)
        self.uT, iT = _unique(age)
        self.w_T = np.bincount(iT, weights=w, minlength=self.uT.size)
        self.xw_T = np.bincount(iT, weights=w * x, minlength=self.uT.size)
        # repeat buyers: the "dropped out after the last purchase" term, once per distinct (x, t_x, T)
        rep = (x > 0) & (w > 0)
        ix_r, iT_r, w_r = ix[rep], iT[rep], w[rep]
        self.ut, it_r = _unique(t_x[rep])
        n_t, n_T = max(self.ut.size, 1), max(self.uT.size, 1)
        if self.ux.size * n_t * n_T < 2**62:  # one int64 key per row, hashed (no sort)
            codes, keys = pd.factorize((ix_r * n_t + it_r) * n_T + iT_r)
            keys = np.asarray(keys, dtype=np.int64)
            self.ix_rep = np.asarray(keys // (n_t * n_T), dtype=np.intp)
            self.it_rep = np.asarray((keys // n_T) % n_t, dtype=np.intp)
            self.iT_rep = np.asarray(keys % n_T, dtype=np.intp)
            self.w_rep = np.bincount(codes, weights=w_r, minlength=keys.size)
        else:
            grouped = pd.DataFrame({"x": ix_r, "t": it_r, "T": iT_r, "w": w_r}).groupby(["x", "t", "T"])["w"].sum()
            self.ix_rep, self.it_rep, self.iT_rep = (
                grouped.index.get_level_values(i).to_numpy(dtype=np.intp) for i in range(3)
            )
            self.w_rep = grouped.to_numpy(dtype=np.float64)
        self.x_rep = self.ux[self.ix_rep]
        self.size = int(self.w_rep.size + np.count_nonzero(np.bincount(iT[~rep], minlength=self.uT.size)))


def _unique(values: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    codes, uniques = pd.factorize(values)
    return np.asarray(uniques, dtype=np.float64), np.asarray(codes, dtype=np.intp)


def _softplus(z: FloatArray) -> tuple[FloatArray, FloatArray]:
    """log(1 + e^z) and its derivative 1 / (1 + e^-z), without overflow."""
    e = np.exp(-np.abs(z))
    plus: FloatArray = np.maximum(z, 0.0) + np.log1p(e)
    sigmoid: FloatArray = np.where(z >= 0, 1.0, e) / (1.0 + e)
    return plus, sigmoid


def _bgnbd_negll(log_params: FloatArray, d: _BGData) -> tuple[float, FloatArray]:
    r"""Mean negative log-likelihood and its gradient with respect to the log-parameters.

    Per customer :math:`\ell = A_1 + A_2 + A_3 + \delta_{x>0}\,\mathrm{softplus}(z)` with
    :math:`A_3 = -(r + x)\log(\alpha + T)` and :math:`z = A_4 - A_3 = \log a - \log(b + x - 1)
    + (r + x)[\log(\alpha + T) - \log(\alpha + t_x)]`.
    """
    r, alpha, a, b = (float(v) for v in np.exp(log_params))
    ux, wx = d.ux, d.wx
    # A1 + A2, once per distinct x
    a12 = (special.gammaln(r + ux) - special.gammaln(r) + r * math.log(alpha)
           + special.gammaln(a + b) + special.gammaln(b + ux) - special.gammaln(b) - special.gammaln(a + b + ux))
    # A3, once per distinct T
    log_aT = np.log(alpha + d.uT)
    inv_aT = 1.0 / (alpha + d.uT)
    ll = _dot(wx, a12) - _dot(r * d.w_T + d.xw_T, log_aT)
    g_r = _dot(wx, special.digamma(r + ux) - special.digamma(r)) + d.n * math.log(alpha) - _dot(d.w_T, log_aT)
    g_alpha = d.n * r / alpha - _dot(r * d.w_T + d.xw_T, inv_aT)
    dig_ab, dig_abx = special.digamma(a + b), special.digamma(a + b + ux)
    g_a = _dot(wx, dig_ab - dig_abx)
    g_b = _dot(wx, dig_ab + special.digamma(b + ux) - special.digamma(b) - dig_abx)
    if d.x_rep.size:
        bx = np.where(ux > 0, b + ux - 1, 1.0)  # only gathered for x >= 1, where b + x - 1 > 0
        c_x = math.log(a) - np.log(bx)
        inv_bx = 1.0 / bx
        gap = log_aT[d.iT_rep] - np.log(alpha + d.ut)[d.it_rep]
        rx = r + d.x_rep
        plus, w4 = _softplus(c_x[d.ix_rep] + rx * gap)
        ww4 = d.w_rep * w4
        ll += _dot(d.w_rep, plus)
        g_r += _dot(ww4, gap)
        g_alpha += _dot(ww4, rx * (inv_aT[d.iT_rep] - (1.0 / (alpha + d.ut))[d.it_rep]))
        g_a += float(ww4.sum()) / a
        g_b -= _dot(ww4, inv_bx[d.ix_rep])
    if not math.isfinite(ll):
        return math.inf, np.zeros(4)
    grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
    return -ll / d.n, -grad / d.n


def _bgnbd_loglik_rows(r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray,
                       age: FloatArray) -> FloatArray:
    """Per-customer log-likelihood (the plain, unaggregated form of :func:`_bgnbd_negll`)."""
    repeat = x > 0
    a12 = (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
           + special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x))
    a3 = -(r + x) * np.log(alpha + age)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
                      -np.inf)
    out: FloatArray = np.asarray(a12 + np.logaddexp(a3, a4), dtype=np.float64)
    return out


def _p_alive(r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray,
             age: FloatArray) -> FloatArray:
    repeat = x > 0
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        log_odds = (np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0))
                    + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x)))
    out: FloatArray = np.where(repeat, special.expit(-log_odds), 1.0)
    return out


def _conditional_expected(t: float, r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray,
                          age: FloatArray) -> FloatArray:
    if t < 0:
        raise UsageError(f"the prediction horizon t must be non-negative, got {t}")
    if abs(a - 1) < 1e-7:  # the closed form is 0/0 at a = 1; its limit is the mean of the two sides
        below = _conditional_expected(t, r, alpha, 1 - 1e-6, b, x, t_x, age)
        above = _conditional_expected(t, r, alpha, 1 + 1e-6, b, x, t_x, age)
        mean: FloatArray = (below + above) / 2
        return mean
    z = t / (alpha + age + t)
    head = (a + b + x - 1) / (a - 1)
    body = 1 - ((alpha + age) / (alpha + age + t)) ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    out: FloatArray = np.asarray(head * body * _p_alive(r, alpha, a, b, x, t_x, age), dtype=np.float64)
    return out


def simulate_bgnbd(n: int, T: npt.ArrayLike, r: float, alpha: float, a: float, b: float,
                   seed: int | np.random.Generator = 0) -> pd.DataFrame:
    r"""Draw ``frequency``, ``recency``, ``T`` for ``n`` customers from the BG/NBD model.

    ``T`` (each customer's age, a scalar or one per customer) is in the unit of ``alpha``. Each customer gets
    :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`, :math:`p \sim \mathrm{Beta}(a, b)`, a number of
    repeat purchases before dropout :math:`N \sim \mathrm{Geometric}(p)` on 1, 2, ... and a Poisson(:math:`\lambda T`)
    number :math:`K` of purchase opportunities in :math:`(0, T]`; then :math:`x = \min(N, K)` and :math:`t_x` is
    the :math:`x`-th of :math:`K` uniform times, i.e. :math:`T \cdot \mathrm{Beta}(x, K - x + 1)`.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    age = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    lives = rng.geometric(np.clip(p, 1e-12, 1.0))
    opportunities = rng.poisson(lam * age)
    x = np.minimum(lives, opportunities)
    t_x = np.zeros(n)
    has = x > 0
    t_x[has] = age[has] * rng.beta(x[has], opportunities[has] - x[has] + 1)
    return pd.DataFrame({"frequency": x.astype(np.int64), "recency": t_x, "T": age})


# --------------------------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------------------------
class GammaGammaFitter:
    r"""Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005; Fader & Hardie 2013).

    A customer's transaction values are i.i.d. :math:`\mathrm{Gamma}(p, \nu)` with mean :math:`p/\nu`, and
    :math:`\nu \sim \mathrm{Gamma}(q, \gamma)` across customers. The mean :math:`\bar z` of a customer's
    :math:`x` repeat transactions then has density

    .. math::

        f(\bar z \mid p, q, \gamma, x) = \frac{\Gamma(p x + q)}{\Gamma(p x)\,\Gamma(q)}
            \frac{\gamma^q\, \bar z^{\,p x - 1}\, x^{p x}}{(\gamma + x \bar z)^{p x + q}}

    and the expected average value of her future transactions is

    .. math::

        E[Z \mid p, q, \gamma, \bar z, x] = \frac{p(\gamma + x \bar z)}{p x + q - 1}
            = \frac{q - 1}{p x + q - 1}\,\frac{p\gamma}{q - 1} + \frac{p x}{p x + q - 1}\,\bar z

    a weighted mean of the population mean :math:`p\gamma/(q-1)` and her own mean. The model assumes spend is
    independent of the purchase process (check: correlation of :math:`x` and :math:`\bar z` near 0).
    Fit on customers with :math:`x > 0` and :math:`\bar z > 0` (others carry no spend information).

    Attributes
    ----------
    params_ : dict[str, float]
        ``p``, ``q``, ``gamma``.
    standard_errors_, log_likelihood_, log_params_covariance_, n_customers_, converged_
        As in :class:`BetaGeoFitter`.

    References
    ----------
    Fader, P. S., Hardie, B. G. S., & Lee, K. L. (2005). RFM and CLV: Using Iso-Value Curves for Customer Base
    Analysis. *Journal of Marketing Research*, 42(4), 415-430.
    Fader, P. S., & Hardie, B. G. S. (2013). The Gamma-Gamma Model of Monetary Value. Note,
    brucehardie.com/notes/025.
    """

    param_names = ("p", "q", "gamma")

    def __init__(self) -> None:
        self.params_: dict[str, float] | None = None
        self.standard_errors_: dict[str, float] = {}
        self.log_likelihood_: float = math.nan
        self.log_params_covariance_: FloatArray = np.full((3, 3), np.nan)
        self.n_customers_ = 0
        self.converged_ = False
        self.message_ = ""

    def fit(self, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike) -> GammaGammaFitter:
        """Maximum-likelihood fit on the customers with ``frequency > 0`` and ``monetary_value > 0``."""
        x, m = _array(frequency, "frequency"), _array(monetary_value, "monetary_value")
        x, m = np.broadcast_arrays(x, m)
        if np.any(m < 0):
            raise InputError("monetary_value must be non-negative")
        keep = (x > 0) & (m > 0)
        if keep.sum() < 3:
            raise InputError("fewer than 3 customers with a repeat purchase of positive value; cannot fit Gamma-Gamma")
        x, m = x[keep].astype(np.float64), m[keep].astype(np.float64)
        n = float(x.size)
        log_m, log_x = np.log(m), np.log(x)

        def mean_negll(v: FloatArray) -> tuple[float, FloatArray]:
            p, q, g = np.exp(v)
            px = p * x
            log_gxm = np.log(g + x * m)
            rows = (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * np.log(g)
                    + (px - 1) * log_m + px * log_x - (px + q) * log_gxm)
            ll = float(rows.sum())
            if not np.isfinite(ll):
                return math.inf, np.zeros(3)
            dig = special.digamma(px + q)
            g_p = _dot(x, dig - special.digamma(px) + log_m + log_x - log_gxm)
            g_q = float(np.sum(dig - special.digamma(q) + np.log(g) - log_gxm))
            g_g = float(np.sum(q / g - (px + q) / (g + x * m)))
            return -ll / n, -np.array([g_p * p, g_q * q, g_g * g]) / n

        x0 = np.log(np.array([1.0, 1.0, float(np.mean(m))]))
        fit = _maximise(mean_negll, x0, n)
        values = np.exp(fit.log_params)
        self.params_ = dict(zip(self.param_names, (float(v) for v in values), strict=True))
        se = _natural_se(fit.log_params, fit.log_cov)
        self.standard_errors_ = dict(zip(self.param_names, (float(v) for v in se), strict=True))
        self.log_likelihood_ = fit.log_likelihood
        self.log_params_covariance_ = fit.log_cov
        self.n_customers_ = int(n)
        self.converged_, self.message_ = fit.converged, fit.message
        return self

    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and 95 % intervals."""
        params = _require(self.params_, "GammaGammaFitter")
        return _summary(self.param_names, np.log(np.array(list(params.values()))), self.log_params_covariance_)

    def conditional_expected_average_profit(self, frequency: npt.ArrayLike,
                                            monetary_value: npt.ArrayLike) -> FloatArray:
        r"""Expected value of a customer's future transactions, :math:`p(\gamma + x\bar z)/(p x + q - 1)`.

        For :math:`x = 0` this is the population mean :math:`p\gamma/(q - 1)`. Needs :math:`q > 1` (finite mean).
        """
        p, q, g = self._params()
        if q <= 1:
            raise UsageError(f"q = {q:.3g} <= 1: the Gamma-Gamma mean spend is infinite")
        x, m = _array(frequency, "frequency"), _array(monetary_value, "monetary_value")
        x, m = np.broadcast_arrays(x, m)
        m = np.where(x > 0, m, 0.0)
        out: FloatArray = p * (g + x * m) / (p * x + q - 1)
        return out

    def customer_lifetime_value(self, bgnbd: BetaGeoFitter, frequency: npt.ArrayLike, recency: npt.ArrayLike,
                                T: npt.ArrayLike, monetary_value: npt.ArrayLike, time: int = 12,
                                discount_rate: float = 0.01, time_unit: str = "week", margin: float = 1.0,
                                days_per_month: float = DAYS_PER_MONTH) -> FloatArray:
        r"""Discounted expected value of each customer over the next ``time`` months.

        .. math::

            \mathrm{CLV} = \text{margin} \cdot E[Z \mid \bar z, x] \sum_{k=1}^{K}
                \frac{E[Y(k s) \mid x, t_x, T] - E[Y((k-1) s) \mid x, t_x, T]}{(1 + d)^k}

        Time discretisation, explicitly: the horizon is cut into :math:`K` = ``time`` months of
        ``days_per_month`` days (default 365.25 / 12 = 30.4375, the average Gregorian month), i.e.
        :math:`s` = ``days_per_month`` / 7 = 4.348 weeks when ``time_unit="week"`` and 30.4375 when ``"day"``.
        Purchases expected in month :math:`k` are discounted at the *end* of that month with the monthly rate
        :math:`d` = ``discount_rate`` (an annual rate :math:`d_y` is :math:`(1 + d_y)^{1/12} - 1` monthly).
        ``time_unit`` must be the unit the BG/NBD model was fitted in. ``margin`` turns revenue into profit.
        (lifetimes uses 30-day months for daily data and 4.345-week months for weekly data; the results
        therefore differ slightly.)
        """
        if int(time) != time or time < 1:
            raise UsageError(f"time must be a whole number of months >= 1, got {time}")
        if discount_rate < 0:
            raise UsageError(f"discount_rate must be >= 0, got {discount_rate}")
        step = days_per_month / days_per_unit(time_unit)
        x, t_x, age = _rfm_arrays(frequency, recency, T)
        spend = self.conditional_expected_average_profit(x, monetary_value)
        r, alpha, a, b = bgnbd._params()
        total = np.zeros_like(x)
        previous = np.zeros_like(x)
        for k in range(1, int(time) + 1):
            expected = _conditional_expected(k * step, r, alpha, a, b, x, t_x, age)
            total += (expected - previous) / (1 + discount_rate) ** k
            previous = expected
        out: FloatArray = margin * spend * total
        return out

    def individual_log_likelihood(self, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike) -> FloatArray:
        """Log-density of each customer's mean repeat spend (``nan`` where ``frequency == 0``)."""
        p, q, g = self._params()
        x, m = np.broadcast_arrays(_array(frequency, "frequency"), _array(monetary_value, "monetary_value"))
        with np.errstate(all="ignore"):
            px = p * x
            rows = (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * np.log(g)
                    + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(g + x * m))
        out: FloatArray = np.where((x > 0) & (m > 0), rows, np.nan)
        return out

    def _params(self) -> tuple[float, float, float]:
        p = _require(self.params_, "GammaGammaFitter")
        return p["p"], p["q"], p["gamma"]


# --------------------------------------------------------------------------------------------------------------
# shifted-beta-geometric
# --------------------------------------------------------------------------------------------------------------
class ShiftedBetaGeometric:
    r"""Shifted-beta-geometric model of contract renewals (Fader & Hardie 2007).

    Each customer churns at the end of each period with a constant probability :math:`\theta`, and
    :math:`\theta \sim \mathrm{Beta}(\alpha, \beta)` across customers. For a cohort observed from its first
    period, with :math:`T` the period in which a customer churns,

    .. math::

        P(T = t) = \frac{B(\alpha + 1, \beta + t - 1)}{B(\alpha, \beta)}, \qquad
        S(t) = P(T > t) = \frac{B(\alpha, \beta + t)}{B(\alpha, \beta)}, \qquad
        r_t = \frac{S(t)}{S(t - 1)} = \frac{\beta + t - 1}{\alpha + \beta + t - 1}

    Retention rises with tenure (:math:`r_t` increases) because the least loyal leave first - the whole point
    of the model. Fit from the number alive at the start of periods :math:`0, 1, \dots, n`:

    .. math::

        LL(\alpha, \beta) = \sum_{t=1}^{n} (n_{t-1} - n_t) \ln P(T = t) + n_n \ln S(n)

    Discounted expected residual lifetime (Fader & Hardie 2010, eq. 6) of a customer who has made
    :math:`n - 1` renewals (at the end of period :math:`n`, before deciding to renew), with discount rate
    :math:`d` per period and the next payment, if she renews, not discounted:

    .. math::

        \mathrm{DERL}(d \mid \alpha, \beta, n - 1) = \sum_{t=n}^{\infty}
            \frac{S(t \mid T > n - 1)}{(1 + d)^{t - n}} = \frac{\beta + n - 1}{\alpha + \beta + n - 1}
            \, {}_2F_1\!\left(1, \beta + n; \alpha + \beta + n; \frac{1}{1 + d}\right)

    The residual value of such a customer is (payment per period × margin) × DERL; a new customer's discounted
    expected lifetime (first payment included, undiscounted) is
    :math:`\mathrm{DEL} = {}_2F_1(1, \beta; \alpha + \beta; 1/(1 + d))`.

    Attributes
    ----------
    params_ : dict[str, float]
        ``alpha``, ``beta``.
    standard_errors_, log_likelihood_, log_params_covariance_, converged_
        As in :class:`BetaGeoFitter`.
    survivors_ : numpy.ndarray
        The fitted counts (alive at the start of periods 0..n).

    References
    ----------
    Fader, P. S., & Hardie, B. G. S. (2007). How to Project Customer Retention. *Journal of Interactive
    Marketing*, 21(1), 76-90.
    Fader, P. S., & Hardie, B. G. S. (2010). Customer-Base Valuation in a Contractual Setting: The Perils of
    Ignoring Heterogeneity. *Marketing Science*, 29(1), 85-93.

    Examples
    --------
    >>> sbg = ShiftedBetaGeometric().fit([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> round(sbg.params_["alpha"], 3), round(sbg.params_["beta"], 3)
    (0.704, 1.182)
    >>> [round(float(v)) for v in sbg.projected_survivors(range(8, 13))]
    [220, 204, 191, 180, 170]
    """

    param_names = ("alpha", "beta")

    def __init__(self) -> None:
        self.params_: dict[str, float] | None = None
        self.standard_errors_: dict[str, float] = {}
        self.log_likelihood_: float = math.nan
        self.log_params_covariance_: FloatArray = np.full((2, 2), np.nan)
        self.survivors_: FloatArray = np.empty(0)
        self.converged_ = False
        self.message_ = ""

    def fit(self, survivors: npt.ArrayLike) -> ShiftedBetaGeometric:
        """Fit from the number of customers alive at the start of each period, beginning with the cohort size."""
        alive = _array(survivors, "survivors")
        if alive.size < 2:
            raise InputError("survivors needs at least two periods (the cohort size and one later count)")
        if np.any(alive < 0) or alive[0] <= 0:
            raise InputError("survivors must be non-negative, starting with a positive cohort size")
        if np.any(np.diff(alive) > 0):
            raise InputError("survivors must not increase: a cohort only loses customers")
        lost = alive[:-1] - alive[1:]
        periods = np.arange(1, alive.size, dtype=np.float64)
        end = float(alive.size - 1)
        last = float(alive[-1])
        n = float(alive[0])

        def mean_negll(v: FloatArray) -> tuple[float, FloatArray]:
            al, be = np.exp(v)
            base = special.betaln(al, be)
            log_p = special.betaln(al + 1, be + periods - 1) - base
            log_s = special.betaln(al, be + end) - base
            ll = _dot(lost, log_p) + last * float(log_s)
            if not np.isfinite(ll):
                return math.inf, np.zeros(2)
            dab = special.digamma(al + be)
            d_p_al = special.digamma(al + 1) - special.digamma(al + be + periods) - special.digamma(al) + dab
            d_p_be = special.digamma(be + periods - 1) - special.digamma(al + be + periods) - special.digamma(be) + dab
            d_s_al = dab - special.digamma(al + be + end)
            d_s_be = special.digamma(be + end) - special.digamma(al + be + end) - special.digamma(be) + dab
            g_al = _dot(lost, d_p_al) + last * float(d_s_al)
            g_be = _dot(lost, d_p_be) + last * float(d_s_be)
            return -ll / n, -np.array([g_al * al, g_be * be]) / n

        fit = _maximise(mean_negll, np.zeros(2), n)
        values = np.exp(fit.log_params)
        self.params_ = dict(zip(self.param_names, (float(v) for v in values), strict=True))
        se = _natural_se(fit.log_params, fit.log_cov)
        self.standard_errors_ = dict(zip(self.param_names, (float(v) for v in se), strict=True))
        self.log_likelihood_ = fit.log_likelihood
        self.log_params_covariance_ = fit.log_cov
        self.survivors_ = alive
        self.converged_, self.message_ = fit.converged, fit.message
        return self

    def fit_durations(self, periods: npt.ArrayLike, churned: npt.ArrayLike) -> ShiftedBetaGeometric:
        r"""Fit from one duration per customer, right-censored: customers of any start date together.

        ``periods`` are whole periods: for a churned customer (``churned`` true) the period :math:`t \ge 1` in
        which she left (she paid :math:`t` periods), contributing :math:`\ln P(T = t)`; for a customer still
        paying, the periods completed so far (:math:`t \ge 0`), contributing :math:`\ln S(t)`. One cohort's
        survivor counts give the same likelihood as :meth:`fit` (``n_{t-1} - n_t`` churned at ``t``, ``n_n``
        censored at ``n``). ``survivors_`` is then ``[number of customers]``.
        """
        t = _array(periods, "periods")
        lost_flag = _array(churned, "churned")
        if t.shape != lost_flag.shape:
            raise InputError("periods and churned need one value per customer")
        if t.size == 0:
            raise InputError("no customers to fit")
        if np.any(t < 0) or np.any(t != np.round(t)):
            raise InputError("periods must be non-negative whole numbers")
        is_lost = lost_flag != 0
        if np.any(t[is_lost] < 1):
            raise InputError("a churned customer needs periods >= 1 (the period in which she left)")
        if not np.any(is_lost):
            raise InputError("no customer churned: the sBG churn distribution cannot be estimated")
        lost_t, lost_n = np.unique(t[is_lost], return_counts=True)
        cens_t, cens_n = np.unique(t[~is_lost], return_counts=True)
        lost_n, cens_n = lost_n.astype(np.float64), cens_n.astype(np.float64)
        n = float(t.size)

        def mean_negll(v: FloatArray) -> tuple[float, FloatArray]:
            al, be = np.exp(v)
            base = special.betaln(al, be)
            log_p = special.betaln(al + 1, be + lost_t - 1) - base
            log_s = special.betaln(al, be + cens_t) - base
            ll = _dot(lost_n, log_p) + _dot(cens_n, log_s)
            if not np.isfinite(ll):
                return math.inf, np.zeros(2)
            dab = special.digamma(al + be)
            d_p_al = special.digamma(al + 1) - special.digamma(al + be + lost_t) - special.digamma(al) + dab
            d_p_be = special.digamma(be + lost_t - 1) - special.digamma(al + be + lost_t) - special.digamma(be) + dab
            d_s_al = dab - special.digamma(al + be + cens_t)
            d_s_be = special.digamma(be + cens_t) - special.digamma(al + be + cens_t) - special.digamma(be) + dab
            g_al = _dot(lost_n, d_p_al) + _dot(cens_n, d_s_al)
            g_be = _dot(lost_n, d_p_be) + _dot(cens_n, d_s_be)
            return -ll / n, -np.array([g_al * al, g_be * be]) / n

        fit = _maximise(mean_negll, np.zeros(2), n)
        values = np.exp(fit.log_params)
        self.params_ = dict(zip(self.param_names, (float(v) for v in values), strict=True))
        se = _natural_se(fit.log_params, fit.log_cov)
        self.standard_errors_ = dict(zip(self.param_names, (float(v) for v in se), strict=True))
        self.log_likelihood_ = fit.log_likelihood
        self.log_params_covariance_ = fit.log_cov
        self.survivors_ = np.array([n])
        self.converged_, self.message_ = fit.converged, fit.message
        return self

    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and 95 % intervals."""
        params = _require(self.params_, "ShiftedBetaGeometric")
        return _summary(self.param_names, np.log(np.array(list(params.values()))), self.log_params_covariance_)

    def survival(self, t: npt.ArrayLike) -> FloatArray:
        r"""S(t) = B(α, β + t) / B(α, β): share of a new cohort still a customer after ``t`` periods."""
        al, be = self._params()
        time = self._periods(t, minimum=0)
        out: FloatArray = np.exp(special.betaln(al, be + time) - special.betaln(al, be))
        return out

    def churn_probability(self, t: npt.ArrayLike) -> FloatArray:
        r"""P(T = t) = B(α + 1, β + t - 1) / B(α, β): share of a new cohort lost in period ``t`` (t ≥ 1)."""
        al, be = self._params()
        time = self._periods(t, minimum=1)
        out: FloatArray = np.exp(special.betaln(al + 1, be + time - 1) - special.betaln(al, be))
        return out

    def retention_rate(self, t: npt.ArrayLike) -> FloatArray:
        r"""r_t = S(t) / S(t - 1) = (β + t - 1) / (α + β + t - 1): share of the survivors renewing in period ``t``."""
        al, be = self._params()
        time = self._periods(t, minimum=1)
        out: FloatArray = (be + time - 1) / (al + be + time - 1)
        return out

    def projected_survivors(self, t: npt.ArrayLike, cohort_size: float | None = None) -> FloatArray:
        """Expected number alive at the start of period ``t``: cohort size × S(t) (default: the fitted cohort)."""
        self._params()
        size = float(self.survivors_[0]) if cohort_size is None else float(cohort_size)
        out: FloatArray = size * self.survival(t)
        return out

    def discounted_expected_residual_lifetime(self, discount_rate: float, renewals: npt.ArrayLike = 0) -> FloatArray:
        r"""DERL for a customer who has made ``renewals`` (:math:`n - 1`) renewals; see the class docstring.

        Counts expected future payments (the next renewal's undiscounted), so residual CLV = payment × margin ×
        DERL. ``discount_rate`` is per period of the model (a year for yearly contracts) and must be > 0.
        """
        al, be = self._params()
        if not discount_rate > 0:
            raise UsageError(f"discount_rate must be > 0 (at 0 the lifetime may be infinite), got {discount_rate}")
        n = self._periods(renewals, minimum=0) + 1
        out: FloatArray = np.asarray(
            (be + n - 1) / (al + be + n - 1) * special.hyp2f1(1.0, be + n, al + be + n, 1 / (1 + discount_rate)),
            dtype=np.float64,
        )
        return out

    derl = discounted_expected_residual_lifetime

    def discounted_expected_lifetime(self, discount_rate: float) -> float:
        r"""DEL of a new customer, :math:`{}_2F_1(1, \beta; \alpha + \beta; 1/(1 + d))`, first payment included."""
        al, be = self._params()
        if not discount_rate > 0:
            raise UsageError(f"discount_rate must be > 0, got {discount_rate}")
        return float(special.hyp2f1(1.0, be, al + be, 1 / (1 + discount_rate)))

    def _periods(self, t: npt.ArrayLike, minimum: int) -> FloatArray:
        time = _array(t, "t")
        if np.any(time < minimum):
            raise UsageError(f"periods must be >= {minimum}")
        return time

    def _params(self) -> tuple[float, float]:
        p = _require(self.params_, "ShiftedBetaGeometric")
        return p["alpha"], p["beta"]


def describe(model: BetaGeoFitter | GammaGammaFitter | ShiftedBetaGeometric) -> dict[str, Any]:
    """Fitted parameters, standard errors and fit statistics as a plain dict (for JSON output)."""
    params = _require(model.params_, type(model).__name__)
    out: dict[str, Any] = dict(params)
    out["log_likelihood"] = model.log_likelihood_
    if not isinstance(model, ShiftedBetaGeometric):
        out["n_customers"] = model.n_customers_
    out["standard_errors"] = dict(model.standard_errors_)
    out["converged"] = model.converged_
    return out


def predict_customers(summary: pd.DataFrame, bgnbd: BetaGeoFitter, gamma_gamma: GammaGammaFitter | None = None, *,
                      horizon_months: float = 12, time_unit: str = "week", discount_rate: float = 0.01,
                      margin: float = 1.0, level: float = 0.95, draws: int = 200, seed: int = 0) -> pd.DataFrame:
    """One row per customer of :func:`~sinergia.models.rfm.rfm_summary`'s output: P(alive), purchases, CLV.

    Columns: ``frequency``, ``recency``, ``T``, ``p_alive``, ``expected_purchases`` over the next
    ``horizon_months`` months (of :data:`DAYS_PER_MONTH` days) with ``expected_purchases_low`` /
    ``expected_purchases_high`` (the ``level`` interval of :meth:`BetaGeoFitter.predict_interval`), and with a
    Gamma-Gamma model also ``monetary_value``, ``expected_average_value`` and ``clv``
    (:meth:`GammaGammaFitter.customer_lifetime_value` over ``horizon_months`` rounded up to whole months,
    monthly ``discount_rate``).
    """
    if not horizon_months > 0:
        raise UsageError(f"the horizon must be a positive number of months, got {horizon_months}")
    x, t_x, age = (summary[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T"))
    t = horizon_months * DAYS_PER_MONTH / days_per_unit(time_unit)
    out = summary[["frequency", "recency", "T"]].copy()
    out["p_alive"] = bgnbd.conditional_probability_alive(x, t_x, age)
    out["expected_purchases"] = bgnbd.predict(t, x, t_x, age)
    low, high = bgnbd.predict_interval(t, x, t_x, age, level=level, draws=draws, seed=seed)
    out["expected_purchases_low"], out["expected_purchases_high"] = low, high
    if gamma_gamma is not None:
        if "monetary_value" not in summary.columns:
            raise UsageError("a Gamma-Gamma prediction needs the summary's monetary_value column")
        m = summary["monetary_value"].to_numpy(dtype=np.float64)
        out["monetary_value"] = m
        out["expected_average_value"] = gamma_gamma.conditional_expected_average_profit(x, m)
        out["clv"] = gamma_gamma.customer_lifetime_value(
            bgnbd, x, t_x, age, m, time=math.ceil(horizon_months), discount_rate=discount_rate,
            time_unit=time_unit, margin=margin,
        )
    return out


# --------------------------------------------------------------------------------------------------------------
# workspace scoring: clv_<horizon>m per account, as of a date
# --------------------------------------------------------------------------------------------------------------
#: CLV tiers (the score's band): an account is in the first tier whose share it falls in, ranking accounts by
#: value (ties share the better tier). Top 20 % "high", next 30 % "medium", the rest "low".
CLV_TIERS: tuple[tuple[float, str], ...] = ((0.2, "high"), (0.5, "medium"), (1.0, "low"))
WORKSPACE_MODELS = ("auto", "sbg", "simple", "bgnbd")


def clv_tiers(values: npt.ArrayLike, tiers: Sequence[tuple[float, str]] = CLV_TIERS) -> list[str]:
    """Tier of each value: the share of accounts with a *strictly greater* value decides (ties share a tier)."""
    v = _array(values, "values")
    if v.size == 0:
        return []
    ordered = np.sort(v)
    greater = v.size - np.searchsorted(ordered, v, side="right")
    share = greater / v.size
    out = []
    for s in share:
        out.append(next(name for limit, name in tiers if s < limit or limit >= 1.0))
    return out


def score_workspace(source: Any, as_of: Any, *, horizon_months: int = 12, model: str = "auto",
                    discount_rate: float = 0.01, margin: float | None = None, draws: int = 200,
                    seed: int = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    r"""Expected value of each account over the next ``horizon_months`` months, as of the end of ``as_of``.

    Returns ``(scores, info)``: ``scores`` has the columns :func:`sinergia.scores.history.write_scores` reads
    (``account_id``, ``as_of``, ``value``, ``band`` = CLV tier of :data:`CLV_TIERS`, ``explanation`` = a dict
    with the inputs and the formula); ``info`` describes the fit (model, parameters, counts, version).

    ``model``:

    * ``sbg`` (subscriptions): every paying life of every account up to the cut-off
      (:func:`sinergia.models.survival.account_lifetimes`) in months of :data:`DAYS_PER_MONTH` days - churned
      lives lasted :math:`T = \max(1, \mathrm{round}(d / 30.4375))` months, open lives have completed
      :math:`t = \lfloor d / 30.4375 \rfloor` - fitted by :meth:`ShiftedBetaGeometric.fit_durations`. An
      account paying MRR at the cut-off after :math:`t` completed months is worth

      .. math:: \mathrm{CLV}_H = \mathrm{MRR} \cdot \mathrm{margin} \sum_{m=1}^{H}
                \frac{S(t + m) / S(t)}{(1 + d)^m}

      (the coming H monthly payments, each made if the account has not churned by then; the month in course,
      already paid, is not counted). MRR is the account MRR step function of the revenue metrics.
    * ``simple``: the same sum with a constant monthly churn :math:`c` = churned lives / months at risk of all
      lives (the exponential maximum-likelihood rate), :math:`S(t + m)/S(t) = (1 - c)^m`.
    * ``bgnbd`` (orders, non-contractual): BG/NBD + Gamma-Gamma on the orders known by the cut-off (net value
      per account and day; every day with a net value >= 0 is a purchase, a day that only refunds is not;
      weeks as the time unit; Gamma-Gamma on the repeat buyers with a positive mean spend), then
      :meth:`GammaGammaFitter.customer_lifetime_value` over ``horizon_months`` (``predict_customers``).
    * ``auto``: ``sbg`` when some account pays MRR at the cut-off (``simple`` if no life has churned yet),
      else ``bgnbd`` when there are orders.

    ``margin`` defaults to the workspace's ``metrics.gross_margin``; ``discount_rate`` is monthly.
    """
    from sinergia.errors import ModelError
    from sinergia.metrics.api import _context

    if model not in WORKSPACE_MODELS:
        raise UsageError(f"unknown CLV model '{model}'; models: {', '.join(WORKSPACE_MODELS)}")
    if not isinstance(horizon_months, int) or horizon_months < 1:
        raise UsageError(f"the horizon must be a whole number of months >= 1, got {horizon_months}")
    if not discount_rate >= 0:
        raise UsageError(f"the discount rate must be >= 0, got {discount_rate}")
    ctx = _context(source, as_of, "day", 1, None, None, None)
    if margin is None:
        margin = float(ctx.settings.gross_margin)
    if not 0 < margin <= 1:
        raise UsageError(f"the margin must be in (0, 1], got {margin}")
    from sinergia.models.signals import _SignalData

    paying = _SignalData(ctx).paying()
    if model == "auto":
        model = "sbg" if not paying.empty else "bgnbd"
    common = {"horizon_months": horizon_months, "discount_rate": discount_rate, "margin": margin,
              "as_of": as_of.isoformat()}
    if model in ("sbg", "simple"):
        if paying.empty:
            raise ModelError(f"no account pays MRR at the end of {as_of}: nothing to value with a subscription model")
        frame, info = _score_subscriptions(source, as_of, paying, model, horizon_months, discount_rate, margin)
    else:
        frame, info = _score_orders(source, as_of, horizon_months, discount_rate, margin, draws, seed)
    info.update(common)
    info["model_version"] = f"clv-{info['model']}-{as_of.isoformat()}"
    frame["band"] = clv_tiers(frame["value"].to_numpy(dtype=np.float64)) if len(frame) else []
    for explanation, band in zip(frame["explanation"], frame["band"], strict=True):
        explanation["tier"] = band
    frame.insert(1, "as_of", as_of)
    return frame.reset_index(drop=True), info


def _score_subscriptions(source: Any, as_of: Any, paying: pd.DataFrame, model: str, horizon: int,
                         discount_rate: float, margin: float) -> tuple[pd.DataFrame, dict[str, Any]]:
    from sinergia.models.survival import account_lifetimes

    lives = account_lifetimes(source, as_of)
    months = lives["duration_days"].to_numpy(dtype=np.float64) / DAYS_PER_MONTH
    churned = lives["event"].to_numpy() == 1
    periods = np.where(churned, np.maximum(1.0, np.round(months)), np.floor(months))
    n_churned = int(churned.sum())
    if model == "sbg" and n_churned == 0:
        model = "simple"  # no churn yet: the sBG is not identified; the constant-rate model gives c = 0
    info: dict[str, Any] = {"model": model, "lives": len(lives), "churned_lives": n_churned,
                            "accounts": len(paying)}
    open_lives = lives[lives["event"] == 0].sort_values("start").groupby("account_id").tail(1)
    age = pd.Series(np.floor(open_lives["duration_days"].to_numpy(dtype=np.float64) / DAYS_PER_MONTH),
                    index=open_lives["account_id"].to_numpy())
    ids = paying["account_id"].to_numpy()
    t = age.reindex(ids).fillna(0.0).to_numpy(dtype=np.float64)
    steps = np.arange(1, horizon + 1, dtype=np.float64)
    discount = (1 + discount_rate) ** -steps
    if model == "sbg":
        sbg = ShiftedBetaGeometric().fit_durations(periods, churned)
        al, be = sbg.params_["alpha"], sbg.params_["beta"]  # type: ignore[index]
        info["params"] = {"alpha": al, "beta": be}
        info["log_likelihood"] = sbg.log_likelihood_
        info["converged"] = sbg.converged_
        log_s0 = special.betaln(al, be + t) - special.betaln(al, be)
        log_s = special.betaln(al, be + t[:, None] + steps[None, :]) - special.betaln(al, be)
        keep = np.exp(log_s - log_s0[:, None])
        formula = "MRR × margin × Σ_{m=1..H} [S(t+m)/S(t)] / (1+d)^m, S(t) = B(α, β+t)/B(α, β)"
    else:
        at_risk = float(months.sum())
        rate = n_churned / at_risk if at_risk > 0 else 0.0
        info["params"] = {"monthly_churn": rate, "months_at_risk": at_risk}
        keep = np.broadcast_to((1 - rate) ** steps, (len(ids), horizon))
        formula = "MRR × margin × Σ_{m=1..H} (1-c)^m / (1+d)^m"
    mrr = paying["mrr"].to_numpy(dtype=np.float64)
    expected_months = keep.sum(axis=1)
    value = mrr * margin * (keep * discount[None, :]).sum(axis=1)
    explanations = []
    for i in range(len(ids)):
        explanations.append({
            "model": model, "formula": formula, "mrr": round(float(mrr[i]), 2), "margin": margin,
            "months_paid": int(t[i]), "p_renew_next_month": round(float(keep[i, 0]), 6),
            "p_paying_at_horizon": round(float(keep[i, -1]), 6),
            "expected_paid_months": round(float(expected_months[i]), 4), "horizon_months": horizon,
            "discount_rate": discount_rate, "params": info["params"],
        })
    frame = pd.DataFrame({"account_id": ids, "value": value, "explanation": explanations})
    return frame, info


def _score_orders(source: Any, as_of: Any, horizon: int, discount_rate: float, margin: float, draws: int,
                  seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    from sinergia.errors import ModelError
    from sinergia.models.rfm import rfm_summary
    from sinergia.models.segments import account_transactions

    tx = account_transactions(source, as_of)
    if tx.empty:
        raise ModelError(f"no orders and no paying subscription by the end of {as_of}: nothing to value")
    tx = tx.assign(day=pd.to_datetime(tx["ordered_at"]).dt.floor("D"))
    daily = tx.groupby(["account_id", "day"], as_index=False)["amount"].sum()
    daily = daily[daily["amount"] >= 0]  # a day that only refunds is not a purchase; a free order ($0) is
    summary = rfm_summary(daily, "account_id", "day", "amount", until=as_of, time_unit="week")
    bgnbd = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    repeaters = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    if len(repeaters) < 3:
        raise ModelError(f"{len(repeaters)} account(s) bought more than once: too few for the Gamma-Gamma spend model")
    gamma = GammaGammaFitter().fit(repeaters["frequency"], repeaters["monetary_value"])
    table = predict_customers(summary, bgnbd, gamma, horizon_months=horizon, time_unit="week",
                              discount_rate=discount_rate, margin=margin, draws=draws, seed=seed)
    params = {**describe(bgnbd), "gamma_gamma": describe(gamma)}
    info: dict[str, Any] = {"model": "bgnbd", "accounts": len(table), "orders": len(tx),
                            "converged": bool(bgnbd.converged_ and gamma.converged_), "params": {
        k: params[k] for k in ("r", "alpha", "a", "b")} | {
        f"gg_{k}": params["gamma_gamma"][k] for k in ("p", "q", "gamma")}}
    explanations = []
    for _, row in table.iterrows():
        explanations.append({
            "model": "bgnbd", "formula": "Gamma-Gamma expected spend × BG/NBD expected purchases per month, "
                                         "discounted monthly, × margin (docs/clv.md)",
            "frequency": int(row["frequency"]), "recency_weeks": round(float(row["recency"]), 4),
            "T_weeks": round(float(row["T"]), 4), "p_alive": round(float(row["p_alive"]), 6),
            "expected_purchases": round(float(row["expected_purchases"]), 4),
            "expected_purchases_95": [round(float(row["expected_purchases_low"]), 4),
                                      round(float(row["expected_purchases_high"]), 4)],
            "monetary_value": round(float(row["monetary_value"]), 2),
            "expected_average_value": round(float(row["expected_average_value"]), 2), "margin": margin,
            "horizon_months": horizon, "discount_rate": discount_rate, "params": info["params"],
        })
    frame = pd.DataFrame({"account_id": table.index.astype(str), "value": table["clv"].to_numpy(dtype=np.float64),
                          "explanation": explanations})
    return frame, info
