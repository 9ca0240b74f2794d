"""Point-in-time account features from the canonical tables, for many as-of dates at once.

:func:`account_features` returns one row per (paying account, as-of date) with the features of
:data:`FEATURES`; :func:`churn_labels` and :func:`expansion_labels` say what happened in the ``horizon`` days
after each as-of date. Every block is an Ibis expression over the canonical tables (DuckDB, Spark or any
Ibis backend) joined to a small table of as-of dates, so twelve monthly snapshots cost one query per block,
not twelve. See ``docs/churn.md`` (features table, labels, leakage rules).

Time rule
---------
The **cut-off** of an as-of date ``D`` is midnight UTC after ``D`` (the same as the metrics'). A feature of
``(account, D)`` reads only rows stamped strictly before the cut-off, and only timestamps, never current
snapshot values that could have changed later. That is why these fields are *not* features:

* ``accounts.plan``, ``licenses``, ``lifecycle_stage``, ``renewal_at`` and ``subscriptions.status`` /
  ``quantity`` / ``plan``: today's values (an upgrade or a churn after ``D`` would show through);
* ``tickets.csat_score`` (no time of rating) and ``orders.status`` (paid / overdue as of today).

``segment`` and ``industry`` are kept: they describe the company, not its relationship with us.
MRR comes from the account MRR step function of :mod:`sinergia.metrics.revenue` (its movements before the
cut-off); a ticket's reopens come from its status history (``ticket_events``) before the cut-off, and from the
help desk's ``reopens`` count only for tickets whose last update was before it.

Labels
------
The population of an as-of date is the accounts **paying** at its cut-off (MRR > 0). ``churned`` is 1 when
the account's MRR step function has a ``churn`` movement (MRR > 0 → 0) in ``[cut-off, cut-off + horizon)``;
``expanded`` is 1 when it has an ``expansion`` movement (MRR up while already paying) in that window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import pandas as pd

from sinergia.errors import UsageError

__all__ = [
    "DEFAULT_FIRST_REPLY_HOURS",
    "FEATURES",
    "Feature",
    "account_features",
    "churn_labels",
    "data_end",
    "data_start",
    "expansion_labels",
    "feature_label",
]

#: First-reply targets (calendar hours) per ticket priority used for ``sla_breaches_90d``; a ticket without a
#: priority counts as ``normal``. Pass ``first_reply_hours=`` to use yours.
DEFAULT_FIRST_REPLY_HOURS: dict[str, float] = {"urgent": 1.0, "high": 4.0, "normal": 8.0, "low": 24.0}
_DONE = ("solved", "closed")
_UNRESOLVED = ("new", "open", "pending", "hold")
_EPS = 0.005
#: Days without usage reported for an account with no event in the 90 days before the cut-off.
NO_USAGE_DAYS = 91


@dataclass(frozen=True)
class Feature:
    """A feature's name, its readable names (en, pt-BR), kind and the definition shown in the docs."""

    name: str
    en: str
    pt: str
    kind: str  # "numeric" | "categorical"
    definition: str


