"""Lifecycle and adoption: active accounts and users, stickiness, feature adoption, licence utilisation,
time to (first) value and ROI on customer-defined outcome KPIs.

Everything reads ``usage_events`` known by the as-of cut-off (:func:`events`). An event's **account** is its
``account_id``, else its user's (``contacts.account_id``); events with neither count for no account, and
events without ``contact_id`` count for no user. Every event row is one use (``quantity`` is not a use count:
it is the KPI value of outcome events).

- An **active account** in a period has ≥ 1 event in it; an **active user** is a contact with ≥ 1 event
  (one per contact and account, so a user of two accounts is active in each).
- **Stickiness** is DAU/MAU for the period: Σ over days of daily active users / (days × active users),
  computed as a ratio of sums over the period's active users (num = the user's active days, den = the days
  in the period), which is exactly mean DAU / period-active users and splits cleanly by account attributes.
- The **feature universe** of a period is every feature named in ``metrics.features`` plus every feature
  first used (by anyone) before the period ends; a feature is **eligible** for an account when
  ``metrics.features.<feature>.plans`` is unset or lists the account's (current) ``plan``.
- **Milestones** (``metrics.milestones``) are reached at the ``min_count``-th matching event of the account;
  durations run from ``accounts.created_at``, in days.
- **Outcomes** (``metrics.outcomes``) are usage events whose ``quantity`` is a KPI value.

Metrics whose settings are absent (no milestones, no ``time_to_first_value``, no outcomes) have no
observations, so they are null in every period, never a made-up number.
"""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd

from sinergia.metrics.context import MetricContext
from sinergia.metrics.registry import Metric, register
from sinergia.metrics.revenue import account_period_mrr
from sinergia.metrics.settings import Milestone

#: ROI baseline: the account's first days (from ``created_at``).
BASELINE_DAYS = 30
#: ``ttfv_reached_rate``: accounts whose first N days ended in the period.
TTFV_WINDOW_DAYS = 30


def _days(later: Any, earlier: Any) -> Any:
    return (later.epoch_seconds() - earlier.epoch_seconds()).cast("float64") / 86400.0


def events(ctx: MetricContext) -> Any:
    """Usage events stamped before the cut-off, with the account resolved through the contact when missing.

    Every lifecycle metric reads them: computed once per context (:meth:`MetricContext.shared`), as are
    :func:`active_accounts`, the activity behind :func:`active_users` and :func:`feature_pairs`.
    """
    return ctx.shared("lifecycle.events", lambda: _events(ctx))


def _events(ctx: MetricContext) -> Any:
    e = ctx.table("usage_events")
    e = e.filter(e.occurred_at < ibis.literal(ctx.cutoff))
    contacts = ctx.table("contacts")
    contacts = contacts.select(_c_id=contacts.contact_id, _c_account=contacts.account_id)
    j = e.left_join(contacts, e.contact_id == contacts._c_id)
    return j.select(
        event_id=j.event_id,
        account_id=ibis.coalesce(j.account_id, j._c_account),
        contact_id=j.contact_id,
        event=j.event,
        feature=j.feature,
        occurred_at=j.occurred_at,
        quantity=j.quantity,
    )


def active_accounts(ctx: MetricContext) -> Any:
    """(period_start, period_end, account_id, events, users, first_event_at, last_event_at) per active account."""
    return ctx.shared("lifecycle.active_accounts", lambda: _active_accounts_table(ctx))


def _active_accounts_table(ctx: MetricContext) -> Any:
    # From the per-(account, contact) activity: a small aggregation instead of a second pass over the events.
    u = _activity(ctx)
    u = u.filter(u.account_id.notnull())
    return u.group_by(["period_start", "period_end", "account_id"]).aggregate(
        events=u.events.sum().cast("int64"),
        users=u.contact_id.count(),  # one row per contact: the distinct contacts (null contact not counted)
        first_event_at=u.first_event_at.min(),
        last_event_at=u.last_event_at.max(),
    )


