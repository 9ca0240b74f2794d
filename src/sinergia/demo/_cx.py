"""Customer-experience tables: survey answers along the journey, free-text feedback and touchpoints.

Journey: *before* the purchase (website visit, demo, proposal; CES on the website, CSAT after the demo),
*during* it (contract, kickoff, onboarding calls, training; CES after onboarding) and *after* it (relational
NPS, QBRs, renewal calls and their CSAT, support visits after incidents, CES on billing). Scores follow the
account's latent health at the time, so they agree with the usage, tickets and churn of the same account.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sinergia.demo import _catalog as cat
from sinergia.demo import _text as tx
from sinergia.demo._arrow import floats, ints, join, padded, table, take, timestamps
from sinergia.demo._context import Context
from sinergia.demo._core import invoice_status
from sinergia.demo._rand import Draws, lognormal, norm_ppf
from sinergia.demo._sim import INV_NONE
from sinergia.demo._types import DAY, F64, HOUR, I64, Bool

SURVEYS = ("nps", "csat", "ces")
NPS, CSAT, CES = 0, 1, 2
TOUCHPOINTS = ("website", "demo", "onboarding", "support", "billing", "renewal", "product")
#: Journey stage of each survey touchpoint.
TOUCHPOINT_STAGE = ("before", "before", "during", "after", "after", "after", "after")
_TOUCHPOINT_GROUP = (tx.G_SALES, tx.G_SALES, tx.G_ONBOARDING, tx.G_SUPPORT, tx.G_BILLING, tx.G_RENEWAL,
                     tx.G_PRODUCT)  # fmt: skip
WEBSITE, DEMO, ONBOARDING, SUPPORT, BILLING, RENEWAL, PRODUCT = range(7)
_SCALE = ((0, 10), (1, 5), (1, 7))
SURVEY_CHANNELS = ("email", "in_app", "web")
EMAIL, IN_APP, WEB = 0, 1, 2


def polarity(survey: I64, score: F64) -> I64:
    """Tone of a comment from its survey's score: detractor/neutral/promoter and their CSAT, CES analogues."""
    nps = np.select([score <= 6, score <= 8], [tx.NEG, tx.NEU], tx.POS)
    csat = np.select([score <= 2, score <= 3], [tx.NEG, tx.NEU], tx.POS)
    ces = np.select([score <= 3, score <= 5], [tx.NEG, tx.NEU], tx.POS)
    return np.select([survey == NPS, survey == CSAT], [nps, csat], ces).astype(np.int64)


@dataclass
class SurveyPart:
    """A batch of survey answers of one kind, before they become columns."""

    account: I64
    contact: I64
    survey: I64
    score: F64
    touchpoint: I64
    channel: I64  # index into SURVEY_CHANNELS
    sent: I64
    responded: I64
    text_u: F64  # (rows, 4)
    has_comment: Bool
    code: str
    seq: I64
    stability: Bool | None = None


def _part_columns(ctx: Context, part: SurveyPart) -> dict[str, pa.Array]:
    rows = len(part.account)
    lang = ctx.lang[part.account]
    pol = polarity(part.survey, part.score)
    group = np.array(_TOUCHPOINT_GROUP)[part.touchpoint]
    comment = tx.compose(lang, pol, group, part.text_u, stability=part.stability)
    scale = np.array(_SCALE)[part.survey]
    return {
        "response_id": join(
            "rsp",
            ctx.account_number.take(pa.array(part.account)),
            pc.binary_join_element_wise(part.code, padded(part.seq, 4), ""),
        ),
        "account_id": ctx.account_id.take(pa.array(part.account)),
        "contact_id": ctx.contact_ids(part.account, part.contact),
        "ticket_id": pa.nulls(rows, pa.string()),
        "survey": take(SURVEYS, part.survey),
        "score": floats(part.score),
        "scale_min": ints(scale[:, 0]),
        "scale_max": ints(scale[:, 1]),
        "comment": pc.if_else(pa.array(part.has_comment), comment, pa.nulls(rows, pa.string())),
        "touchpoint": take(TOUCHPOINTS, part.touchpoint),
        "journey_stage": take(TOUCHPOINT_STAGE, part.touchpoint),
        "channel": take(SURVEY_CHANNELS, part.channel),
        "language": take(tx.LANGUAGES, lang),
        "sent_at": timestamps(part.sent),
        "responded_at": timestamps(part.responded),
    }


