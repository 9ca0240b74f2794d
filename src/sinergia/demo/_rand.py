"""Randomness of the demo: one independent stream per account.

Account ``i`` draws everything from ``SeedSequence(seed, spawn_key=(i,))``: first a fixed block of uniforms
(static attributes, then ``months x K`` monthly uniforms, then ``months x F`` feature uniforms), later the
variable-size blocks for its events and tickets. Nothing depends on the other accounts of a chunk, so
the chunk size never changes the data; the vectorised code only stacks the per-account draws.
"""

from __future__ import annotations

import numpy as np

from sinergia.demo._types import F64, I64

#: Static (once per account) uniforms, by name.
STATIC = (
    "segment", "country", "region", "industry", "persona", "plan", "annual", "seats", "employees",
    "old", "created_month", "created_day", "created_time", "mu", "soph", "n_contacts", "nps_offset", "csm",
    "child", "first_name", "first_step", "last_name", "last_step", "h0", "english", "contact_title",
    "onb_ces", "onb_ces_score", "onb_ces_delay", "onb_ces_contact", "demo_csat", "demo_csat_score",
    "demo_csat_delay", "web_ces", "web_ces_score", "web_visits", "web_visit_1", "web_visit_2",
    "web_visit_3", "demo_day", "proposal_day", "kickoff_day", "onb_call_day", "training_day",
    "training_2", "training_2_day", "touch_contact", "comment_a", "comment_b", "comment_c", "comment_d",
    "comment_has", "bill_contact",
)  # fmt: skip
#: Monthly uniforms, by name.
MONTHLY = (
    "eps", "shock", "shock_size", "shock_day", "usage", "usage_disp", "tickets", "bad", "shock_tickets",
    "cancel_ticket", "nps_day", "churn", "expand", "expand_kind", "expand_size", "contract",
    "contract_kind", "contract_size", "react", "react_size", "invoice_status", "invoice_ces",
    "invoice_ces_score", "invoice_ces_delay", "qbr_day", "qbr_contact", "renewal_day", "renewal_csat",
    "renewal_csat_score", "renewal_csat_delay", "visit", "visit_day", "feedback", "feedback_kind",
    "feedback_day", "feedback_score", "feedback_channel", "feedback_contact",
    "text_a", "text_b", "text_c", "text_d", "text_e",
)  # fmt: skip
#: Per NPS respondent slot (three per wave) uniforms.
NPS_SLOTS = 3
NPS_FIELDS = ("respond", "score", "delay", "comment", "text_a", "text_b", "text_c", "text_d")

_STATIC_INDEX = {name: i for i, name in enumerate(STATIC)}
_MONTHLY_INDEX = {name: i for i, name in enumerate(MONTHLY)}
_NPS_INDEX = {name: i for i, name in enumerate(NPS_FIELDS)}
N_STATIC = len(STATIC)
N_MONTHLY = len(MONTHLY) + NPS_SLOTS * len(NPS_FIELDS)


