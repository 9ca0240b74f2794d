"""Revenue and retention: MRR, its movements, NRR, GRR, churn, ARPA, simple LTV, expansion index.

Everything here stands on one construction, the **account MRR step function**:

1. each subscription's MRR over time, as segments ``[valid_from, valid_to)`` — from its
   ``subscription_changes`` rows when it has any (each change starts a segment at ``mrr_after``),
   otherwise one segment ``[started_at, ended_at)`` at ``mrr``; trials are not revenue;
2. summed per account, the MRR changes at each segment boundary; each change is classified at the
   **account** level: 0 → >0 is *new* the first time and *reactivation* after; >0 → 0 is *churn*;
   up is *expansion*, down is *contraction*;
3. ``MRR(account, t)`` is the MRR in force just before ``t``, so for a period ``[start, end)``:
   ``MRR(start) + new + reactivation + expansion − contraction − churn = MRR(end)`` exactly.

Money is converted to the workspace currency with the static ``metrics.fx_rates``; amounts in a
currency without a rate are left out (documented edge case), never summed as if they were the same.
"""

from __future__ import annotations

from typing import Any

import ibis

from sinergia.metrics.context import MetricContext
from sinergia.metrics.registry import Direction, Metric, register

_EPS = 0.005  # half a cent: MRR at or below this is zero


def mrr_segments(ctx: MetricContext) -> Any:
    """(account_id, sub_key, valid_from, valid_to, mrr): each subscription's MRR over time, known by the cut-off."""
    cut = ibis.literal(ctx.cutoff)
    changes = ctx.table("subscription_changes")
    changes = changes.filter(changes.changed_at < cut)
    changes = changes.mutate(sub_key=ibis.coalesce(changes.subscription_id, "account:" + changes.account_id))
    after = ibis.ifelse(changes.kind == "churn", ibis.coalesce(changes.mrr_after, 0), changes.mrr_after)
    changes = changes.mutate(_after=ctx.money(after, changes.currency))
    window = ibis.window(group_by=changes.sub_key, order_by=[changes.changed_at, changes.change_id])
    from_changes = changes.select(
        account_id=changes.account_id,
        sub_key=changes.sub_key,
        valid_from=changes.changed_at,
        valid_to=changes.changed_at.lead().over(window),
        mrr=changes._after,
    ).filter(lambda t: t.mrr.notnull())
    keys = changes.select("sub_key").distinct()
    subs = ctx.table("subscriptions")
    subs = subs.filter((subs.started_at < cut) & ~ibis.coalesce(subs.is_trial, False))
    plain = subs.anti_join(keys, subs.subscription_id == keys.sub_key)
    from_subs = plain.select(
        account_id=plain.account_id,
        sub_key=plain.subscription_id,
        valid_from=plain.started_at,
        valid_to=plain.ended_at,
        mrr=ctx.money(plain.mrr, plain.currency),
    ).filter(lambda t: t.mrr.notnull())
    return from_changes.union(from_subs, distinct=False)


def account_period_mrr(ctx: MetricContext) -> Any:
    """(account_id, period_start, period_end, start_mrr, end_mrr) for accounts with MRR at either end.

    Most revenue metrics read it: computed once per context (:meth:`MetricContext.shared`).
    """
    return ctx.shared("revenue.account_period_mrr", lambda: _account_period_mrr(ctx))


def _account_period_mrr(ctx: MetricContext) -> Any:
    seg = mrr_segments(ctx)
    periods = ctx.periods_table()
    open_end = seg.valid_to.isnull()
    joined = seg.join(
        periods, (seg.valid_from < periods.period_end) & (open_end | (seg.valid_to >= periods.period_start))
    )
    at_start = (joined.valid_from < joined.period_start) & (open_end | (joined.valid_to >= joined.period_start))
    at_end = (joined.valid_from < joined.period_end) & (open_end | (joined.valid_to >= joined.period_end))
    grouped = joined.group_by(["account_id", "period_start", "period_end"]).aggregate(
        start_mrr=ibis.ifelse(at_start, joined.mrr, 0.0).sum(),
        end_mrr=ibis.ifelse(at_end, joined.mrr, 0.0).sum(),
    )
    grouped = grouped.mutate(start_mrr=grouped.start_mrr.round(2), end_mrr=grouped.end_mrr.round(2))
    return grouped.filter((grouped.start_mrr > _EPS) | (grouped.end_mrr > _EPS))


