"""Tasks in the web app: "My tasks" (overdue, due today, upcoming), complete or snooze with a reason, a task's
page with "why did this fire?" (the stored playbook firing behind it), and the Customer 360's work section
(the account's open tasks with their actions and its open feedback cases).

Reading needs ``tasks:read``; completing and snoozing need ``tasks:write`` (the permission matrix: a viewer
reads, does not act). Forms carry the session's CSRF token (checked by ``authenticated``). Changes go through
``sinergia.store.repo`` (``complete_task`` / ``snooze_task``, both audited); the reason is stored in the
completion note (complete) or in a ``task.note`` audit row (snooze). No formulas here: "today" is the UTC date,
and grouping is by comparing due dates with it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from sinergia.api.deps import Permission, Principal, authenticated, db
from sinergia.auth.core import can
from sinergia.errors import UsageError
from sinergia.store import repo
from sinergia.store.models import TASK_STATUSES, TASK_TYPES, AccountSnapshot, Task, User
from sinergia.web.messages import N_

router = APIRouter(include_in_schema=False)

#: Task types, for extraction (they reach templates as data and are translated with ``_(t.type)``).
TYPE_MESSAGES = (N_("risk"), N_("lifecycle"), N_("expansion"), N_("objective"), N_("activity"))
CASE_MESSAGES = (N_("escalated"),)
OWNER_SCOPES = ("me", "all", "unassigned")
GROUPS = ("overdue", "today", "upcoming", "undated", "finished")
LIST_LIMIT = 500


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _safe_next(value: str | None, fallback: str) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return fallback


def _when(task: Task) -> dt.date | None:
    """The date a task is due again: the snooze end for a snoozed task, else its due date."""
    return task.snooze_until if task.status == "snoozed" and task.snooze_until else task.due


def group_of(task: Task, today: dt.date) -> str:
    """overdue (before today), today, upcoming (after today), undated (no date), finished (done)."""
    if task.status == "done":
        return "finished"
    when = _when(task)
    if when is None:
        return "undated"
    return "overdue" if when < today else "today" if when == today else "upcoming"


@dataclass
class TaskRow:
    task: Task
    group: str
    when: dt.date | None
    account_name: str
    owner: str | None
    playbook: str | None


@dataclass
class TaskList:
    groups: dict[str, list[TaskRow]] = field(default_factory=dict)
    total: int = 0


def _names(session: Session, account_ids: set[str]) -> dict[str, str]:
    as_of = repo.latest_as_of(session)
    if as_of is None or not account_ids:
        return {}
    rows = session.execute(select(AccountSnapshot.account_id, AccountSnapshot.name)
                           .where(AccountSnapshot.as_of == as_of, AccountSnapshot.account_id.in_(account_ids)))
    return {a: n for a, n in rows if n}


def _playbook_of(task: Task) -> str | None:
    for text in (task.created_by, task.reason):
        if text and text.startswith("playbook:"):
            return text.removeprefix("playbook:").split("#", 1)[0]
    return None


def task_rows(session: Session, tasks: list[Task], today: dt.date) -> list[TaskRow]:
    names = _names(session, {t.account_id for t in tasks})
    owner_ids = {t.owner_id for t in tasks if t.owner_id is not None}
    owners = {u.id: (u.name or u.email) for u in session.scalars(select(User).where(User.id.in_(owner_ids)))}
    return [TaskRow(t, group_of(t, today), _when(t), names.get(t.account_id, t.account_id),
                    owners.get(t.owner_id) if t.owner_id is not None else None, _playbook_of(t)) for t in tasks]


def list_tasks(session: Session, user: User, *, owner: str, status: str, type_: str, today: dt.date) -> TaskList:
    """Tasks for the page: ``owner`` me / all / unassigned; ``status`` active (open + snoozed), a status or all."""
    query = select(Task)
    if owner == "me":
        query = query.where(Task.owner_id == user.id)
    elif owner == "unassigned":
        query = query.where(Task.owner_id.is_(None))
    if status == "active":
        query = query.where(Task.status.in_(("open", "snoozed")))
    elif status != "all":
        query = query.where(Task.status == status)
    if type_:
        query = query.where(Task.type == type_)
    tasks = list(session.scalars(query.order_by(Task.due.asc().nulls_last(), Task.id).limit(LIST_LIMIT)))
    out = TaskList(groups={g: [] for g in GROUPS}, total=len(tasks))
    for row in task_rows(session, tasks, today):
        out.groups[row.group].append(row)
    for rows in out.groups.values():
        rows.sort(key=lambda r: (r.when or dt.date.max, r.task.id))
    return out


def firings_for_task(session: Session, task: Task) -> list[Any]:
    """The stored playbook firings whose actions created or updated this task, newest first."""
    from sqlalchemy import inspect

    from sinergia.store.playbook_models import PlaybookFiring

    playbook = _playbook_of(task)
    if playbook is None or not inspect(session.connection()).has_table("playbook_firings"):
        return []
    rows = session.scalars(select(PlaybookFiring).where(
        PlaybookFiring.playbook_id == playbook, PlaybookFiring.account_id == task.account_id)
        .order_by(PlaybookFiring.fired_at.desc(), PlaybookFiring.id.desc()))
    return [r for r in rows if any(a.get("kind") == "task" and a.get("task_id") == task.id for a in r.actions or [])]


def open_cases(session: Session, account_id: str) -> list[Any]:
    """The account's feedback cases that are not closed (closed loop), oldest due first."""
    from sqlalchemy import inspect

    from sinergia.store.playbook_models import FeedbackCase

    if not inspect(session.connection()).has_table("feedback_cases"):
        return []
    return list(session.scalars(select(FeedbackCase).where(
        FeedbackCase.account_id == account_id, FeedbackCase.status != "closed").order_by(FeedbackCase.due_at)))


