"""Accounts, contacts, subscriptions, their MRR movements and invoices."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sinergia.demo import _catalog as cat
from sinergia.demo._arrow import ints, join, money, padded, table, take, timestamps
from sinergia.demo._context import Context
from sinergia.demo._profile import account_names, coprime_steps
from sinergia.demo._rand import Draws
from sinergia.demo._sim import INV_NONE, INV_PRORATION, NEW, NO_CHANGE, R_NEW, REASONS, mrr_cents
from sinergia.demo._text import LANGUAGES
from sinergia.demo._types import DAY, HOUR, I64, Bool
from sinergia.schema.entities import SUBSCRIPTION_CHANGE_KINDS

_STEPS = tuple(
    tuple(coprime_steps(len(pool))[:8]) for pools in cat.NAME_POOLS for pool in pools
)  # first/last per pool, interleaved


def renewal_ts(ctx: Context) -> tuple[I64, Bool]:
    """Next renewal after the window end: the next anniversary (annual) or next billing day (monthly)."""
    p, hist, w = ctx.profile, ctx.hist, ctx.window
    last = w.months - 1
    term = np.where(p.annual, 12, 1).astype(np.int64)
    k = np.asarray(hist.anchor + term * -(-(last - hist.anchor) // term), np.int64)
    ts = w.month_ts(k) + (p.bill_day - 1) * DAY + 3 * HOUR
    k = np.asarray(np.where(ts < w.end, k + term, k), np.int64)
    return w.month_ts(k) + (p.bill_day - 1) * DAY + 3 * HOUR, hist.active


LIFECYCLE = ("churned", "onboarding", "adoption", "expansion", "renewal", "customer")


def lifecycle(ctx: Context, renewal: I64) -> I64:
    """Lifecycle stage at the window end, from the account's history."""
    hist, m = ctx.hist, ctx.window.months
    return np.select(
        [
            ~hist.active,
            hist.start_m >= m - 2,
            hist.start_m >= m - 6,
            hist.last_expansion >= m - 3,
            ctx.profile.annual & (renewal - ctx.window.end < 90 * DAY),
        ],
        [0, 1, 2, 3, 4],
        5,
    ).astype(np.int64)


def accounts_table(ctx: Context, schema: pa.Schema) -> pa.Table:
    """One row per account, as of the window end."""
    p, hist = ctx.profile, ctx.hist
    names, domains = account_names(p.index, p.country, ctx.seed)
    renewal, has_renewal = renewal_ts(ctx)
    has_parent = p.parent >= 0
    return table(
        schema,
        {
            "account_id": ctx.account_id,
            "name": pa.array(names, pa.string()),
            "domain": pa.array(domains, pa.string()),
            "parent_account_id": pc.if_else(
                pa.array(has_parent), join("acc", padded(np.maximum(p.parent, 0) + 1, 6)), pa.nulls(p.n, pa.string())
            ),
            "owner": take([c.email for c in cat.CSMS], p.csm),
            "segment": take(cat.SEGMENTS, p.segment),
            "industry": take([i for i, _ in cat.INDUSTRIES], p.industry),
            "country": take([c.code for c in cat.COUNTRIES], p.country),
            "region": pa.array(p.region, pa.string()),
            "plan": take(cat.PLANS, hist.plan[:, -1]),
            "persona": take(cat.ACCOUNT_PERSONAS, p.persona),
            "lifecycle_stage": take(LIFECYCLE, lifecycle(ctx, renewal)),
            "employees": ints(p.employees),
            "licenses": ints(hist.seats[:, -1]),
            "created_at": timestamps(p.created_ts),
            "renewal_at": timestamps(renewal, has_renewal),
            "currency": take(cat.CURRENCIES, p.currency),
        },
    )


def contacts_table(ctx: Context, draws: Draws, schema: pa.Schema) -> pa.Table:
    """The people of each account: e-mails on the account's domain, distinct first names per account."""
    p = ctx.profile
    _, domains = account_names(p.index, p.country, ctx.seed)
    owner = np.repeat(np.arange(p.n), p.n_contacts)
    slot = np.arange(len(owner)) - ctx.contact_offset[owner]
    role = ctx.role[owner, slot]
    pool = np.array([cat.COUNTRIES[c].names for c in range(len(cat.COUNTRIES))])[p.country]
    names, emails, titles = [], [], []
    u_first, u_fstep = draws.s("first_name"), draws.s("first_step")
    u_last, u_lstep, u_title = draws.s("last_name"), draws.s("last_step"), draws.s("contact_title")
    for a, k, r in zip(owner.tolist(), slot.tolist(), role.tolist(), strict=True):
        firsts, lasts = cat.NAME_POOLS[pool[a]]
        fsteps, lsteps = _STEPS[2 * pool[a]], _STEPS[2 * pool[a] + 1]
        first = firsts[(int(u_first[a] * len(firsts)) + k * fsteps[int(u_fstep[a] * len(fsteps))]) % len(firsts)]
        last = lasts[(int(u_last[a] * len(lasts)) + k * lsteps[int(u_lstep[a] * len(lsteps))]) % len(lasts)]
        names.append(f"{first} {last}")
        emails.append(f"{cat.slug(first)}.{cat.slug(last)}@{domains[a]}")
        options = cat.ROLE_TITLES[r]
        titles.append(options[(int(u_title[a] * 7) + k) % len(options)][int(ctx.lang[a])])
    return table(
        schema,
        {
            "contact_id": ctx.contact_id,
            "account_id": ctx.account_id.take(pa.array(owner)),
            "email": pa.array(emails, pa.string()),
            "name": pa.array(names, pa.string()),
            "title": pa.array(titles, pa.string()),
            "role": take(cat.CONTACT_ROLES, role),
            "persona": take(cat.ROLE_PERSONA, role),
            "language": take(LANGUAGES, ctx.lang[owner]),
            "created_at": timestamps(p.created_ts[owner] + slot * 7 * 60),
        },
    )


