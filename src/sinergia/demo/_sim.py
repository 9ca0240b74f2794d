"""The causal model: a latent health per account, month by month, and everything it drives.

Each account carries a latent health ``h``: mean-reverting towards its long-run level ``mu`` (segment,
industry, CSM, luck), with monthly noise, an onboarding dip for new customers and occasional shocks (a bad
incident). From ``h`` follow, in each month: engagement ``e = sigmoid(1.3 h)``; usage volume (seats^0.85 x
e^1.6) and feature breadth (features are adopted when engagement and sophistication beat their difficulty,
and stick); tickets (more when engagement is low, many more in a shock month, a larger share of them "bad":
urgent, slow, reopened); relational NPS answers (detractors when ``h`` is low).

At the end of the month the *observed* signals — health, the usage of the last three months relative to the
seats, feature breadth, bad tickets, a recent detractor or promoter answer — set the logistic probabilities
of churn, contraction and expansion, which take effect at the next billing day. Annual contracts churn or
shrink only at renewal. Some churned accounts come back (reactivation). Every MRR movement is recorded once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sinergia.demo import _catalog as cat
from sinergia.demo._profile import Profile
from sinergia.demo._rand import Draws, norm_ppf, poisson, sigmoid
from sinergia.demo._types import DAY, F64, HOUR, I64, Bool
from sinergia.demo._window import Window

# Change kinds, in the order of SUBSCRIPTION_CHANGE_KINDS.
NEW, EXPANSION, CONTRACTION, CHURN, REACTIVATION = 0, 1, 2, 3, 4
NO_CHANGE = -1
# Reasons of a change.
R_NEW, R_SEATS, R_UPGRADE, R_DOWNGRADE, R_CANCELLED, R_RETURNED = 0, 1, 2, 3, 4, 5
REASONS = ("new_business", "seats", "upgrade", "downgrade", "cancelled", "returned")
# Invoice kinds.
INV_NONE, INV_RECURRING, INV_PRORATION = 0, 1, 2

# Latent dynamics.
KAPPA = 0.2
SIGMA = 0.32
ONBOARDING_DIP = 0.6
SHOCK_RATE = np.array([0.018, 0.025, 0.035])
E_SCALE = 1.3
E_REF = 0.65
# Usage volume.
USAGE_RATE = 2.0
SEAT_EXPONENT = 0.85
USAGE_E_POWER = 1.6
# Feature adoption.
SEGMENT_ADOPTION = np.array([-0.3, 0.0, 0.4])
DIFFICULTY = np.array([f.difficulty for f in cat.FEATURES])
MIN_PLAN = np.array([f.min_plan for f in cat.FEATURES], np.int64)
# Churn, expansion, contraction (logits).
CHURN_BASE = -6.3
SEGMENT_CHURN = np.array([0.35, 0.0, -0.45])
EXPANSION_BASE = -4.3
CONTRACTION_BASE = -5.6
REACTIVATION_RATE = 0.025
NPS_BASE = 8.2

_PRICE = np.stack([np.array(cat.PRICE_MONTHLY), np.array(cat.PRICE_ANNUAL)], axis=-1)  # [currency, plan, annual]


@dataclass
class History:
    """What happened to each account, month by month (arrays of shape (n, M) unless noted)."""

    h: F64
    e: F64
    lo: I64  # active interval [lo, hi) within the month
    hi: I64
    seats: I64
    plan: I64
    mrr: I64  # cents, after the month's change
    n_usage: I64
    adopted: Bool  # (n, M, F)
    n_tickets: I64  # total = shock + cancellation + ordinary
    n_shock_tickets: I64
    n_cancel_tickets: I64
    n_bad_tickets: I64  # among the ordinary ones
    shock: Bool
    shock_ts: I64
    recent_shock: Bool  # a shock in this or the two previous months
    nps: F64  # (n, M, NPS_SLOTS), NaN when no answer
    nps_sent: I64
    change_kind: I64
    change_reason: I64
    change_ts: I64
    mrr_before: I64
    mrr_after: I64
    invoice_kind: I64
    invoice_ts: I64
    invoice_amount: I64
    renewal_call: Bool  # the month before an annual renewal
    # Final state per account, shape (n,).
    active: Bool = field(default_factory=lambda: np.zeros(0, bool))
    ended_ts: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    anchor: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    start_m: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    last_expansion: I64 = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass
class _State:
    """Running state of the accounts during the monthly loop."""

    active: Bool
    h: F64
    seats: I64
    plan: I64
    anchor: I64  # month the current contract term started (annual anniversaries)
    start_m: I64  # month the current customer life started (creation or reactivation)
    churn_m: I64
    ended_ts: I64
    reactivations: I64
    last_change: I64
    last_expansion: I64
    adopted: Bool
    ratio: F64  # last three months of usage relative to seats
    bad: F64  # last three months of bad tickets
    breadth: F64
    detractor_until: I64
    promoter_until: I64
    pending: I64
    pending_seats: I64
    pending_plan: I64
    pending_reason: I64


def mrr_cents(seats: I64, plan: I64, currency: I64, annual: Bool) -> I64:
    """MRR in cents: seats x the per-seat price of the plan, currency and billing period."""
    return np.asarray(seats * _PRICE[currency, plan, annual.astype(np.int64)], np.int64)


def simulate(p: Profile, d: Draws, w: Window) -> History:
    """Run the monthly causal model for a chunk of accounts."""
    n, months, n_feat = p.n, w.months, len(cat.FEATURES)
    hist = _empty_history(n, months, n_feat)
    st = _initial_state(p, d, n, n_feat)
    noise = norm_ppf(d.m("eps"))
    disp = norm_ppf(d.m("usage_disp"))
    feat_noise = norm_ppf(d.features)
    nps_noise = norm_ppf(d.nps("score"))
    shock_window = np.zeros((n, 3), bool)
    for m in range(months):
        ms, me = int(w.month_start[m]), w.month_end(m)
        bill = ms + (p.bill_day - 1) * DAY + 3 * HOUR
        born = p.created_m == m
        lo, hi, churned_now = _apply_pending(p, st, hist, m, bill, me)
        _birth(p, st, hist, m, born, noise[:, m])
        lo = np.where(born, p.created_ts, lo)
        hi = np.where(born, me, hi)
        present = hi > lo
        hist.lo[:, m], hist.hi[:, m] = np.where(present, lo, ms), np.where(present, hi, ms)
        shock = _latent(p, d, st, m, present, born, noise[:, m])
        shock_window = np.column_stack([shock_window[:, 1:], shock])
        hist.shock[:, m], hist.recent_shock[:, m] = shock, shock_window.any(axis=1)
        hist.shock_ts[:, m] = lo + (d.m("shock_day")[:, m] * np.maximum(hi - lo, 1)).astype(np.int64)
        e = sigmoid(E_SCALE * st.h)
        hist.h[:, m], hist.e[:, m] = st.h, e
        frac = (hi - lo).clip(0) / (me - ms)
        _usage(p, d, st, hist, m, w, present, e, frac, disp[:, m], feat_noise[:, m])
        _tickets(p, d, st, hist, m, present, e, frac, shock, churned_now)
        _nps(p, d, st, hist, m, present, e, nps_noise[:, m])
        hist.seats[:, m], hist.plan[:, m] = st.seats, st.plan
        hist.mrr[:, m] = np.where(st.active, mrr_cents(st.seats, st.plan, p.currency, p.annual), 0)
        _invoices(p, st, hist, m, bill, me, born)
        _decide(p, d, st, hist, m)
    hist.active, hist.ended_ts, hist.anchor = st.active, st.ended_ts, st.anchor
    hist.start_m, hist.last_expansion = st.start_m, st.last_expansion
    return hist


def _empty_history(n: int, months: int, n_feat: int) -> History:
    def ints(fill: int = 0) -> I64:
        return np.full((n, months), fill, np.int64)

    return History(
        h=np.zeros((n, months)), e=np.zeros((n, months)), lo=ints(), hi=ints(), seats=ints(), plan=ints(),
        mrr=ints(), n_usage=ints(), adopted=np.zeros((n, months, n_feat), bool), n_tickets=ints(),
        n_shock_tickets=ints(), n_cancel_tickets=ints(), n_bad_tickets=ints(),
        shock=np.zeros((n, months), bool), shock_ts=ints(), recent_shock=np.zeros((n, months), bool),
        nps=np.full((n, months, 3), np.nan), nps_sent=ints(), change_kind=ints(NO_CHANGE),
        change_reason=ints(), change_ts=ints(), mrr_before=ints(), mrr_after=ints(),
        invoice_kind=ints(INV_NONE), invoice_ts=ints(), invoice_amount=ints(),
        renewal_call=np.zeros((n, months), bool),
    )  # fmt: skip


def _initial_state(p: Profile, d: Draws, n: int, n_feat: int) -> _State:
    old = p.created_m < 0
    never = np.full(n, -10_000, np.int64)
    return _State(
        active=old.copy(),
        h=p.mu + 0.45 * norm_ppf(d.s("h0")),  # old accounts start around their long-run level
        seats=p.seats0.copy(),
        plan=p.plan0.copy(),
        anchor=p.created_m.copy(),
        start_m=p.created_m.copy(),
        churn_m=never.copy(),
        ended_ts=np.full(n, -1, np.int64),
        reactivations=np.zeros(n, np.int64),
        last_change=never.copy(),
        last_expansion=never.copy(),
        adopted=np.zeros((n, n_feat), bool),
        ratio=np.ones((n, 3)),
        bad=np.zeros((n, 3)),
        breadth=np.full((n, 3), 0.4),
        detractor_until=never.copy(),
        promoter_until=never.copy(),
        pending=np.full(n, NO_CHANGE, np.int64),
        pending_seats=p.seats0.copy(),
        pending_plan=p.plan0.copy(),
        pending_reason=np.zeros(n, np.int64),
    )


def _apply_pending(p: Profile, st: _State, hist: History, m: int, bill: I64, me: int) -> tuple[I64, I64, Bool]:
    """Apply last month's decisions at this month's billing moment; return the active interval."""
    month_start = bill - (p.bill_day - 1) * DAY - 3 * HOUR
    go = (st.pending != NO_CHANGE) & (bill < me)
    before = np.where(st.active, mrr_cents(st.seats, st.plan, p.currency, p.annual), 0)
    churn = go & (st.pending == CHURN)
    react = go & (st.pending == REACTIVATION)
    resize = go & ((st.pending == EXPANSION) | (st.pending == CONTRACTION))
    st.seats = np.where(resize | react, st.pending_seats, st.seats)
    st.plan = np.where(resize | react, st.pending_plan, st.plan)
    st.active = (st.active & ~churn) | react
    after = np.where(st.active, mrr_cents(st.seats, st.plan, p.currency, p.annual), 0)
    hist.change_kind[go, m] = st.pending[go]
    hist.change_reason[go, m] = st.pending_reason[go]
    hist.change_ts[go, m] = bill[go]
    hist.mrr_before[go, m] = before[go]
    hist.mrr_after[go, m] = after[go]
    st.churn_m = np.where(churn, m, st.churn_m)
    st.ended_ts = np.where(churn, bill, np.where(react, -1, st.ended_ts))
    st.anchor = np.where(react, m, st.anchor)
    st.start_m = np.where(react, m, st.start_m)
    st.reactivations += react
    st.last_change = np.where(go, m, st.last_change)
    st.last_expansion = np.where(go & (st.pending == EXPANSION), m, st.last_expansion)
    st.h = np.where(react, p.mu - 0.3, st.h)
    st.ratio[react], st.bad[react], st.detractor_until[react] = 1.0, 0.0, -10_000
    st.pending[:] = NO_CHANGE
    lo = np.where(react, bill, month_start)
    hi = np.where(churn, bill, me)
    running = st.active | churn
    return np.where(running, lo, month_start), np.where(running, hi, month_start), churn


def _birth(p: Profile, st: _State, hist: History, m: int, born: Bool, noise: F64) -> None:
    """New customers: a 'new' movement at creation and an onboarding dip in health."""
    if not born.any():
        return
    st.active |= born
    st.h = np.where(born, p.mu - ONBOARDING_DIP + 0.35 * noise, st.h)
    st.anchor = np.where(born, m, st.anchor)
    st.start_m = np.where(born, m, st.start_m)
    mrr = mrr_cents(st.seats, st.plan, p.currency, p.annual)
    hist.change_kind[born, m] = NEW
    hist.change_reason[born, m] = R_NEW
    hist.change_ts[born, m] = p.created_ts[born]
    hist.mrr_before[born, m] = 0
    hist.mrr_after[born, m] = mrr[born]


def _latent(p: Profile, d: Draws, st: _State, m: int, present: Bool, born: Bool, noise: F64) -> Bool:
    """Mean-reverting health with noise and shocks; returns the accounts hit by a shock this month."""
    moved = st.h + KAPPA * (p.mu - st.h) + SIGMA * noise
    st.h = np.where(present & ~born, moved, st.h)
    shock = present & (d.m("shock")[:, m] < SHOCK_RATE[p.segment])
    st.h = st.h - np.where(shock, 0.8 + 1.2 * d.m("shock_size")[:, m], 0.0)
    return shock


def _usage(
    p: Profile,
    d: Draws,
    st: _State,
    hist: History,
    m: int,
    w: Window,
    present: Bool,
    e: F64,
    frac: F64,
    disp: F64,
    feat_noise: F64,
) -> None:
    """Usage volume and feature adoption of the month, and the observed usage ratio."""
    season = cat.SEASON[int(w.calendar_month[m])]
    expected = USAGE_RATE * st.seats.astype(np.float64) ** SEAT_EXPONENT * season * frac
    lam = expected * (e / E_REF) ** USAGE_E_POWER * np.exp(0.25 * disp - 0.03)
    count = np.where(present, poisson(lam, d.m("usage")[:, m]), 0)
    hist.n_usage[:, m] = count
    score = (
        2.4 * (e[:, None] - 0.55)
        + p.soph[:, None]
        + SEGMENT_ADOPTION[p.segment][:, None]
        - DIFFICULTY[None, :]
        + 0.8 * st.adopted
        + 0.45 * feat_noise
    )
    adopted = (score > 0) & (st.plan[:, None] >= MIN_PLAN[None, :]) & (count > 0)[:, None]
    st.adopted = np.where(present[:, None], adopted, st.adopted)
    hist.adopted[:, m] = adopted
    observed = expected > 1.0
    ratio = np.where(observed, count / np.maximum(expected, 1e-9), 1.0)
    st.ratio = np.where(observed[:, None], np.column_stack([st.ratio[:, 1:], ratio]), st.ratio)
    breadth = adopted.sum(axis=1) / adopted.shape[1]
    st.breadth = np.where(present[:, None], np.column_stack([st.breadth[:, 1:], breadth]), st.breadth)


def _tickets(
    p: Profile,
    d: Draws,
    st: _State,
    hist: History,
    m: int,
    present: Bool,
    e: F64,
    frac: F64,
    shock: Bool,
    churned_now: Bool,
) -> None:
    """Ticket counts: more when engagement is low, a burst after a shock, 'bad' ones when health is low."""
    onboarding = (m - st.start_m) < 2
    lam = (0.22 + 0.035 * np.sqrt(st.seats)) * (1 + 1.6 * (1 - e)) * np.where(onboarding, 1.8, 1.0) * frac
    ordinary = np.where(present, poisson(lam, d.m("tickets")[:, m]), 0)
    p_bad = sigmoid(-1.8 - 1.8 * (st.h - 0.4))
    bad = np.minimum(poisson(ordinary * p_bad, d.m("bad")[:, m]), ordinary)
    burst = np.where(shock, 1 + (d.m("shock_tickets")[:, m] * (2 + p.segment)).astype(np.int64), 0)
    cancel = (churned_now & (d.m("cancel_ticket")[:, m] < 0.55)).astype(np.int64)
    hist.n_shock_tickets[:, m], hist.n_cancel_tickets[:, m], hist.n_bad_tickets[:, m] = burst, cancel, bad
    hist.n_tickets[:, m] = burst + cancel + ordinary
    st.bad = np.column_stack([st.bad[:, 1:], np.where(present, bad + burst, 0)])


def _nps(p: Profile, d: Draws, st: _State, hist: History, m: int, present: Bool, e: F64, noise: F64) -> None:
    """Relational NPS every six months to up to three contacts; scores follow health."""
    wave = present & ((m - p.nps_offset) % 6 == 0) & ((m - st.start_m) >= 2)
    slots = np.arange(noise.shape[1])[None, :]
    respond = wave[:, None] & (slots < p.n_contacts[:, None]) & (d.nps("respond")[:, m] < (0.25 + 0.3 * e)[:, None])
    score = np.clip(np.rint(NPS_BASE + 1.7 * (st.h[:, None] - 0.6) + 1.4 * noise), 0, 10)
    hist.nps[:, m] = np.where(respond, score, np.nan)
    lo, hi = hist.lo[:, m], hist.hi[:, m]
    hist.nps_sent[:, m] = lo + (d.m("nps_day")[:, m] * np.maximum(hi - lo, 1) * 0.7).astype(np.int64)
    answered = respond.any(axis=1)
    worst = np.where(respond, score, 99).min(axis=1)
    mean = np.where(respond, score, 0).sum(axis=1) / np.maximum(respond.sum(axis=1), 1)
    st.detractor_until = np.where(answered & (worst <= 6), m + 5, st.detractor_until)
    st.promoter_until = np.where(answered & (mean >= 9), m + 5, st.promoter_until)


def _invoices(p: Profile, st: _State, hist: History, m: int, bill: I64, me: int, born: Bool) -> None:
    """Monthly invoices, annual invoices at each anniversary and prorations of mid-term expansions."""
    billed = st.active & ((bill < me) | born)
    mrr = hist.mrr[:, m]
    when = np.where(born, p.created_ts, bill)
    term_month = (m - st.anchor) % 12
    anniversary = p.annual & (term_month == 0)
    expanded = hist.change_kind[:, m] == EXPANSION
    proration = p.annual & ~anniversary & expanded
    amount = np.where(
        ~p.annual,
        mrr,
        np.where(anniversary, 12 * mrr, (hist.mrr_after[:, m] - hist.mrr_before[:, m]) * (12 - term_month)),
    )
    kind = np.where(~p.annual | anniversary, INV_RECURRING, np.where(proration, INV_PRORATION, INV_NONE))
    kind = np.where(billed, kind, INV_NONE)
    hist.invoice_kind[:, m], hist.invoice_ts[:, m], hist.invoice_amount[:, m] = kind, when, amount
    hist.renewal_call[:, m] = st.active & p.annual & ((m + 1 - st.anchor) % 12 == 0)


def _decide(p: Profile, d: Draws, st: _State, hist: History, m: int) -> None:
    """Churn, expansion, contraction and reactivation decisions, effective at the next billing day."""
    tenure = m - st.start_m
    renewal_next = p.annual & ((m + 1 - st.anchor) % 12 == 0)
    ratio3 = st.ratio.mean(axis=1)
    bad3 = np.minimum(st.bad.sum(axis=1), 4.0)
    breadth3 = st.breadth.mean(axis=1)
    detractor = (st.detractor_until >= m).astype(np.float64)
    promoter = (st.promoter_until >= m).astype(np.float64)
    h = st.h - 0.6
    x = (
        CHURN_BASE + SEGMENT_CHURN[p.segment] - 1.5 * h - 1.3 * (ratio3 - 1) + 0.35 * bad3 + 0.9 * detractor
        + 0.6 * (breadth3 < 0.25) - 0.5 * promoter
    )  # fmt: skip
    p_churn = _per_term(sigmoid(x), p.annual)
    can_churn = st.active & (tenure >= 2) & (~p.annual | renewal_next)
    churn = can_churn & (d.m("churn")[:, m] < p_churn)
    y = (
        EXPANSION_BASE + 1.0 * h + 1.4 * (ratio3 - 1) + 0.6 * promoter - 0.8 * detractor - 0.25 * bad3
        + 1.0 * (breadth3 - 0.4)
    )  # fmt: skip
    can_expand = st.active & ~churn & (tenure >= 3) & (m - st.last_change >= 3)
    expand = can_expand & (d.m("expand")[:, m] < sigmoid(y))
    upgrade = expand & (st.plan < 2) & (d.m("expand_kind")[:, m] < 0.3)
    grow = np.maximum(1, np.rint(st.seats * (0.1 + 0.4 * d.m("expand_size")[:, m]))).astype(np.int64)
    z = CONTRACTION_BASE - 1.0 * h - 0.9 * (ratio3 - 1) + 0.4 * detractor
    can_contract = st.active & ~churn & ~expand & (tenure >= 3) & (~p.annual | renewal_next)
    contract = can_contract & (d.m("contract")[:, m] < _per_term(sigmoid(z), p.annual))
    downgrade = contract & (st.plan > 0) & (d.m("contract_kind")[:, m] < 0.25)
    shrink = np.maximum(1, np.rint(st.seats * (0.1 + 0.25 * d.m("contract_size")[:, m]))).astype(np.int64)
    contract &= downgrade | (st.seats > 1)
    can_react = (
        ~st.active & (st.churn_m >= 0) & (m - st.churn_m >= 2) & (m - st.churn_m <= 12)
        & (st.reactivations == 0) & (p.mu > 0.2)
    )  # fmt: skip
    react = can_react & (d.m("react")[:, m] < REACTIVATION_RATE)
    back = np.maximum(1, np.rint(st.seats * (0.5 + 0.5 * d.m("react_size")[:, m]))).astype(np.int64)
    st.pending = np.select(
        [churn, expand, contract, react], [CHURN, EXPANSION, CONTRACTION, REACTIVATION], NO_CHANGE
    ).astype(np.int64)
    st.pending_seats = np.select(
        [expand & ~upgrade, contract & ~downgrade, react], [st.seats + grow, st.seats - shrink, back], st.seats
    ).astype(np.int64)
    st.pending_plan = np.select([upgrade, downgrade], [st.plan + 1, st.plan - 1], st.plan).astype(np.int64)
    st.pending_reason = np.select(
        [churn, upgrade, downgrade, expand | contract, react],
        [R_CANCELLED, R_UPGRADE, R_DOWNGRADE, R_SEATS, R_RETURNED],
        R_SEATS,
    ).astype(np.int64)


def _per_term(p_month: F64, annual: Bool) -> F64:
    """Annual contracts decide once a year: the monthly hazard compounded over twelve months."""
    return np.where(annual, 1 - (1 - p_month) ** 12, p_month)
