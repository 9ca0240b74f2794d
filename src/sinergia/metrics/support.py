"""Support: volume, backlog, reply/resolution/wait times, reopens, one-touch, FCR, CSAT and SLA achievement.

Everything stands on one per-ticket construction, **the ticket's facts as of the cut-off**:

- the *status history* — ``ticket_events`` rows carrying a (canonical) ``status``, stamped before the
  cut-off, ordered by time, then ``sequence``, then ``event_id``. Each row is the status the ticket
  entered; it holds until the next row (the last one until the cut-off). When the history starts after
  the ticket's ``created_at`` the gap counts as ``new``. From it: **reopens** (a transition from
  solved/closed to new/open/pending/hold — ServiceNow also reopens *closed* incidents, Zendesk cannot),
  **first resolution** (first row in solved or closed), **full resolution** (when the ticket is solved
  or closed at the cut-off: the last row in ``solved`` since it was last unresolved — a help desk that
  re-stamps a resolved ticket moves its resolution time, as ServiceNow's ``resolved_at`` does — or the
  first ``closed`` row when it was closed without being solved) and **time in each status**;
- the *replies* — ``ticket_events`` of kind ``public_reply`` whose actor is not ``requester`` or
  ``system`` (an unknown actor is an agent): first reply and agent reply count;
- the *tickets table* as the fallback for a ticket with no such history: ``first_reply_at``,
  ``solved_at`` (else ``closed_at``, else ``updated_at`` of a solved/closed ticket), ``reopens``,
  ``replies``. Timestamps at or after the cut-off are ignored; counts (``reopens``, ``replies``) are the
  help desk's current values and cannot be taken back to the as-of date.

Durations are observed in the period of their *ending* event (first reply time in the period of the
first reply, resolution times and times in status in the period of the resolution), counts in the
period of the event they count (volume: creation). Business-hours variants measure the same intervals
on the business clock of the ticket's team calendar (``metrics.team_calendars``, else ``default``) —
see :mod:`sinergia.metrics.calendar`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ibis
import pandas as pd

from sinergia.errors import UsageError
from sinergia.metrics.calendar import BusinessClock, business_clock, epoch, epoch_seconds
from sinergia.metrics.context import MetricContext
from sinergia.metrics.registry import Metric, register
from sinergia.schema import ENTITIES

DONE = ("solved", "closed")
UNRESOLVED = ("new", "open", "pending", "hold")
#: Actors whose public replies are not agent replies.
NOT_AGENTS = ("requester", "system")
DIMENSIONS = ("channel", "priority", "team")
#: Statuses counted by each time-in-status quantity (Zendesk definitions).
IN_STATUS: dict[str, tuple[str, ...]] = {
    "requester_wait": ("new", "open", "hold"),
    "agent_wait": ("pending",),
    "on_hold": ("hold",),
    "agent_work": ("new", "open"),
}
HOUR = 3600.0


# -- basics --------------------------------------------------------------------------------------------


def _cut(ctx: MetricContext) -> Any:
    return ibis.literal(ctx.cutoff, type="timestamp")


def _null_ts() -> Any:
    return ibis.null("timestamp")


def team_calendar(ctx: MetricContext, team: Any) -> Any:
    """The calendar name a ticket's team works by (``metrics.team_calendars``), else ``default``."""
    mapping = ctx.settings.team_calendars
    if not mapping:
        return ibis.literal("default")
    return ibis.cases(*((team == name, ibis.literal(cal)) for name, cal in mapping.items()), else_="default")


#: The tickets columns the support metrics read (fewer columns keep the engine plans small).
TICKET_COLUMNS = (
    "ticket_id", "account_id", "channel", "priority", "team", "status", "created_at", "first_reply_at", "solved_at",
    "closed_at", "updated_at", "reopens", "replies", "csat_score", "csat_scale",
)


def tickets(ctx: MetricContext, extra: tuple[str, ...] = ()) -> Any:
    """Tickets created before the cut-off (the columns support metrics read, plus ``extra``)."""
    t = ctx.table("tickets")
    t = t.filter(t.created_at < _cut(ctx))
    return t.select(*TICKET_COLUMNS, *(c for c in extra if c not in TICKET_COLUMNS))


def clock_for(ctx: MetricContext) -> BusinessClock:
    """The workspace calendars' business clocks over the dates the data needs (one small query per context)."""
    # Cached on the context instance: one context is one compute() call, so the range is never stale.
    cache: dict[str, Any] = vars(ctx).setdefault("_support_cache", {})
    if "clock" not in cache:
        cut = _cut(ctx)
        t, e = ctx.table("tickets"), ctx.table("ticket_events")
        lows = t.filter(t.created_at < cut).aggregate(lo=t.created_at.min()).union(
            e.filter(e.occurred_at < cut).aggregate(lo=e.occurred_at.min())
        )
        found = [pd.Timestamp(v).to_pydatetime() for v in ctx.source.execute(lows)["lo"] if not pd.isna(v)]
        first = min([ctx.periods[0].start, *found]).date()
        cache["clock"] = business_clock(ctx.settings.calendars, first, ctx.cutoff.date())
    clock: BusinessClock = cache["clock"]
    return clock


# -- status history and replies ------------------------------------------------------------------------