def survey_table(
    ctx: Context,
    draws: Draws,
    journey: Journey,
    ticket_part: tuple[dict[str, pa.Array], I64, I64],
    schema: pa.Schema,
) -> pa.Table:
    """Every survey answer of a chunk, ordered by account and answer time."""
    parts = [
        _nps(ctx, draws),
        _onboarding_ces(ctx, draws),
        _demo_csat(ctx, draws, journey),
        _website_ces(ctx, draws, journey),
        _renewal_csat(ctx, draws, journey),
        _billing_ces(ctx, draws),
    ]
    columns = [_part_columns(ctx, p) for p in parts] + [ticket_part[0]]
    account = np.concatenate([p.account for p in parts] + [ticket_part[1]])
    responded = np.concatenate([p.responded for p in parts] + [ticket_part[2]])
    part_no = np.concatenate([np.full(len(p.account), i) for i, p in enumerate(parts)]
                             + [np.full(len(ticket_part[1]), len(parts))])  # fmt: skip
    order = np.lexsort((np.arange(len(account)), part_no, responded, account))
    merged = {name: pa.concat_arrays([c[name] for c in columns]).take(pa.array(order)) for name in schema.names}
    return table(schema, merged)


def _answer_delay(u: F64, median_hours: float) -> I64:
    """Seconds between a survey going out and its answer (at least two minutes)."""
    return np.maximum(np.rint(lognormal(median_hours * HOUR, 1.0, u)), 120).astype(np.int64)


def _nps(ctx: Context, d: Draws) -> SurveyPart:
    """Relational NPS answers decided by the causal model."""
    hist = ctx.hist
    account, month, slot = np.nonzero(~np.isnan(hist.nps))
    sent = hist.nps_sent[account, month]
    responded = sent + _answer_delay(d.nps("delay")[account, month, slot], 20)
    keep = responded < ctx.window.end
    account, month, slot, sent, responded = account[keep], month[keep], slot[keep], sent[keep], responded[keep]
    score = hist.nps[account, month, slot]
    text = np.stack([d.nps(f)[account, month, slot] for f in ("text_a", "text_b", "text_c", "text_d")], axis=1)
    return SurveyPart(
        account=account,
        contact=slot,
        survey=np.full(len(account), NPS),
        score=score,
        touchpoint=np.full(len(account), PRODUCT),
        channel=np.where((slot >= 1) & (month % 2 == 0), 1, 0).astype(np.int64),
        sent=sent,
        responded=responded,
        text_u=text,
        has_comment=d.nps("comment")[account, month, slot] < np.where(score <= 6, 0.65, 0.45),
        code="n",
        seq=month * 3 + slot,
        stability=hist.recent_shock[account, month],
    )


def _static_text(d: Draws, rows: I64, rotate: int) -> F64:
    names = ["comment_a", "comment_b", "comment_c", "comment_d"]
    names = names[rotate:] + names[:rotate]
    return np.stack([d.s(n)[rows] for n in names], axis=1)


def _onboarding_ces(ctx: Context, d: Draws) -> SurveyPart:
    """CES about onboarding, two months after a new customer starts."""
    p, hist, months = ctx.profile, ctx.hist, ctx.window.months
    month = p.created_m + 2
    eligible = (p.created_m >= 0) & (month < months)
    rows = np.flatnonzero(eligible & (d.s("onb_ces") < 0.55))
    m = month[rows]
    alive = hist.hi[rows, m] > hist.lo[rows, m]
    rows, m = rows[alive], m[alive]
    sent = p.created_ts[rows] + 60 * DAY
    responded = sent + _answer_delay(d.s("onb_ces_delay")[rows], 24)
    keep = responded < ctx.window.end
    rows, m, sent, responded = rows[keep], m[keep], sent[keep], responded[keep]
    score = np.clip(np.rint(4.8 + 1.2 * (hist.h[rows, m] - 0.3) + 1.2 * norm_ppf(d.s("onb_ces_score")[rows])), 1, 7)
    return SurveyPart(
        account=rows, contact=np.full(len(rows), cat.ADMIN), survey=np.full(len(rows), CES), score=score,
        touchpoint=np.full(len(rows), ONBOARDING), channel=np.full(len(rows), EMAIL), sent=sent, responded=responded,
        text_u=_static_text(d, rows, 0), has_comment=d.s("comment_has")[rows] < 0.5, code="o",
        seq=np.ones(len(rows), np.int64),
    )  # fmt: skip


