"""Evaluate every playbook as of a date and act: tasks, outbox messages, fields; every firing stored with its inputs.

``run_playbooks(workspace, as_of)``:

1. computes per-account **facts** as of the date from the canonical tables (Ibis on the workspace engine; see
   :data:`sinergia.playbooks.config.FACTS`), plus the latest stored **scores** (``sinergia.scores.history``);
2. for each enabled playbook, evaluates its **trigger** (which accounts, with what evidence), then its
   **conditions**, then the guardrails: one firing per playbook, account and day (re-running a day changes
   nothing), the **cooldown** and the **frequency** limit, both counted on stored firings;
3. unless ``dry_run``, in one store transaction: stores the firing (reason + the as-of snapshot of every input it
   used), runs the actions — a task (an open task of the same account, type and reason is *updated*, not
   duplicated), outbox messages (e-mail, signed webhook, Slack; delivered by :func:`outbox.deliver_due`) or a
   field/tag — and adds an audit row.

The "as of" cut-off is the end of the as-of day: events with a time before ``as_of + 1 day`` (UTC) count.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from sinergia.errors import ConfigError
from sinergia.playbooks.config import (
    ACCOUNT_COLUMNS,
    Condition,
    EmailAction,
    MetricThreshold,
    MilestoneEvent,
    Playbook,
    PlaybookSet,
    RenewalEvent,
    Schedule,
    ScoreBand,
    ScoreThreshold,
    SentimentEvent,
    SetFieldAction,
    SlackAction,
    SurveyAction,
    SurveyEvent,
    TaskAction,
    TicketEvent,
    WebhookAction,
    load_playbooks,
)
from sinergia.playbooks.routing import fold
from sinergia.playbooks.sentiment import sentiment_firings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sinergia.workspace.workspace import Workspace

CLV_SCORE = "clv_12m"


@dataclass
class Firing:
    """One account (or portfolio group) a playbook fires for, and why."""

    playbook_id: str
    account_id: str
    as_of: dt.date
    trigger_kind: str
    reason: str
    inputs: dict[str, Any]
    actions: list[dict[str, Any]] = field(default_factory=list)
    firing_id: int | None = None
    held_out: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"playbook": self.playbook_id, "account_id": self.account_id, "as_of": self.as_of.isoformat(),
                "trigger": self.trigger_kind, "reason": self.reason, "actions": self.actions,
                "firing_id": self.firing_id, "held_out": self.held_out, "inputs": self.inputs}


@dataclass
class RunReport:
    as_of: dt.date
    dry_run: bool
    firings: list[Firing] = field(default_factory=list)
    #: playbook id → {"candidates", "passed_conditions", "fired", "suppressed_*"} counts
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> list[dict[str, Any]]:
        return [{"playbook": k, **v} for k, v in self.counts.items()]


# -- facts ------------------------------------------------------------------------------------------------
def _cutoff(as_of: dt.date) -> dt.datetime:
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())


def _plain(value: Any) -> Any:
    """JSON-safe: timestamps to ISO text, NaN/NA to None, numpy scalars to Python."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def account_facts(workspace: Workspace, as_of: dt.date) -> pd.DataFrame:
    """One row per account: the accounts columns plus the facts of :data:`config.FACTS` (no scores)."""
    import ibis

    cutoff = _cutoff(as_of)
    con = workspace.connect()
    acc = con.table("accounts")
    accounts = acc.select(*[c for c in ACCOUNT_COLUMNS if c in acc.columns]).to_pandas()

    usage = con.table("usage_events")
    recent = usage.filter((usage.occurred_at < cutoff) & (usage.occurred_at >= cutoff - dt.timedelta(days=30))
                          & usage.account_id.notnull())
    active = recent.group_by("account_id").aggregate(active_users_30d=recent.contact_id.nunique()).to_pandas()

    surveys = con.table("survey_responses")
    nps = surveys.filter((surveys.survey == "nps") & (surveys.responded_at < cutoff) & surveys.score.notnull()
                         & surveys.account_id.notnull())
    window = ibis.window(group_by=nps.account_id, order_by=[ibis.desc(nps.responded_at), ibis.desc(nps.response_id)])
    nps = nps.mutate(_n=ibis.row_number().over(window))
    latest_nps = nps.filter(nps._n == 0).select("account_id", last_nps=nps.score,
                                                 last_nps_at=nps.responded_at).to_pandas()

    from sinergia.playbooks.effect import mrr_segments_frame

    segments = mrr_segments_frame(workspace, as_of)  # the metrics' MRR step function (changes included)
    end = pd.Timestamp(cutoff)
    live = segments[(segments["valid_from"] < end) & (segments["valid_to"].isna() | (segments["valid_to"] >= end))]
    mrr = live.groupby("account_id", as_index=False)["mrr"].sum()
    mrr["mrr"] = mrr["mrr"].astype(float)

    tickets = con.table("tickets")
    still_open = tickets.filter((tickets.created_at < cutoff) & tickets.account_id.notnull()
                                & (tickets.solved_at.isnull() | (tickets.solved_at >= cutoff))
                                & (tickets.closed_at.isnull() | (tickets.closed_at >= cutoff)))
    open_tickets = still_open.group_by("account_id").aggregate(open_tickets=still_open.count()).to_pandas()

    facts = accounts
    for part in (active, latest_nps, mrr, open_tickets):
        facts = facts.merge(part, on="account_id", how="left")
    day = pd.Timestamp(as_of)
    created = pd.to_datetime(facts["created_at"])
    renewal = pd.to_datetime(facts["renewal_at"])
    facts["account_age_days"] = (day - created.dt.normalize()).dt.days
    facts["days_to_renewal"] = (renewal.dt.normalize() - day).dt.days
    facts["active_users_30d"] = facts["active_users_30d"].fillna(0).astype(int)
    licenses = pd.to_numeric(facts["licenses"], errors="coerce")
    facts["license_utilisation"] = (facts["active_users_30d"] / licenses).where(licenses > 0)
    facts["last_nps_days"] = (day - pd.to_datetime(facts["last_nps_at"]).dt.normalize()).dt.days
    facts["nps_category"] = pd.cut(facts["last_nps"], bins=[-math.inf, 6, 8, math.inf],
                                   labels=["detractor", "passive", "promoter"]).astype(object)
    facts["mrr"] = facts["mrr"].fillna(0.0)
    facts["open_tickets"] = facts["open_tickets"].fillna(0).astype(int)
    return facts.set_index("account_id", drop=False)