def _history(ctx: MetricContext) -> Any:
    """Every ticket's status-history points in order: ticket_id, ts, status, _rn, _next, _prev.

    Computed once per context (the ordering is the expensive part) and shared by every :func:`status_points`.
    """

    def build() -> Any:
        cut = _cut(ctx)
        ev = ctx.table("ticket_events")
        ev = ev.filter((ev.occurred_at < cut) & ev.status.notnull()).select(
            "ticket_id", "occurred_at", "status", "sequence", "event_id"
        )
        t = tickets(ctx)
        keyed = t.select(_tid=t.ticket_id, _created=t.created_at)
        ev = ev.join(keyed, ev.ticket_id == keyed._tid)
        real = ev.select(
            ticket_id=ev.ticket_id,
            ts=ev.occurred_at,
            status=ev.status,
            _o=ibis.literal(1),
            _seq=ibis.coalesce(ev.sequence.cast("int64"), 0),
            _eid=ibis.coalesce(ev.event_id, ""),
        )
        starts = real.group_by("ticket_id").aggregate(_first=real.ts.min())
        born = keyed.join(starts, keyed._tid == starts.ticket_id)
        born = born.filter(born._first > born._created).select(
            ticket_id=born._tid,
            ts=born._created,
            status=ibis.literal("new"),
            _o=ibis.literal(0),
            _seq=ibis.literal(0, type="int64"),
            _eid=ibis.literal(""),
        )
        pts = real.union(born, distinct=False)
        w = ibis.window(group_by=pts.ticket_id, order_by=[pts.ts, pts._o, pts._seq, pts._eid])
        return pts.select(
            "ticket_id", "ts", "status", _rn=ibis.row_number().over(w), _next=pts.ts.lead().over(w),
            _prev=pts.status.lag().over(w),
        )

    return ctx.shared("support.history", build)


def status_points(ctx: MetricContext, base: Any | None, clock: BusinessClock | None) -> Any:
    """One row per status-history point of the tickets in ``base`` (tickets of :func:`tickets`, with ``_cal``).

    ``base`` None: every ticket of :func:`tickets` with a null calendar (no join with the tickets).

    Columns: ticket_id, ts, status, _rn (order), _next (next point's time, null for the last), _prev
    (previous status), _cal, _ep, _c (clock at ts), _c_next (clock at _next), _c_cut, _dur (clock time until
    the next point, or until the cut-off). The clock is calendar seconds, or business seconds of ``_cal``
    when ``clock`` is given.
    """
    if clock is not None:
        hist = _clocked_history(ctx, clock)
    else:
        hist = _history(ctx)
        hist = hist.mutate(_ep=epoch_seconds(hist.ts), _ep_next=epoch_seconds(hist._next))
    if base is None:  # every ticket of tickets(ctx) — the history holds exactly those — with no calendar
        pts = hist.mutate(_cal=ibis.null("string"))
    else:
        keyed = base.select(_tid=base.ticket_id, _cal=base._cal)
        pts = hist.join(keyed, hist.ticket_id == keyed._tid).drop("_tid")
    ordered = ["ticket_id", "ts", "status", "_rn", "_next", "_prev", "_cal", "_ep"]
    if clock is None:
        pts = pts.select(*ordered, _c=pts._ep.cast("float64"), _c_next=pts._ep_next.cast("float64"))
        c_cut: Any = ibis.literal(float(epoch(ctx.cutoff)))
    else:
        # The clock of the point's calendar, read from the per-calendar columns (a null calendar is
        # calendar time; a calendar the clock does not know has no clock, as in BusinessClock.clock).
        def pick(prefix: str, epoch_column: str) -> Any:
            return ibis.cases(
                (pts._cal.isnull(), pts[epoch_column].cast("float64")),
                *((pts._cal == name, pts[f"{prefix}{i}"]) for i, name in enumerate(clock.calendars)),
                else_=ibis.null("float64"),
            )

        pts = pts.select(*ordered, _c=pick("_bc", "_ep"), _c_next=pick("_bn", "_ep_next"))
        c_cut = clock.cases_at(pts._cal, ctx.cutoff)
    pts = pts.mutate(_c_cut=c_cut)
    return pts.mutate(_dur=ibis.greatest(ibis.coalesce(pts._c_next, pts._c_cut) - pts._c, 0.0))


def _clocked_history(ctx: MetricContext, clock: BusinessClock) -> Any:
    """:func:`_history` with ``_ep``/``_ep_next`` (epoch seconds of ts/_next) and, for the i-th calendar of
    ``clock``, ``_bc<i>``/``_bn<i>`` = its business clock at ts/_next.

    Computed once per context and clock: every business-time reading of the points (the team-calendar
    facts, the SLA policies' calendars) picks its calendar's columns instead of joining the clock again.
    """

    def build() -> Any:
        hist = _history(ctx)
        h = hist.mutate(_ep=epoch_seconds(hist.ts), _ep_next=epoch_seconds(hist._next))
        for i, name in enumerate(clock.calendars):
            h = h.mutate(_k=ibis.literal(name))
            h = clock.clock(h, "_ep", "_k", f"_bc{i}")
            h = clock.clock(h, "_ep_next", "_k", f"_bn{i}")
            h = h.drop("_k")
        return h

    return ctx.shared(f"support.history.clock.{id(clock)}", build)


def status_summary(points: Any) -> Any:
    """Per ticket: reopens, first/full resolution, resolved at the cut-off, time in each status group.

    Full resolution looks at the final run of solved/closed points (after the last unresolved one): its
    last ``solved`` point, else its first point (then ``closed``). The run starts at the last *entry* (a
    solved/closed point whose previous point is neither), and ``ts`` never decreases along ``_rn``, so
    plain per-ticket aggregates find both (no window over each ticket's points).
    """
    done = points.status.isin(DONE)
    entry = done & ~ibis.coalesce(points._prev.isin(DONE), False)
    solved = points.status == "solved"
    reopen = ibis.ifelse(points._prev.isin(DONE) & points.status.isin(UNRESOLVED), 1, 0)
    summary = points.group_by("ticket_id").aggregate(
        h_reopens=reopen.sum(),
        h_first_done=points.ts.min(where=done),
        h_solved_rn=points._rn.max(where=solved),
        h_solved_ts=points.ts.max(where=solved),
        h_entry_rn=points._rn.max(where=entry),
        h_entry_ts=points.ts.max(where=entry),
        h_done_now=ibis.ifelse(points._next.isnull() & done, 1, 0).max(),
        **{
            f"h_{name}": ibis.coalesce(points._dur.sum(where=points.status.isin(statuses)), 0.0)
            for name, statuses in IN_STATUS.items()
        },
    )
    last_solved = ibis.ifelse(summary.h_solved_rn >= summary.h_entry_rn, summary.h_solved_ts, _null_ts())
    full = ibis.ifelse(summary.h_done_now == 1, ibis.coalesce(last_solved, summary.h_entry_ts), _null_ts())
    return summary.mutate(h_resolved=full).drop(
        "h_solved_rn", "h_solved_ts", "h_entry_rn", "h_entry_ts", "h_done_now"
    )


