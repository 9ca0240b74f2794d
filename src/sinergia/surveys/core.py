"""Survey definitions, invitations and answers.

* Definitions live in the serving store (``survey_definitions``): :func:`sync_definitions` writes the workspace
  config's ``surveys.definitions``; :func:`create_definition` adds one from the CLI.
* :func:`invite` creates one invitation per contact with a signed, expiring link (:mod:`sinergia.surveys.tokens`).
  **Throttling**: a contact with any invitation in the last ``throttle_days`` days (any survey, any channel) is
  refused with the date it was asked and the first date it may be asked again. E-mail invitations are enqueued in
  the durable outbox (``kind="email"``, idempotency key ``survey:<nonce>``) in the same transaction; in-app
  invitations just return the link.
* :func:`answer_invitation` takes a score (and comment) for a token: single use (the invitation is claimed with a
  conditional UPDATE, so two concurrent submissions cannot both land), the comment is PII-redacted
  (:func:`sinergia.text.redact.redact_text`), and the answer is written as a canonical ``survey_responses`` row by
  :func:`write_responses`: an NDJSON file under ``WORKSPACE/landing/surveys/`` loaded by the ingestion loader
  (``preset="sinergia"``, same validation, quarantine and writer lock as ``sinergia ingest`` and the API).
* :func:`answer_external` does the same for an answer from another survey tool (the inbound webhook).
* :func:`response_rate` = answered invitations / invitations sent in a period, from ``survey_invitations``.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select, update

from sinergia.errors import InputError, UsageError
from sinergia.surveys import tokens
from sinergia.surveys.config import DEFAULT_SCALES, LOCALES, SurveyDefinitionConfig, SurveySettings
from sinergia.surveys.messages import pick_locale, texts

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sinergia.ingest import ImportReport
    from sinergia.store.survey_models import SurveyDefinition, SurveyInvitation
    from sinergia.workspace import Workspace

CHANNELS = ("email", "in_app")
MAX_COMMENT = 4000
#: How long a survey answer waits for another writer of the workspace before failing.
LOCK_WAIT_SECONDS = 30.0


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class AnswerQuarantined(InputError):
    """The ingestion loader put the answer's row in quarantine (the reasons are in the message)."""


class InvitationState(UsageError):
    """A token whose invitation cannot take an answer: ``reason`` is invalid, expired or answered."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# -- definitions ---------------------------------------------------------------------------------------------
def _apply(row: SurveyDefinition, spec: SurveyDefinitionConfig, source: str, now: dt.datetime) -> None:
    row.kind = spec.kind
    row.scale_min, row.scale_max = spec.scale_min, spec.scale_max
    row.touchpoint = spec.touchpoint
    row.journey_stage = spec.journey_stage
    row.questions = spec.questions()
    row.source = source
    row.updated_at = now


def sync_definitions(session: Session, settings: SurveySettings) -> list[str]:
    """Create or update the config's definitions in the store; return their names. The caller commits."""
    from sinergia.store.survey_models import SurveyDefinition

    now = now_utc()
    for spec in settings.definitions:
        row = session.scalar(select(SurveyDefinition).where(SurveyDefinition.name == spec.name))
        if row is None:
            row = SurveyDefinition(name=spec.name, created_at=now)
            session.add(row)
        _apply(row, spec, "config", now)
    session.flush()
    return [spec.name for spec in settings.definitions]


def create_definition(session: Session, spec: SurveyDefinitionConfig, *, replace: bool = False) -> SurveyDefinition:
    """Add a definition (source ``cli``); an existing name is refused unless ``replace``. The caller commits."""
    from sinergia.store.survey_models import SurveyDefinition

    now = now_utc()
    row = session.scalar(select(SurveyDefinition).where(SurveyDefinition.name == spec.name))
    if row is not None and not replace:
        raise UsageError(f"a survey named '{spec.name}' already exists (use --replace to change it)")
    if row is None:
        row = SurveyDefinition(name=spec.name, created_at=now)
        session.add(row)
    _apply(row, spec, "cli", now)
    session.flush()
    return row