def account_rng(seed: int, index: int) -> np.random.Generator:
    """The random stream of account ``index`` (0-based) under ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,))))


def fixed_block_size(months: int, features: int) -> int:
    """Number of uniforms every account draws first."""
    return N_STATIC + months * (N_MONTHLY + features)


class Draws:
    """The fixed blocks of a chunk of accounts, stacked: static (n, S), monthly (n, M, K), features (n, M, F)."""

    def __init__(self, blocks: F64, months: int, features: int) -> None:
        n = blocks.shape[0]
        self.static = blocks[:, :N_STATIC]
        end_monthly = N_STATIC + months * N_MONTHLY
        self.monthly = blocks[:, N_STATIC:end_monthly].reshape(n, months, N_MONTHLY)
        self.features = blocks[:, end_monthly:].reshape(n, months, features)

    def s(self, name: str) -> F64:
        """Static uniform ``name`` for each account, shape (n,)."""
        return self.static[:, _STATIC_INDEX[name]]

    def m(self, name: str) -> F64:
        """Monthly uniform ``name``, shape (n, M)."""
        return self.monthly[:, :, _MONTHLY_INDEX[name]]

    def nps(self, name: str) -> F64:
        """NPS respondent uniform ``name``, shape (n, M, NPS_SLOTS)."""
        first = len(MONTHLY) + _NPS_INDEX[name] * NPS_SLOTS
        return self.monthly[:, :, first : first + NPS_SLOTS]


# --- Distributions from uniforms ----------------------------------------------------------------

_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
      -3.066479806614716e01, 2.506628277459239e00)  # fmt: skip
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
      -1.328068155288572e01)  # fmt: skip
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
      4.374664141464968e00, 2.938163982698783e00)  # fmt: skip
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)


def norm_ppf(u: F64) -> F64:
    """Standard normal quantile of ``u`` (Acklam's rational approximation, relative error < 1.2e-9)."""
    p = np.clip(u, 1e-12, 1 - 1e-12)
    out = np.empty_like(p)
    low = p < 0.02425
    high = p > 1 - 0.02425
    mid = ~(low | high)
    q = p[mid] - 0.5
    r = q * q
    num = ((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]
    den = ((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1
    out[mid] = num * q / den
    for mask, sign in ((low, 1.0), (high, -1.0)):
        tail = p[mask] if sign > 0 else 1 - p[mask]
        t = np.sqrt(-2 * np.log(tail))
        num_t = ((((_C[0] * t + _C[1]) * t + _C[2]) * t + _C[3]) * t + _C[4]) * t + _C[5]
        den_t = (((_D[0] * t + _D[1]) * t + _D[2]) * t + _D[3]) * t + 1
        out[mask] = sign * num_t / den_t
    return out


def poisson(lam: F64, u: F64) -> I64:
    """Poisson draw with mean ``lam`` by inversion of ``u`` (normal approximation above a mean of 30)."""
    lam = np.maximum(lam, 0.0)
    out = np.zeros(lam.shape, np.int64)
    large = lam >= 30
    if large.any():
        approx = lam[large] + np.sqrt(lam[large]) * norm_ppf(u[large])
        out[large] = np.maximum(np.rint(approx), 0).astype(np.int64)
    small = ~large
    if small.any():
        out[small] = _poisson_small(lam[small], u[small])
    return out


def _poisson_small(lam: F64, u: F64) -> I64:
    prob = np.exp(-lam)
    cdf = prob.copy()
    k = np.zeros(lam.shape, np.int64)
    for j in range(1, 120):
        above = u > cdf
        if not above.any():
            break
        k += above
        prob = prob * lam / j
        cdf = cdf + prob
    return k


def lognormal(median: F64 | float, sigma: float, u: F64) -> F64:
    """Log-normal quantile of ``u`` with the given median and log-scale spread."""
    return np.asarray(median * np.exp(sigma * norm_ppf(u)), np.float64)


def choice(u: F64, shares: tuple[float, ...] | F64) -> I64:
    """Index drawn from ``shares`` (cumulative inversion of ``u``); shares along the last axis."""
    cum = np.cumsum(np.asarray(shares, np.float64), axis=-1)
    cum = cum / cum[..., -1:]
    if cum.ndim == 1:
        return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1).astype(np.int64)
    idx = (u[:, None] >= cum).sum(axis=1)
    return np.asarray(np.minimum(idx, cum.shape[1] - 1), np.int64)


_RESOLUTION = 1 << 32


def row_choice(weights: F64, row: I64, u: F64) -> I64:
    """Index drawn for each draw ``u`` from the weights of its ``row`` (rows of a (rows, k) matrix).

    Cumulative weights and uniforms are quantised to 2^-32 and rows are offset by integers, so one
    ``searchsorted`` serves every row and the result never depends on the row numbering (the chunk).
    """
    total = weights.sum(axis=1, keepdims=True)
    cum = np.cumsum(weights, axis=1) / np.where(total > 0, total, 1.0)
    cum_int = np.where(cum >= 1 - 1e-9, _RESOLUTION, np.floor(cum * _RESOLUTION)).astype(np.int64)
    offset = np.arange(len(weights), dtype=np.int64)[:, None] * (2 * _RESOLUTION)
    flat = (cum_int + offset).ravel()
    target = row * (2 * _RESOLUTION) + np.floor(u * _RESOLUTION).astype(np.int64)
    k = np.searchsorted(flat, target, side="right") - row * weights.shape[1]
    return np.asarray(np.clip(k, 0, weights.shape[1] - 1), np.int64)


def sigmoid(x: F64) -> F64:
    """Logistic function."""
    return np.asarray(1.0 / (1.0 + np.exp(-x)), np.float64)
