"""Tickets, their status history and the CSAT/CES answers they collect.

Each ticket is one of: a shock ticket (an incident burst: urgent, L2, bad), a cancellation request just
before a churn, an ordinary "bad" ticket (slow, more back-and-forth, reopened) or an ordinary good one; the
monthly counts come from the causal model. The status history is laid out on fixed slots
(new, assignment, first reply, up to two pending rounds, solved, up to three reopen rounds, closed) whose
delays depend on priority, channel and badness; slots past the window end are cut, and every ticket column
(status, first reply, solved, closed, replies, reopens) is read back from the history that remains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sinergia.demo import _catalog as cat
from sinergia.demo import _text as tx
from sinergia.demo._arrow import floats, group_rank, ints, join, padded, table, take, timestamps
from sinergia.demo._context import Context
from sinergia.demo._rand import choice, lognormal, norm_ppf
from sinergia.demo._types import DAY, F64, HOUR, I64, Bool

TICKET_FIELDS = (
    "day", "hour", "sec", "channel", "priority", "type", "topic", "subject", "description", "contact",
    "assignee", "pending1", "pending2", "reopens", "assign", "first_reply", "wait1", "reply1", "wait2",
    "reply2", "solve", "rwait1", "rreply1", "rsolve1", "rwait2", "rreply2", "rsolve2", "rwait3", "rreply3",
    "rsolve3", "csat", "csat_score", "csat_delay", "ces", "ces_score", "ces_delay", "text_a", "text_b",
    "text_c", "text_d", "onboarding",
)  # fmt: skip
TICKET_UNIFORMS = len(TICKET_FIELDS)
_F = {name: i for i, name in enumerate(TICKET_FIELDS)}

SHOCK, CANCEL, BAD, GOOD = 0, 1, 2, 3
CHANNELS = ("email", "chat", "whatsapp", "phone", "web")
PRIORITIES = ("low", "normal", "high", "urgent")
TYPES = ("question", "incident", "problem", "task")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
SOURCE_STATUS = ("Novo", "Aberto", "Pendente", "Em espera", "Resolvido", "Fechado")
NEW_S, OPEN_S, PENDING_S, SOLVED_S, CLOSED_S = 0, 1, 2, 4, 5
KINDS = ("status", "assignment", "public_reply")
K_STATUS, K_ASSIGN, K_REPLY = 0, 1, 2
ACTORS = ("requester", "agent", "system")
A_REQUESTER, A_AGENT, A_SYSTEM = 0, 1, 2
#: First-reply SLA per priority, in hours (tags 'sla_breach').
SLA_HOURS = np.array([24.0, 8.0, 4.0, 1.0])
AUTO_CLOSE = 4 * DAY

_PRIORITY_SHARE = {GOOD: (0.22, 0.58, 0.15, 0.05), BAD: (0.05, 0.40, 0.35, 0.20), SHOCK: (0, 0, 0.4, 0.6)}
_TYPE_SHARE = {GOOD: (0.50, 0.18, 0.10, 0.22), BAD: (0.20, 0.45, 0.25, 0.10)}
_TOPIC_BY_TYPE = (
    {tx.T_HOW_TO: 0.45, tx.T_REPORTS: 0.2, tx.T_USERS: 0.1, tx.T_BILLING: 0.1, tx.T_ACCESS: 0.15},
    {tx.T_ACCESS: 0.2, tx.T_PERFORMANCE: 0.35, tx.T_INTEGRATION: 0.25, tx.T_AUTOMATION: 0.2},
    {tx.T_INTEGRATION: 0.3, tx.T_AUTOMATION: 0.25, tx.T_API: 0.25, tx.T_REPORTS: 0.2},
    {tx.T_BILLING: 0.4, tx.T_USERS: 0.45, tx.T_ONBOARDING: 0.15},
)
_FIRST_REPLY_HOURS = np.array([10.0, 5.0, 1.5, 0.4])
_SOLVE_HOURS = np.array([1.0, 4.0, 24.0, 6.0])
_TEAM_OF_TOPIC = np.array([t.team for t in tx.TOPICS], np.int64)
_N_TOPICS = len(tx.TOPICS)


@dataclass
class Tickets:
    """The tickets of a chunk (one row per ticket, sorted by account then creation)."""

    account: I64
    month: I64
    created: I64
    category: I64
    u: F64
    table: pa.Table
    ids: pa.Array
    solved_at: I64
    solved: Bool
    reopens: I64
    replies: I64
    bad: Bool
    channel: I64
    contact: I64


def ticket_counts(ctx: Context) -> I64:
    """Number of tickets of each account of the chunk."""
    return np.asarray(ctx.hist.n_tickets.sum(axis=1), np.int64)


def build_tickets(ctx: Context, u: F64, schema: pa.Schema, events_schema: pa.Schema) -> tuple[Tickets, pa.Table]:
    """Tickets and ticket events of a chunk from the per-account uniform blocks ``u``."""
    hist, months = ctx.hist, ctx.window.months
    cell = np.repeat(np.arange(ctx.n * months), hist.n_tickets.ravel())
    account, month = cell // months, cell % months
    rank = group_rank(cell)
    n_shock = hist.n_shock_tickets.ravel()[cell]
    n_cancel = hist.n_cancel_tickets.ravel()[cell]
    n_bad = hist.n_bad_tickets.ravel()[cell]
    category = np.select(
        [rank < n_shock, rank < n_shock + n_cancel, rank < n_shock + n_cancel + n_bad], [SHOCK, CANCEL, BAD], GOOD
    ).astype(np.int64)
    created = _created(ctx, cell, account, category, u)
    order = np.lexsort((created, account))
    account, month, created, category, u = account[order], month[order], created[order], category[order], u[order]
    bad = (category == SHOCK) | (category == BAD)
    attrs = _attributes(ctx, account, month, category, u)
    steps = _steps(ctx, created, bad, attrs, u)
    seq = group_rank(account) + 1
    ids = join("tkt", ctx.account_number.take(pa.array(account)), padded(seq, 4))
    h = ctx.hist.h[account, month]
    csat, csat_ok = _csat(ctx, steps, bad, h, u)
    sla_breach = (steps.first_reply - created) > SLA_HOURS[attrs.priority] * HOUR
    tags = pc.binary_join_element_wise(
        take([t.name for t in tx.TOPICS], attrs.topic),
        take(["sla_breach"], np.zeros(len(account), np.int64), sla_breach & steps.has_first_reply),
        take(["vip"], np.zeros(len(account), np.int64), ctx.profile.segment[account] == cat.ENT),
        ",",
        null_handling="skip",
    )
    lang = ctx.lang[account]
    tickets_table = table(
        schema,
        {
            "ticket_id": ids,
            "account_id": ctx.account_id.take(pa.array(account)),
            "contact_id": ctx.contact_ids(account, attrs.contact),
            "subject": tx.ticket_subjects(attrs.topic, lang, u[:, _F["subject"]]),
            "description": tx.ticket_descriptions(attrs.topic, lang, u[:, _F["description"]]),
            "channel": take(CHANNELS, attrs.channel),
            "priority": take(PRIORITIES, attrs.priority),
            "status": take(STATUSES, steps.status),
            "type": take(TYPES, attrs.type),
            "team": take(cat.SUPPORT_TEAMS, attrs.team),
            "assignee": take(_AGENT_EMAILS, attrs.assignee),
            "created_at": timestamps(created),
            "first_reply_at": timestamps(steps.first_reply, steps.has_first_reply),
            "solved_at": timestamps(steps.solved_at, steps.solved),
            "closed_at": timestamps(steps.closed_at, steps.closed),
            "updated_at": timestamps(steps.updated_at),
            "reopens": ints(steps.reopens),
            "replies": ints(steps.replies),
            "csat_score": floats(csat, csat_ok),
            "csat_scale": ints(np.full(len(account), 5)),
            "tags": tags,
        },
    )
    tickets = Tickets(
        account=account, month=month, created=created, category=category, u=u, table=tickets_table, ids=ids,
        solved_at=steps.solved_at, solved=steps.solved, reopens=steps.reopens, replies=steps.replies, bad=bad,
        channel=attrs.channel, contact=attrs.contact,
    )  # fmt: skip
    return tickets, _events_table(ctx, ids, account, steps, attrs, events_schema)


_AGENT_EMAILS = tuple(a for team in cat.AGENTS for a in team)
_AGENT_OFFSET = np.concatenate([[0], np.cumsum([len(t) for t in cat.AGENTS])[:-1]]).astype(np.int64)
_AGENT_COUNT = np.array([len(t) for t in cat.AGENTS], np.int64)


def _created(ctx: Context, cell: I64, account: I64, category: I64, u: F64) -> I64:
    """Creation time: business hours, or right after the shock, or a few days before the churn."""
    hist = ctx.hist
    lo, hi = hist.lo.ravel()[cell], hist.hi.ravel()[cell]
    regular = ctx.window.place(
        lo, hi, u[:, _F["day"]], u[:, _F["hour"]], u[:, _F["sec"]], ctx.profile.utc_offset[account], tickets=True
    )
    after_shock = hist.shock_ts.ravel()[cell] + (u[:, _F["day"]] * 2 * DAY).astype(np.int64)
    before_churn = hi - (DAY + u[:, _F["day"]] * 9 * DAY).astype(np.int64)
    created = np.select([category == SHOCK, category == CANCEL], [after_shock, before_churn], regular)
    return np.asarray(np.clip(created, lo, np.maximum(hi - 1, lo)), np.int64)


@dataclass
class _Attributes:
    channel: I64
    priority: I64
    type: I64
    topic: I64
    team: I64
    assignee: I64
    contact: I64


def _attributes(ctx: Context, account: I64, month: I64, category: I64, u: F64) -> _Attributes:
    channel = choice(u[:, _F["channel"]], (0.33, 0.25, 0.20, 0.12, 0.10))
    channel = np.where((channel == 2) & ctx.profile.english[account], 0, channel)
    priority = np.zeros(len(account), np.int64)
    type_ = np.zeros(len(account), np.int64)
    for cat_id in (GOOD, BAD):
        mask = category == cat_id
        priority[mask] = choice(u[mask, _F["priority"]], _PRIORITY_SHARE[cat_id])
        type_[mask] = choice(u[mask, _F["type"]], _TYPE_SHARE[cat_id])
    shock = category == SHOCK
    priority[shock] = choice(u[shock, _F["priority"]], _PRIORITY_SHARE[SHOCK])
    type_[shock] = 1
    priority[category == CANCEL], type_[category == CANCEL] = 1, 3
    topic = np.zeros(len(account), np.int64)
    for t, shares in enumerate(_TOPIC_BY_TYPE):
        mask = type_ == t
        keys = np.array(list(shares), np.int64)
        topic[mask] = keys[choice(u[mask, _F["topic"]], tuple(shares.values()))]
    onboarding = (month - ctx.profile.created_m[account]) < 2
    topic = np.where(onboarding & (type_ == 0) & (u[:, _F["onboarding"]] < 0.5), tx.T_ONBOARDING, topic)
    topic = np.where(shock, np.where(u[:, _F["topic"]] < 0.6, tx.T_OUTAGE, tx.T_PERFORMANCE), topic)
    topic = np.where(category == CANCEL, tx.T_CANCELLATION, topic)
    team = np.where((type_ == 1) | (type_ == 2), 1, _TEAM_OF_TOPIC[topic])
    assignee = _AGENT_OFFSET[team] + np.minimum(
        (u[:, _F["assignee"]] * _AGENT_COUNT[team]).astype(np.int64), _AGENT_COUNT[team] - 1
    )
    contact = ctx.pick_contact(account, u[:, _F["contact"]])
    return _Attributes(channel, priority, type_, topic, team, assignee, contact)


@dataclass
class _Steps:
    """The status history laid out on fixed slots: (tickets, slots) arrays."""

    ts: I64
    valid: Bool
    kind: I64
    status_code: I64
    actor: I64
    status: I64  # per ticket, after the last remaining slot
    first_reply: I64
    has_first_reply: Bool
    solved_at: I64
    solved: Bool
    closed_at: I64
    closed: Bool
    updated_at: I64
    reopens: I64
    replies: I64


# Slot layout: (kind, status after, actor).
_SLOTS = (
    (K_STATUS, NEW_S, A_REQUESTER),  # 0 created
    (K_ASSIGN, NEW_S, A_SYSTEM),  # 1 routed to a team and agent
    (K_STATUS, OPEN_S, A_AGENT),  # 2 agent opens it ...
    (K_REPLY, OPEN_S, A_AGENT),  # 3 ... and replies (first reply)
    (K_STATUS, PENDING_S, A_AGENT),  # 4 waiting on the customer
    (K_STATUS, OPEN_S, A_REQUESTER),  # 5 customer answers
    (K_REPLY, OPEN_S, A_AGENT),  # 6 agent replies
    (K_STATUS, PENDING_S, A_AGENT),  # 7 second pending round
    (K_STATUS, OPEN_S, A_REQUESTER),  # 8
    (K_REPLY, OPEN_S, A_AGENT),  # 9
    (K_STATUS, SOLVED_S, A_AGENT),  # 10 solved
    (K_STATUS, OPEN_S, A_REQUESTER),  # 11 reopened (1)
    (K_REPLY, OPEN_S, A_AGENT),  # 12
    (K_STATUS, SOLVED_S, A_AGENT),  # 13
    (K_STATUS, OPEN_S, A_REQUESTER),  # 14 reopened (2)
    (K_REPLY, OPEN_S, A_AGENT),  # 15
    (K_STATUS, SOLVED_S, A_AGENT),  # 16
    (K_STATUS, OPEN_S, A_REQUESTER),  # 17 reopened (3)
    (K_REPLY, OPEN_S, A_AGENT),  # 18
    (K_STATUS, SOLVED_S, A_AGENT),  # 19
    (K_STATUS, CLOSED_S, A_SYSTEM),  # 20 closed automatically
)
_SLOT_KIND = np.array([s[0] for s in _SLOTS], np.int64)
_SLOT_STATUS = np.array([s[1] for s in _SLOTS], np.int64)
_SLOT_ACTOR = np.array([s[2] for s in _SLOTS], np.int64)
_REOPEN_SLOTS = (11, 14, 17)
_SOLVED_SLOTS = np.array([10, 13, 16, 19])


def _steps(ctx: Context, created: I64, bad: Bool, a: _Attributes, u: F64) -> _Steps:
    n = len(created)
    slow = np.where(bad, 1.0, 0.0)
    live = a.channel >= 1  # chat, whatsapp, phone are answered quicker than email and web forms
    live = live & (a.channel <= 3)

    def delay(field: str, median: F64 | float, sigma: float = 0.8) -> F64:
        return np.maximum(lognormal(median, sigma, u[:, _F[field]]), 60.0)

    pend1 = u[:, _F["pending1"]] < 0.30 + 0.25 * slow
    pend2 = pend1 & (u[:, _F["pending2"]] < 0.25 + 0.30 * slow)
    reopen_u = u[:, _F["reopens"]]
    r1 = np.where(bad, 0.45, 0.04)
    reopens = (
        (reopen_u < r1).astype(np.int64)
        + (reopen_u < r1 * np.where(bad, 0.35, 0.1))
        + (reopen_u < r1 * np.where(bad, 0.35 * 0.3, 0.1 * 0.05))
    )
    first_reply = _FIRST_REPLY_HOURS[a.priority] * HOUR * np.where(live, 0.12, 1.0) * (1 + 2 * slow)
    d = np.zeros((n, len(_SLOTS)))
    on = np.zeros((n, len(_SLOTS)), bool)
    on[:, [0, 1, 2, 3, 10, 20]] = True
    d[:, 1] = 30 + u[:, _F["assign"]] * 600
    d[:, 2] = delay("first_reply", first_reply)
    d[:, 3] = 1
    for first, flag, wait, reply in ((4, pend1, "wait1", "reply1"), (7, pend2, "wait2", "reply2")):
        on[:, first : first + 3] = flag[:, None]
        d[:, first] = 1
        d[:, first + 1] = delay(wait, 14 * HOUR, 1.0)
        d[:, first + 2] = delay(reply, 3 * HOUR * (1 + 1.5 * slow))
    d[:, 10] = delay("solve", _SOLVE_HOURS[a.type] * HOUR * (1 + 3 * slow), 0.9)
    for r, first in enumerate(_REOPEN_SLOTS):
        on[:, first : first + 3] = (reopens > r)[:, None]
        d[:, first] = np.minimum(delay(f"rwait{r + 1}", 20 * HOUR), 90 * HOUR)
        d[:, first + 1] = delay(f"rreply{r + 1}", 4 * HOUR * (1 + slow))
        d[:, first + 2] = delay(f"rsolve{r + 1}", 6 * HOUR * (1 + 2 * slow))
    d[:, 20] = AUTO_CLOSE
    ts = created[:, None] + np.cumsum(np.where(on, np.rint(d), 0), axis=1).astype(np.int64)
    valid = on & (ts < ctx.window.end)
    return _read_back(ts, valid)


def _read_back(ts: I64, valid: Bool) -> _Steps:
    """Ticket columns from the slots that remain inside the window."""
    n, n_slots = valid.shape
    last = n_slots - 1 - np.argmax(valid[:, ::-1], axis=1)
    rows = np.arange(n)
    status = _SLOT_STATUS[last]
    solved_valid = valid[:, _SOLVED_SLOTS]
    last_solved = _SOLVED_SLOTS[len(_SOLVED_SLOTS) - 1 - np.argmax(solved_valid[:, ::-1], axis=1)]
    solved = ((status == SOLVED_S) | (status == CLOSED_S)) & solved_valid.any(axis=1)
    kind = np.broadcast_to(_SLOT_KIND, valid.shape)
    return _Steps(
        ts=ts,
        valid=valid,
        kind=kind,
        status_code=np.broadcast_to(_SLOT_STATUS, valid.shape),
        actor=np.broadcast_to(_SLOT_ACTOR, valid.shape),
        status=status.astype(np.int64),
        first_reply=ts[:, 3],
        has_first_reply=valid[:, 3],
        solved_at=ts[rows, last_solved],
        solved=solved,
        closed_at=ts[:, 20],
        closed=valid[:, 20],
        updated_at=ts[rows, last],
        reopens=valid[:, list(_REOPEN_SLOTS)].sum(axis=1).astype(np.int64),
        replies=(valid & (kind == K_REPLY)).sum(axis=1).astype(np.int64),
    )


def _csat(ctx: Context, steps: _Steps, bad: Bool, h: F64, u: F64) -> tuple[F64, Bool]:
    """CSAT 1-5 on solved tickets: worse when bad, reopened or the account is unhealthy; many unrated."""
    score = np.clip(
        np.rint(4.6 - 1.7 * bad - 0.5 * steps.reopens + 0.4 * (h - 0.6) + 0.9 * norm_ppf(u[:, _F["csat_score"]])),
        1,
        5,
    )
    answered = steps.solved_at + _csat_delay(u)
    rated = steps.solved & (u[:, _F["csat"]] < 0.4) & (answered < ctx.window.end)
    return score, rated


def _csat_delay(u: F64) -> I64:
    """Seconds from the solve to the CSAT answer (the survey goes out a minute after the solve)."""
    return np.maximum(np.rint(lognormal(2 * HOUR, 1.0, u[:, _F["csat_delay"]])), 120).astype(np.int64)


def _events_table(
    ctx: Context, ids: pa.Array, account: I64, steps: _Steps, a: _Attributes, schema: pa.Schema
) -> pa.Table:
    ticket, slot = np.nonzero(steps.valid)
    seq = group_rank(ticket) + 1
    routed = slot >= 1
    return table(
        schema,
        {
            "event_id": join("tev", pc.utf8_slice_codeunits(ids.take(pa.array(ticket)), 4), padded(seq, 2)),
            "ticket_id": ids.take(pa.array(ticket)),
            "occurred_at": timestamps(steps.ts[ticket, slot]),
            "sequence": ints(seq),
            "kind": take(KINDS, steps.kind[ticket, slot]),
            "status": take(STATUSES, steps.status_code[ticket, slot]),
            "source_status": take(SOURCE_STATUS, steps.status_code[ticket, slot]),
            "actor": take(ACTORS, steps.actor[ticket, slot]),
            "team": take(cat.SUPPORT_TEAMS, a.team[ticket], routed),
            "assignee": take(_AGENT_EMAILS, a.assignee[ticket], routed),
        },
    )


# --- Survey answers that tickets collect -------------------------------------------------------------


def ticket_survey_columns(ctx: Context, t: Tickets) -> tuple[dict[str, pa.Array], I64, I64]:
    """CSAT (every rated ticket) and CES (a sample of solved tickets) rows for survey_responses.

    Returns the columns, and the account row and answer time of each row (for ordering).
    """
    table_ = t.table
    rated = np.asarray(table_.column("csat_score").is_valid().to_numpy(zero_copy_only=False))
    csat_idx = np.flatnonzero(rated)
    u = t.u
    answered_ces = t.solved_at + np.maximum(np.rint(lognormal(6 * HOUR, 1.0, u[:, _F["ces_delay"]])), 120).astype(
        np.int64
    )
    ces_ok = t.solved & (u[:, _F["ces"]] < 0.08) & (answered_ces < ctx.window.end)
    ces_idx = np.flatnonzero(ces_ok)
    h = ctx.hist.h[t.account, t.month]
    ces_score = np.clip(
        np.rint(5.6 - 1.6 * t.bad - 0.3 * np.maximum(t.replies - 2, 0) - 0.4 * t.reopens + 0.4 * (h - 0.6)
                + 1.0 * norm_ppf(u[:, _F["ces_score"]])),
        1,
        7,
    )  # fmt: skip
    csat_score = np.asarray(table_.column("csat_score").to_numpy(zero_copy_only=False), np.float64)
    idx = np.concatenate([csat_idx, ces_idx])
    is_csat = np.arange(len(idx)) < len(csat_idx)
    score = np.where(is_csat, csat_score[idx], ces_score[idx])
    polarity = np.where(
        is_csat,
        np.select([score <= 2, score == 3], [tx.NEG, tx.NEU], tx.POS),
        np.select([score <= 3, score <= 5], [tx.NEG, tx.NEU], tx.POS),
    ).astype(np.int64)
    sent = t.solved_at[idx] + 60
    responded = np.where(is_csat, (t.solved_at + _csat_delay(u))[idx], answered_ces[idx])
    account = t.account[idx]
    lang = ctx.lang[account]
    texts = u[idx][:, [_F["text_a"], _F["text_b"], _F["text_c"], _F["text_d"]]]
    comment = tx.compose(lang, polarity, np.full(len(idx), tx.G_SUPPORT, np.int64), texts)
    has_comment = texts[:, 3] > np.where(polarity == tx.NEU, 0.75, 0.55)
    channel = np.where(np.isin(t.channel[idx], (1, 2)), t.channel[idx], 0)
    seq = pc.utf8_slice_codeunits(t.ids.take(pa.array(idx)), 11)
    columns = {
        "response_id": join("rsp", ctx.account_number.take(pa.array(account)), pc.binary_join_element_wise(
            take(("t", "e"), np.where(is_csat, 0, 1)), seq, "")),
        "account_id": ctx.account_id.take(pa.array(account)),
        "contact_id": ctx.contact_ids(account, t.contact[idx]),
        "ticket_id": t.ids.take(pa.array(idx)),
        "survey": take(("csat", "ces"), np.where(is_csat, 0, 1)),
        "score": floats(score),
        "scale_min": ints(np.ones(len(idx))),
        "scale_max": ints(np.where(is_csat, 5, 7)),
        "comment": pc.if_else(pa.array(has_comment), comment, pa.nulls(len(idx), pa.string())),
        "touchpoint": take(("support",), np.zeros(len(idx), np.int64)),
        "journey_stage": take(("after",), np.zeros(len(idx), np.int64)),
        "channel": take(CHANNELS, channel),
        "language": take(tx.LANGUAGES, lang),
        "sent_at": timestamps(sent),
        "responded_at": timestamps(responded),
    }  # fmt: skip
    return columns, account, responded