def get_definition(session: Session, name: str) -> SurveyDefinition:
    from sinergia.store.survey_models import SurveyDefinition

    row = session.scalar(select(SurveyDefinition).where(SurveyDefinition.name == name))
    if row is None:
        names = session.scalars(select(SurveyDefinition.name).order_by(SurveyDefinition.name)).all()
        listed = ", ".join(names) or "none (add one under surveys: in sinergia.yaml or with sinergia survey create)"
        raise UsageError(f"no survey named '{name}'; surveys: {listed}")
    return row


def question(definition: SurveyDefinition, locale: str, company: str) -> str:
    return str(definition.questions.get(pick_locale(locale), "")).replace("{company}", company)


# -- contacts ------------------------------------------------------------------------------------------------
def workspace_contacts(workspace: Workspace, *, account_id: str | None = None,
                       contact_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Contacts of the workspace by id (contact_id, account_id, email, name, language)."""
    table = workspace.table("contacts")
    if account_id is not None:
        table = table.filter(table.account_id == account_id)
    if contact_ids is not None:
        table = table.filter(table.contact_id.isin(contact_ids))
    frame = table.select("contact_id", "account_id", "email", "name", "language").order_by("contact_id").to_pandas()
    out: dict[str, dict[str, Any]] = {}
    for record in frame.to_dict(orient="records"):
        out[str(record["contact_id"])] = {k: None if pd.isna(v) else str(v) for k, v in record.items()}
    return out


def read_contacts_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV with a ``contact_id`` column (optional: email, account_id, name, locale)."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "contact_id" not in reader.fieldnames:
            raise InputError(f"{path}: needs a 'contact_id' column (optional: email, account_id, name, locale); "
                             f"found: {', '.join(reader.fieldnames or []) or 'no header'}")
        rows = [{k: (v.strip() or None) if isinstance(v, str) else None for k, v in row.items() if k}
                for row in reader]
    missing = [i + 2 for i, row in enumerate(rows) if not row.get("contact_id")]
    if missing:
        raise InputError(f"{path}: line(s) {', '.join(map(str, missing[:10]))} have no contact_id")
    return rows


def resolve_contacts(workspace: Workspace, *, rows: list[dict[str, Any]] | None = None,
                     account_id: str | None = None) -> list[dict[str, Any]]:
    """The people to invite: the file's rows completed from the workspace's contacts, or an account's contacts."""
    if (rows is None) == (account_id is None):
        raise UsageError("give either a contacts file (--contacts FILE) or an account (--account ID)")
    if account_id is not None:
        found = list(workspace_contacts(workspace, account_id=account_id).values())
        if not found:
            raise InputError(f"account '{account_id}' has no contacts in the workspace")
        return found
    assert rows is not None
    known = workspace_contacts(workspace, contact_ids=[str(r["contact_id"]) for r in rows])
    out = []
    for row in rows:
        base = dict(known.get(str(row["contact_id"]), {}))
        base.update({k: v for k, v in row.items() if v is not None})
        if row.get("locale"):
            base["language"] = row["locale"]
        out.append(base)
    return out


# -- invitations ---------------------------------------------------------------------------------------------
@dataclass
class InviteResult:
    contact_id: str
    status: str  # invited | refused | would_invite (dry run)
    reason: str = ""
    url: str | None = None
    email: str | None = None
    locale: str | None = None
    outbox_id: int | None = None
    expires_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class InviteReport:
    survey: str
    channel: str
    dry_run: bool
    results: list[InviteResult] = field(default_factory=list)

    @property
    def invited(self) -> int:
        return sum(r.status in ("invited", "would_invite") for r in self.results)

    @property
    def refused(self) -> int:
        return sum(r.status == "refused" for r in self.results)


def last_invitation(session: Session, contact_id: str, since: dt.datetime) -> SurveyInvitation | None:
    from sinergia.store.survey_models import SurveyInvitation

    return session.scalar(
        select(SurveyInvitation)
        .where(SurveyInvitation.contact_id == contact_id, SurveyInvitation.created_at > since)
        .order_by(SurveyInvitation.created_at.desc())
        .limit(1)
    )


def survey_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/s/{token}"


def invite(
    session: Session,
    workspace: Workspace,
    survey: str,
    contacts: list[dict[str, Any]],
    *,
    channel: str = "email",
    base_url: str | None = None,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> InviteReport:
    """Invite ``contacts`` to ``survey``; refused contacts carry the reason. The caller commits (not on dry run)."""
    from sinergia.playbooks import outbox
    from sinergia.store.survey_models import SurveyInvitation

    if channel not in CHANNELS:
        raise UsageError(f"channel '{channel}' is not one of {', '.join(CHANNELS)}")
    settings = workspace.config.surveys
    definition = get_definition(session, survey)
    key = tokens.secret_for(workspace.path)
    moment = now or now_utc()
    expires_at = moment + dt.timedelta(days=settings.expiry_days)
    window_start = moment - dt.timedelta(days=settings.throttle_days)
    base = (base_url or settings.base_url).rstrip("/")
    company = workspace.config.name
    report = InviteReport(survey, channel, dry_run)
    seen: set[str] = set()
    for person in contacts:
        contact_id = str(person.get("contact_id") or "")
        email = person.get("email")
        locale = pick_locale(person.get("language"), workspace.config.locale)
        result = InviteResult(contact_id, "refused", email=email, locale=locale)
        report.results.append(result)
        if not contact_id:
            result.reason = "no contact_id"
            continue
        if contact_id in seen:
            result.reason = "listed twice in this send"
            continue
        seen.add(contact_id)
        if settings.throttle_days > 0:
            previous = last_invitation(session, contact_id, window_start)
            if previous is not None:
                again = previous.created_at + dt.timedelta(days=settings.throttle_days)
                result.reason = (f"throttled: invited on {previous.created_at:%Y-%m-%d}; a contact is asked at most "
                                 f"once every {settings.throttle_days} days (next from {again:%Y-%m-%d})")
                continue
        if channel == "email" and not (isinstance(email, str) and "@" in email):
            result.reason = "no e-mail address"
            continue
        expires = int(expires_at.replace(tzinfo=dt.UTC).timestamp())
        result.expires_at = expires_at.isoformat(timespec="seconds")
        if dry_run:
            result.status = "would_invite"
            continue
        nonce = tokens.new_nonce()
        link = survey_url(base, tokens.make(key, nonce, expires))
        row = SurveyInvitation(nonce=nonce, survey_id=definition.id, contact_id=contact_id,
                               account_id=person.get("account_id"), email=email, locale=locale, channel=channel,
                               created_at=moment, expires_at=expires_at)
        session.add(row)
        session.flush()
        if channel == "email":
            words = texts(locale)
            values = {"company": company, "name": person.get("name") or email, "url": link,
                      "question": question(definition, locale, company), "expires": f"{expires_at:%Y-%m-%d}"}
            message = outbox.enqueue(
                session, key=f"survey:{nonce}", kind="email", target=str(email),
                payload={"subject": words["email_subject"].format(**values),
                         "body": words["email_body"].format(**values),
                         "survey": definition.kind, "survey_name": definition.name, "survey_url": link,
                         "contact_id": contact_id},
            )
            row.outbox_id = message.id
            result.outbox_id = message.id
        result.status, result.url = "invited", link
    return report


# -- answers -------------------------------------------------------------------------------------------------
def open_invitation(session: Session, workspace: Workspace, token: str, *,
                    now: float | None = None) -> tuple[SurveyInvitation, SurveyDefinition]:
    """The invitation and survey of a token; :class:`InvitationState` when invalid, expired or answered."""
    from sinergia.store.survey_models import SurveyDefinition, SurveyInvitation

    try:
        parsed = tokens.parse(tokens.secret_for(workspace.path), token, now=now)
    except tokens.TokenError as error:
        raise InvitationState(error.reason, str(error)) from None
    invitation = session.scalar(select(SurveyInvitation).where(SurveyInvitation.nonce == parsed.nonce))
    if invitation is None:
        raise InvitationState("invalid", "this survey link is not valid")
    if invitation.answered_at is not None:
        raise InvitationState("answered", "this survey has already been answered through this link")
    definition = session.get(SurveyDefinition, invitation.survey_id)
    if definition is None:
        raise InvitationState("invalid", "the survey of this link no longer exists")
    return invitation, definition


def clean_comment(comment: str | None) -> str | None:
    """Trimmed, at most :data:`MAX_COMMENT` characters, CPF/CNPJ/e-mail/phone redacted; None when empty."""
    if comment is None or not comment.strip():
        return None
    text = comment.strip()[:MAX_COMMENT]
    try:
        from sinergia.text.redact import redact_text
    except ImportError:  # pragma: no cover - the text package ships with sinergia
        return text
    return redact_text(text)


def check_score(score: float | None, low: int, high: int) -> float | None:
    if score is None:
        return None
    if math.isnan(score) or not low <= score <= high:
        raise InputError(f"score {score} is outside the survey's scale {low}-{high}")
    return float(score)


def write_responses(workspace: Workspace, rows: list[dict[str, Any]]) -> ImportReport:
    """Load canonical ``survey_responses`` rows through the ingestion loader (validation, quarantine, lock)."""
    from sinergia.ingest import ingest_files

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    folder = workspace.path / "landing" / "surveys" / f"{stamp}-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "survey_responses.ndjson"
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    settings = workspace.config.ingest.model_copy(update={"lock_timeout_seconds": LOCK_WAIT_SECONDS})
    patient = dataclasses.replace(workspace, config=workspace.config.model_copy(update={"ingest": settings}))
    return ingest_files(patient, [path], preset="sinergia")


@dataclass
class Answer:
    response_id: str
    survey: str
    score: float | None
    comment: str | None
    import_id: str
    row: dict[str, Any]


def _check_landed(workspace: Workspace, report: ImportReport) -> None:
    if report.totals().quarantined:
        from sinergia.engine.inspect import quarantine_rows

        reasons = sorted({str(q.get("reason") or q.get("error") or q)
                          for q in quarantine_rows(workspace, import_id=report.import_id, limit=20)})
        raise AnswerQuarantined(f"the answer was quarantined by ingestion (import {report.import_id}): "
                         + "; ".join(reasons))


def answer_invitation(session: Session, workspace: Workspace, token: str, score: float | None,
                      comment: str | None, *, locale: str | None = None,
                      now: dt.datetime | None = None) -> Answer:
    """Record the answer of an invitation (single use) as a canonical ``survey_responses`` row."""
    from sinergia.store.survey_models import SurveyInvitation

    moment = now or now_utc()
    invitation, definition = open_invitation(session, workspace, token,
                                             now=moment.replace(tzinfo=dt.UTC).timestamp())
    if score is None:
        raise InputError("choose a score")
    value = check_score(score, definition.scale_min, definition.scale_max)
    text = clean_comment(comment)
    response_id = f"inv_{invitation.nonce}"
    claimed = session.execute(
        update(SurveyInvitation)
        .where(SurveyInvitation.id == invitation.id, SurveyInvitation.answered_at.is_(None))
        .values(answered_at=moment, response_id=response_id)
    )
    session.commit()
    if getattr(claimed, "rowcount", 0) != 1:
        raise InvitationState("answered", "this survey has already been answered through this link")
    row = {
        "response_id": response_id, "account_id": invitation.account_id, "contact_id": invitation.contact_id,
        "survey": definition.kind, "score": value, "scale_min": definition.scale_min,
        "scale_max": definition.scale_max, "comment": text, "touchpoint": definition.touchpoint,
        "journey_stage": definition.journey_stage, "channel": invitation.channel,
        "language": pick_locale(locale or invitation.locale), "sent_at": invitation.created_at.isoformat(),
        "responded_at": moment.isoformat(), "attributes": {"survey_name": definition.name},
    }
    try:
        report = write_responses(workspace, [row])
        _check_landed(workspace, report)
    except BaseException:
        session.execute(update(SurveyInvitation).where(SurveyInvitation.id == invitation.id)
                        .values(answered_at=None, response_id=None))
        session.commit()
        raise
    return Answer(response_id, definition.name, value, text, report.import_id, row)


class ExternalAnswer(BaseModel):
    """An answer from another survey tool (the inbound webhook's JSON body)."""

    model_config = ConfigDict(extra="forbid")

    response_id: str = Field(min_length=1, max_length=150, description="The tool's id of the answer (upsert key).")
    survey: str = Field(min_length=1, max_length=100, description="A survey name defined here, or nps/csat/ces.")
    score: float | None = None
    contact_id: str | None = Field(None, max_length=200)
    account_id: str | None = Field(None, max_length=200)
    comment: str | None = None
    responded_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    touchpoint: str | None = Field(None, max_length=200)
    journey_stage: str | None = None
    channel: str | None = None
    language: str | None = None
    scale_min: int | None = None
    scale_max: int | None = None


def _naive_utc(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat()


def answer_external(session: Session, workspace: Workspace, body: dict[str, Any], *,
                    source: str = "webhook") -> Answer:
    """Record an answer from another tool as a canonical row (``response_id`` = ``ext_<its id>``, idempotent)."""
    from sinergia.store.survey_models import SurveyDefinition

    try:
        answer = ExternalAnswer.model_validate(body)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
        raise InputError(f"survey answer: {problems}") from None
    definition = session.scalar(select(SurveyDefinition).where(SurveyDefinition.name == answer.survey))
    if definition is not None:
        kind: str = definition.kind
        low, high = definition.scale_min, definition.scale_max
        touchpoint: str | None = answer.touchpoint or definition.touchpoint
        stage: str | None = answer.journey_stage or definition.journey_stage
    elif answer.survey in DEFAULT_SCALES:
        kind = str(answer.survey)
        low = answer.scale_min if answer.scale_min is not None else DEFAULT_SCALES[kind][0]
        high = answer.scale_max if answer.scale_max is not None else DEFAULT_SCALES[kind][1]
        touchpoint, stage = answer.touchpoint, answer.journey_stage
    else:
        raise InputError(f"survey '{answer.survey}' is neither a survey defined here nor one of nps, csat, ces")
    value = check_score(answer.score, low, high)
    text = clean_comment(answer.comment)
    response_id = f"ext_{answer.response_id}"
    row = {
        "response_id": response_id, "account_id": answer.account_id, "contact_id": answer.contact_id,
        "survey": kind, "score": value, "scale_min": low, "scale_max": high, "comment": text,
        "touchpoint": touchpoint, "journey_stage": stage, "channel": answer.channel,
        "language": answer.language, "sent_at": _naive_utc(answer.sent_at),
        "responded_at": _naive_utc(answer.responded_at or now_utc()),
        "attributes": {"source": source, **({"survey_name": definition.name} if definition is not None else {})},
    }
    report = write_responses(workspace, [row])
    _check_landed(workspace, report)
    return Answer(response_id, answer.survey, value, text, report.import_id, row)


# -- response rate -------------------------------------------------------------------------------------------
def response_rate(session: Session, *, survey: str | None = None, start: dt.date | None = None,
                  end: dt.date | None = None, as_of: dt.datetime | None = None) -> dict[str, Any]:
    """Answered invitations / invitations sent in ``[start, end)`` (any channel), answers counted up to ``as_of``.

    A send cohort: an invitation sent in the period and answered after it still counts for the period.
    """
    from sinergia.store.survey_models import SurveyInvitation

    query = select(SurveyInvitation.created_at, SurveyInvitation.answered_at, SurveyInvitation.channel)
    if survey is not None:
        query = query.where(SurveyInvitation.survey_id == get_definition(session, survey).id)
    if start is not None:
        query = query.where(SurveyInvitation.created_at >= dt.datetime.combine(start, dt.time()))
    if end is not None:
        query = query.where(SurveyInvitation.created_at < dt.datetime.combine(end, dt.time()))
    cutoff = as_of or now_utc()
    sent = answered = 0
    by_channel: dict[str, list[int]] = {}
    for _created, done, channel in session.execute(query):
        sent += 1
        hit = int(done is not None and done <= cutoff)
        answered += hit
        counts = by_channel.setdefault(channel, [0, 0])
        counts[0] += 1
        counts[1] += hit
    return {
        "survey": survey, "start": start.isoformat() if start else None, "end": end.isoformat() if end else None,
        "as_of": cutoff.isoformat(timespec="seconds"), "sent": sent, "answered": answered,
        "response_rate": answered / sent if sent else None,
        "formula": "answered invitations (answered by as_of) / invitations sent in [start, end)",
        "by_channel": {c: {"sent": s, "answered": a, "response_rate": a / s}
                       for c, (s, a) in sorted(by_channel.items())},
    }


__all__ = ["CHANNELS", "LOCALES", "Answer", "AnswerQuarantined", "ExternalAnswer", "InvitationState", "InviteReport",
           "InviteResult",
           "answer_external", "answer_invitation", "create_definition", "get_definition", "invite",
           "open_invitation", "read_contacts_file", "resolve_contacts", "response_rate", "sync_definitions",
           "write_responses"]
