"""Closed-loop feedback: a low NPS or CSAT answer opens a case with an SLA; cases escalate by age; closing one
needs a root cause; closing can send a follow-up survey e-mail; loop closure rate and time to close are measured.

* :func:`open_cases` reads ``survey_responses`` answered in the ``lookback_days`` up to the end of the as-of day;
  an NPS answer ≤ ``nps_max`` or a CSAT answer ≤ ``csat_max`` (on the answer's own scale, e.g. 1–5) opens one case
  per answer (``response_id`` is unique: re-running opens nothing twice). The SLA clock starts at the answer's
  time: ``due_at = responded_at + sla_hours``. The owner is the user whose e-mail is the account owner.
* :func:`escalate_cases` raises ``escalation_level`` to *k* when the case is older than ``sla_hours ×
  escalation_multiples[k-1]`` (defaults 1× and 2× the SLA): level 1 at the SLA breach, level 2 at twice the SLA.
* :func:`close_case` refuses to close without a root cause; with ``follow_up`` it queues an e-mail to the
  respondent in the outbox (idempotency key ``loop-follow-up:<case id>``).
* :func:`loop_metrics`: over cases opened in ``[start, end]``: loop closure rate = closed / opened; time to close
  (hours from the answer to the closing, median and mean, closed cases); share closed within the SLA.
"""

from __future__ import annotations

import datetime as dt
import statistics
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from sinergia.errors import UsageError

if TYPE_CHECKING:
    from sinergia.workspace.workspace import Workspace


class LoopSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nps_max: float = Field(6, description="NPS answers at or below this open a case (detractors: 0-6).")
    csat_max: float = Field(2, description="CSAT answers at or below this (on the answer's scale) open a case.")
    sla_hours: float = Field(48, gt=0, description="Time to close, from the answer.")
    escalation_multiples: list[float] = Field(default_factory=lambda: [1.0, 2.0],
                                              description="Escalation level k when age > sla × multiple[k-1].")
    lookback_days: int = Field(7, ge=1, description="Answers this recent open cases on a run.")
    follow_up_subject: dict[str, str] = Field(default_factory=lambda: {
        "pt-BR": "Resolvemos o que você nos contou?", "en": "Did we solve what you told us?"})
    follow_up_body: dict[str, str] = Field(default_factory=lambda: {
        "pt-BR": "Obrigado pelo retorno. Fizemos o seguinte: {action}. De 0 a 10, o quanto você nos recomendaria hoje?",
        "en": "Thank you for your feedback. This is what we did: {action}. From 0 to 10, how likely are you to "
              "recommend us today?"})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def open_cases(workspace: Workspace, as_of: dt.date, *, settings: LoopSettings | None = None,
               store_url: str | None = None) -> list[int]:
    """Open a case for every low answer in the lookback window not yet in the store; returns the new case ids."""
    import pandas as pd
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from sinergia.store.db import make_engine
    from sinergia.store.migrate import upgrade_store
    from sinergia.store.models import User
    from sinergia.store.playbook_models import FeedbackCase
    from sinergia.store.repo import audit

    config = settings or LoopSettings()
    cutoff = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    con = workspace.connect()
    s = con.table("survey_responses")
    low = ((s.survey == "nps") & (s.score <= config.nps_max)) | ((s.survey == "csat") & (s.score <= config.csat_max))
    answers = s.filter(low & s.score.notnull() & (s.responded_at < cutoff)
                       & (s.responded_at >= cutoff - dt.timedelta(days=config.lookback_days)))
    acc = con.table("accounts").select(_acc=con.table("accounts").account_id, owner=con.table("accounts").owner)
    contacts = con.table("contacts").select(_con=con.table("contacts").contact_id, email=con.table("contacts").email)
    joined = answers.left_join(acc, answers.account_id == acc._acc).left_join(
        contacts, answers.contact_id == contacts._con)
    rows = joined.select("response_id", "account_id", "contact_id", "survey", "score", "comment", "responded_at",
                         "owner", "email").order_by("responded_at", "response_id").to_pandas()
    url = store_url or workspace.store_url
    upgrade_store(url)
    engine = make_engine(url)
    opened: list[int] = []
    try:
        with Session(engine) as session, session.begin():
            known = set(session.scalars(select(FeedbackCase.response_id).where(
                FeedbackCase.response_id.in_(rows["response_id"].tolist()))))
            for r in rows.to_dict(orient="records"):
                if r["response_id"] in known:
                    continue
                owner = r["owner"] if isinstance(r["owner"], str) else None
                owner_id = session.scalar(select(User.id).where(func.lower(User.email) == owner.lower())) \
                    if owner else None
                answered = pd.Timestamp(r["responded_at"]).to_pydatetime()
                case = FeedbackCase(
                    response_id=str(r["response_id"]), account_id=r["account_id"], contact_id=r["contact_id"],
                    contact_email=r["email"] if isinstance(r["email"], str) else None, survey=r["survey"],
                    score=float(r["score"]), comment=r["comment"] if isinstance(r["comment"], str) else None,
                    opened_at=answered, sla_hours=config.sla_hours,
                    due_at=answered + dt.timedelta(hours=config.sla_hours), status="open", escalation_level=0,
                    owner_id=owner_id, created_at=_now())
                session.add(case)
                session.flush()
                audit(session, "closed-loop", "case.open", f"case:{case.id}",
                      {"response_id": case.response_id, "survey": case.survey, "score": case.score,
                       "due_at": case.due_at.isoformat()})
                opened.append(case.id)
    finally:
        engine.dispose()
    return opened