def _score_frame(workspace: Workspace, score: str, as_of: dt.date) -> pd.DataFrame:
    from sinergia.scores.history import latest_scores

    frame = latest_scores(workspace, score, as_of)
    return frame.set_index("account_id", drop=False) if len(frame) else frame


def add_scores(workspace: Workspace, facts: pd.DataFrame, as_of: dt.date, scores: Iterable[str]) -> None:
    """Adds ``score:<s>``, ``band:<s>``, ``trend:<s>`` and ``score_as_of:<s>`` columns, and ``clv_tier``."""
    for score in sorted(set(scores) | {CLV_SCORE}):
        frame = _score_frame(workspace, score, as_of)
        for prefix, column in (("score", "value"), ("band", "band"), ("trend", "trend"), ("score_as_of", "as_of")):
            facts[f"{prefix}:{score}"] = frame[column].reindex(facts.index) if len(frame) else None
    clv = pd.to_numeric(facts[f"score:{CLV_SCORE}"], errors="coerce")
    basis = CLV_SCORE
    if clv.notna().sum() == 0:
        clv, basis = facts["mrr"].where(facts["mrr"] > 0), "mrr"
    rank = clv.rank(pct=True, method="max", ascending=False)  # 0.2 = in the top 20 %
    facts["clv_tier"] = pd.Series(
        [None if pd.isna(r) else "high" if r <= 0.2 else "medium" if r <= 0.5 else "low" for r in rank],
        index=facts.index, dtype=object)
    facts["clv_tier_basis"] = basis


# -- conditions -------------------------------------------------------------------------------------------
def _compare(left: Any, op: str, right: Any) -> bool:
    missing = left is None or (isinstance(left, float) and math.isnan(left))
    if op == "is_null":
        return missing
    if op == "not_null":
        return not missing
    if missing:
        return False
    if op == "in":
        return left in right or fold(str(left)) in {fold(str(v)) for v in right}
    if op == "not_in":
        return not (left in right or fold(str(left)) in {fold(str(v)) for v in right})
    if isinstance(right, str) and isinstance(left, str):
        left, right = fold(left), fold(right)
    try:
        if op == "==":
            return bool(left == right)
        if op == "!=":
            return bool(left != right)
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:
        return False


def conditions_hold(row: dict[str, Any], conditions: list[Condition]) -> tuple[bool, list[str]]:
    """All conditions hold? And the readable checks (``license_utilisation=0.95 > 0.9``)."""
    seen = []
    for condition in conditions:
        value = _plain(row.get(condition.field))
        ok = _compare(value, condition.op, condition.value)
        seen.append(f"{condition.field}={value!r} {condition.op} {condition.value!r}: {'yes' if ok else 'no'}")
        if not ok:
            return False, seen
    return True, seen


# -- triggers ---------------------------------------------------------------------------------------------
@dataclass
class _Context:
    workspace: Workspace
    as_of: dt.date
    facts: pd.DataFrame
    metric_settings: Any
    warnings: list[str]


def _words(text: str) -> str:
    return f" {re.sub(r'[^0-9a-z]+', ' ', fold(text))} "