def reply_summary(ctx: MetricContext) -> Any:
    """Per ticket with agent public replies before the cut-off: first reply and reply count."""
    ev = ctx.table("ticket_events")
    actor = ibis.coalesce(ev.actor.lower(), "")
    ev = ev.filter((ev.occurred_at < _cut(ctx)) & (ev.kind == "public_reply") & ~actor.isin(NOT_AGENTS))
    ev = ev.select("ticket_id", "occurred_at")
    return ctx.shared(
        "support.replies", lambda: ev.group_by("ticket_id").aggregate(r_first_reply=ev.occurred_at.min(),
                                                                      r_replies=ev.count())
    )


def facts(ctx: MetricContext, base: Any | None = None, clock: BusinessClock | None = None) -> Any:
    """One row per ticket created before the cut-off: what is known about it at the cut-off.

    ``base`` is the tickets (with a ``_cal`` calendar column; default: the team calendar); ``clock``
    (optional) makes the time-in-status columns business seconds of ``_cal``, else calendar seconds.
    Columns: ticket_id, account_id, channel, priority, team, created_at, _cal, has_history,
    first_reply_at, replies, first_resolved_at, resolved_at (full resolution, when resolved at the
    cut-off), reopens, requester_wait_s, agent_wait_s, on_hold_s, agent_work_s (null without history),
    csat_score, csat_scale.

    Only the time-in-status columns depend on the clock and calendar: the calendar-time facts of every
    ticket are computed once per context (:meth:`MetricContext.shared`), and so are the time-in-status
    sums on each of the clock's calendars (:func:`_calendar_sums`); other bases pick their calendar's.
    """
    if base is None:
        base = tickets(ctx)
        base = base.mutate(_cal=team_calendar(ctx, base.team))
        # every support metric's population: computed once per context
        if clock is None:
            return ctx.shared("support.facts", lambda: _facts(ctx, base))
        return ctx.shared(f"support.facts.{id(clock)}", lambda: facts(ctx, base, clock))
    common = facts(ctx)
    keyed = base.select(_k_tid=base.ticket_id, _k_cal=base._cal)
    f = common.join(keyed, common.ticket_id == keyed._k_tid)
    columns = {c: f[c] for c in common.columns}
    columns["_cal"] = f._k_cal
    if clock is None:  # calendar time whatever the calendar: the common facts' own columns
        return f.select(**columns)
    sums = _calendar_sums(ctx, clock)
    f = f.left_join(sums, f.ticket_id == sums._s_tid)
    columns = {c: f[c] for c in common.columns}
    columns["_cal"] = f._k_cal
    missing = ibis.null("float64")
    for name in IN_STATUS:
        columns[f"{name}_s"] = ibis.cases(
            (f._k_cal.isnull(), f[f"{name}_s"]),  # no calendar: calendar time
            *(
                (f._k_cal == cal, ibis.ifelse(f.has_history, f[f"_t_{name}_{i}"], missing))
                for i, cal in enumerate(clock.calendars)
            ),
            # A calendar the clock does not know has no clock: every point lasts 0 (greatest() skips nulls).
            else_=ibis.ifelse(f.has_history, 0.0, missing),
        )
    return f.select(**columns)


def _calendar_sums(ctx: MetricContext, clock: BusinessClock) -> Any:
    """Per ticket with a status history: ``_t_<quantity>_<i>`` = its time in status on the i-th calendar of
    ``clock`` (business seconds, as :func:`status_points` measures them). Computed once per context and clock.
    """

    def build() -> Any:
        h = _clocked_history(ctx, clock)
        sums = {}
        for i, cal in enumerate(clock.calendars):
            cut = ibis.literal(clock.clock_at(cal, ctx.cutoff))
            dur = ibis.greatest(ibis.coalesce(h[f"_bn{i}"], cut) - h[f"_bc{i}"], 0.0)
            for name, statuses in IN_STATUS.items():
                sums[f"_t_{name}_{i}"] = ibis.coalesce(dur.sum(where=h.status.isin(statuses)), 0.0)
        return h.group_by(_s_tid=h.ticket_id).aggregate(**sums)

    return ctx.shared(f"support.sums.{id(clock)}", build)


def _facts(ctx: MetricContext, base: Any) -> Any:
    """:func:`facts` of ``base`` in calendar time, from scratch."""
    cut = _cut(ctx)
    summary = status_summary(status_points(ctx, None, None))  # base's calendar plays no part in calendar time
    replies = reply_summary(ctx)
    f = base.left_join(summary, base.ticket_id == summary.ticket_id)
    f = f.select(*[f[c] for c in base.columns], *[f[c] for c in summary.columns if c != "ticket_id"])
    columns = f.columns
    f = f.left_join(replies, f.ticket_id == replies.ticket_id)
    f = f.select(*[f[c] for c in columns], "r_first_reply", "r_replies")
    has_history = f.h_reopens.notnull()
    has_replies = f.r_replies.notnull()
    resolved_f = ibis.coalesce(
        f.solved_at, f.closed_at, ibis.ifelse(f.status.isin(DONE), f.updated_at, _null_ts())
    )
    resolved_f = ibis.ifelse(resolved_f < cut, resolved_f, _null_ts())
    reply_f = ibis.ifelse(f.first_reply_at < cut, f.first_reply_at, _null_ts())
    return f.select(
        "ticket_id", "account_id", "channel", "priority", "team", "created_at", "_cal",
        has_history=has_history,
        first_reply_at=ibis.ifelse(has_replies, f.r_first_reply, reply_f),
        replies=ibis.ifelse(has_replies, f.r_replies.cast("int64"), f.replies.cast("int64")),
        first_resolved_at=ibis.ifelse(
            has_history,
            f.h_first_done,
            ibis.ifelse(ibis.coalesce(f.reopens, 0) == 0, resolved_f, _null_ts()),
        ),
        resolved_at=ibis.ifelse(has_history, f.h_resolved, resolved_f),
        reopens=ibis.ifelse(has_history, f.h_reopens.cast("int64"), f.reopens.cast("int64")),
        **{f"{name}_s": ibis.ifelse(has_history, f[f"h_{name}"], ibis.null("float64")) for name in IN_STATUS},
        csat_score=f.csat_score,
        csat_scale=f.csat_scale,
    )