def _demo_csat(ctx: Context, d: Draws, j: Journey) -> SurveyPart:
    """CSAT after the demo, before the purchase: follows the account's fit (long-run health)."""
    p = ctx.profile
    rows = np.flatnonzero(j.demo_ok & (d.s("demo_csat") < 0.35))
    sent = j.demo[rows] + 2 * HOUR
    responded = sent + _answer_delay(d.s("demo_csat_delay")[rows], 5)
    keep = responded < ctx.window.end
    rows, sent, responded = rows[keep], sent[keep], responded[keep]
    score = np.clip(np.rint(4.2 + 0.5 * (p.mu[rows] - 0.5) + 0.8 * norm_ppf(d.s("demo_csat_score")[rows])), 1, 5)
    return SurveyPart(
        account=rows, contact=np.full(len(rows), cat.DECISION_MAKER), survey=np.full(len(rows), CSAT),
        score=score, touchpoint=np.full(len(rows), DEMO),
        channel=np.full(len(rows), EMAIL), sent=sent, responded=responded,
        text_u=_static_text(d, rows, 1), has_comment=d.s("comment_has")[rows] < 0.4, code="d",
        seq=np.ones(len(rows), np.int64),
    )  # fmt: skip


def _website_ces(ctx: Context, d: Draws, j: Journey) -> SurveyPart:
    """CES on the website (how easy was it to find what you needed), before the purchase."""
    p = ctx.profile
    rows = np.flatnonzero(j.web_ok & (d.s("web_ces") < 0.15))
    sent = j.web[rows] + 60
    responded = sent + 90 + (d.s("web_ces")[rows] * 1200).astype(np.int64)
    score = np.clip(np.rint(5.2 + 0.6 * (p.mu[rows] - 0.5) + 1.2 * norm_ppf(d.s("web_ces_score")[rows])), 1, 7)
    return SurveyPart(
        account=rows, contact=np.full(len(rows), cat.DECISION_MAKER), survey=np.full(len(rows), CES),
        score=score, touchpoint=np.full(len(rows), WEBSITE),
        channel=np.full(len(rows), WEB), sent=sent, responded=responded,
        text_u=_static_text(d, rows, 2), has_comment=d.s("comment_has")[rows] < 0.3, code="w",
        seq=np.ones(len(rows), np.int64),
    )  # fmt: skip


def _renewal_csat(ctx: Context, d: Draws, j: Journey) -> SurveyPart:
    """CSAT after the renewal call of annual contracts."""
    hist = ctx.hist
    account, month = np.nonzero(j.renewal_ok & (d.m("renewal_csat") < 0.3))
    sent = j.renewal[account, month] + DAY
    responded = sent + _answer_delay(d.m("renewal_csat_delay")[account, month], 24)
    keep = responded < ctx.window.end
    account, month, sent, responded = account[keep], month[keep], sent[keep], responded[keep]
    z = norm_ppf(d.m("renewal_csat_score")[account, month])
    score = np.clip(np.rint(4.0 + 0.8 * (hist.h[account, month] - 0.6) + 0.9 * z), 1, 5)
    return SurveyPart(
        account=account, contact=np.full(len(account), cat.DECISION_MAKER), survey=np.full(len(account), CSAT),
        score=score, touchpoint=np.full(len(account), RENEWAL), channel=np.full(len(account), EMAIL), sent=sent,
        responded=responded, text_u=_monthly_text(d, account, month), has_comment=_monthly_has(d, account, month),
        code="r", seq=month,
    )  # fmt: skip