def _trigger_survey(ctx: _Context, trig: SurveyEvent) -> dict[str, dict[str, Any]]:
    cutoff = _cutoff(ctx.as_of)
    t = ctx.workspace.table("survey_responses")
    keep = (t.survey == trig.survey) & (t.responded_at < cutoff) & t.score.notnull() & t.account_id.notnull()
    keep = keep & (t.responded_at >= cutoff - dt.timedelta(days=trig.within_days))
    if trig.max_score is not None:
        keep = keep & (t.score <= trig.max_score)
    if trig.min_score is not None:
        keep = keep & (t.score >= trig.min_score)
    rows = t.filter(keep).select("account_id", "response_id", "score", "responded_at", "comment").to_pandas()
    out: dict[str, dict[str, Any]] = {}
    for account_id, group in rows.sort_values("responded_at").groupby("account_id"):
        answers = [_plain(r) for r in group.drop(columns="account_id").to_dict(orient="records")]
        last = answers[-1]
        bound = " and ".join(p for p in (
            f"≤ {trig.max_score:g}" if trig.max_score is not None else "",
            f"≥ {trig.min_score:g}" if trig.min_score is not None else "") if p)
        out[str(account_id)] = {
            "reason": f"{trig.survey.upper()} answer {last['score']:g} ({bound}) on {last['responded_at']}",
            "evidence": {"responses": answers}}
    return out


def _trigger_ticket(ctx: _Context, trig: TicketEvent) -> dict[str, dict[str, Any]]:
    cutoff = _cutoff(ctx.as_of)
    t = ctx.workspace.table("tickets")
    rows = t.filter((t.created_at < cutoff) & (t.created_at >= cutoff - dt.timedelta(days=trig.within_days))
                    & t.account_id.notnull()).select(
        "account_id", "ticket_id", "subject", "description", "tags", "priority", "created_at").to_pandas()
    keywords = [(k, f" {_words(k).strip()} ") for k in trig.keywords]
    tags = {fold(x) for x in trig.tags}
    out: dict[str, dict[str, Any]] = {}
    for record in rows.sort_values("created_at").to_dict(orient="records"):
        text = _words(f"{record['subject'] or ''} {record['description'] or ''}")
        ticket_tags = {fold(x.strip()) for x in str(record["tags"] or "").split(",") if x.strip()}
        matched = [f"tag:{x}" for x in sorted(ticket_tags & tags)] + [f"keyword:{k}" for k, w in keywords if w in text]
        if not matched:
            continue
        entry = out.setdefault(str(record["account_id"]), {"evidence": {"tickets": []}})
        entry["evidence"]["tickets"].append({**{k: _plain(v) for k, v in record.items() if k != "account_id"},
                                             "matched": matched})
        entry["reason"] = (f"ticket {record['ticket_id']} '{record['subject']}' matched {', '.join(matched[:3])}")
    return out


def _trigger_renewal(ctx: _Context, trig: RenewalEvent) -> dict[str, dict[str, Any]]:
    days = ctx.facts["days_to_renewal"]
    hit = ctx.facts[(days >= 0) & (days <= trig.within_days)]
    return {str(a): {"reason": f"renewal on {_plain(r)} in {int(d)} days (≤ {trig.within_days})",
                     "evidence": {"renewal_at": _plain(r), "days_to_renewal": int(d)}}
            for a, r, d in zip(hit["account_id"], hit["renewal_at"], hit["days_to_renewal"], strict=True)}


def _milestone(ctx: _Context, trig: MilestoneEvent) -> tuple[str, str, int, str | None] | None:
    if trig.event is not None:
        return trig.event, trig.event, trig.min_count, None
    settings = ctx.metric_settings
    name = trig.milestone
    if name == "time_to_first_value":
        name = getattr(settings, "time_to_first_value", None)
        if name is None:
            ctx.warnings.append("the workspace defines no metrics.time_to_first_value milestone "
                                "(sinergia.yaml → metrics.milestones); milestone trigger skipped")
            return None
    assert name is not None
    milestone = settings.milestones[name]
    return name, str(milestone.event), int(milestone.min_count), milestone.feature


def _trigger_milestone(ctx: _Context, trig: MilestoneEvent) -> dict[str, dict[str, Any]]:
    spec = _milestone(ctx, trig)
    if spec is None:
        return {}
    name, event, min_count, feature = spec
    age = ctx.facts["account_age_days"]
    window = (age >= trig.by_day) & ((age <= trig.until_day) if trig.until_day is not None else True)
    candidates = ctx.facts[window]
    if candidates.empty:
        return {}
    u = ctx.workspace.table("usage_events")
    keep = (u.event == event) & (u.occurred_at < _cutoff(ctx.as_of)) & u.account_id.notnull()
    if feature is not None:
        keep = keep & (u.feature == feature)
    hits = u.filter(keep)
    reached = hits.group_by("account_id").aggregate(n=hits.count()).to_pandas()
    counts = dict(zip(reached["account_id"], reached["n"], strict=True))
    out = {}
    for account_id, days in zip(candidates["account_id"], candidates["account_age_days"], strict=True):
        n = int(counts.get(account_id, 0))
        if n < min_count:
            out[str(account_id)] = {
                "reason": f"day {int(days)} of the account and milestone '{name}' not reached "
                          f"({n} of {min_count} '{event}' events; due by day {trig.by_day})",
                "evidence": {"milestone": name, "event": event, "events_so_far": n, "min_count": min_count,
                             "account_age_days": int(days)}}
    return out