def escalate_cases(store_url: str, *, now: dt.datetime | None = None,
                   settings: LoopSettings | None = None) -> list[tuple[int, int]]:
    """Raise the escalation level of open cases by age; returns (case id, new level) for each change."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from sinergia.store.db import make_engine
    from sinergia.store.playbook_models import FeedbackCase
    from sinergia.store.repo import audit

    config = settings or LoopSettings()
    clock = now or _now()
    changed = []
    engine = make_engine(store_url)
    try:
        with Session(engine) as session, session.begin():
            for case in session.scalars(select(FeedbackCase).where(FeedbackCase.status != "closed")):
                age_hours = (clock - case.opened_at).total_seconds() / 3600
                level = sum(1 for m in config.escalation_multiples if age_hours > case.sla_hours * m)
                if level > case.escalation_level:
                    case.escalation_level, case.status, case.escalated_at = level, "escalated", clock
                    audit(session, "closed-loop", "case.escalate", f"case:{case.id}",
                          {"level": level, "age_hours": round(age_hours, 2)})
                    changed.append((case.id, level))
    finally:
        engine.dispose()
    return changed


def close_case(store_url: str, case_id: int, *, root_cause: str, action: str, actor: str,
               follow_up: bool = False, locale: str = "pt-BR", now: dt.datetime | None = None,
               settings: LoopSettings | None = None) -> dict[str, Any]:
    """Close a case with its root cause and the action taken; optionally queue a follow-up survey e-mail."""
    from sqlalchemy.orm import Session

    from sinergia.playbooks import outbox
    from sinergia.store.db import make_engine
    from sinergia.store.playbook_models import FeedbackCase
    from sinergia.store.repo import audit

    if not root_cause.strip():
        raise UsageError("a case needs a root cause to close (what caused the low score?)")
    if not action.strip():
        raise UsageError("say what was done before closing the case")
    settings = settings or LoopSettings()
    engine = make_engine(store_url)
    try:
        with Session(engine) as session, session.begin():
            case = session.get(FeedbackCase, case_id)
            if case is None:
                raise UsageError(f"no feedback case with id {case_id}")
            if case.status == "closed":
                raise UsageError(f"case {case_id} is already closed")
            case.root_cause, case.action_taken = root_cause.strip(), action.strip()
            case.status, case.closed_at, case.closed_by = "closed", now or _now(), actor
            if follow_up:
                if not case.contact_email:
                    raise UsageError(f"case {case_id}: the respondent has no e-mail for a follow-up survey")
                subject = settings.follow_up_subject.get(locale) or settings.follow_up_subject["en"]
                body = (settings.follow_up_body.get(locale) or settings.follow_up_body["en"]).replace(
                    "{action}", case.action_taken)
                message = outbox.enqueue(session, key=f"loop-follow-up:{case.id}", kind="email",
                                         target=case.contact_email, payload={"subject": subject, "body": body})
                case.follow_up_message_id = message.id
            audit(session, actor, "case.close", f"case:{case.id}",
                  {"root_cause": case.root_cause, "action": case.action_taken, "follow_up": follow_up})
            return {"id": case.id, "status": case.status, "closed_at": case.closed_at.isoformat(),
                    "hours_to_close": round((case.closed_at - case.opened_at).total_seconds() / 3600, 2),
                    "within_sla": case.closed_at <= case.due_at, "follow_up_message_id": case.follow_up_message_id}
    finally:
        engine.dispose()


def list_cases(store_url: str, *, status: str | None = None) -> list[dict[str, Any]]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from sinergia.store.db import make_engine
    from sinergia.store.playbook_models import FeedbackCase

    engine = make_engine(store_url)
    try:
        with Session(engine) as session:
            query = select(FeedbackCase).order_by(FeedbackCase.due_at)
            if status is not None:
                query = query.where(FeedbackCase.status == status)
            return [{"id": c.id, "account_id": c.account_id, "survey": c.survey, "score": c.score,
                     "opened_at": c.opened_at.isoformat(), "due_at": c.due_at.isoformat(), "status": c.status,
                     "escalation_level": c.escalation_level, "owner_id": c.owner_id, "root_cause": c.root_cause}
                    for c in session.scalars(query)]
    finally:
        engine.dispose()


def loop_metrics(store_url: str, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Closure rate, time to close and SLA attainment of the cases opened from ``start`` to ``end`` (inclusive)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from sinergia.store.db import make_engine
    from sinergia.store.playbook_models import FeedbackCase

    engine = make_engine(store_url)
    try:
        with Session(engine) as session:
            cases = list(session.scalars(select(FeedbackCase).where(
                FeedbackCase.opened_at >= dt.datetime.combine(start, dt.time()),
                FeedbackCase.opened_at < dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))))
    finally:
        engine.dispose()
    closed = [c for c in cases if c.closed_at is not None]
    hours = [(c.closed_at - c.opened_at).total_seconds() / 3600 for c in closed if c.closed_at is not None]
    within = [c for c in closed if c.closed_at is not None and c.closed_at <= c.due_at]
    return {
        "start": start.isoformat(), "end": end.isoformat(), "opened": len(cases), "closed": len(closed),
        "loop_closure_rate": len(closed) / len(cases) if cases else None,
        "hours_to_close_median": statistics.median(hours) if hours else None,
        "hours_to_close_mean": statistics.fmean(hours) if hours else None,
        "closed_within_sla_rate": len(within) / len(closed) if closed else None,
        "escalated": sum(1 for c in cases if c.escalation_level > 0),
        "formula": "loop_closure_rate = closed / opened (cases opened in the range); hours_to_close = closed_at − "
                   "answer time; closed_within_sla_rate = closed by due_at / closed",
    }