def _with_clocks(f: Any, columns: dict[str, str], clock: BusinessClock | None) -> Any:
    """``f`` with ``<out>`` = clock at timestamp column ``<column>`` for each out → column."""
    if clock is None:
        return f.mutate(**{out: epoch_seconds(f[column]).cast("float64") for out, column in columns.items()})
    for out, column in columns.items():
        f = clock.clock_ts(f, column, "_cal", out)
    return f


# -- observation builders ------------------------------------------------------------------------------


def _keep() -> list[str]:
    return ["period_start", "account_id", "ticket_id", *DIMENSIONS]


def _volume(ctx: MetricContext) -> Any:
    t = ctx.in_periods(tickets(ctx), "created_at")
    return t.select(*_keep(), "created_at", "status")


def _backlog(ctx: MetricContext) -> Any:
    base = tickets(ctx)
    pts = _history(ctx)  # ts, status, _next of every ticket's points: all the backlog reads
    periods = ctx.periods_table()
    # History: the point in force just before the period end is an unresolved status.
    open_pts = pts.filter(pts.status.isin(UNRESOLVED) & ctx.may_contain_period_end(pts.ts, pts._next))
    hist = open_pts.join(
        periods,
        (open_pts.ts < periods.period_end) & (open_pts._next.isnull() | (open_pts._next >= periods.period_end)),
    ).select("ticket_id", "period_start", "period_end")
    dims = base.select("ticket_id", "account_id", "created_at", *DIMENSIONS)
    hist = hist.join(dims, hist.ticket_id == dims.ticket_id).select(
        "period_start", "account_id", hist.ticket_id, *DIMENSIONS, "created_at", _source=ibis.literal("history")
    )
    # No history: created before the period end and not resolved (solved_at/closed_at) before it.
    with_history = pts.select("ticket_id").distinct()
    plain = base.anti_join(with_history, base.ticket_id == with_history.ticket_id)
    resolved = ibis.coalesce(
        plain.solved_at, plain.closed_at, ibis.ifelse(plain.status.isin(DONE), plain.updated_at, _null_ts())
    )
    plain = plain.mutate(_resolved=resolved)
    plain = plain.filter(ctx.may_contain_period_end(plain.created_at, plain._resolved))
    joined = plain.join(
        periods,
        (plain.created_at < periods.period_end)
        & (plain._resolved.isnull() | (plain._resolved >= periods.period_end)),
    )
    flat = joined.select(
        "period_start", "account_id", "ticket_id", *DIMENSIONS, "created_at", _source=ibis.literal("tickets")
    )
    out = hist.union(flat, distinct=False)
    return out.rename(source="_source")


#: Duration → (start column, end column) of the facts.
_DURATIONS: dict[str, tuple[str, str]] = {
    "first_reply_time": ("created_at", "first_reply_at"),
    "first_resolution_time": ("created_at", "first_resolved_at"),
    "full_resolution_time": ("created_at", "resolved_at"),
}


def _span(name: str, business: bool) -> Callable[[MetricContext], Any]:
    start, end = _DURATIONS[name]

    def build(ctx: MetricContext) -> Any:
        clock = clock_for(ctx) if business else None
        f = facts(ctx)
        # An end stamped before the start is a data error: left out (not counted as 0).
        f = f.filter(f[end].notnull() & (f[end] >= f[start]))
        f = _with_clocks(f, {"_c0": start, "_c1": end}, clock)
        f = f.mutate(x=(f._c1 - f._c0) / HOUR)
        f = ctx.in_periods(f, end)
        return f.select(*_keep(), start, end, "x")

    return build


def _in_status(name: str, business: bool) -> Callable[[MetricContext], Any]:
    def build(ctx: MetricContext) -> Any:
        clock = clock_for(ctx) if business else None
        f = facts(ctx, clock=clock)
        f = f.filter(f.resolved_at.notnull() & f.has_history)
        f = ctx.in_periods(f, "resolved_at")
        return f.select(*_keep(), "created_at", "resolved_at", x=f[f"{name}_s"] / HOUR)

    return build


def _solved(ctx: MetricContext) -> Any:
    """Tickets resolved (solved or closed) at the cut-off, in the period of their (last) resolution."""
    f = facts(ctx)
    f = f.filter(f.resolved_at.notnull())
    return ctx.in_periods(f, "resolved_at")


def _reopen_rate(ctx: MetricContext) -> Any:
    f = _solved(ctx)
    f = f.filter(f.reopens.notnull())
    return f.select(*_keep(), "resolved_at", "reopens", num=ibis.ifelse(f.reopens > 0, 1, 0), den=ibis.literal(1))


def _one_touch(ctx: MetricContext) -> Any:
    f = _solved(ctx)
    f = f.filter(f.replies.notnull())
    return f.select(*_keep(), "resolved_at", "replies", num=ibis.ifelse(f.replies < 2, 1, 0), den=ibis.literal(1))


def _fcr(ctx: MetricContext) -> Any:
    f = _solved(ctx)
    f = f.filter(f.replies.notnull() & f.reopens.notnull())
    hit = (f.replies <= 1) & (f.reopens == 0)
    return f.select(
        *_keep(), "resolved_at", "replies", "reopens", num=ibis.ifelse(hit, 1, 0), den=ibis.literal(1)
    )


