"""Customer experience: NPS and its shares, CSAT, CES (mean, top-2, Net Effort Score), survey response rate.

One observation is one survey **answer** (``response_id``), in the period of its ``responded_at``
(the response rate is the exception: one *sent survey*, in the period of its ``sent_at``).

Every answer is first resolved the same way (:func:`answers`):

- its **account** is the answer's ``account_id``, else the respondent contact's account;
- its **persona** is the respondent contact's persona, else the account's persona;
- its **language** is the answer's language, else the respondent contact's preferred language;
- its **scale** is ``scale_min``–``scale_max``, and where the source gave none, the usual scale of the
  survey kind — NPS 0–10, CSAT 1–5, CES 1–7 (the same defaults the ``surveys`` ingest preset applies);
- it is **rated** when it has a score inside its scale; unrated answers (null score) and scores outside
  the scale are excluded from every score metric (they still count as sent for the response rate).

Each metric accepts only the scales its definition is about and says so in its card: NPS only 0–10,
``ces_mean`` only 1–7, ``ces_top2`` and ``net_effort_score`` only 1–5; CSAT maps every scale to good/bad.
CES answers are read as *higher = easier* (1 = very difficult / strongly disagree that it was easy,
top of the scale = very easy / strongly agree); a source whose scale runs the other way must be reversed
when mapped (``score: {sql: "6 - score"}`` on 1–5).
"""

from __future__ import annotations

from typing import Any

import ibis

from sinergia.metrics.context import MetricContext
from sinergia.metrics.registry import Direction, Metric, register

#: The usual scale of each survey kind, used when an answer does not carry its own.
DEFAULT_SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
DIMENSIONS = ("touchpoint", "journey_stage", "channel", "persona", "language")
_KEEP = ("response_id", "contact_id", "survey", "score", "scale_min", "scale_max", "responded_at")
_COLUMNS = ("period_start", "account_id", *_KEEP, *DIMENSIONS)


def answers(ctx: MetricContext) -> Any:
    """Every survey row, with account, persona, language and scale resolved (no time filter)."""
    r = ctx.table("survey_responses")
    contacts = ctx.table("contacts")
    contacts = contacts.select(
        _c_id=contacts.contact_id, _c_account=contacts.account_id, _c_persona=contacts.persona,
        _c_language=contacts.language,
    )
    j = r.left_join(contacts, r.contact_id == contacts._c_id)
    j = j.mutate(_account=ibis.coalesce(j.account_id, j._c_account))
    accounts = ctx.table("accounts")
    accounts = accounts.select(_a_id=accounts.account_id, _a_persona=accounts.persona)
    j = j.left_join(accounts, j._account == accounts._a_id)
    survey = j.survey
    default_min = ibis.cases(*((survey == k, lo) for k, (lo, _) in DEFAULT_SCALES.items()), else_=ibis.null("int64"))
    default_max = ibis.cases(*((survey == k, hi) for k, (_, hi) in DEFAULT_SCALES.items()), else_=ibis.null("int64"))
    return j.select(
        response_id=j.response_id,
        account_id=j._account,
        contact_id=j.contact_id,
        survey=survey,
        score=j.score.cast("float64"),
        scale_min=ibis.coalesce(j.scale_min, default_min).cast("int64"),
        scale_max=ibis.coalesce(j.scale_max, default_max).cast("int64"),
        touchpoint=j.touchpoint,
        journey_stage=j.journey_stage,
        channel=j.channel,
        persona=ibis.coalesce(j._c_persona, j._a_persona),
        language=ibis.coalesce(j.language, j._c_language),
        sent_at=j.sent_at,
        responded_at=j.responded_at,
    )


def rated(ctx: MetricContext, survey: str, scale: tuple[int, int] | None = None) -> Any:
    """Rated answers of one survey kind (on exactly ``scale`` when given), in the period of ``responded_at``."""
    a = answers(ctx)
    keep = (
        (a.survey == survey) & a.score.notnull() & a.scale_max.notnull() & a.scale_min.notnull()
        & (a.scale_max > a.scale_min) & (a.score >= a.scale_min) & (a.score <= a.scale_max)
    )
    if scale is not None:
        keep = keep & (a.scale_min == scale[0]) & (a.scale_max == scale[1])
    return ctx.in_periods(a.filter(keep), "responded_at")


# -- observation builders -----------------------------------------------------------------------------


def _nps(ctx: MetricContext) -> Any:
    t = rated(ctx, "nps", DEFAULT_SCALES["nps"])
    return t.select(
        *_COLUMNS,
        promoter=ibis.ifelse(t.score >= 9, 1, 0),
        detractor=ibis.ifelse(t.score <= 6, 1, 0),
    )