def _billing_ces(ctx: Context, d: Draws) -> SurveyPart:
    """CES about billing after a few invoices; overdue invoices make it harder."""
    hist = ctx.hist
    account, month = np.nonzero((hist.invoice_kind != INV_NONE) & (d.m("invoice_ces") < 0.03))
    sent = hist.invoice_ts[account, month] + DAY
    responded = sent + _answer_delay(d.m("invoice_ces_delay")[account, month], 24)
    keep = responded < ctx.window.end
    account, month, sent, responded = account[keep], month[keep], sent[keep], responded[keep]
    overdue = invoice_status(ctx, d)[account, month] == 2
    z = norm_ppf(d.m("invoice_ces_score")[account, month])
    score = np.clip(np.rint(5.5 - 2.0 * overdue + 0.4 * (hist.h[account, month] - 0.6) + 1.1 * z), 1, 7)
    billing = np.where(ctx.profile.n_contacts >= 4, cat.BILLING, cat.DECISION_MAKER)[account]
    return SurveyPart(
        account=account, contact=billing, survey=np.full(len(account), CES), score=score,
        touchpoint=np.full(len(account), BILLING), channel=np.full(len(account), EMAIL), sent=sent, responded=responded,
        text_u=_monthly_text(d, account, month), has_comment=_monthly_has(d, account, month), code="b", seq=month,
    )  # fmt: skip


def _monthly_text(d: Draws, account: I64, month: I64) -> F64:
    return np.stack([d.m(f)[account, month] for f in ("text_a", "text_b", "text_c", "text_d")], axis=1)


def _monthly_has(d: Draws, account: I64, month: I64) -> Bool:
    return np.asarray(d.m("text_e")[account, month] < 0.4, bool)


# --- Touchpoints -----------------------------------------------------------------------------------

TOUCHPOINT_NAMES = (
    "website_visit", "demo", "proposal", "contract_signed", "kickoff", "onboarding_call", "training", "qbr",
    "renewal_call", "support_visit",
)  # fmt: skip
_TP_STAGE = ("before", "before", "before", "during", "during", "during", "during", "after", "after", "after")
_TP_CHANNEL = ("web", "other", "email", "email", "other", "phone", "other", "other", "phone", "other")
(TP_WEB, TP_DEMO, TP_PROPOSAL, TP_CONTRACT, TP_KICKOFF, TP_ONB_CALL, TP_TRAINING, TP_QBR, TP_RENEWAL,
 TP_VISIT) = range(10)  # fmt: skip


@dataclass
class Journey:
    """Moments of each account's journey that surveys refer to."""

    web: I64
    web_ok: Bool
    demo: I64
    demo_ok: Bool
    renewal: I64  # (n, M)
    renewal_ok: Bool  # (n, M)


def journey(ctx: Context, d: Draws) -> Journey:
    """Website visit and demo before the purchase, renewal calls of annual contracts."""
    p, hist, w = ctx.profile, ctx.hist, ctx.window
    new = p.created_m >= 0
    web = p.created_ts - (20 * DAY + d.s("web_visit_1") * 70 * DAY).astype(np.int64)
    demo = business_time(p.created_ts - (10 * DAY + d.s("demo_day") * 30 * DAY).astype(np.int64))
    lo, hi = hist.lo, hist.hi
    renewal = _in_month(
        business_time(lo + (d.m("renewal_day") * np.maximum(hi - lo, 1) * 0.8).astype(np.int64)), lo, hi
    )
    return Journey(
        web=web,
        web_ok=new & (web >= w.start),
        demo=demo,
        demo_ok=new & (demo >= w.start),
        renewal=renewal,
        renewal_ok=hist.renewal_call & (hi > lo),
    )