def subscriptions_table(ctx: Context, schema: pa.Schema) -> pa.Table:
    """One subscription per account; its MRR is the start MRR plus every movement."""
    p, hist = ctx.profile, ctx.hist
    return table(
        schema,
        {
            "subscription_id": join("sub", ctx.account_number),
            "account_id": ctx.account_id,
            "plan": take(cat.PLANS, hist.plan[:, -1]),
            "status": take(("canceled", "active"), hist.active.astype(np.int64)),
            "started_at": timestamps(p.created_ts),
            "ended_at": timestamps(hist.ended_ts, ~hist.active),
            "mrr": money(hist.mrr[:, -1]),
            "currency": take(cat.CURRENCIES, p.currency),
            "quantity": ints(hist.seats[:, -1]),
            "billing_period": take(("month", "year"), p.annual.astype(np.int64)),
            "is_trial": pa.array(np.zeros(p.n, bool)),
        },
    )


def changes_table(ctx: Context, schema: pa.Schema) -> pa.Table:
    """Every MRR movement; customers from before the window get their 'new' movement at creation."""
    p, hist = ctx.profile, ctx.hist
    old = p.created_m < 0
    start_mrr = mrr_cents(p.seats0, p.plan0, p.currency, p.annual)
    kind = np.column_stack([np.where(old, NEW, NO_CHANGE), hist.change_kind])
    ts = np.column_stack([p.created_ts, hist.change_ts])
    before = np.column_stack([np.zeros(p.n, np.int64), hist.mrr_before])
    after = np.column_stack([start_mrr, hist.mrr_after])
    reason = np.column_stack([np.full(p.n, R_NEW), hist.change_reason])
    account, col = np.nonzero(kind != NO_CHANGE)
    seq = np.arange(len(account)) - np.searchsorted(account, account)
    number = ctx.account_number.take(pa.array(account))
    reasons = tuple(f'{{"reason":"{r}"}}' for r in REASONS)
    return table(
        schema,
        {
            "change_id": join("chg", number, padded(seq + 1, 2)),
            "subscription_id": join("sub", number),
            "account_id": ctx.account_id.take(pa.array(account)),
            "changed_at": timestamps(ts[account, col]),
            "kind": take(SUBSCRIPTION_CHANGE_KINDS, kind[account, col]),
            "mrr_before": money(before[account, col]),
            "mrr_after": money(after[account, col]),
            "currency": take(cat.CURRENCIES, p.currency[account]),
            "attributes": take(reasons, reason[account, col]),
        },
    )


INVOICE_STATUSES = ("paid", "open", "overdue")


def invoice_status(ctx: Context, draws: Draws) -> I64:
    """Recent invoices are open; unhealthy accounts pay late (overdue)."""
    hist, w = ctx.hist, ctx.window
    age = w.end - hist.invoice_ts
    u = draws.m("invoice_status")
    late = (age >= 10 * DAY) & (age < 75 * DAY) & (u < 0.02 + 0.3 * (1 - hist.e) ** 2)
    return np.select([(age < 10 * DAY) & (u < 0.7), late], [1, 2], 0).astype(np.int64)


def orders_table(ctx: Context, draws: Draws, schema: pa.Schema) -> pa.Table:
    """Invoices: monthly, annual at each anniversary, prorations of mid-term expansions."""
    p, hist = ctx.profile, ctx.hist
    account, month = np.nonzero(hist.invoice_kind != INV_NONE)
    seq = np.arange(len(account)) - np.searchsorted(account, account)
    number = ctx.account_number.take(pa.array(account))
    billing = np.where(p.n_contacts >= 4, cat.BILLING, cat.DECISION_MAKER)[account]
    kinds = (
        '{"type":"recurring","billing_period":"month"}',
        '{"type":"recurring","billing_period":"year"}',
        '{"type":"proration","billing_period":"year"}',
    )
    kind_code = np.where(hist.invoice_kind[account, month] == INV_PRORATION, 2, p.annual[account].astype(np.int64))
    return table(
        schema,
        {
            "order_id": join("inv", number, padded(seq + 1, 4)),
            "account_id": ctx.account_id.take(pa.array(account)),
            "contact_id": ctx.contact_ids(account, billing),
            "kind": take(("invoice",), np.zeros(len(account), np.int64)),
            "status": take(INVOICE_STATUSES, invoice_status(ctx, draws)[account, month]),
            "ordered_at": timestamps(hist.invoice_ts[account, month]),
            "amount": money(hist.invoice_amount[account, month]),
            "currency": take(cat.CURRENCIES, p.currency[account]),
            "attributes": take(kinds, kind_code),
        },
    )