def mrr_movements(ctx: MetricContext) -> Any:
    """Every change of an account's MRR: (account_id, changed_at, kind, mrr_before, mrr_after, amount).

    Computed once per context (:meth:`MetricContext.shared`).
    """
    return ctx.shared("revenue.mrr_movements", lambda: _mrr_movements(ctx))


def _mrr_movements(ctx: MetricContext) -> Any:
    seg = mrr_segments(ctx)
    ups = seg.select(account_id=seg.account_id, ts=seg.valid_from, delta=seg.mrr)
    ends = seg.filter(seg.valid_to.notnull())
    downs = ends.select(account_id=ends.account_id, ts=ends.valid_to, delta=-ends.mrr)
    steps = ups.union(downs, distinct=False)
    steps = steps.group_by(["account_id", "ts"]).aggregate(delta=steps.delta.sum())
    window = ibis.window(group_by=steps.account_id, order_by=steps.ts, preceding=None, following=0)
    steps = steps.mutate(mrr_after=steps.delta.sum().over(window).round(2))
    steps = steps.mutate(mrr_before=(steps.mrr_after - steps.delta).round(2))
    steps = steps.filter((steps.mrr_after - steps.mrr_before).abs() > _EPS)
    firsts = steps.filter(steps.mrr_after > _EPS).group_by("account_id").aggregate(first_paid=lambda t: t.ts.min())
    steps = steps.left_join(firsts, "account_id").drop("account_id_right")
    before_zero = steps.mrr_before <= _EPS
    after_zero = steps.mrr_after <= _EPS
    kind = ibis.cases(
        (before_zero & (steps.ts <= steps.first_paid), "new"),
        (before_zero, "reactivation"),
        (after_zero, "churn"),
        (steps.mrr_after > steps.mrr_before, "expansion"),
        else_="contraction",
    )
    return steps.select(
        account_id=steps.account_id,
        changed_at=steps.ts,
        kind=kind,
        mrr_before=steps.mrr_before,
        mrr_after=steps.mrr_after,
        amount=(steps.mrr_after - steps.mrr_before).abs(),
    )


# -- observation builders -----------------------------------------------------------------------------


def _ending(ctx: MetricContext, factor: float = 1.0) -> Any:
    t = account_period_mrr(ctx)
    t = t.filter(t.end_mrr > _EPS)
    return t.select("period_start", "account_id", x=t.end_mrr * factor, start_mrr=t.start_mrr, end_mrr=t.end_mrr)


def _movements(kind: str) -> Any:
    def build(ctx: MetricContext) -> Any:
        moves = mrr_movements(ctx)
        moves = ctx.in_periods(moves.filter(moves.kind == kind), "changed_at")
        return moves.select(
            "period_start", "account_id", "changed_at", "kind", "mrr_before", "mrr_after", x=moves.amount
        )

    return build


def _starting(ctx: MetricContext) -> Any:
    t = account_period_mrr(ctx)
    return t.filter(t.start_mrr > _EPS)


def _nrr(ctx: MetricContext) -> Any:
    t = _starting(ctx)
    return t.select("period_start", "account_id", "start_mrr", "end_mrr", num=t.end_mrr, den=t.start_mrr)


def _grr(ctx: MetricContext) -> Any:
    t = _starting(ctx)
    kept = ibis.least(t.end_mrr, t.start_mrr)
    return t.select("period_start", "account_id", "start_mrr", "end_mrr", num=kept, den=t.start_mrr)


def _logo_churn(ctx: MetricContext) -> Any:
    t = _starting(ctx)
    churned = ibis.ifelse(t.end_mrr <= _EPS, 1, 0)
    return t.select("period_start", "account_id", "start_mrr", "end_mrr", num=churned, den=ibis.literal(1))


def _revenue_churn(ctx: MetricContext) -> Any:
    t = _starting(ctx)
    lost = ibis.greatest(t.start_mrr - t.end_mrr, 0.0)
    return t.select("period_start", "account_id", "start_mrr", "end_mrr", num=lost, den=t.start_mrr)


def _arpa(ctx: MetricContext) -> Any:
    t = _ending(ctx)
    return t.select("period_start", "account_id", "end_mrr", num=t.x, den=ibis.literal(1))


