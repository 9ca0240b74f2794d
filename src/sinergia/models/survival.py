r"""Survival of paying accounts: lifetimes as of a date, Kaplan-Meier curves and Cox hazard ratios.

A **life** is one paying spell of an account on the account MRR step function of
:mod:`sinergia.metrics.revenue` (the same construction the revenue metrics use): it starts at the account's
``new`` movement (MRR 0 → >0 the first time) or at a ``reactivation`` (0 → >0 again) and ends at the next
``churn`` movement (>0 → 0). Nothing at or after the as-of cut-off (midnight UTC after ``as_of``) is seen: a
life still paying then, or ending only after it, is **right-censored** at the cut-off.

A reactivated account contributes one life per paying spell (``life`` = 1, 2, ...): the earlier spell ended in
churn (an event), the new one starts its own clock. ``lives="first"`` keeps only each account's first spell,
the classic "time to first churn".

Estimators (lifelines):

* Kaplan-Meier, :math:`\hat S(t) = \prod_{t_i \le t} (1 - d_i / n_i)` with :math:`d_i` churns at :math:`t_i`
  and :math:`n_i` lives still at risk just before it; 95 % intervals are lifelines' exponential Greenwood
  (log(−log)) intervals, which stay inside [0, 1].
* Cox proportional hazards, :math:`h(t \mid x) = h_0(t) \exp(\beta^\top x)`; a hazard ratio
  :math:`\exp(\beta_j)` compares a level with the reference level of its covariate (Efron ties, Wald
  intervals and p-values).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from sinergia.errors import ModelError, UsageError
from sinergia.metrics.context import ACCOUNT_ATTRIBUTES

__all__ = [
    "DEFAULT_TIMES",
    "CoxResult",
    "SurvivalModelError",
    "account_lifetimes",
    "cox_hazard_ratios",
    "kaplan_meier",
]

#: Horizons (days) of the survival table: a month, a quarter, half a year, one and two years.
DEFAULT_TIMES = (30, 90, 180, 365, 730)
_DAY = pd.Timedelta(days=1)
LIFETIME_COLUMNS = ("account_id", "life", "start", "end", "duration_days", "event", "cohort")


class SurvivalModelError(ModelError):
    """A survival model cannot be estimated on these data (no variation, no convergence)."""


# --------------------------------------------------------------------------------------------------------------
# lifetimes
# --------------------------------------------------------------------------------------------------------------
def account_lifetimes(
    source: Any,
    as_of: dt.date,
    by: Sequence[str] = (),
    *,
    cohort: Literal["month", "quarter"] = "month",
    lives: Literal["all", "first"] = "all",
) -> pd.DataFrame:
    """One row per paying life of an account, as known at the end of ``as_of`` (UTC).

    ``source`` is a workspace or a :class:`~sinergia.metrics.context.TableSource`. Columns: ``account_id``,
    ``life`` (1 for the first paying spell, 2 after the first reactivation, ...), ``start``, ``end`` (NaT while
    still paying at the cut-off), ``duration_days`` (to ``end``, or to the cut-off when censored), ``event``
    (1 churned, 0 censored), ``cohort`` (start month ``2025-03`` or quarter ``2025Q1``) and the account
    attributes in ``by`` (current values from ``accounts``; missing ones are null).
    """
    from sinergia.metrics.api import _context
    from sinergia.metrics.revenue import mrr_movements

    unknown = [b for b in by if b not in ACCOUNT_ATTRIBUTES]
    if unknown:
        raise UsageError(f"cannot split lifetimes by {', '.join(unknown)}; attributes: {', '.join(ACCOUNT_ATTRIBUTES)}")
    if cohort not in ("month", "quarter"):
        raise UsageError(f"cohort must be 'month' or 'quarter', got '{cohort}'")
    if lives not in ("all", "first"):
        raise UsageError(f"lives must be 'all' or 'first', got '{lives}'")
    ctx = _context(source, as_of, "month", 1, None, None, None)
    cut = pd.Timestamp(ctx.cutoff)
    moves = mrr_movements(ctx)
    # A subscription's ended_at may lie after the cut-off (a scheduled cancellation): not seen yet.
    moves = moves.filter(moves.kind.isin(["new", "reactivation", "churn"]) & (moves.changed_at < ctx.cutoff))
    frame = ctx.source.execute(moves.select("account_id", "changed_at", "kind"))
    frame = _pair_lives(frame, cut)
    if lives == "first":
        frame = frame[frame["life"] == 1].reset_index(drop=True)
    frame["cohort"] = frame["start"].dt.to_period("M" if cohort == "month" else "Q").astype(str)
    if by:
        accounts = ctx.source.execute(ctx.table("accounts").select("account_id", *by))
        accounts = accounts.drop_duplicates("account_id")
        frame = frame.merge(accounts, on="account_id", how="left")
    return frame[[*LIFETIME_COLUMNS, *by]]


def _pair_lives(moves: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    """Starts (new / reactivation) and churns alternate per account: the k-th churn ends the k-th life."""
    moves = moves.assign(changed_at=pd.to_datetime(moves["changed_at"]))
    moves = moves.sort_values(["account_id", "changed_at"], kind="stable")
    is_start = moves["kind"] != "churn"
    moves = moves.assign(life=is_start.astype(int).groupby(moves["account_id"]).cumsum())
    starts = moves[is_start][["account_id", "life", "changed_at"]].rename(columns={"changed_at": "start"})
    ends = moves[~is_start & (moves["life"] > 0)][["account_id", "life", "changed_at"]]
    lives = starts.merge(ends.rename(columns={"changed_at": "end"}), on=["account_id", "life"], how="left")
    stop = lives["end"].fillna(cut)
    lives["duration_days"] = (stop - lives["start"]) / _DAY
    lives["event"] = lives["end"].notna().astype(int)
    return lives.reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------------
# Kaplan-Meier
# --------------------------------------------------------------------------------------------------------------
KM_COLUMNS = (
    "time", "n", "events", "at_risk", "survival", "ci_low", "ci_high", "median", "median_ci_low", "median_ci_high",
)  # fmt: skip


def kaplan_meier(
    lifetimes: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    times: Sequence[float] = DEFAULT_TIMES,
    *,
    duration: str = "duration_days",
    event: str = "event",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Kaplan-Meier survival at ``times`` per group, with (1 − alpha) intervals and the median survival time.

    One row per group and time: the ``by`` columns, ``time``, ``n`` (lives in the group), ``events`` (churns),
    ``at_risk`` (lives with duration ≥ time), ``survival``, ``ci_low``, ``ci_high``, and per group ``median``
    with ``median_ci_low``/``median_ci_high``. Times are in the unit of ``duration`` (days for
    :func:`account_lifetimes`). ``survival`` is null beyond the group's longest follow-up (the curve is not
    defined there); a median (or bound) not reached is null. A missing group value is the group "(unknown)".
    """
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    groups = [by] if isinstance(by, str) else list(by or [])
    data = _checked(lifetimes, duration, event, groups)
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1, got {alpha}")
    wanted = sorted({float(t) for t in times})
    if not wanted or wanted[0] < 0:
        raise UsageError("times must be one or more non-negative numbers")
    rows: list[dict[str, Any]] = []
    keyed = data.groupby(groups, sort=True, dropna=False) if groups else [((), data)]
    for key, part in keyed:
        labels = dict(zip(groups, key if isinstance(key, tuple) else (key,), strict=True))
        durations, observed = part[duration].to_numpy(float), part[event].to_numpy(int)
        fitter = KaplanMeierFitter(alpha=alpha)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitter.fit(durations, observed)
            medians = median_survival_times(fitter.confidence_interval_)
        curve = fitter.survival_function_.iloc[:, 0]
        bounds = fitter.confidence_interval_
        longest = float(durations.max())
        common = {
            "n": len(part),
            "events": int(observed.sum()),
            "median": _finite(fitter.median_survival_time_),
            "median_ci_low": _finite(medians.iloc[0, 0]),
            "median_ci_high": _finite(medians.iloc[0, 1]),
        }
        for t in wanted:
            # the step function is right-continuous: the last estimate at a time ≤ t
            position = int(curve.index.searchsorted(t, side="right")) - 1
            known = t <= longest
            rows.append(
                {
                    **labels,
                    "time": t,
                    "n": common["n"],
                    "events": common["events"],
                    "at_risk": int((durations >= t).sum()),
                    "survival": float(curve.iloc[position]) if known else None,
                    "ci_low": _finite(bounds.iloc[position, 0]) if known else None,
                    "ci_high": _finite(bounds.iloc[position, 1]) if known else None,
                    "median": common["median"],
                    "median_ci_low": common["median_ci_low"],
                    "median_ci_high": common["median_ci_high"],
                }
            )
    return pd.DataFrame(rows, columns=[*groups, *KM_COLUMNS])