def _nps_share(kind: str) -> Any:
    def build(ctx: MetricContext) -> Any:
        t = rated(ctx, "nps", DEFAULT_SCALES["nps"])
        hit = {"promoter": t.score >= 9, "passive": (t.score > 6) & (t.score < 9), "detractor": t.score <= 6}[kind]
        return t.select(*_COLUMNS, num=ibis.ifelse(hit, 1, 0), den=ibis.literal(1))

    return build


def csat_good(score: Any, scale_min: Any, scale_max: Any) -> Any:
    """Good answers: top box on scales of 2–3 points (1–2: 2, 1–3: 3), top-2 boxes on 4 points or more."""
    points = scale_max - scale_min + 1
    return ibis.ifelse(points <= 3, score >= scale_max, score >= scale_max - 1)


def _csat(ctx: MetricContext) -> Any:
    t = rated(ctx, "csat")
    good = csat_good(t.score, t.scale_min, t.scale_max)
    return t.select(*_COLUMNS, num=ibis.ifelse(good, 1, 0), den=ibis.literal(1))


def _ces_mean(ctx: MetricContext) -> Any:
    t = rated(ctx, "ces", (1, 7))
    return t.select(*_COLUMNS, x=t.score)


def _ces_top2(ctx: MetricContext) -> Any:
    t = rated(ctx, "ces", (1, 5))
    return t.select(*_COLUMNS, num=ibis.ifelse(t.score >= 4, 1, 0), den=ibis.literal(1))


def _net_effort(ctx: MetricContext) -> Any:
    t = rated(ctx, "ces", (1, 5))
    top2, bottom2 = ibis.ifelse(t.score >= 4, 1, 0), ibis.ifelse(t.score <= 2, 1, 0)
    # the 'nps' aggregation computes 100 × (Σ promoter − Σ detractor) / n with the multinomial interval
    return t.select(*_COLUMNS, top2=top2, bottom2=bottom2, promoter=top2, detractor=bottom2)


def _response_rate(ctx: MetricContext) -> Any:
    a = answers(ctx)
    sent = ctx.in_periods(a.filter(a.sent_at.notnull()), "sent_at")
    answered = sent.score.notnull() & sent.responded_at.notnull() & (sent.responded_at < ibis.literal(ctx.cutoff))
    return sent.select(
        "period_start", "account_id", *_KEEP, "sent_at", *DIMENSIONS,
        num=ibis.ifelse(answered, 1, 0), den=ibis.literal(1),
    )


# -- registrations ----------------------------------------------------------------------------------

_INPUTS = ("survey_responses", "contacts", "accounts")
_UNRATED = "unrated answers (null score) and scores outside their scale are excluded"
_SCALE_DEFAULT = "an answer without a scale takes its survey kind's usual one (NPS 0–10, CSAT 1–5, CES 1–7)"
_EMPTY = "no rated answer in the period → null"
_RESOLVED = ("account: the answer's, else the respondent contact's; persona: the contact's, else the account's; "
             "language: the answer's, else the contact's")
_NPS_ONLY = "only NPS answers on 0–10 count; NPS answers on any other scale are excluded, not rescaled"

register(Metric(
    "nps", "cx", {"en": "Net Promoter Score", "pt-BR": "Net Promoter Score (NPS)"}, "nps", "higher", "nps",
    _INPUTS,
    "100 × (promoters − detractors) / rated answers; promoters score 9–10, passives 7–8, detractors 0–6 on 0–10",
    _nps, (_NPS_ONLY, _UNRATED, _SCALE_DEFAULT, _EMPTY, _RESOLVED,
           "every answer counts (a contact answering twice counts twice); passives stay in the denominator"),
    variant="standard NPS (Reichheld; anchors §2.3); interval: multinomial normal approximation, "
    "Var = (p + d − (p − d)²) / n",
    dimensions=DIMENSIONS, row_keys=("response_id",),
))
_SHARES: tuple[tuple[str, str, Direction, str, str], ...] = (
    ("promoter", "9–10", "higher", "NPS promoter share", "Proporção de promotores (NPS)"),
    ("passive", "7–8", "neutral", "NPS passive share", "Proporção de neutros (NPS)"),
    ("detractor", "0–6", "lower", "NPS detractor share", "Proporção de detratores (NPS)"),
)
for _kind, _range, _direction, _en, _pt in _SHARES:
    register(Metric(
        f"nps_{_kind}_share", "cx", {"en": _en, "pt-BR": _pt}, "ratio", _direction, "proportion", _INPUTS,
        f"NPS answers scoring {_range} / rated NPS answers on 0–10",
        _nps_share(_kind), (_NPS_ONLY, _UNRATED, _SCALE_DEFAULT, _EMPTY, _RESOLVED),
        variant="share of rated 0–10 NPS answers, Wilson interval",
        dimensions=DIMENSIONS, row_keys=("response_id",),
    ))