def touchpoints_table(ctx: Context, d: Draws, j: Journey, schema: pa.Schema) -> pa.Table:
    """Every touchpoint of a chunk, ordered by account and time."""
    p, w = ctx.profile, ctx.window
    new = p.created_m >= 0
    c = p.created_ts
    rows = _Rows(w.start, w.end)
    add = rows.add
    visits = 1 + (d.s("web_visits") * 3).astype(np.int64)
    for v, name in enumerate(("web_visit_1", "web_visit_2", "web_visit_3")):
        add(new & (visits > v), c - (20 * DAY + d.s(name) * 70 * DAY).astype(np.int64), TP_WEB, cat.DECISION_MAKER)
    add(new, j.demo, TP_DEMO, cat.DECISION_MAKER)
    proposal = business_time(c - (3 * DAY + d.s("proposal_day") * 12 * DAY).astype(np.int64))
    add(new, proposal, TP_PROPOSAL, cat.DECISION_MAKER)
    add(new, c, TP_CONTRACT, cat.DECISION_MAKER)
    meetings = (
        ("kickoff_day", 2, 8, TP_KICKOFF, cat.DECISION_MAKER, new),
        ("onb_call_day", 10, 15, TP_ONB_CALL, cat.ADMIN, new),
        ("training_day", 20, 25, TP_TRAINING, cat.ADMIN, new),
        ("training_2_day", 45, 30, TP_TRAINING, cat.CHAMPION, new & (p.segment > cat.SMB) & (d.s("training_2") < 0.6)),
    )
    for field, after_days, spread_days, tp_kind, who, mask in meetings:
        add(mask, business_time(c + ((after_days + d.s(field) * spread_days) * DAY).astype(np.int64)), tp_kind, who)
    _after(ctx, d, j, rows)
    account, ts, kind, contact = rows.arrays()
    order = np.lexsort((np.arange(len(account)), kind, ts, account))
    account, ts, kind, contact = account[order], ts[order], kind[order], contact[order]
    seq = np.arange(len(account)) - np.searchsorted(account, account)
    visit = kind == TP_VISIT
    l2 = cat.AGENTS[1]
    owner_idx = np.where(visit, len(cat.CSMS) + (p.index[account] % len(l2)), p.csm[account])
    owners = tuple(c.email for c in cat.CSMS) + l2
    return table(
        schema,
        {
            "touchpoint_id": join("tp", ctx.account_number.take(pa.array(account)), padded(seq + 1, 3)),
            "account_id": ctx.account_id.take(pa.array(account)),
            "contact_id": ctx.contact_ids(account, np.minimum(contact, p.n_contacts[account] - 1)),
            "name": take(TOUCHPOINT_NAMES, kind),
            "journey_stage": take(_TP_STAGE, kind),
            "channel": take(_TP_CHANNEL, kind),
            "occurred_at": timestamps(ts),
            "owner": take(owners, owner_idx, kind != TP_WEB),
        },
    )


def _in_month(ts: I64, lo: I64, hi: I64) -> I64:
    return np.asarray(np.clip(ts, lo, np.maximum(hi - 1, lo)), np.int64)