def _activity(ctx: MetricContext) -> Any:
    """(period_start, period_end, account_id, contact_id, events, active_days, first_event_at, last_event_at).

    One row per account and contact active in a period (either may be null, not both): the one pass over
    the events that active accounts and active users both read, computed once per context.
    """

    def build() -> Any:
        ev = events(ctx)
        ev = ctx.in_periods(ev.filter(ev.account_id.notnull() | ev.contact_id.notnull()), "occurred_at")
        # Distinct days in two steps (per day, then per user): plain aggregates, cheaper than a COUNT(DISTINCT).
        keys = ["period_start", "period_end", "account_id", "contact_id"]
        days = ev.group_by(keys, _day=ev.occurred_at.date()).aggregate(
            _n=ev.count(), _first=ev.occurred_at.min(), _last=ev.occurred_at.max()
        )
        return days.group_by(keys).aggregate(
            events=days._n.sum().cast("int64"), active_days=days.count(),
            first_event_at=days._first.min(), last_event_at=days._last.max(),
        )

    return ctx.shared("lifecycle.activity", build)


def active_users(ctx: MetricContext) -> Any:
    """(period_start, period_end, account_id, contact_id, events, active_days) per active user and account."""
    u = _activity(ctx)
    u = u.filter(u.contact_id.notnull())
    return u.select("period_start", "period_end", "account_id", "contact_id", "events", "active_days")


def _accounts(ctx: MetricContext) -> Any:
    acc = ctx.table("accounts")
    return acc.select(_a_id=acc.account_id, _a_plan=acc.plan, _a_licenses=acc.licenses, _a_created=acc.created_at)


def _empty(ctx: MetricContext, *columns: str, **typed: str) -> Any:
    """An observation table with no rows (settings absent): every value is null."""
    p = ctx.periods_table()
    cols = {"account_id": ibis.null("string"), **{c: ibis.null("float64") for c in columns}}
    cols.update({c: ibis.null(t) for c, t in typed.items()})
    return p.filter(ibis.literal(False)).select(period_start=p.period_start, **cols)


# -- features -----------------------------------------------------------------------------------------


def _eligible(ctx: MetricContext, feature: Any, plan: Any) -> Any:
    rules = [(name, rule.plans) for name, rule in ctx.settings.features.items() if rule.plans is not None]
    if not rules:
        return ibis.literal(True)
    return ibis.cases(
        *(
            (feature == name, ibis.coalesce(plan.isin(plans), False) if plans else ibis.literal(False))
            for name, plans in rules
        ),
        else_=True,
    )


def _threshold(ctx: MetricContext, feature: Any) -> Any:
    # A per-feature `min_count` is read when the settings model provides one; the default is one use.
    counts = {name: int(getattr(rule, "min_count", 1) or 1) for name, rule in ctx.settings.features.items()}
    custom = [(name, n) for name, n in counts.items() if n != 1]
    if not custom:
        return ibis.literal(1)
    return ibis.cases(*((feature == name, n) for name, n in custom), else_=1)


def feature_pairs(ctx: MetricContext) -> Any:
    """(period_start, account_id, plan, feature, feature_events, used) per active account and eligible feature."""
    return ctx.shared("lifecycle.feature_pairs", lambda: _feature_pairs(ctx))


def _feature_pairs(ctx: MetricContext) -> Any:
    ev = events(ctx)
    used_features = ev.filter(ev.feature.notnull())
    first = used_features.group_by("feature").aggregate(first_seen=used_features.occurred_at.min())
    if ctx.settings.features:
        configured = ibis.memtable(pd.DataFrame({"feature": list(ctx.settings.features)}), schema={"feature": "string"})
        configured = configured.mutate(first_seen=ibis.null(first.first_seen.type()))
        both = first.union(configured, distinct=False)
        first = both.group_by("feature").aggregate(first_seen=both.first_seen.min())
    periods = ctx.periods_table()
    universe = first.join(periods, first.first_seen.isnull() | (first.first_seen < periods.period_end))
    universe = universe.select(_u_period=universe.period_start, _u_feature=universe.feature)

    active = active_accounts(ctx)
    acc = _accounts(ctx)
    active = active.left_join(acc, active.account_id == acc._a_id)
    active = active.select("period_start", "account_id", plan=active._a_plan)
    pairs = active.join(universe, active.period_start == universe._u_period)
    pairs = pairs.select("period_start", "account_id", "plan", feature=pairs._u_feature)
    pairs = pairs.filter(_eligible(ctx, pairs.feature, pairs.plan))

    counts = feature_counts(ctx)
    counts = counts.select(_k_period=counts.period_start, _k_account=counts.account_id, _k_feature=counts.feature,
                           _k_n=counts._n)
    j = pairs.left_join(
        counts,
        (pairs.period_start == counts._k_period) & (pairs.account_id == counts._k_account)
        & (pairs.feature == counts._k_feature),
    )
    n = ibis.coalesce(j._k_n, 0)
    return j.select(
        "period_start", "account_id", "plan", "feature", feature_events=n,
        used=ibis.ifelse(n >= _threshold(ctx, j.feature), 1, 0),
    )