def csat_good(score: Any, scale: Any) -> Any:
    """Good rating: top box on a 2- or 3-point scale (1–2 → 2), top two boxes from 4 points up (1–5 → 4–5)."""
    return ibis.ifelse(scale <= 3, score >= scale, score >= scale - 1)


def _csat(ctx: MetricContext) -> Any:
    f = _solved(ctx)
    rated = f.csat_score.notnull() & f.csat_scale.notnull() & (f.csat_score <= f.csat_scale)
    f = f.filter(rated)
    good = csat_good(f.csat_score, f.csat_scale)
    return f.select(
        *_keep(), "resolved_at", "csat_score", "csat_scale", num=ibis.ifelse(good, 1, 0), den=ibis.literal(1)
    )


# -- SLA -----------------------------------------------------------------------------------------------

_SLA_START = {"first_reply_time": "first_reply_at", "first_resolution_time": "first_resolved_at",
              "full_resolution_time": "resolved_at"}
_SLA_ACCUMULATED = {"agent_work_time": "agent_work", "requester_wait_time": "requester_wait"}


def _policy_match(ctx: MetricContext) -> Any:
    """Tickets with ``sla_policy`` = the first policy whose ``when`` matches, and ``_cal`` its calendar."""
    policies = ctx.settings.sla_policies
    ticket_fields = set(ENTITIES["tickets"].field_names)
    account_fields = [f for f in ENTITIES["accounts"].field_names if f != "account_id"]
    keys = {k for p in policies for k in p.when}
    unknown = sorted(k for k in keys if k not in ticket_fields and k not in account_fields)
    if unknown:
        raise UsageError(
            f"sla_policies: unknown field {', '.join(unknown)}; ticket fields: {', '.join(sorted(ticket_fields))}; "
            f"account attributes: {', '.join(account_fields)}"
        )
    wanted = sorted(k for k in keys if k not in ticket_fields)
    t = tickets(ctx, tuple(sorted(k for k in keys if k in ticket_fields)))
    if wanted:
        acc = ctx.table("accounts")
        acc = acc.select(_acc_id=acc.account_id, **{f"_acc_{k}": acc[k] for k in wanted})
        joined = t.left_join(acc, t.account_id == acc._acc_id)
        t = joined.select(*[joined[c] for c in t.columns], *[joined[f"_acc_{k}"] for k in wanted])

    def column(key: str) -> Any:
        return t[key] if key in ticket_fields else t[f"_acc_{key}"]

    def matches(key: str, values: list[str]) -> Any:
        if key == "tags":  # any of the listed tags in the comma-separated list
            padded = "," + ibis.coalesce(t.tags, "") + ","
            return ibis.or_(*(padded.contains(f",{v},") for v in values)) if values else ibis.literal(False)
        return column(key).cast("string").isin(values)

    branches = []
    for policy in policies:
        condition = ibis.and_(*(matches(k, v) for k, v in policy.when.items())) if policy.when else ibis.literal(True)
        branches.append((condition, ibis.literal(policy.name)))
    name = ibis.cases(*branches, else_=ibis.null("string")) if branches else ibis.null("string")
    t = t.mutate(sla_policy=name)
    calendars = [(t.sla_policy == p.name, ibis.literal(p.calendar)) for p in policies if p.calendar]
    cal = ibis.cases(*calendars, else_=ibis.null("string")) if calendars else ibis.null("string")
    return t.mutate(_cal=cal).drop(*[f"_acc_{k}" for k in wanted])


def _sla_targets(ctx: MetricContext) -> Any:
    rows = [
        {"_t_policy": p.name, "sla_metric": metric, "_t_priority": priority, "target_s": hours * HOUR}
        for p in ctx.settings.sla_policies
        for metric, by_priority in p.targets.items()
        for priority, hours in by_priority.items()
    ]
    frame = pd.DataFrame(rows, columns=["_t_policy", "sla_metric", "_t_priority", "target_s"])
    return ibis.memtable(
        frame, schema={"_t_policy": "string", "sla_metric": "string", "_t_priority": "string", "target_s": "float64"}
    )


def sla_targets(ctx: MetricContext) -> Any:
    """Every SLA target that applies to a ticket created before the cut-off: the ticket's policy (the first of
    ``metrics.sla_policies`` whose ``when`` matches) has a target for the SLA metric and the ticket's priority.

    Columns: account_id, ticket_id, sla_policy, sla_metric, target_hours. The decided ones are the observations
    of ``sla_achievement_rate`` (``sla_status`` achieved / breached); a target not decided by the cut-off is
    pending (still running within its target).
    """
    base = _policy_match(ctx)
    base = base.filter(base.sla_policy.notnull())
    targets = _sla_targets(ctx)
    rows = base.join(targets, (base.sla_policy == targets._t_policy) & (base.priority == targets._t_priority))
    return rows.select("account_id", "ticket_id", "sla_policy", "sla_metric", target_hours=rows.target_s / HOUR)