def business_time(ts: I64) -> I64:
    """Meetings happen on weekdays between 12:00 and 20:00 UTC (9:00-17:00 in São Paulo): a weekend moment
    moves to Monday and the time of day is squeezed into those hours."""
    day = ts // DAY
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    day = day + np.select([weekday == 5, weekday == 6], [2, 1], 0)
    return np.asarray(day * DAY + 12 * HOUR + (ts % DAY) // 3, np.int64)


class _Rows:
    """Touchpoints collected rule by rule: (account, time, touchpoint, contact) inside the window."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end
        self.parts: list[tuple[I64, I64, I64, I64]] = []

    def add(self, mask: Bool, ts: I64, kind: int, contact: I64 | int, months: int = 1) -> None:
        """Rows where ``mask``; arrays are per account, or per (account, month) cell when ``months`` > 1."""
        idx = np.flatnonzero(mask & (ts >= self.start) & (ts < self.end))
        who = np.full(len(idx), contact) if isinstance(contact, int) else contact[idx]
        kinds = np.full(len(idx), kind, np.int64)
        self.parts.append((idx // months, ts[idx], kinds, np.asarray(who, np.int64)))

    def arrays(self) -> tuple[I64, I64, I64, I64]:
        """All rows so far, concatenated."""
        a, t, k, c = (np.concatenate([p[i] for p in self.parts]).astype(np.int64) for i in range(4))
        return a, t, k, c


def _after(ctx: Context, d: Draws, j: Journey, rows: _Rows) -> None:
    """QBRs for Mid-Market and Enterprise, renewal calls, on-site visits after incidents."""
    p, hist = ctx.profile, ctx.hist
    months = ctx.window.months
    month = np.arange(months)[None, :]
    tenure = month - hist.start_m[:, None]
    present = hist.hi > hist.lo
    qbr = present & (p.segment[:, None] > cat.SMB) & (tenure >= 3) & (tenure % 3 == 0)
    lo, hi = hist.lo, hist.hi
    qbr_ts = _in_month(business_time(lo + (d.m("qbr_day") * np.maximum(hi - lo, 1) * 0.9).astype(np.int64)), lo, hi)
    qbr_contact = np.where(d.m("qbr_contact") < 0.6, cat.DECISION_MAKER, cat.CHAMPION)
    visit = (
        hist.shock & (p.segment[:, None] > cat.SMB) & (d.m("visit") < np.where(p.segment == cat.ENT, 0.7, 0.3)[:, None])
    )
    visit_ts = _in_month(business_time(hist.shock_ts + DAY + (d.m("visit_day") * 4 * DAY).astype(np.int64)), lo, hi)
    for mask, ts, kind, contact in (
        (qbr, qbr_ts, TP_QBR, qbr_contact),
        (j.renewal_ok, j.renewal, TP_RENEWAL, np.full(qbr.shape, cat.DECISION_MAKER)),
        (visit & (visit_ts > hist.shock_ts), visit_ts, TP_VISIT, np.full(qbr.shape, cat.ADMIN)),
    ):
        rows.add(mask.ravel(), ts.ravel(), kind, contact.ravel(), months)


# --- Feedback --------------------------------------------------------------------------------------

FEEDBACK_KINDS = ("review", "mention", "comment")
_REVIEW_SITES = ("g2", "capterra", "reclame_aqui", "app_store")
_MENTION_SITES = ("linkedin", "twitter")


def feedback_table(ctx: Context, d: Draws, schema: pa.Schema) -> pa.Table:
    """Reviews, social mentions and community comments: written mostly by the very happy and the unhappy."""
    hist = ctx.hist
    present = hist.hi > hist.lo
    rate = 0.008 + 0.02 * np.abs(hist.h - 0.6)
    account, month = np.nonzero(present & (d.m("feedback") < rate))
    h = hist.h[account, month]
    u_kind = d.m("feedback_kind")[account, month]
    kind = np.select([u_kind < 0.55, u_kind < 0.85], [0, 1], 2).astype(np.int64)
    value = 3.6 + 1.1 * (h - 0.6) + 0.9 * norm_ppf(d.m("feedback_score")[account, month])
    rating = np.clip(np.rint(value), 1, 5)
    pol = np.select([rating <= 2, rating <= 3], [tx.NEG, tx.NEU], tx.POS).astype(np.int64)
    lang = ctx.lang[account]
    text_u = np.stack([d.m(f)[account, month] for f in ("text_a", "text_b", "text_c", "text_d")], axis=1)
    group = np.where(d.m("text_e")[account, month] < 0.25, tx.G_SUPPORT, tx.G_PRODUCT).astype(np.int64)
    text = tx.compose(lang, pol, group, text_u, stability=hist.recent_shock[account, month])
    u_channel = d.m("feedback_channel")[account, month]
    review_site = np.minimum((u_channel * 4).astype(np.int64), 3)
    review_site = np.where((review_site == 2) & (lang == tx.EN), 0, review_site)
    sites = (*_REVIEW_SITES, *_MENTION_SITES, "community")
    channel = np.select([kind == 0, kind == 1], [review_site, 4 + (u_channel < 0.6)], 6).astype(np.int64)
    lo, hi = hist.lo[account, month], hist.hi[account, month]
    created = lo + (d.m("feedback_day")[account, month] * (hi - lo)).astype(np.int64)
    is_review = kind == 0
    return table(
        schema,
        {
            "feedback_id": join("fb", ctx.account_number.take(pa.array(account)), padded(month, 3)),
            "account_id": ctx.account_id.take(pa.array(account)),
            "contact_id": ctx.contact_ids(account, ctx.pick_contact(account, d.m("feedback_contact")[account, month])),
            "kind": take(FEEDBACK_KINDS, kind),
            "text": text,
            "title": pc.if_else(
                pa.array(is_review), tx.titles(lang, pol, text_u[:, 2]), pa.nulls(len(kind), pa.string())
            ),
            "rating": floats(rating, is_review),
            "rating_scale": ints(np.full(len(kind), 5), is_review),
            "touchpoint": take(("product", "support"), (group == tx.G_SUPPORT).astype(np.int64)),
            "journey_stage": take(("after",), np.zeros(len(kind), np.int64)),
            "channel": take(sites, channel),
            "language": take(tx.LANGUAGES, lang),
            "created_at": timestamps(created),
        },
    )