def feature_counts(ctx: MetricContext) -> Any:
    """(period_start, account_id, feature, _n): events per feature of each account in each period.

    Feature adoption and adoption depth both read it: computed once per context (:meth:`MetricContext.shared`).
    """

    def build() -> Any:
        ev = events(ctx)
        ev = ctx.in_periods(ev.filter(ev.feature.notnull() & ev.account_id.notnull()), "occurred_at")
        return ev.group_by(["period_start", "account_id", "feature"]).aggregate(_n=ev.count())

    return ctx.shared("lifecycle.feature_counts", build)


# -- milestones ---------------------------------------------------------------------------------------


def milestone_reached(ctx: MetricContext, name: str, milestone: Milestone) -> Any:
    """(account_id, milestone, reached_at): when each account reached the milestone (by the cut-off)."""
    ev = events(ctx)
    keep = (ev.event == milestone.event) & ev.account_id.notnull()
    if milestone.feature is not None:
        keep = keep & (ev.feature == milestone.feature)
    ev = ev.filter(keep)
    window = ibis.window(group_by=ev.account_id, order_by=[ev.occurred_at, ev.event_id])
    ev = ev.mutate(_n=ibis.row_number().over(window))  # 0-based
    ev = ev.filter(ev._n == milestone.min_count - 1)
    return ev.select("account_id", milestone=ibis.literal(name), reached_at=ev.occurred_at)


def _created_accounts(ctx: MetricContext) -> Any:
    acc = _accounts(ctx)
    return acc.filter(acc._a_created.notnull() & (acc._a_created < ibis.literal(ctx.cutoff)))


def _duration_obs(ctx: MetricContext, reached: Any) -> Any:
    acc = _created_accounts(ctx)
    j = reached.join(acc, reached.account_id == acc._a_id)
    j = ctx.in_periods(j, "reached_at")
    return j.select(
        "period_start", "account_id", "milestone", created_at=j._a_created, reached_at=j.reached_at,
        x=ibis.greatest(_days(j.reached_at, j._a_created), 0.0),
    )


def _ttfv(ctx: MetricContext) -> Any:
    name = ctx.settings.time_to_first_value
    if name is None:
        return _empty(ctx, "x", milestone="string")
    return _duration_obs(ctx, milestone_reached(ctx, name, ctx.settings.milestones[name]))


def _ttfv_reached(ctx: MetricContext) -> Any:
    name = ctx.settings.time_to_first_value
    if name is None:
        return _empty(ctx, "num", "den")
    reached = milestone_reached(ctx, name, ctx.settings.milestones[name])
    reached = reached.select(_r_account=reached.account_id, reached_at=reached.reached_at)
    acc = _created_accounts(ctx)
    acc = acc.mutate(window_end=acc._a_created + ibis.interval(days=TTFV_WINDOW_DAYS))
    acc = ctx.in_periods(acc, "window_end")
    j = acc.left_join(reached, acc._a_id == reached._r_account)
    hit = j.reached_at.notnull() & (j.reached_at < j.window_end)
    return j.select(
        "period_start", account_id=j._a_id, created_at=j._a_created, window_end=j.window_end,
        reached_at=j.reached_at, num=ibis.ifelse(hit, 1, 0), den=ibis.literal(1),
    )


def _ttv(ctx: MetricContext) -> Any:
    milestones = ctx.settings.milestones
    if not milestones:
        return _empty(ctx, "x", milestone="string")
    parts = [milestone_reached(ctx, name, m) for name, m in milestones.items()]
    every = parts[0]
    for part in parts[1:]:
        every = every.union(part, distinct=False)
    done = every.group_by("account_id").aggregate(_reached=every.milestone.nunique(), reached_at=every.reached_at.max())
    done = done.filter(done._reached == len(milestones))
    done = done.select("account_id", "reached_at", milestone=ibis.literal("all"))
    return _duration_obs(ctx, done)


# -- outcomes -----------------------------------------------------------------------------------------