def _sla(ctx: MetricContext) -> Any:
    uses_calendar = any(p.calendar for p in ctx.settings.sla_policies)
    clock = clock_for(ctx) if uses_calendar else None
    base = _policy_match(ctx)
    base = base.filter(base.sla_policy.notnull())
    # The points of the tickets with a time-in-status target (their running totals find the breach
    # instants) and the decided rows are each read twice below: kept on the engine, computed once.
    targets = _sla_targets(ctx)
    running = targets.filter(targets.sla_metric.isin(list(_SLA_ACCUMULATED)))
    needing = base.semi_join(
        running, (base.sla_policy == running._t_policy) & (base.priority == running._t_priority)
    )
    points = ctx.shared("support.sla.points", lambda: status_points(ctx, needing, clock))
    f = facts(ctx, base, clock)
    clocks = {"_c_created": "created_at", "_c_reply": "first_reply_at", "_c_first": "first_resolved_at",
              "_c_resolved": "resolved_at"}
    f = _with_clocks(f, clocks, clock)
    policies = base.select(_p_tid=base.ticket_id, sla_policy=base.sla_policy)
    f = f.join(policies, f.ticket_id == policies._p_tid).drop("_p_tid")
    rows = f.join(targets, (f.sla_policy == targets._t_policy) & (f.priority == targets._t_priority))
    rows = rows.drop("_t_policy", "_t_priority")
    c_cut = clock.cases_at(rows._cal, ctx.cutoff) if clock is not None else ibis.literal(float(epoch(ctx.cutoff)))
    metric = rows.sla_metric
    accumulating = _is_accumulated(rows)

    # The ending event per SLA metric (time-in-status targets end at the resolution); null while running.
    end_ts = ibis.cases(*((metric == m, rows[col]) for m, col in _SLA_START.items()), else_=rows.resolved_at)
    end_c = ibis.cases(
        (metric == "first_reply_time", rows._c_reply),
        (metric == "first_resolution_time", rows._c_first),
        else_=rows._c_resolved,
    )
    in_status = ibis.cases(
        *((metric == m, rows[f"{q}_s"]) for m, q in _SLA_ACCUMULATED.items()), else_=ibis.null("float64")
    )
    # A first-reply target with no reply stops at the first resolution (nothing left to reply to).
    horizon = ibis.ifelse((metric == "first_reply_time") & rows._c_first.notnull(), rows._c_first, c_cut)
    rows = rows.mutate(
        _ended=end_ts.notnull(),
        _end_epoch=epoch_seconds(end_ts).cast("float64"),
        measured_s=ibis.ifelse(accumulating, in_status, end_c - rows._c_created),
        _so_far=ibis.ifelse(accumulating, in_status, horizon - rows._c_created),
        _breach_c=rows._c_created + rows.target_s,
    )
    # An ending event stamped before creation is a data error: neither achieved nor breached.
    valid = accumulating | (end_ts >= rows.created_at)
    achieved = rows._ended & valid & (rows.measured_s <= rows.target_s)
    breached = ibis.ifelse(rows._ended, valid & (rows.measured_s > rows.target_s), rows._so_far > rows.target_s)
    rows = rows.mutate(_achieved=ibis.coalesce(achieved, False), _breached=ibis.coalesce(breached, False))
    decided = rows.filter(rows._achieved | rows._breached)
    rows = ctx.shared("support.sla.rows", lambda: decided)

    # Breach instant: clock at creation + target for targets counted from creation; where the running
    # time in status passes the target for time-in-status ones.
    if clock is not None:
        rows = clock.instant(rows, "_breach_c", "_cal", "_breach_start")
    else:
        rows = rows.mutate(_breach_start=rows._breach_c)
    crossing = _accumulated_breaches(points, clock, rows)
    rows = rows.left_join(crossing, (rows.ticket_id == crossing._x_tid) & (rows.sla_metric == crossing._x_metric))
    rows = rows.drop("_x_tid", "_x_metric")
    breach_at = ibis.ifelse(_is_accumulated(rows), rows._x_breach, rows._breach_start)
    rows = rows.mutate(_decided=ibis.ifelse(rows._achieved, rows._end_epoch, breach_at))
    periods = _periods_epoch(ctx)
    within = (rows._decided >= periods._p_lo) & (rows._decided < periods._p_hi)
    decided_at = ibis.literal(pd.Timestamp(0).to_pydatetime()) + rows._decided.floor().cast("int64").as_interval("s")
    key = ctx.period_start_of(decided_at)
    if key is not None:  # an equality (hash) join on the period start, the bounds kept exact
        within = (key == periods.period_start) & within
    rows = rows.join(periods, within)
    return rows.select(
        "period_start",
        "account_id",
        "ticket_id",
        *DIMENSIONS,
        "sla_policy",
        "sla_metric",
        target_hours=rows.target_s / HOUR,
        measured_hours=ibis.ifelse(rows._ended, rows.measured_s, rows._so_far) / HOUR,
        sla_status=ibis.ifelse(rows._achieved, "achieved", "breached"),
        completed=rows._ended,
        num=ibis.ifelse(rows._achieved, 1, 0),
        den=ibis.literal(1),
    )


def _is_accumulated(t: Any) -> Any:
    return t.sla_metric.isin(list(_SLA_ACCUMULATED))


def _accumulated_breaches(pts: Any, clock: BusinessClock | None, rows: Any) -> Any:
    """(ticket, SLA metric, breach epoch) for time-in-status targets: where the running total passes the target."""
    wanted = rows.filter(_is_accumulated(rows))
    wanted = wanted.select(_w_tid=wanted.ticket_id, _w_metric=wanted.sla_metric, _w_target=wanted.target_s)
    parts = []
    for metric, quantity in _SLA_ACCUMULATED.items():
        mine = wanted.filter(wanted._w_metric == metric)
        p = pts.semi_join(mine, pts.ticket_id == mine._w_tid)  # running totals only where such a target applies
        counted = p.status.isin(IN_STATUS[quantity])
        p = p.mutate(_q=ibis.ifelse(counted, p._dur, 0.0))
        w = ibis.window(group_by=p.ticket_id, order_by=p._rn, preceding=None, following=0)
        p = p.mutate(_after=p._q.sum().over(w))
        p = p.mutate(_before=p._after - p._q)
        j = p.join(mine, p.ticket_id == mine._w_tid)
        j = j.filter((j._q > 0) & (j._before <= j._w_target) & (j._w_target < j._after))
        parts.append(j.select(_x_tid=j.ticket_id, _x_metric=j._w_metric, _x_c=j._c + (j._w_target - j._before),
                              _cal=j._cal))
    crossing = parts[0].union(parts[1], distinct=False)
    if clock is not None:
        crossing = clock.instant(crossing, "_x_c", "_cal", "_x_breach")
    else:
        crossing = crossing.mutate(_x_breach=crossing._x_c)
    return crossing.select("_x_tid", "_x_metric", "_x_breach")


