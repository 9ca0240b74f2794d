"""Deliveries and feedback cases in the web app: the durable outbox's messages with their attempts and errors
("retry now" for failed ones), and the open closed-loop feedback cases with a close form that needs a root cause.

* ``/deliveries`` (``outbox:read``): outbox messages, newest first, with the shown status — ``pending`` (not tried
  yet), ``retrying`` (pending after a failed try, with its next retry time), ``sending`` (claimed by a worker),
  ``delivered``, ``dead`` (tries used up) — every attempt with its HTTP status and error; filter by status.
  ``POST /deliveries/{id}/retry`` (``outbox:write``) calls :func:`sinergia.playbooks.outbox.requeue` and writes an
  ``outbox.retry`` audit row; the next ``deliver_due`` run (the scheduler or ``sinergia playbooks deliver``) sends it.
* ``/cases`` (``cases:read``): feedback cases that are not closed, earliest SLA due first, with the escalation level
  and whether the SLA is breached; ``?account=`` narrows to one account (the Customer 360 links here).
  ``POST /cases/{id}/close`` (``cases:write``) calls :func:`sinergia.playbooks.closed_loop.close_case`, which
  refuses a blank root cause and writes the ``case.close`` audit row.

Forms carry the session's CSRF token (checked by ``authenticated``). No formulas here: "breached" compares the
case's ``due_at`` with the current UTC time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from sinergia.api.deps import Permission, Principal, authenticated, db, store_url
from sinergia.auth.core import can
from sinergia.errors import UsageError
from sinergia.playbooks import closed_loop, outbox
from sinergia.store import repo
from sinergia.store.models import User
from sinergia.store.playbook_models import FeedbackCase, OutboxAttempt, OutboxMessage
from sinergia.web.messages import N_
from sinergia.web.tasks import _names, _safe_next

router = APIRouter(include_in_schema=False)

#: Statuses shown on the deliveries page (``retrying`` = pending after a failed try), for extraction.
DELIVERY_STATUSES = ("pending", "retrying", "sending", "delivered", "dead")
STATUS_MESSAGES = (N_("pending"), N_("retrying"), N_("sending"), N_("delivered"), N_("dead"), N_("email"),
                   N_("webhook"), N_("slack"))
LIST_LIMIT = 200


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def shown_status(message: OutboxMessage) -> str:
    """The status the page shows: a pending message that already failed is ``retrying``."""
    if message.status == "pending" and message.last_error is not None:
        return "retrying"
    return message.status


@dataclass
class DeliveryRow:
    message: OutboxMessage
    status: str
    attempts: list[OutboxAttempt]
    can_retry: bool


def list_deliveries(session: Session, status: str) -> list[DeliveryRow]:
    """Messages (newest first, at most ``LIST_LIMIT``) with their attempts, optionally of one shown status."""
    query = select(OutboxMessage)
    if status == "pending":
        query = query.where(OutboxMessage.status == "pending", OutboxMessage.last_error.is_(None))
    elif status == "retrying":
        query = query.where(OutboxMessage.status == "pending", OutboxMessage.last_error.is_not(None))
    elif status != "all":
        query = query.where(OutboxMessage.status == status)
    messages = list(session.scalars(query.order_by(OutboxMessage.id.desc()).limit(LIST_LIMIT)))
    attempts: dict[int, list[OutboxAttempt]] = {m.id: [] for m in messages}
    if messages:
        for attempt in session.scalars(select(OutboxAttempt).where(OutboxAttempt.message_id.in_(attempts))
                                       .order_by(OutboxAttempt.message_id, OutboxAttempt.attempt)):
            attempts[attempt.message_id].append(attempt)
    return [DeliveryRow(m, shown_status(m), attempts[m.id],
                        m.status in outbox.RETRYABLE and m.last_error is not None) for m in messages]


@dataclass
class CaseRow:
    case: FeedbackCase
    account_name: str
    owner: str | None
    breached: bool


def list_open_cases(session: Session, account_id: str | None, now: dt.datetime) -> list[CaseRow]:
    """Cases not closed, earliest SLA due first; ``breached`` = due before ``now``."""
    query = select(FeedbackCase).where(FeedbackCase.status != "closed")
    if account_id:
        query = query.where(FeedbackCase.account_id == account_id)
    cases = list(session.scalars(query.order_by(FeedbackCase.due_at, FeedbackCase.id).limit(LIST_LIMIT)))
    names = _names(session, {c.account_id for c in cases if c.account_id})
    owner_ids = {c.owner_id for c in cases if c.owner_id is not None}
    owners = {u.id: (u.name or u.email) for u in session.scalars(select(User).where(User.id.in_(owner_ids)))}
    return [CaseRow(c, names.get(c.account_id, c.account_id) if c.account_id else "—",
                    owners.get(c.owner_id) if c.owner_id is not None else None, c.due_at < now) for c in cases]


# -- routes -----------------------------------------------------------------------------------------------
def _page(request: Request, principal: Principal, template: str, active: str, **context: Any) -> Response:
    from sinergia.web.pages import _page as page

    return page(request, principal, template, active, **context)


def _here(request: Request) -> str:
    return str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")


@router.get("/deliveries", name="web_deliveries", dependencies=[Depends(Permission("outbox:read"))])
def deliveries_page(
    request: Request,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
    status: str = Query("all"),
) -> Response:
    if status not in ("all", *DELIVERY_STATUSES):
        raise UsageError(f"unknown status '{status}'; choose one of: all, {', '.join(DELIVERY_STATUSES)}")
    rows = list_deliveries(session, status)
    return _page(request, principal, "deliveries.html", "deliveries", rows=rows, status=status,
                 statuses=("all", *DELIVERY_STATUSES), can_retry=can(principal.user, "outbox:write"),
                 here=_here(request))


@router.post("/deliveries/{message_id}/retry", name="web_delivery_retry",
             dependencies=[Depends(Permission("outbox:write"))])
def retry(
    request: Request,
    message_id: int,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
    next: str = Form(""),
) -> Response:
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise repo.NotFound(f"no outbox message with id {message_id}")
    before = (message.status, message.attempts, message.max_attempts)
    outbox.requeue(session, message_id)
    repo.audit(session, principal.actor, "outbox.retry", f"outbox:{message_id}",
               {"status_before": before[0], "attempts": before[1], "max_attempts_before": before[2],
                "max_attempts": message.max_attempts, "last_error": message.last_error})
    session.commit()
    return RedirectResponse(_safe_next(next, str(request.app.url_path_for("web_deliveries"))), status_code=303)


@router.get("/cases", name="web_cases", dependencies=[Depends(Permission("cases:read"))])
def cases_page(
    request: Request,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
    account: str = Query(""),
) -> Response:
    now = _now()
    rows = list_open_cases(session, account or None, now)
    return _page(request, principal, "cases.html", "cases", rows=rows, account=account,
                 can_close=can(principal.user, "cases:write"), here=_here(request))


@router.post("/cases/{case_id}/close", name="web_case_close", dependencies=[Depends(Permission("cases:write"))])
def close(
    request: Request,
    case_id: int,
    principal: Principal = Depends(authenticated),  # noqa: B008
    root_cause: str = Form("", max_length=2000),
    action: str = Form("", max_length=2000),
    follow_up: bool = Form(False),
    next: str = Form(""),
) -> Response:
    from sinergia.web.pages import request_locale

    closed_loop.close_case(store_url(request), case_id, root_cause=root_cause, action=action,
                           actor=principal.actor, follow_up=follow_up, locale=request_locale(request, principal))
    return RedirectResponse(_safe_next(next, str(request.app.url_path_for("web_cases"))), status_code=303)