def _checked(lifetimes: pd.DataFrame, duration: str, event: str, columns: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in (duration, event, *columns) if c not in lifetimes.columns]
    if missing:
        raise UsageError(f"lifetimes have no column {', '.join(missing)}; columns: {', '.join(lifetimes.columns)}")
    if lifetimes.empty:
        raise SurvivalModelError("no lifetimes: no account has paid before the as-of date")
    data = lifetimes.copy()
    durations = pd.to_numeric(data[duration], errors="coerce")
    if durations.isna().any() or (durations < 0).any():
        raise UsageError(f"'{duration}' must be a non-negative number on every row")
    if not data[event].isin([0, 1, True, False]).all():
        raise UsageError(f"'{event}' must be 1 (churned) or 0 (censored) on every row")
    data[duration] = durations.astype(float)
    data[event] = data[event].astype(int)
    for column in columns:
        if not pd.api.types.is_numeric_dtype(data[column]):
            data[column] = data[column].astype(object).where(data[column].notna(), "(unknown)")
    return data


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------------------------------------------
# Cox proportional hazards
# --------------------------------------------------------------------------------------------------------------
COX_COLUMNS = ("covariate", "level", "reference", "hazard_ratio", "ci_low", "ci_high", "p_value", "coef", "se")


@dataclass(frozen=True)
class CoxResult:
    """Hazard ratios (one row per level compared with its reference, or per numeric covariate) and model fit."""

    hazard_ratios: pd.DataFrame
    n: int
    events: int
    concordance: float
    log_likelihood: float
    dropped: int