def _roi(ctx: MetricContext) -> Any:
    outcomes = ctx.settings.outcomes
    if not outcomes:
        return _empty(ctx, "num", "den", outcome="string")
    ev = events(ctx)
    parts = []
    for name, outcome in outcomes.items():
        part = ev.filter((ev.event == outcome.event) & ev.quantity.notnull() & ev.account_id.notnull())
        parts.append(part.select(
            "account_id", "occurred_at", value=part.quantity.cast("float64"), outcome=ibis.literal(name),
            sign=ibis.literal(1.0 if outcome.higher_is_better else -1.0),
        ))
    kpi = parts[0]
    for part in parts[1:]:
        kpi = kpi.union(part, distinct=False)

    firsts = kpi.group_by(["account_id", "outcome"]).aggregate(_first=kpi.occurred_at.min())
    acc = _accounts(ctx)
    starts = firsts.left_join(acc, firsts.account_id == acc._a_id)
    starts = starts.select(
        _s_account=starts.account_id, _s_outcome=starts.outcome,
        baseline_start=ibis.coalesce(starts._a_created, starts._first),
    )
    starts = starts.mutate(baseline_end=starts.baseline_start + ibis.interval(days=BASELINE_DAYS))
    j = kpi.join(starts, (kpi.account_id == starts._s_account) & (kpi.outcome == starts._s_outcome))

    early = j.filter((j.occurred_at >= j.baseline_start) & (j.occurred_at < j.baseline_end))
    base = early.group_by(["account_id", "outcome"]).aggregate(
        baseline=early.value.mean(), baseline_events=early.count(), baseline_end=early.baseline_end.max()
    )
    base = base.select(_b_account=base.account_id, _b_outcome=base.outcome, baseline=base.baseline,
                       baseline_events=base.baseline_events, baseline_end=base.baseline_end)

    late = ctx.in_periods(j.filter(j.occurred_at >= j.baseline_end), "occurred_at")
    cur = late.group_by(["period_start", "account_id", "outcome"]).aggregate(
        current=late.value.mean(), current_events=late.count(), sign=late.sign.max()
    )
    obs = cur.join(base, (cur.account_id == base._b_account) & (cur.outcome == base._b_outcome))
    obs = obs.filter(obs.baseline > 0)
    return obs.select(
        "period_start", "account_id", "outcome", "baseline", "baseline_events", "baseline_end", "current",
        "current_events", num=obs.sign * (obs.current - obs.baseline), den=obs.baseline,
    )


# -- observation builders -----------------------------------------------------------------------------


def _active_accounts(ctx: MetricContext) -> Any:
    t = active_accounts(ctx)
    return t.select("period_start", "account_id", "events", "users", "first_event_at", "last_event_at",
                    unit_id=t.account_id)


def _active_users(ctx: MetricContext) -> Any:
    t = active_users(ctx)
    return t.select("period_start", "account_id", "contact_id", "events", "active_days", unit_id=t.contact_id)


def _stickiness(ctx: MetricContext) -> Any:
    t = active_users(ctx)
    days = _days(t.period_end, t.period_start)
    return t.select("period_start", "account_id", "contact_id", "active_days", period_days=days,
                    num=t.active_days, den=days)


def _feature_adoption(ctx: MetricContext) -> Any:
    t = feature_pairs(ctx)
    return t.select("period_start", "account_id", "feature", "plan", "feature_events", num=t.used,
                    den=ibis.literal(1))


def _breadth(ctx: MetricContext) -> Any:
    t = feature_pairs(ctx)
    g = t.group_by(["period_start", "account_id"]).aggregate(features_used=t.used.sum(), features_eligible=t.count())
    return g.select("period_start", "account_id", "features_used", "features_eligible",
                    x=g.features_used.cast("float64") / g.features_eligible)


def _depth(ctx: MetricContext) -> Any:
    # Distinct features in two steps (per feature, then per account): plain aggregates, no COUNT(DISTINCT).
    per_feature = feature_counts(ctx)
    g = per_feature.group_by(["period_start", "account_id"]).aggregate(
        feature_events=per_feature._n.sum().cast("int64"), features_used=per_feature.count()
    )
    return g.select("period_start", "account_id", "feature_events", "features_used",
                    x=g.feature_events.cast("float64") / g.features_used)


