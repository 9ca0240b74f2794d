"""Repositories: the typed reads and writes the API, the web pages and the CLI make on the serving store.

Reads default to the newest recompute (``latest_as_of``). Writes take an ``actor`` (``"session:ana@x.com"``,
``"token:bot@x.com"``, ``"cli:root"``) and add an audit row in the same transaction; the caller commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from sinergia.errors import UsageError
from sinergia.store.models import (
    JOURNEY_STAGES,
    TASK_PRIORITIES,
    TASK_STATUSES,
    TASK_TYPES,
    AccountEvent,
    AccountSnapshot,
    AuditEntry,
    MetricPoint,
    Note,
    RecomputeRun,
    ScorePoint,
    Task,
    User,
    utcnow,
)

T = TypeVar("T")

#: Columns accounts can be sorted by (API ``sort=-arr`` means descending).
ACCOUNT_SORTS: dict[str, Any] = {
    "account_id": AccountSnapshot.account_id,
    "name": AccountSnapshot.name,
    "segment": AccountSnapshot.segment,
    "plan": AccountSnapshot.plan,
    "owner": AccountSnapshot.owner,
    "country": AccountSnapshot.country,
    "mrr": AccountSnapshot.mrr,
    "arr": AccountSnapshot.arr,
    "health_score": AccountSnapshot.health_score,
    "churn_risk": AccountSnapshot.churn_risk,
    "clv": AccountSnapshot.clv,
    "renewal_at": AccountSnapshot.renewal_at,
    "open_tickets": AccountSnapshot.open_tickets,
    "arr_at_risk": AccountSnapshot.arr_at_risk,
}
MAX_PAGE = 500
_NOT_NULL_SORTS = frozenset({"account_id", "mrr", "arr", "arr_at_risk", "open_tickets"})


class NotFound(UsageError):
    """A row the caller named does not exist (the API answers 404)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def _page(
    session: Session, query: Select[Any], limit: int, offset: int, count: bool = True
) -> tuple[list[Any], int]:
    """One page of ``query``; with ``count=False`` the total is -1 (counting can cost more than the page)."""
    if not 1 <= limit <= MAX_PAGE:
        raise UsageError(f"limit must be between 1 and {MAX_PAGE}")
    if offset < 0:
        raise UsageError("offset must be 0 or more")
    items = list(session.scalars(query.limit(limit).offset(offset)))
    if not count:
        return items, -1
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return items, int(total)


def audit(session: Session, actor: str, action: str, target: str, details: dict[str, Any]) -> None:
    session.add(AuditEntry(at=utcnow(), actor=actor, action=action, target=target, details=details))


# -- snapshots -------------------------------------------------------------------------------------------
def latest_as_of(session: Session) -> dt.date | None:
    """The as-of date of the newest recompute, or None before the first one."""
    return session.scalar(select(func.max(RecomputeRun.as_of)))


def recompute_runs(session: Session) -> list[RecomputeRun]:
    return list(session.scalars(select(RecomputeRun).order_by(RecomputeRun.as_of.desc())))


def _as_of(session: Session, as_of: dt.date | None) -> dt.date:
    value = as_of or latest_as_of(session)
    if value is None:
        raise NotFound("no recompute yet: run 'sinergia recompute --workspace PATH --as-of YYYY-MM-DD'")
    return value


@dataclass(frozen=True)
class AccountFilter:
    """Filters for the account list; every given field narrows the result (AND)."""

    q: str | None = None  # substring of name or account id, case-insensitive
    segment: str | None = None
    plan: str | None = None
    owner: str | None = None
    country: str | None = None
    health_band: str | None = None
    lifecycle_stage: str | None = None
    min_arr: float | None = None
    max_arr: float | None = None
    min_churn_risk: float | None = None
    paying: bool | None = None  # mrr > 0