def cox_hazard_ratios(
    lifetimes: pd.DataFrame,
    covariates: Sequence[str],
    *,
    duration: str = "duration_days",
    event: str = "event",
    references: dict[str, str] | None = None,
    alpha: float = 0.05,
    penalizer: float = 0.0,
) -> CoxResult:
    """Fit a Cox model and return hazard ratios with (1 − alpha) intervals and Wald p-values.

    A text (or boolean / categorical) covariate is one-hot encoded against a reference level: the one in
    ``references`` or, by default, its most common level (ties: the first in sort order); a missing value is
    the level "(unknown)". A numeric covariate enters as is (``level`` and ``reference`` null; its hazard ratio
    is per unit); rows where it is missing are dropped and counted in ``dropped``.

    Raises :class:`~sinergia.errors.UsageError` for an unknown covariate or one with a single level, and
    :class:`SurvivalModelError` when there are no events or the fit does not converge (for example a level
    with no churn at all, whose hazard ratio runs off to zero).
    """
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    names = list(dict.fromkeys(covariates))
    if not names:
        raise UsageError("give at least one covariate")
    references = dict(references or {})
    data = _checked(lifetimes, duration, event, names)
    numeric = [c for c in names if _is_numeric(data[c])]
    before = len(data)
    data = data.dropna(subset=numeric)
    dropped = before - len(data)
    design = pd.DataFrame({duration: data[duration], event: data[event]}, index=data.index)
    encoded: dict[str, tuple[str, str | None, str | None]] = {}  # design column -> covariate, level, reference
    for name in names:
        if name in numeric:
            values = data[name].astype(float)
            if values.nunique() < 2:
                raise UsageError(f"covariate '{name}' has one value ({values.iloc[0]:g}): nothing to compare")
            design[name] = values
            encoded[name] = (name, None, None)
            continue
        values = data[name].astype(object).where(data[name].notna(), "(unknown)").astype(str)
        counts = values.value_counts()
        if len(counts) < 2:
            level = counts.index[0] if len(counts) else "none"
            raise UsageError(f"covariate '{name}' has one level ('{level}'): nothing to compare")
        reference = references.get(name)
        if reference is None:
            reference = sorted(counts.index, key=lambda v: (-int(counts[v]), v))[0]
        elif reference not in counts.index:
            levels = ", ".join(sorted(counts.index))
            raise UsageError(f"reference '{reference}' is not a level of '{name}'; levels: {levels}")
        churned = data[event].groupby(values).sum()
        silent = sorted(str(v) for v in churned.index if churned[v] == 0)
        if silent:
            raise SurvivalModelError(
                f"covariate '{name}': no churn at level {', '.join(repr(v) for v in silent)}, so its hazard ratio "
                "runs off to zero and the Cox model does not converge; merge that level with another or drop "
                "the covariate"
            )
        for level in sorted(counts.index):
            if level != reference:
                column = f"{name}={level}"
                design[column] = (values == level).astype(float)
                encoded[column] = (name, level, reference)
    events = int(design[event].sum())
    if events == 0:
        raise SurvivalModelError("no churn in these lifetimes: hazard ratios cannot be estimated")
    fitter = CoxPHFitter(alpha=alpha, penalizer=penalizer)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fitter.fit(design, duration_col=duration, event_col=event)
    except ConvergenceError as error:
        raise SurvivalModelError(f"the Cox model did not converge: {_first_line(error)}") from None
    trouble = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    if trouble:
        raise SurvivalModelError(f"the Cox model did not converge: {_first_line(trouble[0].message)}")
    summary = fitter.summary
    bounds = np.exp(fitter.confidence_intervals_)
    rows = []
    for column, (name, level, reference) in encoded.items():
        rows.append(
            {
                "covariate": name,
                "level": level,
                "reference": reference,
                "hazard_ratio": float(summary.loc[column, "exp(coef)"]),
                "ci_low": float(bounds.loc[column].iloc[0]),
                "ci_high": float(bounds.loc[column].iloc[1]),
                "p_value": float(summary.loc[column, "p"]),
                "coef": float(summary.loc[column, "coef"]),
                "se": float(summary.loc[column, "se(coef)"]),
            }
        )
    return CoxResult(
        hazard_ratios=pd.DataFrame(rows, columns=list(COX_COLUMNS)),
        n=len(design),
        events=events,
        concordance=float(fitter.concordance_index_),
        log_likelihood=float(fitter.log_likelihood_),
        dropped=dropped,
    )


def _is_numeric(values: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(values)) and not pd.api.types.is_bool_dtype(values)


def _first_line(message: object) -> str:
    """The first sentence of a lifelines message (they go on with code to paste)."""
    text = " ".join(str(message).split())
    return text.split(". ")[0].rstrip(".")[:300]