def _license_utilization(ctx: MetricContext) -> Any:
    users = active_users(ctx)
    users = users.filter(users.account_id.notnull())
    per_account = users.group_by(["period_start", "account_id"]).aggregate(_users=users.contact_id.nunique())
    per_account = per_account.select(_u_period=per_account.period_start, _u_account=per_account.account_id,
                                     _u_users=per_account._users)
    paying = account_period_mrr(ctx).select("period_start", "account_id")
    active = active_accounts(ctx).select("period_start", "account_id")
    base = paying.union(active, distinct=True)
    acc = _accounts(ctx)
    acc = acc.filter(acc._a_licenses > 0)
    j = base.join(acc, base.account_id == acc._a_id)
    j = j.left_join(per_account, (j.period_start == per_account._u_period) & (j.account_id == per_account._u_account))
    active_users_n = ibis.coalesce(j._u_users, 0)
    return j.select("period_start", "account_id", active_users=active_users_n, licenses=j._a_licenses,
                    num=active_users_n, den=j._a_licenses)


# -- registrations ----------------------------------------------------------------------------------

_USAGE = ("usage_events", "contacts")
_ACCOUNT = "an event's account is its account_id, else its user's account; events with neither are left out"
_ROWS = "every event row is one use; quantity is not read"

register(Metric(
    "active_accounts", "lifecycle", {"en": "Active accounts", "pt-BR": "Contas ativas"}, "count", "higher",
    "distinct", _USAGE, "distinct accounts with ≥ 1 usage event in the period",
    _active_accounts, (_ACCOUNT, _ROWS, "partial periods count events up to the as-of cut-off"),
    variant="any usage event is activity (no event allow-list)",
))
register(Metric(
    "active_users", "lifecycle", {"en": "Active users", "pt-BR": "Usuários ativos"}, "count", "higher",
    "distinct", _USAGE, "distinct contacts with ≥ 1 usage event in the period",
    _active_users, ("events without contact_id count for no user", _ACCOUNT,
                    "a split by account attribute counts a user of two accounts in each"),
    variant="MAU-style when the period is a month (WAU for weeks, DAU for days)",
    row_keys=("contact_id",),
))
register(Metric(
    "stickiness", "lifecycle", {"en": "Stickiness (DAU/MAU)", "pt-BR": "Stickiness (DAU/MAU)"}, "ratio",
    "higher", "ratio", _USAGE,
    "Σ over the period's days of daily active users / (days in the period × active users in the period) "
    "= Σ active days of each active user / Σ days in the period",
    _stickiness, ("days are UTC calendar days; a partial period counts the days up to the as-of date",
                  "1/days (one visit) … 1 (every day); a 'day' period is always 1",
                  "no active user → null", "events without contact_id count for no user"),
    variant="mean DAU / period-active users (DAU/MAU for months), pooled over users — not the mean of per-account "
    "ratios, so large accounts weigh by their users; delta-method interval over users",
    row_keys=("contact_id",),
))
register(Metric(
    "feature_adoption_rate", "lifecycle", {"en": "Feature adoption rate", "pt-BR": "Taxa de adoção de funcionalidade"},
    "ratio", "higher", "proportion", (*_USAGE, "accounts"),
    "eligible active accounts that used the feature (≥ 1 event tagged with it) in the period / eligible active "
    "accounts; split with by=['feature']",
    _feature_adoption, (
        "eligible: the account's current plan is in metrics.features.<feature>.plans (or the feature has no plan "
        "rule); an account without a plan is not eligible for a plan-gated feature",
        "use by ineligible accounts counts in neither numerator nor denominator",
        "features: those named in metrics.features plus every feature first used before the period ends",
        "without by=['feature'] the value pools every (account, feature) pair",
        "no eligible active account → null",
    ),
    variant="account-level adoption with eligible denominator (anchors §2.5); threshold one event "
    "(a per-feature min_count is honoured if the settings model carries one); Wilson interval",
    dimensions=("feature",), row_keys=("feature",),
))
register(Metric(
    "adoption_breadth", "lifecycle", {"en": "Adoption breadth", "pt-BR": "Amplitude de adoção"}, "ratio",
    "higher", "mean", (*_USAGE, "accounts"),
    "mean over active accounts of (eligible features used in the period / features eligible for the account)",
    _breadth, ("same feature universe and eligibility as feature_adoption_rate",
               "accounts with no eligible feature are left out", "no active account → null"),
    variant="unweighted mean of per-account shares (each account counts once, whatever its size)",
))
register(Metric(
    "adoption_depth", "lifecycle", {"en": "Adoption depth", "pt-BR": "Profundidade de adoção"}, "count",
    "higher", "mean", _USAGE,
    "mean over active accounts that used ≥ 1 feature of (feature-tagged events in the period / distinct features "
    "they used)",
    _depth, ("events without a feature are not feature use", "every used feature counts, eligible or not",
             "accounts with no feature-tagged event are left out", _ROWS),
    variant="events per used feature per account, unweighted mean over accounts",
))
register(Metric(
    "license_utilization", "lifecycle", {"en": "License utilisation", "pt-BR": "Utilização de licenças"}, "ratio",
    "higher", "ratio", (*_USAGE, "accounts", "subscriptions", "subscription_changes"),
    "Σ active users / Σ licences over accounts with licences > 0 that paid (MRR > 0 at the start or end of the "
    "period) or were active in it",
    _license_utilization, (
        "licences are the account's current accounts.licenses; no history",
        "paying accounts with no active user count with 0 users; accounts with no licences are left out",
        "not capped: more active users than licences gives a value above 1",
        "no account with licences → null",
    ),
    variant="ratio of sums (seat-weighted), not the mean of per-account ratios; delta-method interval",
))
_NO_MILESTONE = "no metrics.time_to_first_value milestone configured → null in every period"
_CLAMP = "a milestone reached before created_at (e.g. during a trial) counts as 0 days"
register(Metric(
    "time_to_first_value", "lifecycle", {"en": "Time to first value", "pt-BR": "Tempo até o primeiro valor"},
    "days", "lower", "median", (*_USAGE, "accounts"),
    "median days from accounts.created_at to the account reaching the metrics.time_to_first_value milestone, "
    "over accounts that reached it in the period",
    _ttfv, (
        _NO_MILESTONE, "accounts that have not reached it by the cut-off are excluded — see ttfv_reached_rate",
        "accounts without created_at are left out", _CLAMP,
        "reached at the min_count-th event matching the milestone's event (and feature)",
    ),
    variant="TTFV, start = account creation (anchors §2.5); median because durations are right-skewed",
))
register(Metric(
    "ttfv_reached_rate", "lifecycle",
    {"en": "First value reached within 30 days", "pt-BR": "Primeiro valor atingido em 30 dias"}, "ratio", "higher",
    "proportion", (*_USAGE, "accounts"),
    f"accounts whose first {TTFV_WINDOW_DAYS} days (from created_at) ended in the period and that reached the "
    f"first-value milestone within them / accounts whose first {TTFV_WINDOW_DAYS} days ended in the period",
    _ttfv_reached, (
        _NO_MILESTONE, "accounts younger than 30 days at the cut-off are not yet counted",
        "accounts without created_at are left out", _CLAMP,
    ),
    variant="cohort by end of the 30-day window, so every account counts once and non-reachers are visible; "
    "Wilson interval",
))
register(Metric(
    "time_to_value", "lifecycle",
    {"en": "Time to value (all milestones)", "pt-BR": "Tempo até o valor (todos os marcos)"},
    "days", "lower", "median", (*_USAGE, "accounts"),
    "median days from accounts.created_at to the account having reached every metrics.milestones milestone "
    "(the last of them), over accounts that completed them in the period",
    _ttv, ("no metrics.milestones configured → null in every period",
           "accounts missing any milestone by the cut-off are excluded", "accounts without created_at are left out",
           _CLAMP),
    variant="time to full value: the latest of the configured milestones (anchors §2.5 TTFV vs full value); median",
))
register(Metric(
    "outcome_roi", "lifecycle", {"en": "Outcome ROI", "pt-BR": "ROI em resultados do cliente"}, "ratio", "higher",
    "ratio", (*_USAGE, "accounts"),
    f"Σ s·(current − baseline) / Σ baseline over (account, outcome) pairs; baseline = mean KPI value in the "
    f"account's first {BASELINE_DAYS} days from created_at, current = mean KPI value in the period (after the "
    "baseline window); s = +1 when higher is better, −1 when lower is",
    _roi, (
        "no metrics.outcomes configured → null in every period",
        "KPI value = quantity of the outcome's event; events with a null quantity are left out",
        "baseline starts at created_at, or at the account's first event of the outcome when created_at is null",
        "pairs with no baseline event, a baseline ≤ 0, or no event in the period after the baseline are left out",
        "without by=['outcome'] outcomes pool, weighted by their baseline magnitude: split by outcome to read one KPI",
    ),
    variant="ratio of sums across accounts (each account weighted by its baseline), improvement-signed so "
    "higher is always better; delta-method interval",
    dimensions=("outcome",), row_keys=("outcome",),
))