def _account_conditions(flt: AccountFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if flt.q:
        pattern = f"%{flt.q.lower()}%"
        conditions.append(
            or_(func.lower(AccountSnapshot.name).like(pattern), func.lower(AccountSnapshot.account_id).like(pattern))
        )
    for column, value in (
        (AccountSnapshot.segment, flt.segment),
        (AccountSnapshot.plan, flt.plan),
        (AccountSnapshot.owner, flt.owner),
        (AccountSnapshot.country, flt.country),
        (AccountSnapshot.health_band, flt.health_band),
        (AccountSnapshot.lifecycle_stage, flt.lifecycle_stage),
    ):
        if value is not None:
            conditions.append(column == value)
    if flt.min_arr is not None:
        conditions.append(AccountSnapshot.arr >= flt.min_arr)
    if flt.max_arr is not None:
        conditions.append(AccountSnapshot.arr <= flt.max_arr)
    if flt.min_churn_risk is not None:
        conditions.append(AccountSnapshot.churn_risk >= flt.min_churn_risk)
    if flt.paying is not None:
        # ARR = 12 x MRR; the ARR column is in the (as_of, arr, account_id) index, so counts stay index-only
        conditions.append(AccountSnapshot.arr > 0 if flt.paying else AccountSnapshot.arr <= 0)
    return conditions


def list_accounts(
    session: Session,
    flt: AccountFilter | None = None,
    *,
    as_of: dt.date | None = None,
    sort: str = "-arr",
    limit: int = 50,
    offset: int = 0,
    count: bool = True,
) -> Page[AccountSnapshot]:
    """One page of account snapshots. ``sort`` is a key of :data:`ACCOUNT_SORTS`, ``-`` for descending;
    ties break on account id (in the same direction) so pages are stable; nulls come last. ``count=False``
    skips the total (``Page.total`` is -1): a card that shows the top N does not need it."""
    day = _as_of(session, as_of)
    key = sort.lstrip("-")
    if key not in ACCOUNT_SORTS:
        raise UsageError(f"cannot sort by '{key}'; choose one of: {', '.join(ACCOUNT_SORTS)}")
    column = ACCOUNT_SORTS[key]
    descending = sort.startswith("-")
    # ties break on account_id in the sort's direction, so (as_of, column, account_id) indexes serve it;
    # nullable columns put nulls last explicitly (SQLite and PostgreSQL disagree on the default)
    if key in _NOT_NULL_SORTS:
        ordering = (
            [column.desc(), AccountSnapshot.account_id.desc()]
            if descending
            else [column.asc(), AccountSnapshot.account_id.asc()]
        )
    else:
        ordering = [
            column.desc().nulls_last() if descending else column.asc().nulls_last(),
            AccountSnapshot.account_id.desc() if descending else AccountSnapshot.account_id.asc(),
        ]
    query = (
        select(AccountSnapshot)
        .where(AccountSnapshot.as_of == day, *_account_conditions(flt or AccountFilter()))
        .order_by(*ordering)
    )
    items, total = _page(session, query, limit, offset, count)
    return Page(items, total, limit, offset)


def get_account(session: Session, account_id: str, *, as_of: dt.date | None = None) -> AccountSnapshot:
    day = _as_of(session, as_of)
    row = session.scalars(
        select(AccountSnapshot).where(AccountSnapshot.as_of == day, AccountSnapshot.account_id == account_id)
    ).first()
    if row is None:
        raise NotFound(f"no account '{account_id}' in the snapshot of {day}")
    return row


def account_exists(session: Session, account_id: str) -> bool:
    day = latest_as_of(session)
    if day is None:
        return False
    found = session.scalar(
        select(AccountSnapshot.id).where(AccountSnapshot.as_of == day, AccountSnapshot.account_id == account_id)
    )
    return found is not None


def health_distribution(session: Session, *, as_of: dt.date | None = None) -> dict[str, dict[str, float]]:
    """Accounts and ARR per health band (``"unscored"`` when no band) in the snapshot."""
    day = _as_of(session, as_of)
    band = func.coalesce(AccountSnapshot.health_band, "unscored")
    rows = session.execute(
        select(band, func.count(), func.coalesce(func.sum(AccountSnapshot.arr), 0.0))
        .where(AccountSnapshot.as_of == day, AccountSnapshot.arr > 0)
        .group_by(band)
    ).all()
    return {str(b): {"accounts": int(n), "arr": float(arr)} for b, n, arr in rows}


def account_events(
    session: Session, account_id: str, *, as_of: dt.date | None = None, stage: str | None = None, limit: int = 500
) -> list[AccountEvent]:
    """The journey timeline of an account, oldest first."""
    day = _as_of(session, as_of)
    if stage is not None and stage not in JOURNEY_STAGES:
        raise UsageError(f"unknown stage '{stage}'; stages: {', '.join(JOURNEY_STAGES)}")
    query = select(AccountEvent).where(AccountEvent.as_of == day, AccountEvent.account_id == account_id)
    if stage is not None:
        query = query.where(AccountEvent.stage == stage)
    return list(session.scalars(query.order_by(AccountEvent.at, AccountEvent.id).limit(limit)))


# -- metrics and scores ------------------------------------------------------------------------------------
def metric_series(
    session: Session, metric: str, *, group_key: str = "", as_of: dt.date | None = None
) -> list[MetricPoint]:
    """One metric's value per period (oldest first) for the whole portfolio or one group."""
    day = _as_of(session, as_of)
    return list(
        session.scalars(
            select(MetricPoint)
            .where(MetricPoint.as_of == day, MetricPoint.metric == metric, MetricPoint.group_key == group_key)
            .order_by(MetricPoint.period_start)
        )
    )


def metric_groups(session: Session, metric: str, *, as_of: dt.date | None = None) -> list[str]:
    """The group keys stored for a metric ("" = overall, "segment=SMB", …)."""
    day = _as_of(session, as_of)
    return list(
        session.scalars(
            select(MetricPoint.group_key)
            .where(MetricPoint.as_of == day, MetricPoint.metric == metric)
            .distinct()
            .order_by(MetricPoint.group_key)
        )
    )


def latest_metric_values(
    session: Session, metrics: Sequence[str], *, as_of: dt.date | None = None
) -> dict[str, list[MetricPoint]]:
    """For cards: each metric's overall series (oldest first), so callers take the last value and the trend."""
    return {m: metric_series(session, m, as_of=as_of) for m in metrics}


def score_history(session: Session, account_id: str, score: str | None = None) -> list[ScorePoint]:
    query = select(ScorePoint).where(ScorePoint.account_id == account_id)
    if score is not None:
        query = query.where(ScorePoint.score == score)
    return list(session.scalars(query.order_by(ScorePoint.score, ScorePoint.as_of)))


# -- tasks ------------------------------------------------------------------------------------------------
def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise UsageError(f"unknown {name} '{value}'; choose one of: {', '.join(allowed)}")


def _check_owner(session: Session, owner_id: int | None) -> None:
    if owner_id is not None and session.get(User, owner_id) is None:
        raise NotFound(f"no user with id {owner_id}")


def list_tasks(
    session: Session,
    *,
    account_id: str | None = None,
    owner_id: int | None = None,
    status: str | None = None,
    type_: str | None = None,
    due_before: dt.date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[Task]:
    """Tasks, open ones with the nearest due date first."""
    conditions: list[ColumnElement[bool]] = []
    if account_id is not None:
        conditions.append(Task.account_id == account_id)
    if owner_id is not None:
        conditions.append(Task.owner_id == owner_id)
    if status is not None:
        _check_choice("status", status, TASK_STATUSES)
        conditions.append(Task.status == status)
    if type_ is not None:
        _check_choice("type", type_, TASK_TYPES)
        conditions.append(Task.type == type_)
    if due_before is not None:
        conditions.append(and_(Task.due.is_not(None), Task.due <= due_before))
    query = select(Task).where(*conditions).order_by(Task.due.asc().nulls_last(), Task.id)
    items, total = _page(session, query, limit, offset)
    return Page(items, total, limit, offset)


def get_task(session: Session, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"no task with id {task_id}")
    return task


def create_task(
    session: Session,
    *,
    actor: str,
    account_id: str,
    type_: str,
    title: str,
    owner_id: int | None = None,
    priority: str = "normal",
    due: dt.date | None = None,
    reason: str = "",
) -> Task:
    _check_choice("type", type_, TASK_TYPES)
    _check_choice("priority", priority, TASK_PRIORITIES)
    _check_owner(session, owner_id)
    if not title.strip():
        raise UsageError("a task needs a title")
    if not account_exists(session, account_id):
        raise NotFound(f"no account '{account_id}' in the latest snapshot")
    now = utcnow()
    task = Task(
        account_id=account_id,
        type=type_,
        title=title.strip(),
        owner_id=owner_id,
        status="open",
        priority=priority,
        due=due,
        reason=reason,
        created_at=now,
        updated_at=now,
        created_by=actor,
    )
    session.add(task)
    session.flush()
    audit(session, actor, "task.create", f"task:{task.id}", {"account_id": account_id, "type": type_, "title": title})
    return task


_TASK_FIELDS = ("title", "type", "owner_id", "priority", "due", "reason", "status")


def update_task(session: Session, task: Task, *, actor: str, changes: dict[str, Any]) -> Task:
    """Apply ``changes`` (only the keys of :data:`_TASK_FIELDS`) and audit old → new for each."""
    unknown = set(changes) - set(_TASK_FIELDS)
    if unknown:
        raise UsageError(f"cannot change {', '.join(sorted(unknown))} on a task")
    if "type" in changes:
        _check_choice("type", changes["type"], TASK_TYPES)
    if "priority" in changes:
        _check_choice("priority", changes["priority"], TASK_PRIORITIES)
    if "status" in changes:
        _check_choice("status", changes["status"], TASK_STATUSES)
    if "owner_id" in changes:
        _check_owner(session, changes["owner_id"])
    if "title" in changes and not str(changes["title"]).strip():
        raise UsageError("a task needs a title")
    diff: dict[str, Any] = {}
    for key, value in changes.items():
        old = getattr(task, key)
        if old != value:
            diff[key] = [_plain(old), _plain(value)]
            setattr(task, key, value)
    if changes.get("status") == "open":
        task.snooze_until = None
    if diff:
        task.updated_at = utcnow()
        audit(session, actor, "task.update", f"task:{task.id}", diff)
    return task


def complete_task(session: Session, task: Task, *, actor: str, note: str | None = None) -> Task:
    if task.status == "done":
        raise UsageError(f"task {task.id} is already done")
    task.status, task.completion_note, task.snooze_until = "done", note, None
    task.updated_at = utcnow()
    audit(session, actor, "task.complete", f"task:{task.id}", {"note": note or ""})
    return task


def snooze_task(session: Session, task: Task, *, actor: str, until: dt.date, today: dt.date | None = None) -> Task:
    if task.status == "done":
        raise UsageError(f"task {task.id} is done; reopen it before snoozing")
    if until <= (today or utcnow().date()):
        raise UsageError("snooze until a future date")
    task.status, task.snooze_until = "snoozed", until
    task.updated_at = utcnow()
    audit(session, actor, "task.snooze", f"task:{task.id}", {"until": until.isoformat()})
    return task


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


# -- notes --------------------------------------------------------------------------------------------------
def list_notes(session: Session, account_id: str, *, limit: int = 100) -> list[Note]:
    return list(
        session.scalars(
            select(Note).where(Note.account_id == account_id).order_by(Note.at.desc(), Note.id.desc()).limit(limit)
        )
    )


def add_note(session: Session, *, actor: str, account_id: str, body: str, author: User | None = None) -> Note:
    if not body.strip():
        raise UsageError("a note needs some text")
    if not account_exists(session, account_id):
        raise NotFound(f"no account '{account_id}' in the latest snapshot")
    note = Note(
        account_id=account_id,
        author_id=author.id if author is not None else None,
        author=author.email if author is not None else actor,
        body=body,
        at=utcnow(),
    )
    session.add(note)
    session.flush()
    audit(session, actor, "note.create", f"note:{note.id}", {"account_id": account_id, "chars": len(body)})
    return note


def list_audit(session: Session, *, limit: int = 100, offset: int = 0, action: str | None = None) -> Page[AuditEntry]:
    query = select(AuditEntry)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    items, total = _page(session, query.order_by(AuditEntry.id.desc()), limit, offset)
    return Page(items, total, limit, offset)