def _expansion_index(ctx: MetricContext) -> Any:
    start = _starting(ctx)
    moves = mrr_movements(ctx)
    moves = ctx.in_periods(moves.filter(moves.kind == "expansion"), "changed_at")
    expanded = moves.select("account_id", "period_start").distinct().mutate(expanded=ibis.literal(1))
    joined = start.left_join(expanded, ["account_id", "period_start"])
    return joined.select(
        "period_start",
        "account_id",
        "start_mrr",
        "end_mrr",
        num=ibis.coalesce(joined.expanded, 0),
        den=ibis.literal(1),
    )


def _compound(rate: float, exponent: float) -> float:
    # p is a proportion: interval bounds from the delta method can leave [0, 1], and (1 − p) < 0 raised to a
    # fractional power is a complex number. Clamp first (a bound above 1 means "up to everyone").
    p = min(1.0, max(0.0, rate))
    return float(1 - (1 - p) ** exponent)


def monthly_rate(rate: float, days: float) -> float:
    """A rate over ``days`` as the equivalent monthly rate: 1 − (1 − p)^((365.25/12) / days), p clamped to [0, 1]."""
    return _compound(rate, (365.25 / 12) / days) if days > 0 else rate


def annual_rate(rate: float, days: float) -> float:
    """A rate over ``days`` as the equivalent annual rate: 1 − (1 − p)^(365.25 / days), p clamped to [0, 1]."""
    return _compound(rate, 365.25 / days) if days > 0 else rate


def _ltv(values: dict[str, float | None], settings: Any) -> float | None:
    arpa, churn = values.get("arpa"), values.get("logo_churn_rate_monthly")
    if arpa is None or churn is None or churn <= 0:
        return None
    return float(arpa * settings.gross_margin / churn)


# -- registrations ----------------------------------------------------------------------------------

_MRR_INPUTS = ("subscriptions", "subscription_changes")
_CURRENCY = "money in currencies without an fx_rates entry is left out; a missing currency is the workspace's"
_STARTING = "accounts with MRR > 0 at the start of the period; new accounts in the period are excluded by construction"

register(Metric(
    "mrr", "revenue", {"en": "MRR", "pt-BR": "MRR (receita recorrente mensal)"}, "money", "higher", "sum",
    _MRR_INPUTS,
    "Σ over accounts of MRR in force at the end of the period (annual plans already normalised to a month)",
    _ending, (_CURRENCY, "trials are not revenue", "partial periods: MRR at the as-of cut-off"),
))
register(Metric(
    "arr", "revenue", {"en": "ARR", "pt-BR": "ARR (receita recorrente anual)"}, "money", "higher", "sum",
    _MRR_INPUTS, "12 × MRR at the end of the period", lambda ctx: _ending(ctx, 12.0), (_CURRENCY,),
))
_MOVEMENT_KINDS: tuple[tuple[str, str, str, Direction], ...] = (
    ("new", "New MRR", "MRR novo", "higher"),
    ("expansion", "Expansion MRR", "MRR de expansão", "higher"),
    ("contraction", "Contraction MRR", "MRR de contração", "lower"),
    ("churn", "Churned MRR", "MRR perdido (churn)", "lower"),
    ("reactivation", "Reactivated MRR", "MRR reativado", "higher"),
)
for _kind, _en, _pt, _direction in _MOVEMENT_KINDS:
    register(Metric(
        f"{'churned' if _kind == 'churn' else 'reactivated' if _kind == 'reactivation' else _kind}_mrr",
        "revenue", {"en": _en, "pt-BR": _pt}, "money", _direction, "sum", _MRR_INPUTS,
        f"Σ |MRR after − MRR before| of account-level '{_kind}' movements in the period",
        _movements(_kind),
        (_CURRENCY, "classified per account, not per subscription: a plan swap at equal MRR is no movement",
         "start MRR + new + reactivated + expansion − contraction − churned = end MRR"),
        variant="account-level classification (ChartMogul/Baremetrics style): 0→>0 new the first time, "
        "reactivation after; >0→0 churn",
        row_keys=("changed_at",),
    ))