def _periods_epoch(ctx: MetricContext) -> Any:
    frame = pd.DataFrame(
        {
            "period_start": pd.to_datetime([p.start for p in ctx.periods]),
            "period_end": pd.to_datetime([p.end for p in ctx.periods]),
            "_p_lo": [float(epoch(p.start)) for p in ctx.periods],
            "_p_hi": [float(epoch(p.end)) for p in ctx.periods],
        }
    )
    return ibis.memtable(
        frame, schema={"period_start": "timestamp", "period_end": "timestamp", "_p_lo": "float64", "_p_hi": "float64"}
    )


# -- registrations -------------------------------------------------------------------------------------

_AS_OF = "as of the cut-off: events and timestamps at or after it do not exist yet"
_MEDIAN = (
    "Headline = median, not mean: support durations are heavily right-skewed (a few tickets waiting weeks move "
    "a mean by hours); Zendesk Explore reports both — every ticket's value is in the drill-down rows"
)
_BUSINESS = (
    "business hours: the same interval measured on the business clock of the ticket's team calendar "
    "(metrics.team_calendars, else 'default'): shifts in the calendar's time zone (DST-aware), holidays excluded"
)
_INPUTS = ("tickets", "ticket_events")


def _title(en: str, pt: str, business: bool) -> dict[str, str]:
    if business:
        return {"en": f"{en} (business hours)", "pt-BR": f"{pt} (horas úteis)"}
    return {"en": en, "pt-BR": pt}


register(Metric(
    "ticket_volume", "support", {"en": "Ticket volume", "pt-BR": "Volume de tickets"}, "count", "neutral", "count",
    ("tickets",), "tickets created in the period",
    _volume, ("observed in the period of creation (created_at)", _AS_OF),
    dimensions=DIMENSIONS, row_keys=("ticket_id",),
))
register(Metric(
    "backlog", "support", {"en": "Backlog (open tickets)", "pt-BR": "Backlog (tickets em aberto)"}, "count",
    "lower", "count", _INPUTS,
    "tickets created before the period end whose status at the period end is new, open, pending or hold",
    _backlog,
    ("status at the period end (the as-of cut-off for a partial period) from the status history when the "
     "ticket has one; without history, open until solved_at (else closed_at; else updated_at of a "
     "solved/closed ticket)",
     "a ticket reopened after being solved is back in the backlog",
     "the row's `source` says whether its status came from the history or the tickets table"),
    variant="status at period end (a stock, not a flow): Zendesk's 'unsolved tickets' as of a date",
    dimensions=DIMENSIONS, row_keys=("ticket_id",),
))

for _business in (False, True):
    _sfx = "_business_hours" if _business else ""
    _extra = (_BUSINESS,) if _business else ()
    register(Metric(
        f"first_reply_time{_sfx}", "support", _title("First reply time", "Tempo de primeira resposta", _business),
        "hours", "lower", "median", _INPUTS,
        "median over tickets of (first public agent reply − created_at), in hours",
        _span("first_reply_time", _business),
        ("first reply = first ticket_events row of kind public_reply whose actor is not requester/system "
         "(an unknown actor is an agent); a ticket with no such rows uses tickets.first_reply_at",
         "observed in the period of the first reply; tickets not yet replied at the cut-off are not observations",
         "a reply stamped before creation (clock skew, agent-created tickets) is left out, not counted as 0",
         _AS_OF, *_extra),
        variant="Zendesk 'first reply time' (creation → first public agent comment); Zendesk's special case "
        "(agent-created ticket: use the second public agent comment) is not applied — the data does not say "
        "who created the ticket. " + _MEDIAN,
        dimensions=DIMENSIONS, row_keys=("ticket_id",),
    ))
    register(Metric(
        f"first_resolution_time{_sfx}", "support",
        _title("First resolution time", "Tempo de primeira resolução", _business), "hours", "lower", "median",
        _INPUTS, "median over tickets of (first time the status became solved or closed − created_at), in hours",
        _span("first_resolution_time", _business),
        ("history: first status row in solved or closed; without history: solved_at (else closed_at) when the "
         "ticket was never reopened (tickets.reopens = 0 or unknown) — after a reopen solved_at is the last "
         "solve, so the ticket is left out",
         "observed in the period of the first resolution", _AS_OF, *_extra),
        variant="Zendesk 'first resolution time' (closed by rule/API counts too). " + _MEDIAN,
        dimensions=DIMENSIONS, row_keys=("ticket_id",),
    ))
    register(Metric(
        f"full_resolution_time{_sfx}", "support",
        _title("Full resolution time", "Tempo de resolução completa", _business), "hours", "lower", "median",
        _INPUTS, "median over tickets resolved at the cut-off of (latest resolution − created_at), in hours",
        _span("full_resolution_time", _business),
        ("history: the ticket must be solved or closed at the cut-off; latest resolution = the last row in "
         "solved since the ticket was last unresolved (a closed-without-solve ticket: its first closed row); "
         "without history: solved_at, else closed_at",
         "a ticket reopened and not re-solved by the cut-off is not an observation; once re-solved it moves to "
         "the period of the new resolution",
         "observed in the period of the (latest) resolution", _AS_OF, *_extra),
        variant="Zendesk 'full resolution time' (creation → latest solve, reopens included). " + _MEDIAN,
        dimensions=DIMENSIONS, row_keys=("ticket_id",),
    ))
    for _q, _en, _pt, _statuses, _zendesk in (
        ("requester_wait", "Requester wait time", "Tempo de espera do solicitante", "new + open + hold",
         "Zendesk 'requester wait time' (time in New, Open and On-hold)"),
        ("agent_wait", "Agent wait time", "Tempo de espera do agente", "pending",
         "Zendesk 'agent wait time' (time in Pending)"),
        ("on_hold", "On-hold time", "Tempo em espera (on-hold)", "hold", "Zendesk 'on-hold time'"),
        ("agent_work", "Agent work time", "Tempo de trabalho do agente", "new + open",
         "Zendesk SLA 'agent work time' (time in New and Open)"),
    ):
        register(Metric(
            f"{_q}_time{_sfx}", "support", _title(_en, _pt, _business), "hours", "lower", "median", _INPUTS,
            f"median over tickets resolved at the cut-off of the time spent in {_statuses}, in hours",
            _in_status(_q, _business),
            ("time in status from consecutive status-history rows (a status holds until the next row; the "
             "history's gap after created_at counts as new; an interval still running at the cut-off ends there)",
             "tickets without a status history are not observations (the tickets table has no time in status)",
             "observed in the period of the ticket's (latest) resolution; unresolved tickets are still running",
             _AS_OF, *_extra),
            variant=f"{_zendesk}. " + _MEDIAN,
            dimensions=DIMENSIONS, row_keys=("ticket_id",),
        ))