def _trigger_schedule(ctx: _Context, trig: Schedule) -> dict[str, dict[str, Any]]:
    day = ctx.as_of
    due = (trig.every == "day" or (trig.every == "week" and day.weekday() == trig.weekday)
           or (trig.every == "month" and day.day == trig.day_of_month))
    if not due:
        return {}
    return {str(a): {"reason": f"scheduled ({trig.every})", "evidence": {}} for a in ctx.facts["account_id"]}


def _test(op: str, left: float, right: float) -> bool:
    return _compare(float(left), op, float(right))


def _trigger_score_threshold(ctx: _Context, trig: ScoreThreshold) -> dict[str, dict[str, Any]]:
    now = _score_frame(ctx.workspace, trig.score, ctx.as_of)
    if now.empty:
        ctx.warnings.append(f"score '{trig.score}' has no stored rows on or before {ctx.as_of}")
        return {}
    before = _score_frame(ctx.workspace, trig.score, ctx.as_of - dt.timedelta(days=trig.compare_days))
    out = {}
    for account_id, value, on in zip(now["account_id"], now["value"], now["as_of"], strict=True):
        if value is None or pd.isna(value) or not _test(trig.op, value, trig.value):
            continue
        previous = before["value"].get(account_id) if len(before) else None
        previous = None if previous is None or pd.isna(previous) else float(previous)
        if trig.crossing and previous is not None and _test(trig.op, previous, trig.value):
            continue  # already on this side: not a crossing
        was = f"was {previous:g}" if previous is not None else "no earlier value"
        out[str(account_id)] = {
            "reason": f"{trig.score} {float(value):g} {trig.op} {trig.value:g} ({was} "
                      f"{trig.compare_days} day(s) earlier)",
            "evidence": {"score": trig.score, "value": float(value), "scored_on": _plain(on), "previous": previous}}
    return out


def _trigger_score_band(ctx: _Context, trig: ScoreBand) -> dict[str, dict[str, Any]]:
    now = _score_frame(ctx.workspace, trig.score, ctx.as_of)
    if now.empty:
        ctx.warnings.append(f"score '{trig.score}' has no stored rows on or before {ctx.as_of}")
        return {}
    before = _score_frame(ctx.workspace, trig.score, ctx.as_of - dt.timedelta(days=trig.compare_days))
    enters, leaves = {fold(b) for b in trig.enters}, {fold(b) for b in trig.leaves}
    out = {}
    for account_id, band in zip(now["account_id"], now["band"], strict=True):
        previous = before["band"].get(account_id) if len(before) else None
        b, p = fold(str(band or "")), fold(str(previous or ""))
        if b == p:
            continue
        if (enters and b in enters) or (leaves and p in leaves):
            out[str(account_id)] = {"reason": f"{trig.score} band {previous or '(none)'} → {band}",
                                    "evidence": {"score": trig.score, "band": band, "previous_band": previous}}
    return out


def _trigger_metric(ctx: _Context, trig: MetricThreshold) -> dict[str, dict[str, Any]]:
    from sinergia.metrics import compute

    frame = compute(ctx.workspace, trig.metric, as_of=ctx.as_of, period=trig.period, count=2,
                    by=[trig.by] if trig.by else [])
    out: dict[str, dict[str, Any]] = {}
    groups = frame.groupby(trig.by, dropna=False) if trig.by else [("", frame)]
    for key, unsorted in groups:
        if unsorted.empty:
            continue
        group = unsorted.sort_values("period_start")
        last = group.iloc[-1]
        value = last["value"]
        if value is None or pd.isna(value) or not _test(trig.op, float(value), trig.value):
            continue
        previous = group.iloc[-2]["value"] if len(group) > 1 else None
        previous = None if previous is None or pd.isna(previous) else float(previous)
        if trig.crossing and previous is not None and _test(trig.op, previous, trig.value):
            continue
        target = f"{trig.by}={key}" if trig.by else ""
        out[target] = {
            "reason": f"{trig.metric} {float(value):g} {trig.op} {trig.value:g} for the {trig.period} of "
                      f"{_plain(last['period_start'])}" + (f" (previous {previous:g})" if previous is not None else ""),
            "evidence": {"metric": trig.metric, "group": target, "value": float(value), "previous": previous,
                         "period_start": _plain(last["period_start"]), "period_end": _plain(last["period_end"]),
                         "n": _plain(last.get("n")), "partial": _plain(last.get("partial"))}}
    return out


def evaluate_trigger(ctx: _Context, playbook: Playbook) -> dict[str, dict[str, Any]]:
    trig = playbook.trigger
    if isinstance(trig, SentimentEvent):
        return sentiment_firings(ctx.workspace, ctx.as_of, trig)
    if isinstance(trig, SurveyEvent):
        return _trigger_survey(ctx, trig)
    if isinstance(trig, TicketEvent):
        return _trigger_ticket(ctx, trig)
    if isinstance(trig, RenewalEvent):
        return _trigger_renewal(ctx, trig)
    if isinstance(trig, MilestoneEvent):
        return _trigger_milestone(ctx, trig)
    if isinstance(trig, Schedule):
        return _trigger_schedule(ctx, trig)
    if isinstance(trig, ScoreThreshold):
        return _trigger_score_threshold(ctx, trig)
    if isinstance(trig, ScoreBand):
        return _trigger_score_band(ctx, trig)
    return _trigger_metric(ctx, trig)