register(Metric(
    "csat", "cx", {"en": "CSAT", "pt-BR": "Satisfação do cliente (CSAT)"}, "ratio", "higher", "proportion",
    _INPUTS,
    "good answers / rated CSAT answers; good = top box on 2- and 3-point scales (1–2: 2; 1–3: 3), top-2 boxes "
    "on 4 points or more (1–5: 4–5; 1–7: 6–7; 0–10: 9–10)",
    _csat, (_UNRATED, _SCALE_DEFAULT, _EMPTY, _RESOLVED,
            "CSAT answers on every scale count, each mapped to good/bad, so mixed scales pool as one share",
            "ticket-level csat_score on the tickets table is not read here (survey_responses only)"),
    variant="Zendesk good/bad mapping (1–2, 1–3, 1–5 per anchors §2.3) generalised as top-2 boxes (Simplesat "
    "top-2 on 1–5); CSAT% = good / (good + bad), unrated excluded; Wilson interval",
    dimensions=DIMENSIONS, row_keys=("response_id",),
))
_CES_DIRECTION = ("read as higher = easier (1 = very difficult / strongly disagree it was easy, top = very easy); "
                  "reverse other sources when mapping")
register(Metric(
    "ces_mean", "cx", {"en": "Customer Effort Score (mean, 1–7)", "pt-BR": "Customer Effort Score (média, 1–7)"},
    "score", "higher", "mean", _INPUTS,
    "mean score of rated CES answers on the 1–7 agreement scale ('<company> made it easy for me…')",
    _ces_mean, ("only CES answers on 1–7 count; other scales are excluded", _CES_DIRECTION, _UNRATED,
                _SCALE_DEFAULT, _EMPTY, _RESOLVED),
    variant="anchors §2.3 CES (a): 7-point agreement, 1 strongly disagree … 7 strongly agree, higher = easier; "
    "normal-approximation interval for the mean",
    dimensions=DIMENSIONS, row_keys=("response_id",),
))
register(Metric(
    "ces_top2", "cx", {"en": "Customer Effort Score (top-2, 1–5)", "pt-BR": "Customer Effort Score (top-2, 1–5)"},
    "ratio", "higher", "proportion", _INPUTS,
    "CES answers scoring 4–5 (easy) / rated CES answers on 1–5",
    _ces_top2, ("only CES answers on 1–5 count; other scales are excluded", _CES_DIRECTION, _UNRATED, _EMPTY,
                _RESOLVED),
    variant="anchors §2.3 CES (b) top-2 share, with the scale oriented like (a): 5 = very easy (very little "
    "effort), so the top-2 boxes are the low-effort answers and higher is better; Wilson interval",
    dimensions=DIMENSIONS, row_keys=("response_id",),
))
register(Metric(
    "net_effort_score", "cx", {"en": "Net Effort Score", "pt-BR": "Net Effort Score (esforço líquido)"}, "nps",
    "higher", "nps", _INPUTS,
    "100 × (answers 4–5 − answers 1–2) / rated CES answers on 1–5 (−100 … +100; 3 is neutral)",
    _net_effort, ("only CES answers on 1–5 count; other scales are excluded", _CES_DIRECTION, _UNRATED, _EMPTY,
                  _RESOLVED, "unit shown as points −100 … +100, like NPS"),
    variant="anchors §2.3 CES (b) Net Effort Score = (%top-2 − %bottom-2) × 100, top = easy; multinomial "
    "interval as for NPS",
    dimensions=DIMENSIONS, row_keys=("response_id",),
))
register(Metric(
    "survey_response_rate", "cx", {"en": "Survey response rate", "pt-BR": "Taxa de resposta de pesquisas"},
    "ratio", "higher", "proportion", _INPUTS,
    "surveys sent in the period that have a score by the as-of cut-off / surveys sent in the period "
    "(rows with sent_at in the period)",
    _response_rate, (
        "cohort of sends: a survey sent late in a period and answered after it still counts for the period it "
        "was sent in, so the latest periods rise as answers arrive",
        "answers recorded after the as-of cut-off do not count as responses",
        "rows without sent_at are not sends and are left out",
        "only meaningful when the source exports unanswered sends (rows with a null score); a source that "
        "exports answers only gives 100 %",
        "no send in the period → null", _RESOLVED,
    ),
    variant="response rate by send cohort, split by survey kind with by=['survey']; Wilson interval",
    dimensions=("survey", *DIMENSIONS), row_keys=("response_id",),
))