register(Metric(
    "nrr", "revenue", {"en": "Net revenue retention", "pt-BR": "Retenção líquida de receita (NRR)"}, "ratio",
    "higher", "ratio", _MRR_INPUTS,
    "Σ MRR at period end of accounts with MRR at period start / Σ their MRR at period start",
    _nrr, (_STARTING, "empty starting base → null", _CURRENCY),
    variant="cohort form (fight-churn listing 2.1): equals (start + expansion + reactivation − contraction − "
    "churn) / start for the starting accounts; ChurnZero's formula without new logos",
))
register(Metric(
    "grr", "revenue", {"en": "Gross revenue retention", "pt-BR": "Retenção bruta de receita (GRR)"}, "ratio",
    "higher", "ratio", _MRR_INPUTS,
    "Σ min(end MRR, start MRR) over accounts with MRR at period start / Σ start MRR",
    _grr, (_STARTING, "expansion never counts (capped per account), so 0 ≤ GRR ≤ 1 and GRR ≤ NRR", _CURRENCY),
    variant="GRR = 1 − revenue churn rate (fight-churn listing 2.4: (churned + downsell) / start)",
))
register(Metric(
    "logo_churn_rate", "revenue", {"en": "Logo churn rate", "pt-BR": "Taxa de churn de clientes (logos)"},
    "ratio", "lower", "proportion", _MRR_INPUTS,
    "accounts with MRR at period start and none at period end / accounts with MRR at period start",
    _logo_churn, (_STARTING, "an account that churns and comes back inside the period is not churned at its end"),
))
register(Metric(
    "revenue_churn_rate", "revenue", {"en": "Revenue churn rate", "pt-BR": "Taxa de churn de receita"},
    "ratio", "lower", "ratio", _MRR_INPUTS,
    "Σ max(0, start MRR − end MRR) over accounts with MRR at period start / Σ start MRR  (= 1 − GRR)",
    _revenue_churn, (_STARTING, _CURRENCY),
))
for _base, _name, _fn, _en, _pt in (
    ("logo", "logo_churn_rate_monthly", monthly_rate, "Logo churn rate (monthly equivalent)",
     "Churn de clientes (equivalente mensal)"),
    ("logo", "logo_churn_rate_annual", annual_rate, "Logo churn rate (annual equivalent)",
     "Churn de clientes (equivalente anual)"),
    ("revenue", "revenue_churn_rate_monthly", monthly_rate, "Revenue churn rate (monthly equivalent)",
     "Churn de receita (equivalente mensal)"),
    ("revenue", "revenue_churn_rate_annual", annual_rate, "Revenue churn rate (annual equivalent)",
     "Churn de receita (equivalente anual)"),
):
    register(Metric(
        _name, "revenue", {"en": _en, "pt-BR": _pt}, "ratio", "lower",
        "proportion" if _base == "logo" else "ratio", _MRR_INPUTS,
        f"1 − (1 − p)^({'365.25/12' if 'monthly' in _name else '365.25'} / days in period), "
        f"p = the period's {_base} churn rate",
        _logo_churn if _base == "logo" else _revenue_churn,
        ("interval bounds are converted the same way", "partial periods use their actual length"),
        variant="compounding conversion (fight-churn listings 2.2/2.5)",
        transform=_fn,
    ))
register(Metric(
    "arpa", "revenue", {"en": "ARPA", "pt-BR": "Receita média por conta (ARPA)"}, "money", "higher", "ratio",
    _MRR_INPUTS, "MRR at period end / accounts with MRR at period end", _arpa, (_CURRENCY,),
))
register(Metric(
    "ltv_simple", "revenue", {"en": "LTV (simple)", "pt-BR": "LTV (simples)"}, "money", "higher", "ratio",
    _MRR_INPUTS, "ARPA × gross margin / monthly logo churn rate (metrics.gross_margin in the workspace config)",
    _arpa, ("no churn in the period → null (an infinite lifetime is not a number)",),
    derived_from=("arpa", "logo_churn_rate_monthly"), combine=_ltv,
))
register(Metric(
    "expansion_index", "lifecycle", {"en": "Expansion index", "pt-BR": "Índice de expansão"}, "ratio",
    "higher", "proportion", _MRR_INPUTS,
    "accounts with MRR at period start that had an expansion movement (upsell or cross-sell) in the period / "
    "accounts with MRR at period start",
    _expansion_index, (_STARTING, "cross-sell shows as expansion: a new subscription on a paying account"),
))