# -- guardrails -----------------------------------------------------------------------------------------
def _history(session: Session | None, playbook_id: str, as_of: dt.date, days: int) -> dict[str, list[dt.date]]:
    """Stored firing dates per account of this playbook within ``days`` days up to ``as_of`` (inclusive)."""
    if session is None:
        return {}
    from sqlalchemy import select

    from sinergia.store.playbook_models import PlaybookFiring

    since = as_of - dt.timedelta(days=max(days - 1, 0))
    rows = session.execute(select(PlaybookFiring.account_id, PlaybookFiring.as_of).where(
        PlaybookFiring.playbook_id == playbook_id, PlaybookFiring.as_of >= since,
        PlaybookFiring.as_of <= as_of)).all()
    out: dict[str, list[dt.date]] = {}
    for account_id, day in rows:
        out.setdefault(account_id, []).append(day)
    return out


def _guard(playbook: Playbook, account_id: str, as_of: dt.date,
           history: dict[str, list[dt.date]]) -> str | None:
    """Why this firing is suppressed (``already_fired_today``, ``cooldown``, ``frequency``), or None."""
    days = history.get(account_id, [])
    if as_of in days:
        return "already_fired_today"
    if playbook.cooldown_days and any(as_of - d < dt.timedelta(days=playbook.cooldown_days) for d in days):
        return "cooldown"
    if playbook.frequency is not None:
        window = [d for d in days if as_of - d < dt.timedelta(days=playbook.frequency.days)]
        if len(window) >= playbook.frequency.count:
            return "frequency"
    return None