FEATURES: tuple[Feature, ...] = (
    # usage
    Feature("events_30d", "Product events, last 30 days", "Eventos de uso, últimos 30 dias", "numeric",
            "usage_events with occurred_at in [cut-off − 30 d, cut-off); an event without account_id counts for "
            "its contact's account"),
    Feature("events_prev_30d", "Product events, previous 30 days", "Eventos de uso, 30 dias anteriores", "numeric",
            "usage_events in [cut-off − 60 d, cut-off − 30 d)"),
    Feature("usage_trend", "Usage trend (last 30 d / previous 30 d)", "Tendência de uso (30 d / 30 d anteriores)",
            "numeric", "events_30d / events_prev_30d; null when events_prev_30d = 0"),
    Feature("events_90d", "Product events, last 90 days", "Eventos de uso, últimos 90 dias", "numeric",
            "usage_events in [cut-off − 90 d, cut-off)"),
    Feature("days_since_last_event", "Days since the last product event", "Dias desde o último uso", "numeric",
            f"whole days from the day of the last event (last 90 d) to the cut-off; {NO_USAGE_DAYS} when none"),
    Feature("active_users_30d", "Active users, last 30 days", "Usuários ativos, últimos 30 dias", "numeric",
            "distinct contact_id of usage_events in the last 30 d"),
    Feature("features_used_30d", "Features used, last 30 days", "Funcionalidades usadas, últimos 30 dias", "numeric",
            "distinct feature of usage_events in the last 30 d (adoption breadth)"),
    Feature("features_used_90d", "Features used, last 90 days", "Funcionalidades usadas, últimos 90 dias", "numeric",
            "distinct feature of usage_events in the last 90 d"),
    # support
    Feature("tickets_90d", "Tickets opened, last 90 days", "Chamados abertos, últimos 90 dias", "numeric",
            "tickets with created_at in [cut-off − 90 d, cut-off)"),
    Feature("urgent_tickets_90d", "Urgent or high tickets, last 90 days", "Chamados urgentes ou altos, 90 dias",
            "numeric", "tickets of the last 90 d with priority urgent or high"),
    Feature("sla_breaches_90d", "First-reply SLA breaches, last 90 days", "Violações de SLA de 1ª resposta, 90 dias",
            "numeric", "tickets of the last 90 d whose first-reply deadline (created_at + target of its priority) "
            "is before the cut-off with no first reply by then"),
    Feature("reopens_90d", "Ticket reopens, last 90 days", "Reaberturas de chamados, últimos 90 dias", "numeric",
            "status changes from solved/closed back to new/open/pending/hold in the last 90 d (ticket_events); "
            "tickets without a history: their reopens count when last updated before the cut-off"),
    Feature("open_tickets", "Tickets open at the as-of date", "Chamados em aberto na data", "numeric",
            "tickets created in the 365 d before the cut-off and not solved or closed before it"),
    # surveys
    Feature("nps_last", "Last NPS answer (0-10)", "Última nota de NPS (0-10)", "numeric",
            "latest NPS answer of the account's contacts in the 365 d before the cut-off, on a 0-10 scale"),
    Feature("nps_change", "NPS change since the previous answer", "Variação do NPS desde a resposta anterior",
            "numeric", "nps_last − the answer before it (365 d window)"),
    Feature("csat_last", "Last CSAT answer (share of scale)", "Última nota de CSAT (fração da escala)", "numeric",
            "latest CSAT answer, (score − min) / (max − min)"),
    Feature("csat_change", "CSAT change since the previous answer", "Variação do CSAT desde a resposta anterior",
            "numeric", "csat_last − the answer before it"),
    Feature("ces_last", "Last CES answer (share of scale)", "Última nota de CES (fração da escala)", "numeric",
            "latest CES answer, (score − min) / (max − min)"),
    Feature("ces_change", "CES change since the previous answer", "Variação do CES desde a resposta anterior",
            "numeric", "ces_last − the answer before it"),
    # what customers wrote (the text_sentiment table of `sinergia text score`)
    Feature("text_sentiment_90d", "Mean sentiment of the customer's texts, 90 days",
            "Sentimento médio dos textos do cliente, 90 dias", "numeric",
            "mean sentiment (−1..1) of the account's texts (feedback, survey comments, ticket subject + "
            "description) stamped in the last 90 d, from the text_sentiment table; missing without texts"),
    Feature("negative_text_share_90d", "Share of negative texts, 90 days", "Parcela de textos negativos, 90 dias",
            "numeric", "share of those texts with negative polarity; missing without texts"),
    # billing
    Feature("mrr", "MRR at the as-of date", "MRR na data", "numeric",
            "account MRR just before the cut-off (workspace currency)"),
    Feature("mrr_change_90d", "MRR change, last 90 days", "Variação do MRR, últimos 90 dias", "numeric",
            "mrr − MRR just before cut-off − 90 d"),
    Feature("contractions_90d", "Contractions, last 90 days", "Reduções de MRR, últimos 90 dias", "numeric",
            "contraction movements of the account MRR in the last 90 d"),
    Feature("expansions_90d", "Expansions, last 90 days", "Expansões de MRR, últimos 90 dias", "numeric",
            "expansion movements of the account MRR in the last 90 d"),
    Feature("tenure_days", "Days as a paying customer", "Dias como cliente pagante", "numeric",
            "days from the first movement to MRR > 0 to the cut-off"),
    # contract
    Feature("annual_contract", "Annual contract", "Contrato anual", "numeric",
            "1 when a subscription in force at the cut-off bills yearly, else 0"),
    Feature("days_to_renewal", "Days to the next renewal", "Dias até a próxima renovação", "numeric",
            "days from the cut-off to the next billing-period anniversary of the subscription in force "
            "(month 30.44 d, quarter 91.31 d, year 365.25 d)"),
    # company
    Feature("segment", "Segment", "Segmento", "categorical", "accounts.segment"),
    Feature("industry", "Industry", "Setor", "categorical", "accounts.industry"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
_BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
_PERIOD_DAYS = {"month": 365.25 / 12, "quarter": 365.25 / 4, "year": 365.25}


def feature_label(name: str, language: str = "en") -> str:
    """The readable name of a feature in ``en`` or ``pt-BR`` (the name itself when unknown)."""
    feature = _BY_NAME.get(name)
    if feature is None:
        return name
    return feature.pt if language.lower().startswith("pt") else feature.en


# --------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------
def _check_dates(as_of_dates: Sequence[dt.date]) -> list[dt.date]:
    if not as_of_dates:
        raise UsageError("give at least one as-of date")
    for value in as_of_dates:
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise UsageError(f"as-of dates must be dates (YYYY-MM-DD), got {value!r}")
    return sorted(set(as_of_dates))


def _cut(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time())


def _dates_table(dates: Sequence[dt.date]) -> Any:
    frame = pd.DataFrame({"as_of": pd.to_datetime(list(dates)), "cut": pd.to_datetime([_cut(d) for d in dates])})
    return ibis.memtable(frame, schema={"as_of": "timestamp", "cut": "timestamp"})


def _days(n: int) -> Any:
    return ibis.interval(days=n)


def _context(source: Any, as_of: dt.date) -> Any:
    from sinergia.metrics.api import _context as metric_context

    return metric_context(source, as_of, "day", 1, None, None, None)


def _movements(ctx: Any) -> Any:
    from sinergia.metrics.revenue import mrr_movements

    moves = mrr_movements(ctx)
    return moves.filter(moves.changed_at < ibis.literal(ctx.cutoff))


def _execute(ctx: Any, expr: Any) -> pd.DataFrame:
    frame = ctx.source.execute(expr)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    return frame


# --------------------------------------------------------------------------------------------------------------
# feature blocks (each an Ibis expression keyed by account_id, as_of)
# --------------------------------------------------------------------------------------------------------------
def _billing(ctx: Any, dates: Any) -> Any:
    moves = _movements(ctx)
    joined = moves.join(dates, moves.changed_at < dates.cut)
    before_90 = joined.changed_at < joined.cut - _days(90)
    in_90 = ~before_90
    grouped = joined.group_by(["account_id", "as_of"]).aggregate(
        mrr=joined.mrr_after.argmax(joined.changed_at),
        mrr_90=ibis.ifelse(before_90, joined.mrr_after, ibis.null("float64")).argmax(
            ibis.ifelse(before_90, joined.changed_at, ibis.null("timestamp"))),
        first_paid=ibis.ifelse(joined.mrr_after > _EPS, joined.changed_at, ibis.null("timestamp")).min(),
        contractions_90d=(in_90 & (joined.kind == "contraction")).cast("int64").sum(),
        expansions_90d=(in_90 & (joined.kind == "expansion")).cast("int64").sum(),
        cut=joined.cut.max(),
    )
    grouped = grouped.filter(grouped.mrr > _EPS)
    return grouped.select(
        "account_id", "as_of", "mrr",
        mrr_change_90d=grouped.mrr - ibis.coalesce(grouped.mrr_90, 0.0),
        contractions_90d=grouped.contractions_90d,
        expansions_90d=grouped.expansions_90d,
        tenure_days=(grouped.cut.epoch_seconds() - grouped.first_paid.epoch_seconds()) / 86400.0,
    )  # fmt: skip


def _usage(ctx: Any, dates: Any) -> tuple[Any, Any]:
    from sinergia.metrics.lifecycle import _events as usage_events

    # the lifecycle metrics' events: before the (last) cut-off, the account resolved through the contact when missing
    events = usage_events(ctx)
    events = events.filter(events.account_id.notnull())
    events = events.mutate(day=events.occurred_at.truncate("D"))
    daily = events.group_by(["account_id", "day"]).aggregate(n=events.count())
    j = daily.join(dates, (daily.day < dates.cut) & (daily.day >= dates.cut - _days(90)))
    last_30 = j.day >= j.cut - _days(30)
    prev_30 = (j.day >= j.cut - _days(60)) & ~last_30
    volume = j.group_by(["account_id", "as_of"]).aggregate(
        events_30d=ibis.ifelse(last_30, j.n, 0).sum(),
        events_prev_30d=ibis.ifelse(prev_30, j.n, 0).sum(),
        events_90d=j.n.sum(),
        days_since_last_event=((j.cut.epoch_seconds() - j.day.epoch_seconds()) / 86400.0).min().floor() - 1,
    )
    # distinct users and features: per (account, day, key), then counted over the window
    keys = events.mutate(user=events.contact_id, feat=events.feature)
    users = keys.filter(keys.user.notnull()).select("account_id", "day", key="u:" + keys.user).distinct()
    feats = keys.filter(keys.feat.notnull()).select("account_id", "day", key="f:" + keys.feat).distinct()
    both = users.union(feats, distinct=False)
    b = both.join(dates, (both.day < dates.cut) & (both.day >= dates.cut - _days(90)))
    b30 = b.day >= b.cut - _days(30)
    is_user = b.key.startswith("u:")
    breadth = b.group_by(["account_id", "as_of"]).aggregate(
        active_users_30d=ibis.ifelse(b30 & is_user, b.key, ibis.null("string")).nunique(),
        features_used_30d=ibis.ifelse(b30 & ~is_user, b.key, ibis.null("string")).nunique(),
        features_used_90d=ibis.ifelse(~is_user, b.key, ibis.null("string")).nunique(),
    )
    return volume, breadth


def _tickets(ctx: Any, dates: Any, last_cut: dt.datetime, targets: Mapping[str, float]) -> tuple[Any, Any]:
    tickets = ctx.table("tickets")
    tickets = tickets.filter(tickets.account_id.notnull() & (tickets.created_at < ibis.literal(last_cut)))
    priority = ibis.coalesce(tickets.priority, "normal")
    hours = ibis.cases(*((priority == p, ibis.literal(float(h))) for p, h in targets.items()),
                       else_=ibis.literal(float(targets.get("normal", DEFAULT_FIRST_REPLY_HOURS["normal"]))))
    tickets = tickets.mutate(
        _deadline=tickets.created_at + (hours * 3600.0).cast("int64").as_interval("s"),
        _urgent=priority.isin(["urgent", "high"]),
        _done_at=ibis.least(
            ibis.coalesce(tickets.solved_at, ibis.literal(dt.datetime(9999, 1, 1))),
            ibis.coalesce(tickets.closed_at, ibis.literal(dt.datetime(9999, 1, 1))),
        ),
    )
    j = tickets.join(dates, (tickets.created_at < dates.cut) & (tickets.created_at >= dates.cut - _days(365)))
    in_90 = j.created_at >= j.cut - _days(90)
    breached = in_90 & (j._deadline < j.cut) & (j.first_reply_at.isnull() | (j.first_reply_at > j._deadline))
    counts = j.group_by(["account_id", "as_of"]).aggregate(
        tickets_90d=in_90.cast("int64").sum(),
        urgent_tickets_90d=(in_90 & j._urgent).cast("int64").sum(),
        sla_breaches_90d=breached.cast("int64").sum(),
        open_tickets=(j._done_at >= j.cut).cast("int64").sum(),
    )
    # reopens: transitions in the status history before the cut-off ...
    ev = ctx.table("ticket_events")
    ev = ev.filter(ev.status.notnull() & (ev.occurred_at < ibis.literal(last_cut)))
    window = ibis.window(group_by=ev.ticket_id, order_by=[ev.occurred_at, ev.sequence, ev.event_id])
    ev = ev.mutate(_prev=ev.status.lag().over(window))
    reopen = ev.filter(ev._prev.isin(list(_DONE)) & ev.status.isin(list(_UNRESOLVED)))
    owner = tickets.select(_tid=tickets.ticket_id, account_id=tickets.account_id)
    reopen = reopen.join(owner, reopen.ticket_id == owner._tid)
    reopen = reopen.select("account_id", ts=reopen.occurred_at, n=ibis.literal(1, "int64"))
    # ... and, for tickets with no status history, the help desk's count once the ticket was last updated
    with_history = ev.select(_h=ev.ticket_id).distinct()
    plain = tickets.anti_join(with_history, tickets.ticket_id == with_history._h)
    plain = plain.filter(ibis.coalesce(plain.reopens, 0) > 0)
    plain = plain.select(
        "account_id",
        ts=ibis.coalesce(plain.updated_at, plain.closed_at, plain.solved_at, plain.created_at),
        n=plain.reopens.cast("int64"),
    )
    every = reopen.union(plain, distinct=False)
    r = every.join(dates, (every.ts < dates.cut) & (every.ts >= dates.cut - _days(90)))
    reopens = r.group_by(["account_id", "as_of"]).aggregate(reopens_90d=r.n.sum())
    return counts, reopens


def _surveys(ctx: Any, dates: Any, last_cut: dt.datetime) -> Any:
    s = ctx.table("survey_responses")
    s = s.filter(s.account_id.notnull() & s.score.notnull() & (s.responded_at < ibis.literal(last_cut)))
    is_nps = s.survey == "nps"
    low = ibis.coalesce(s.scale_min, ibis.ifelse(is_nps, 0, 1)).cast("float64")
    high = ibis.coalesce(s.scale_max, ibis.ifelse(is_nps, 10, 5)).cast("float64")
    share = (s.score - low) / ibis.ifelse(high > low, high - low, ibis.null("float64"))
    s = s.mutate(value=ibis.ifelse(is_nps, share * 10.0, share))
    j = s.join(dates, (s.responded_at < dates.cut) & (s.responded_at >= dates.cut - _days(365)))
    window = ibis.window(group_by=[j.account_id, j.as_of, j.survey], order_by=[j.responded_at.desc(),
                                                                                j.response_id.desc()])
    j = j.mutate(rank=ibis.row_number().over(window))
    j = j.filter(j.rank <= 1)
    aggs: dict[str, Any] = {}
    for survey in ("nps", "csat", "ces"):
        last = ibis.ifelse((j.survey == survey) & (j.rank == 0), j.value, ibis.null("float64")).max()
        prev = ibis.ifelse((j.survey == survey) & (j.rank == 1), j.value, ibis.null("float64")).max()
        aggs[f"{survey}_last"] = last
        aggs[f"{survey}_change"] = last - prev
    return j.group_by(["account_id", "as_of"]).aggregate(**aggs)


def _texts(ctx: Any, dates: Any, last_cut: dt.datetime) -> Any | None:
    """Sentiment of the account's scored texts (the derived ``text_sentiment`` table, by each text's own time
    ``at``); ``None`` when the workspace has no such table (texts never scored)."""
    from ibis.common.exceptions import TableNotFound

    try:
        t = ctx.source.backend.table("text_sentiment")
    except TableNotFound:
        return None
    t = t.filter(t.account_id.notnull() & (t["at"] < ibis.literal(last_cut)))
    j = t.join(dates, (t["at"] < dates.cut) & (t["at"] >= dates.cut - _days(90)))
    return j.group_by(["account_id", "as_of"]).aggregate(
        text_sentiment_90d=j.sentiment.mean(),
        negative_text_share_90d=(j.polarity == "negative").cast("float64").mean(),
    )


def _contract(ctx: Any, dates: Any, last_cut: dt.datetime) -> Any:
    subs = ctx.table("subscriptions")
    subs = subs.filter((subs.started_at < ibis.literal(last_cut)) & ~ibis.coalesce(subs.is_trial, False))
    j = subs.join(dates, (subs.started_at < dates.cut) & (subs.ended_at.isnull() | (subs.ended_at >= dates.cut)))
    period_days = ibis.cases(*((j.billing_period == k, ibis.literal(v)) for k, v in _PERIOD_DAYS.items()),
                             else_=ibis.null("float64"))
    age = (j.cut.epoch_seconds() - j.started_at.epoch_seconds()) / 86400.0
    to_renewal = period_days - (age - (age / period_days).floor() * period_days)
    return j.group_by(["account_id", "as_of"]).aggregate(
        annual_contract=(j.billing_period == "year").cast("int64").max(),
        days_to_renewal=to_renewal.min(),
    )


def _company(ctx: Any) -> Any:
    accounts = ctx.table("accounts")
    return accounts.select("account_id", "segment", "industry")


# --------------------------------------------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------------------------------------------
def account_features(
    source: Any,
    as_of_dates: Sequence[dt.date],
    *,
    first_reply_hours: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Features of every account paying at each as-of date: ``account_id``, ``as_of`` then :data:`FEATURES`.

    ``source`` is a workspace or a :class:`~sinergia.metrics.context.TableSource`. Rows are sorted by
    ``as_of`` then ``account_id``. Counts with no rows in their window are 0; survey features without an
    answer in the last 365 days and ``usage_trend`` without previous usage are missing (NaN).
    """
    dates = _check_dates(as_of_dates)
    targets = dict(first_reply_hours or DEFAULT_FIRST_REPLY_HOURS)
    ctx = _context(source, dates[-1])
    last_cut = _cut(dates[-1])
    table = _dates_table(dates)
    frame = _execute(ctx, _billing(ctx, table))
    volume, breadth = _usage(ctx, table)
    counts, reopens = _tickets(ctx, table, last_cut, targets)
    for block in (volume, breadth, counts, reopens, _surveys(ctx, table, last_cut), _contract(ctx, table, last_cut)):
        frame = frame.merge(_execute(ctx, block), on=["account_id", "as_of"], how="left")
    texts = _texts(ctx, table, last_cut)
    if texts is not None:
        frame = frame.merge(_execute(ctx, texts), on=["account_id", "as_of"], how="left")
    else:
        frame["text_sentiment_90d"] = float("nan")
        frame["negative_text_share_90d"] = float("nan")
    company = ctx.source.execute(_company(ctx)).drop_duplicates("account_id")
    frame = frame.merge(company, on="account_id", how="left")
    zero = ["events_30d", "events_prev_30d", "events_90d", "active_users_30d", "features_used_30d",
            "features_used_90d", "tickets_90d", "urgent_tickets_90d", "sla_breaches_90d", "reopens_90d",
            "open_tickets", "contractions_90d", "expansions_90d", "annual_contract"]
    for name in zero:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").fillna(0).astype("int64")
    frame["days_since_last_event"] = pd.to_numeric(frame["days_since_last_event"]).fillna(NO_USAGE_DAYS)
    prev = frame["events_prev_30d"].astype("float64")
    frame["usage_trend"] = (frame["events_30d"] / prev.where(prev > 0)).astype("float64")
    for name in ("segment", "industry"):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    numeric = [f.name for f in FEATURES if f.kind == "numeric" and f.name not in zero]
    for name in numeric:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    frame["mrr"] = frame["mrr"].round(2)
    frame["mrr_change_90d"] = frame["mrr_change_90d"].round(2)
    frame["tenure_days"] = frame["tenure_days"].round(2)
    frame["days_to_renewal"] = frame["days_to_renewal"].round(2)
    frame = frame[["account_id", "as_of", *FEATURE_NAMES]]
    return frame.sort_values(["as_of", "account_id"], kind="stable").reset_index(drop=True)


def _labels(source: Any, as_of_dates: Sequence[dt.date], horizon: int, kind: str, column: str) -> pd.DataFrame:
    if horizon < 1:
        raise UsageError("horizon must be at least 1 day")
    dates = _check_dates(as_of_dates)
    ctx = _context(source, dates[-1] + dt.timedelta(days=horizon))
    table = _dates_table(dates)
    moves = _movements(ctx)
    # paying at the cut-off: the last movement before it leaves MRR > 0
    before = moves.join(table, moves.changed_at < table.cut)
    state = before.group_by(["account_id", "as_of"]).aggregate(mrr=before.mrr_after.argmax(before.changed_at))
    population = state.filter(state.mrr > _EPS).select("account_id", "as_of")
    wanted = moves.filter(moves.kind == kind)
    after = wanted.join(table, (wanted.changed_at >= table.cut) & (wanted.changed_at < table.cut + _days(horizon)))
    hits = after.group_by(["account_id", "as_of"]).aggregate(_first=after.changed_at.min())
    out = population.left_join(hits, ["account_id", "as_of"])
    out = out.select(out.account_id, out.as_of, label=out._first.notnull().cast("int64"))
    frame = _execute(ctx, out).rename(columns={"label": column})
    return frame.sort_values(["as_of", "account_id"], kind="stable").reset_index(drop=True)


def churn_labels(source: Any, as_of_dates: Sequence[dt.date], horizon: int = 90) -> pd.DataFrame:
    """``account_id``, ``as_of``, ``churned``: 1 when an account paying at the as-of date churns within
    ``horizon`` days after its cut-off (a ``churn`` movement of its MRR step function), else 0.

    Only meaningful when the data are complete up to ``as_of + horizon`` (:func:`data_end`).
    """
    return _labels(source, as_of_dates, horizon, "churn", "churned")


def expansion_labels(source: Any, as_of_dates: Sequence[dt.date], horizon: int = 90) -> pd.DataFrame:
    """``account_id``, ``as_of``, ``expanded``: 1 when an account paying at the as-of date has an ``expansion``
    movement (MRR up while paying: more seats, an upgrade, a cross-sold line) within ``horizon`` days."""
    return _labels(source, as_of_dates, horizon, "expansion", "expanded")


_DATED = {"usage_events": "occurred_at", "subscription_changes": "changed_at", "subscriptions": "started_at",
          "tickets": "created_at", "survey_responses": "responded_at"}


def _dated_span(source: Any, how: str) -> dt.date:
    from sinergia.metrics.context import TableSource

    src = source if isinstance(source, TableSource) else TableSource.from_workspace(source)
    found: list[dt.date] = []
    for table, column in _DATED.items():
        col = src.table(table)[column]
        value = src.execute(col.max() if how == "max" else col.min())
        if value is not None and not pd.isna(value):
            found.append(pd.Timestamp(value).date())
    if not found:
        raise UsageError("the workspace has no dated rows (usage, subscriptions, tickets, surveys); import data first")
    return max(found)


def data_end(source: Any) -> dt.date:
    """The last day with data: the latest of usage, MRR changes, subscription starts, tickets and answers."""
    return _dated_span(source, "max")


def data_start(source: Any) -> dt.date:
    """The first day on which every dated source that has rows has data: the latest of the first days of usage,
    MRR changes, subscription starts, tickets and answers.

    Billing usually reaches back further than usage or tickets (customers older than the help desk); features
    need all of them, and :mod:`sinergia.models.risk` adds the longest feature window (90 days) to this day.
    """
    return _dated_span(source, "min")