register(Metric(
    "handling_time", "support", {"en": "Handling time", "pt-BR": "Tempo de atendimento (AHT)"}, "hours", "lower",
    "mean", _INPUTS, "mean over tickets resolved at the cut-off of the agent work time (time in new + open), in hours",
    _in_status("agent_work", False),
    ("split by channel with by=['channel']",
     "tickets without a status history are not observations", "observed in the period of the resolution", _AS_OF),
    variant="handle time per channel as Zendesk's agent work time (the data has no agent session/talk "
    "timestamps); a mean, as contact centres report AHT — it adds up to workload (mean × tickets), the "
    "median agent_work_time is the typical ticket",
    dimensions=DIMENSIONS, row_keys=("ticket_id",),
))
register(Metric(
    "reopen_rate", "support", {"en": "Reopen rate", "pt-BR": "Taxa de reabertura"}, "ratio", "lower",
    "proportion", _INPUTS, "resolved tickets reopened at least once / resolved tickets",
    _reopen_rate,
    ("reopen = status history transition from solved or closed to new/open/pending/hold; without history "
     "tickets.reopens (the help desk's current count, not as of the cut-off; unknown → left out)",
     "population: tickets solved or closed at the cut-off, in the period of their latest resolution",
     "no resolved tickets → null"),
    variant="Zendesk Explore '% reopened tickets' (reopened solved tickets / solved tickets); closed → open "
    "also counts as a reopen, as ServiceNow's reopen_count does",
    dimensions=DIMENSIONS, row_keys=("ticket_id",),
))
register(Metric(
    "one_touch_rate", "support", {"en": "One-touch resolution rate", "pt-BR": "Taxa de resolução em um toque"},
    "ratio", "higher", "proportion", _INPUTS,
    "resolved tickets with fewer than 2 agent public replies / resolved tickets",
    _one_touch,
    ("agent replies: public_reply events not by requester/system when the ticket has any, else tickets.replies "
     "(unknown → left out)", "a ticket solved with no reply at all is one-touch (as in Zendesk)",
     "population: tickets solved or closed at the cut-off, in the period of their latest resolution",
     "no resolved tickets → null"),
    variant="Zendesk Explore one-touch tickets: agent replies < 2 and status solved/closed",
    dimensions=DIMENSIONS, row_keys=("ticket_id",),
))
register(Metric(
    "first_contact_resolution_rate", "support",
    {"en": "First contact resolution rate", "pt-BR": "Taxa de resolução no primeiro contato (FCR)"},
    "ratio", "higher", "proportion", _INPUTS,
    "resolved tickets never reopened and with at most 1 agent public reply / resolved tickets",
    _fcr,
    ("population: tickets solved or closed at the cut-off, in the period of their latest resolution",
     "tickets with unknown reopens or replies are left out", "no resolved tickets → null"),
    variant="'solved, no reopen, ≤ 1 agent reply' — computable from every help desk's history or ticket "
    "counts. Freshservice's variant (no customer interaction after the first description) needs requester "
    "comments, which most exports do not carry as events (ours record requester status changes, not "
    "comments). Stricter than one-touch: a reopened ticket never counts",
    dimensions=DIMENSIONS, row_keys=("ticket_id",),
))
register(Metric(
    "support_csat", "support", {"en": "Support CSAT", "pt-BR": "CSAT do suporte"}, "ratio", "higher",
    "proportion", _INPUTS, "good ratings / (good + bad ratings) on resolved tickets",
    _csat,
    ("good: on a 1–2 scale 2; on a 3-point scale 3; from 4 points up the top two (1–5 → 4–5); csat_scale says "
     "the scale", "unrated tickets and ratings without a scale are left out",
     "observed in the period of the ticket's latest resolution (the tickets table has no rating date); a "
     "rating given after the cut-off cannot be told apart",
     "no rated tickets → null"),
    variant="Zendesk CSAT: good / (good + bad), unrated excluded",
    dimensions=DIMENSIONS, row_keys=("ticket_id",),
))
register(Metric(
    "sla_achievement_rate", "support", {"en": "SLA achievement rate", "pt-BR": "Taxa de cumprimento de SLA"},
    "ratio", "higher", "proportion", _INPUTS,
    "SLA targets achieved / SLA targets decided, per policy, SLA metric and priority",
    _sla,
    ("policy: the first of metrics.sla_policies whose `when` matches (ticket fields or account attributes; "
     "tags: any listed tag); a target applies when the policy has one for the SLA metric and ticket priority",
     "measured on the policy's calendar in business time when it names one, else calendar time; "
     "first_reply/first_resolution/full_resolution_time from creation, agent_work/requester_wait_time as "
     "time in status",
     "achieved when the measured time ≤ target (decided at the ending event); breached when it is > target, "
     "decided at the breach instant — also for tickets still waiting at the cut-off whose time already "
     "exceeds the target; a ticket still waiting within its target is pending and not an observation",
     "observed in the period in which it was decided (achieving event or breach instant)",
     "time-in-status targets need a status history; no policies → no observations (null)", _AS_OF),
    variant="Zendesk SLA policies (ordered, first match, target per priority, business or calendar hours) "
    "reported as achievement = achieved / (achieved + breached), pending excluded",
    dimensions=(*DIMENSIONS, "sla_policy", "sla_metric"), row_keys=("ticket_id", "sla_metric"),
))