def account_work(session: Session, account_id: str, user: User) -> dict[str, Any]:
    """What the Customer 360's work section shows (``_account_work.html``)."""
    tasks = [t for t in repo.list_tasks(session, account_id=account_id, limit=200).items if t.status != "done"]
    return {"work_tasks": task_rows(session, tasks, today_utc()), "work_cases": open_cases(session, account_id),
            "can_write_tasks": can(user, "tasks:write"), "today": today_utc()}


def _why(firing: Any) -> dict[str, Any]:
    """A firing's inputs as rows the template shows: evidence, condition checks, the account facts used."""
    inputs = firing.inputs or {}
    account = inputs.get("account") or {}
    facts = [(k, v) for k, v in sorted(account.items()) if v is not None and v != ""]
    return {"firing": firing, "evidence": inputs.get("evidence") or {}, "conditions": inputs.get("conditions") or [],
            "trigger": inputs.get("trigger") or {}, "facts": facts, "holdout": inputs.get("holdout")}


# -- routes -----------------------------------------------------------------------------------------------
def _page(request: Request, principal: Principal, template: str, **context: Any) -> Response:
    from sinergia.web.pages import _page as page

    return page(request, principal, template, "tasks", **context)


@router.get("/tasks", name="web_tasks", dependencies=[Depends(Permission("tasks:read"))])
def tasks_page(
    request: Request,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
    owner: str = Query("me"),
    status: str = Query("active"),
    type: str = Query(""),
) -> Response:
    if owner not in OWNER_SCOPES:
        raise UsageError(f"unknown owner '{owner}'; choose one of: {', '.join(OWNER_SCOPES)}")
    if status not in ("active", "all", *TASK_STATUSES):
        raise UsageError(f"unknown status '{status}'; choose one of: active, all, {', '.join(TASK_STATUSES)}")
    if type and type not in TASK_TYPES:
        raise UsageError(f"unknown type '{type}'; choose one of: {', '.join(TASK_TYPES)}")
    today = today_utc()
    found = list_tasks(session, principal.user, owner=owner, status=status, type_=type, today=today)
    return _page(request, principal, "tasks.html", found=found, groups=GROUPS, today=today,
                 owner=owner, status=status, type=type, owners=OWNER_SCOPES, statuses=("active", *TASK_STATUSES,
                                                                                     "all"),
                 types=TASK_TYPES, can_write_tasks=can(principal.user, "tasks:write"),
                 here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))


@router.get("/tasks/{task_id}", name="web_task", dependencies=[Depends(Permission("tasks:read"))])
def task_page(
    request: Request,
    task_id: int,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
) -> Response:
    task = repo.get_task(session, task_id)
    row = task_rows(session, [task], today_utc())[0]
    firings = [_why(f) for f in firings_for_task(session, task)]
    return _page(request, principal, "task.html", row=row, firings=firings, today=today_utc(),
                 can_write_tasks=can(principal.user, "tasks:write"), here=str(request.url.path))


@router.post("/tasks/{task_id}/complete", name="web_task_complete",
             dependencies=[Depends(Permission("tasks:write"))])
def complete(
    request: Request,
    task_id: int,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
    reason: str = Form(..., min_length=1, max_length=2000),
    next: str = Form(""),
) -> Response:
    task = repo.get_task(session, task_id)
    if not reason.strip():
        raise UsageError("say why the task is done (the reason is kept with it)")
    repo.complete_task(session, task, actor=principal.actor, note=reason.strip())
    session.commit()
    return RedirectResponse(_safe_next(next, str(request.url_for("web_tasks"))), status_code=303)


@router.post("/tasks/{task_id}/snooze", name="web_task_snooze", dependencies=[Depends(Permission("tasks:write"))])
def snooze(
    request: Request,
    task_id: int,
    principal: Principal = Depends(authenticated),  # noqa: B008
    session: Session = Depends(db),  # noqa: B008
    until: dt.date = Form(...),  # noqa: B008
    reason: str = Form(..., min_length=1, max_length=2000),
    next: str = Form(""),
) -> Response:
    task = repo.get_task(session, task_id)
    if not reason.strip():
        raise UsageError("say why the task is snoozed (the reason is audited)")
    repo.snooze_task(session, task, actor=principal.actor, until=until, today=today_utc())
    repo.audit(session, principal.actor, "task.note", f"task:{task.id}",
               {"on": "snooze", "until": until.isoformat(), "reason": reason.strip()})
    session.commit()
    return RedirectResponse(_safe_next(next, str(request.url_for("web_tasks"))), status_code=303)
