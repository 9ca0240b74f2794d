"""Does the play work? Churn and expansion of treated versus held-out accounts of one playbook.

A playbook with ``holdout: 0.1`` keeps about 10 % of the accounts it fires for as a control group
(:func:`sinergia.playbooks.runner.is_held_out`): their firings are stored, their actions do not run.
:func:`play_effect` takes each account's **first** stored firing of the playbook, and compares what happened in
the ``horizon`` days after it:

* MRR at a date ``d`` = the metrics' MRR step function (:func:`sinergia.metrics.revenue.mrr_segments`: each
  subscription's MRR over time from ``subscription_changes`` when it has changes, else ``subscriptions.mrr``
  between start and end; trials excluded; in the workspace currency) summed over the segments in force at the end
  of ``d`` (started before ``d + 1 day``, not ended by then) — so expansions recorded as changes count;
* **churned**: MRR > 0 at the firing date and MRR = 0 at firing date + horizon;
* **expanded**: MRR > 0 at the firing date and a higher MRR at firing date + horizon.

Only accounts paying at the firing date count; a firing whose horizon ends after ``end`` is not yet observable
and is left out (counted). The difference of two rates (treated − held out) gets a 95 % **Newcombe hybrid
score interval** (Newcombe 1998, method 10), built from the two Wilson score intervals. With fewer than
``min_group`` observable accounts in either group the comparison is refused with a :class:`UsageError`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sinergia.errors import UsageError
from sinergia.metrics.stats import Z95, wilson

if TYPE_CHECKING:
    import pandas as pd

    from sinergia.workspace.workspace import Workspace

METHOD = "Newcombe hybrid score interval (method 10) from Wilson 95 % intervals"
MIN_GROUP = 10


def newcombe_difference(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> tuple[float, float, float]:
    """p₁ − p₂ and its Newcombe (1998, method 10) interval.

    With Wilson intervals (l₁, u₁) for p₁ = x₁/n₁ and (l₂, u₂) for p₂ = x₂/n₂:
    L = (p₁ − p₂) − √((p₁ − l₁)² + (u₂ − p₂)²),  U = (p₁ − p₂) + √((u₁ − p₁)² + (p₂ − l₂)²).
    """
    if n1 <= 0 or n2 <= 0:
        raise UsageError("both groups need at least one account")
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    assert l1 is not None and u1 is not None and l2 is not None and u2 is not None
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


@dataclass
class Outcome:
    account_id: str
    fired_on: dt.date
    held_out: bool
    mrr_start: float
    mrr_end: float

    @property
    def churned(self) -> bool:
        return self.mrr_start > 0 and self.mrr_end <= 0

    @property
    def expanded(self) -> bool:
        return self.mrr_start > 0 and self.mrr_end > self.mrr_start


@dataclass
class EffectReport:
    playbook: str
    horizon_days: int
    end: dt.date
    outcomes: list[Outcome]
    excluded: dict[str, int] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    differences: dict[str, dict[str, Any]] = field(default_factory=dict)
    method: str = METHOD

    def as_dict(self) -> dict[str, Any]:
        return {"playbook": self.playbook, "horizon_days": self.horizon_days, "end": self.end.isoformat(),
                "groups": self.groups, "differences": self.differences, "excluded": self.excluded,
                "method": self.method,
                "accounts": [{"account_id": o.account_id, "fired_on": o.fired_on.isoformat(),
                              "held_out": o.held_out, "mrr_start": o.mrr_start, "mrr_end": o.mrr_end,
                              "churned": o.churned, "expanded": o.expanded} for o in self.outcomes]}


def mrr_segments_frame(workspace: Workspace, end: dt.date) -> pd.DataFrame:
    """(account_id, valid_from, valid_to, mrr) of every subscription segment known by the end of ``end``."""
    import pandas as pd

    from sinergia.metrics.context import MetricContext, TableSource
    from sinergia.metrics.periods import periods_ending
    from sinergia.metrics.revenue import mrr_segments

    source = TableSource.from_workspace(workspace)
    try:
        ctx = MetricContext(source, end, periods_ending(end, "day", 1), workspace.config.metrics,
                            workspace.config.currency, "day")
        frame = mrr_segments(ctx).select("account_id", "valid_from", "valid_to", "mrr").to_pandas()
    finally:
        disconnect = getattr(source.backend, "disconnect", None)
        if callable(disconnect):
            disconnect()
    for column in ("valid_from", "valid_to"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def _mrr_on(segments: pd.DataFrame, account_id: str, day: dt.date) -> float:
    import pandas as pd

    cutoff = pd.Timestamp(day + dt.timedelta(days=1))
    rows = segments[segments["account_id"] == account_id]
    live = rows[(rows["valid_from"] < cutoff) & (rows["valid_to"].isna() | (rows["valid_to"] >= cutoff))]
    return float(pd.to_numeric(live["mrr"], errors="coerce").fillna(0.0).sum())


def _first_firings(store_url: str, playbook_id: str) -> list[tuple[str, dt.date, bool]]:
    """(account, first firing date, held out?) per account of the playbook (portfolio firings skipped)."""
    from sqlalchemy import inspect, select
    from sqlalchemy.orm import Session

    from sinergia.store.db import make_engine
    from sinergia.store.playbook_models import PlaybookFiring

    engine = make_engine(store_url)
    try:
        if not inspect(engine).has_table("playbook_firings"):
            return []
        with Session(engine) as session:
            rows = session.execute(select(PlaybookFiring.account_id, PlaybookFiring.as_of, PlaybookFiring.inputs)
                                   .where(PlaybookFiring.playbook_id == playbook_id, PlaybookFiring.account_id != "")
                                   .order_by(PlaybookFiring.as_of, PlaybookFiring.id)).all()
    finally:
        engine.dispose()
    first: dict[str, tuple[str, dt.date, bool]] = {}
    for account_id, as_of, inputs in rows:
        if account_id in first:
            continue
        holdout = (inputs or {}).get("holdout") or {}
        first[account_id] = (account_id, as_of, bool(holdout.get("held_out", False)))
    return list(first.values())


def _rate(outcomes: list[Outcome], flag: str) -> dict[str, Any]:
    n = len(outcomes)
    x = sum(1 for o in outcomes if getattr(o, flag))
    low, high = wilson(x, n)
    return {"accounts": n, "events": x, "rate": x / n if n else None, "ci_low": low, "ci_high": high}


def play_effect(workspace: Workspace, playbook_id: str, *, horizon_days: int = 90, end: dt.date | None = None,
                min_group: int = MIN_GROUP, store_url: str | None = None) -> EffectReport:
    """Churn and expansion rates of treated vs held-out accounts after their first firing of ``playbook_id``."""
    from sinergia.playbooks.config import load_playbooks

    if horizon_days < 1:
        raise UsageError("--horizon must be at least 1 day")
    playbook = load_playbooks(workspace.path, metric_settings=workspace.config.metrics).get(playbook_id)
    last = end or dt.datetime.now(dt.UTC).date()
    firings = _first_firings(store_url or workspace.store_url, playbook_id)
    subs = mrr_segments_frame(workspace, last)
    report = EffectReport(playbook_id, horizon_days, last, [],
                          excluded={"not_yet_observable": 0, "not_paying_at_firing": 0})
    for account_id, fired_on, held_out in firings:
        horizon_end = fired_on + dt.timedelta(days=horizon_days)
        if horizon_end > last:
            report.excluded["not_yet_observable"] += 1
            continue
        start = _mrr_on(subs, account_id, fired_on)
        if start <= 0:
            report.excluded["not_paying_at_firing"] += 1
            continue
        report.outcomes.append(Outcome(account_id, fired_on, held_out, start, _mrr_on(subs, account_id, horizon_end)))
    treated = [o for o in report.outcomes if not o.held_out]
    control = [o for o in report.outcomes if o.held_out]
    if len(treated) < min_group or len(control) < min_group:
        hint = (" (the playbook has no holdout: add e.g. 'holdout: 0.1' to it in playbooks.yaml)"
                if playbook.holdout == 0 and not control else "")
        raise UsageError(
            f"too few accounts to compare '{playbook_id}' over {horizon_days} days: {len(treated)} treated and "
            f"{len(control)} held out with an observable horizon (need at least {min_group} in each){hint}; "
            f"left out: {report.excluded['not_yet_observable']} whose horizon ends after {last.isoformat()}, "
            f"{report.excluded['not_paying_at_firing']} not paying when fired")
    for name, group in (("treated", treated), ("held_out", control)):
        report.groups[name] = {"churn": _rate(group, "churned"), "expansion": _rate(group, "expanded")}
    for flag, label in (("churned", "churn"), ("expanded", "expansion")):
        x1 = sum(1 for o in treated if getattr(o, flag))
        x2 = sum(1 for o in control if getattr(o, flag))
        d, low, high = newcombe_difference(x1, len(treated), x2, len(control))
        report.differences[label] = {"difference": d, "ci_low": low, "ci_high": high,
                                     "formula": f"{x1}/{len(treated)} − {x2}/{len(control)}"}
    return report