# -- holdout ----------------------------------------------------------------------------------------------
def holdout_draw(playbook_id: str, account_id: str) -> float:
    """A uniform number in [0, 1) fixed by (playbook, account): the first 8 bytes of
    SHA-256("<playbook>:<account>") divided by 2⁶⁴. The same account stays in (or out of) a playbook's
    holdout on every run, and different playbooks draw independently."""
    digest = hashlib.sha256(f"{playbook_id}:{account_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_held_out(playbook: Playbook, account_id: str) -> bool:
    """True when the account is in the playbook's random holdout (draw < ``holdout``); never for a portfolio."""
    return playbook.holdout > 0 and account_id != "" and holdout_draw(playbook.id, account_id) < playbook.holdout


# -- actions ----------------------------------------------------------------------------------------------
class _Blank:
    def __format__(self, spec: str) -> str:
        return "—"


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        return _Blank()


def render(template: dict[str, str], locale: str, values: dict[str, Any]) -> str:
    """The template in ``locale`` (else the other language) with ``{placeholders}`` filled from ``values``."""
    text = template.get(locale) or template.get("pt-BR") or template.get("en") or ""
    safe = _Values({k: (_Blank() if v is None else v) for k, v in values.items()})
    try:
        return text.format_map(safe)
    except (ValueError, TypeError, AttributeError, IndexError):
        return text


def _resolve_owner(session: Session, action: TaskAction, playbook: Playbook, account_owner: Any) -> tuple[int | None,
                                                                                                          str]:
    from sqlalchemy import func, select

    from sinergia.store.models import Task, User

    def user_id(email: str | None) -> int | None:
        if not email:
            return None
        return session.scalar(select(User.id).where(func.lower(User.email) == email.strip().lower(),
                                                    User.active.is_(True)))

    spec = action.owner
    if spec.by == "account_owner":
        found = user_id(account_owner if isinstance(account_owner, str) else None)
        if found is None and spec.fallback:
            return user_id(spec.fallback), f"fallback {spec.fallback} (account owner {account_owner!r} is no user)"
        return found, f"account owner {account_owner}" if found else f"account owner {account_owner!r} is no user"
    if spec.by == "user":
        return user_id(spec.users[0]), f"user {spec.users[0]}"
    ids = [(email, user_id(email)) for email in spec.users]
    ids = [(e, i) for e, i in ids if i is not None]
    if not ids:
        return None, f"none of {', '.join(spec.users)} is an active user"
    if spec.by == "round_robin":
        assigned = session.scalar(select(func.count()).select_from(Task).where(
            Task.created_by == f"playbook:{playbook.id}")) or 0
        email, uid = ids[int(assigned) % len(ids)]
        return uid, f"round robin ({int(assigned)} earlier tasks) → {email}"
    loads = {uid: session.scalar(select(func.count()).select_from(Task).where(
        Task.owner_id == uid, Task.status.in_(("open", "snoozed")))) or 0 for _, uid in ids}
    email, uid = min(ids, key=lambda pair: (loads[pair[1]], pair[0]))
    return uid, f"least loaded: {email} with {loads[uid]} open tasks"


def _task(session: Session, firing: Firing, playbook: Playbook, action: TaskAction, values: dict[str, Any],
          locale: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from sinergia.store.models import Task, utcnow
    from sinergia.store.repo import audit

    owner_id, owner_reason = _resolve_owner(session, action, playbook, values.get("owner"))
    first = TaskAction.model_validate({**action.model_dump(), "steps": []})
    specs = [(first.title or playbook.title, first.due_days, "")]
    specs += [(s.title, s.due_days, f"#step{n}") for n, s in enumerate(action.steps, start=1)]
    results = []
    for title_template, due_days, suffix in specs:
        title = render(title_template, locale, values)[:500]
        reason = f"playbook:{playbook.id}{suffix}"
        due = firing.as_of + dt.timedelta(days=due_days)
        existing = session.scalar(select(Task).where(
            Task.account_id == firing.account_id, Task.type == action.type, Task.reason == reason,
            Task.status.in_(("open", "snoozed"))).order_by(Task.id).limit(1))
        now = utcnow()
        if existing is not None:
            existing.title, existing.priority, existing.due, existing.updated_at = title, action.priority, due, now
            if existing.owner_id is None:
                existing.owner_id = owner_id
            audit(session, f"playbook:{playbook.id}", "task.update", f"task:{existing.id}",
                  {"firing_id": firing.firing_id, "due": due.isoformat(), "dedupe": "open task with the same "
                   "account, type and reason updated"})
            results.append({"kind": "task", "task_id": existing.id, "result": "updated", "title": title,
                            "due": due.isoformat(), "owner_id": existing.owner_id, "owner_rule": owner_reason})
            continue
        task = Task(account_id=firing.account_id, type=action.type, title=title, owner_id=owner_id, status="open",
                    priority=action.priority, due=due, reason=reason, created_at=now, updated_at=now,
                    created_by=f"playbook:{playbook.id}")
        session.add(task)
        session.flush()
        audit(session, f"playbook:{playbook.id}", "task.create", f"task:{task.id}",
              {"firing_id": firing.firing_id, "account_id": firing.account_id, "type": action.type, "title": title})
        results.append({"kind": "task", "task_id": task.id, "result": "created", "title": title,
                        "due": due.isoformat(), "owner_id": owner_id, "owner_rule": owner_reason})
    return results


def _event_payload(firing: Firing, playbook: Playbook, values: dict[str, Any]) -> dict[str, Any]:
    return {"type": "playbook.fired", "playbook": playbook.id, "title": playbook.title,
            "account_id": firing.account_id, "account_name": _plain(values.get("account_name")),
            "as_of": firing.as_of.isoformat(), "reason": firing.reason, "firing_id": firing.firing_id}


def _act(session: Session, firing: Firing, playbook: Playbook, values: dict[str, Any], locale: str,
         playbooks: PlaybookSet, contacts: dict[str, list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
    from sinergia.playbooks import outbox
    from sinergia.store.playbook_models import AccountField

    results: list[dict[str, Any]] = []
    delivery = playbooks.delivery
    for index, action in enumerate(playbook.actions):
        key = f"{playbook.id}:{firing.account_id}:{firing.as_of.isoformat()}:{index}"
        if isinstance(action, TaskAction):
            results += _task(session, firing, playbook, action, values, locale)
        elif isinstance(action, EmailAction):
            to = [str(values.get("owner") or "") if a == "account_owner" else a for a in action.to]
            to = [a for a in to if "@" in a]
            if not to:
                results.append({"kind": "email", "result": "skipped", "why": "no recipient address"})
                continue
            message = outbox.enqueue(session, key=key, kind="email", target=", ".join(to), firing_id=firing.firing_id,
                                     payload={"subject": render(action.subject, locale, values),
                                              "body": render(action.body, locale, values)}, settings=delivery)
            results.append({"kind": "email", "outbox_id": message.id, "to": to})
        elif isinstance(action, WebhookAction):
            payload = {"event_type": action.event_type, "secret_env": action.secret_env,
                       "body": {**_event_payload(firing, playbook, values), "type": action.event_type}}
            message = outbox.enqueue(session, key=key, kind="webhook", target=action.url, payload=payload,
                                     firing_id=firing.firing_id, settings=delivery)
            results.append({"kind": "webhook", "outbox_id": message.id, "url": action.url})
        elif isinstance(action, SurveyAction):
            people = contacts.get(firing.account_id, []) if contacts is not None else []
            wanted = {fold(r) for r in action.roles}
            chosen = [c for c in people if isinstance(c.get("email"), str) and "@" in c["email"]
                      and (not wanted or fold(str(c.get("role") or "")) in wanted)]
            if not chosen:
                results.append({"kind": "survey", "result": "skipped", "why": "no contact with an e-mail"
                                + (f" and role {', '.join(action.roles)}" if action.roles else "")})
                continue
            for person in chosen:
                person_values = {**values, "contact_id": person.get("contact_id"),
                                 "contact_name": person.get("name") or person.get("email")}
                link = render({"en": action.url}, "en", person_values)
                body = render(action.body, locale, {**person_values, "survey_url": link})
                message = outbox.enqueue(session, key=f"{key}:{person.get('contact_id')}", kind="email",
                                         target=person["email"], firing_id=firing.firing_id, settings=delivery,
                                         payload={"subject": render(action.subject, locale, person_values),
                                                  "body": body, "survey": action.survey, "survey_url": link})
                results.append({"kind": "survey", "survey": action.survey, "outbox_id": message.id,
                                "to": person["email"], "contact_id": person.get("contact_id")})
        elif isinstance(action, SlackAction):
            message = outbox.enqueue(session, key=key, kind="slack", target=action.url, firing_id=firing.firing_id,
                                     payload={"body": {"text": render(action.text, locale, values)}},
                                     settings=delivery)
            results.append({"kind": "slack", "outbox_id": message.id, "url": action.url})
        else:
            assert isinstance(action, SetFieldAction)
            from sqlalchemy import delete, select

            from sinergia.store.models import utcnow

            value = render({"en": action.value}, "en", values)
            if action.field != "tag":
                session.execute(delete(AccountField).where(AccountField.account_id == firing.account_id,
                                                           AccountField.field == action.field))
            elif session.scalar(select(AccountField.id).where(
                    AccountField.account_id == firing.account_id, AccountField.field == "tag",
                    AccountField.value == value)) is not None:
                results.append({"kind": "set_field", "field": "tag", "value": value, "result": "unchanged"})
                continue
            session.add(AccountField(account_id=firing.account_id, field=action.field, value=value,
                                     set_by=f"playbook:{playbook.id}", set_at=utcnow()))
            results.append({"kind": "set_field", "field": action.field, "value": value, "result": "set"})
    return results


_HELD_OUT: list[dict[str, Any]] = [{"kind": "holdout", "result": "not executed",
                                     "why": "account in the playbook's random holdout (control group)"}]


def _planned(playbook: Playbook) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for action in playbook.actions:
        item: dict[str, Any] = {"kind": action.kind}
        if isinstance(action, TaskAction):
            item.update(type=action.type, priority=action.priority, due_days=action.due_days,
                        steps=len(action.steps), owner=action.owner.by)
        out.append(item)
    return out


# -- the run ------------------------------------------------------------------------------------------------
def _scores_used(playbooks: list[Playbook]) -> set[str]:
    used: set[str] = set()
    for playbook in playbooks:
        if isinstance(playbook.trigger, ScoreThreshold | ScoreBand):
            used.add(playbook.trigger.score)
        for condition in playbook.conditions:
            prefix, _, name = condition.field.partition(":")
            if prefix in ("score", "band", "trend") and name:
                used.add(name)
    return used


def _fingerprint(playbook: Playbook) -> str:
    text = json.dumps(playbook.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_playbooks(workspace: Workspace, as_of: dt.date, *, dry_run: bool = False, only: Iterable[str] = (),
                  playbooks: PlaybookSet | None = None, actor: str = "playbooks") -> RunReport:
    """Evaluate the workspace's playbooks as of ``as_of``; act and store the firings unless ``dry_run``."""
    from sinergia.store.migrate import upgrade_store

    chosen = playbooks or load_playbooks(workspace.path, metric_settings=workspace.config.metrics)
    wanted = set(only)
    unknown = wanted - {p.id for p in chosen.playbooks}
    if unknown:
        raise ConfigError(f"{chosen.source}: no playbook(s) {', '.join(sorted(unknown))}")
    active = [p for p in chosen.playbooks if p.enabled and (not wanted or p.id in wanted)]
    report = RunReport(as_of=as_of, dry_run=dry_run)
    facts = account_facts(workspace, as_of)
    add_scores(workspace, facts, as_of, _scores_used(active))
    ctx = _Context(workspace, as_of, facts, workspace.config.metrics, report.warnings)
    locale = workspace.config.locale

    from sqlalchemy.orm import Session

    from sinergia.store.db import make_engine

    engine = None
    session: Session | None = None
    contacts: dict[str, list[dict[str, Any]]] | None = None
    try:
        if not dry_run or workspace.store_path.exists() or workspace.store_url != f"sqlite:///{workspace.store_path}":
            if not dry_run:
                upgrade_store(workspace.store_url)
            engine = make_engine(workspace.store_url)
            session = Session(engine)
        for playbook in active:
            counts = {"triggered": 0, "passed_conditions": 0, "fired": 0, "already_fired_today": 0,
                      "cooldown": 0, "frequency": 0, "held_out": 0}
            report.counts[playbook.id] = counts
            try:
                hits = evaluate_trigger(ctx, playbook)
            except Exception as error:  # a trigger that cannot be evaluated on these data: say so, go on
                from sinergia.errors import SinergiaError

                if not isinstance(error, SinergiaError | KeyError | ValueError):
                    raise
                report.warnings.append(f"{playbook.id}: trigger not evaluated ({type(error).__name__}: {error})")
                continue
            counts["triggered"] = len(hits)
            window = max(playbook.cooldown_days, playbook.frequency.days if playbook.frequency else 0, 1)
            history = _history(session, playbook.id, as_of, window) if _has_firings(session) else {}
            for account_id in sorted(hits):
                hit = hits[account_id]
                row = facts.loc[account_id].to_dict() if account_id in facts.index else {"account_id": account_id}
                ok, checks = conditions_hold(row, playbook.conditions)
                if not ok:
                    continue
                counts["passed_conditions"] += 1
                suppressed = _guard(playbook, account_id, as_of, history)
                if suppressed:
                    counts[suppressed] += 1
                    continue
                counts["fired"] += 1
                snapshot = {k: _plain(v) for k, v in row.items()}
                inputs = {"as_of": as_of.isoformat(), "trigger": playbook.trigger.model_dump(mode="json"),
                          "evidence": hit["evidence"], "conditions": checks, "account": snapshot,
                          "playbook_fingerprint": _fingerprint(playbook)}
                reason = hit["reason"]
                if checks:
                    reason += "; " + "; ".join(c.removesuffix(": yes") for c in checks)
                held_out = is_held_out(playbook, account_id)
                if playbook.holdout > 0:
                    inputs["holdout"] = {"share": playbook.holdout, "held_out": held_out,
                                         "draw": round(holdout_draw(playbook.id, account_id), 6)}
                firing = Firing(playbook.id, account_id, as_of, playbook.trigger.kind, reason, inputs,
                                held_out=held_out)
                report.firings.append(firing)
                if held_out:
                    counts["held_out"] += 1
                if dry_run or session is None:
                    firing.actions = _HELD_OUT if held_out else _planned(playbook)
                    continue
                values = {**snapshot, "account_name": snapshot.get("name") or account_id,
                          "playbook": playbook.id, "reason": reason, "as_of": as_of.isoformat()}
                if contacts is None and any(isinstance(a, SurveyAction) for a in playbook.actions):
                    contacts = _contacts(workspace)
                _store_firing(session, firing, playbook, values, locale, chosen, actor, contacts)
        if session is not None and not dry_run:
            session.commit()
    finally:
        if session is not None:
            session.close()
        if engine is not None:
            engine.dispose()
    return report


def _contacts(workspace: Workspace) -> dict[str, list[dict[str, Any]]]:
    """Contacts per account (id, e-mail, name, role), for survey actions."""
    table = workspace.table("contacts")
    frame = table.filter(table.account_id.notnull()).select(
        "account_id", "contact_id", "email", "name", "role").order_by("contact_id").to_pandas()
    out: dict[str, list[dict[str, Any]]] = {}
    for record in frame.to_dict(orient="records"):
        out.setdefault(str(record["account_id"]), []).append({k: _plain(v) for k, v in record.items()})
    return out


def _has_firings(session: Session | None) -> bool:
    if session is None:
        return False
    from sqlalchemy import inspect

    return bool(inspect(session.connection()).has_table("playbook_firings"))


def _store_firing(session: Session, firing: Firing, playbook: Playbook, values: dict[str, Any], locale: str,
                  playbooks: PlaybookSet, actor: str, contacts: dict[str, list[dict[str, Any]]] | None) -> None:
    from sinergia.store.playbook_models import PlaybookFiring
    from sinergia.store.repo import audit

    row = PlaybookFiring(playbook_id=playbook.id, account_id=firing.account_id, as_of=firing.as_of,
                         trigger_kind=firing.trigger_kind, reason=firing.reason, inputs=firing.inputs, actions=[])
    session.add(row)
    session.flush()
    firing.firing_id = row.id
    firing.actions = (list(_HELD_OUT) if firing.held_out
                      else _act(session, firing, playbook, values, locale, playbooks, contacts))
    row.actions = firing.actions
    audit(session, actor, "playbook.fire", f"playbook:{playbook.id}",
          {"firing_id": row.id, "account_id": firing.account_id, "as_of": firing.as_of.isoformat(),
           "reason": firing.reason, "held_out": firing.held_out})


def why(store_url: str, firing_id: int) -> dict[str, Any]:
    """A stored firing as data: reason, the inputs it saw and what its actions did."""
    from sqlalchemy.orm import Session

    from sinergia.errors import UsageError
    from sinergia.store.db import make_engine
    from sinergia.store.playbook_models import PlaybookFiring

    engine = make_engine(store_url)
    try:
        with Session(engine) as session:
            row = session.get(PlaybookFiring, firing_id)
            if row is None:
                raise UsageError(f"no playbook firing with id {firing_id}")
            return {"id": row.id, "playbook": row.playbook_id, "account_id": row.account_id,
                    "as_of": row.as_of.isoformat(), "fired_at": row.fired_at.isoformat(),
                    "trigger": row.trigger_kind, "reason": row.reason, "inputs": row.inputs, "actions": row.actions}
    finally:
        engine.dispose()
