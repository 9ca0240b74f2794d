"""Accounts (filter, sort, paginate), the Customer 360, journey events, scores, tasks and notes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from sinergia.store import repo

from ..deps import Permission, Principal, db
from ..schemas import (
    Account360Out,
    AccountDetailOut,
    AccountOut,
    CompleteIn,
    EventOut,
    NoteIn,
    NoteOut,
    PageOut,
    ScorePointOut,
    SnoozeIn,
    TaskIn,
    TaskOut,
    TaskPatch,
)

router = APIRouter()
DB = Annotated[Session, Depends(db)]
Limit = Annotated[int, Query(ge=1, le=repo.MAX_PAGE)]
Offset = Annotated[int, Query(ge=0)]


@router.get("/accounts", tags=["accounts"], dependencies=[Depends(Permission("accounts:read"))])
def accounts(
    session: DB,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name or id.")] = None,
    segment: str | None = None,
    plan: str | None = None,
    owner: str | None = None,
    country: str | None = None,
    health_band: str | None = None,
    lifecycle_stage: str | None = None,
    min_arr: float | None = None,
    max_arr: float | None = None,
    min_churn_risk: Annotated[float | None, Query(ge=0, le=1)] = None,
    paying: bool | None = None,
    as_of: dt.date | None = None,
    sort: Annotated[str, Query(description="A column; '-' first for descending (e.g. -arr_at_risk).")] = "-arr",
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[AccountOut]:
    """Account snapshots of the newest recompute (or ``as_of``), filtered, sorted and paginated."""
    flt = repo.AccountFilter(
        q=q,
        segment=segment,
        plan=plan,
        owner=owner,
        country=country,
        health_band=health_band,
        lifecycle_stage=lifecycle_stage,
        min_arr=min_arr,
        max_arr=max_arr,
        min_churn_risk=min_churn_risk,
        paying=paying,
    )
    page = repo.list_accounts(session, flt, as_of=as_of, sort=sort, limit=limit, offset=offset)
    return PageOut[AccountOut](
        items=[AccountOut.model_validate(a) for a in page.items], total=page.total, limit=page.limit, offset=page.offset
    )


@router.get("/accounts/{account_id}", tags=["accounts"], dependencies=[Depends(Permission("accounts:read"))])
def account_360(account_id: str, session: DB, as_of: dt.date | None = None) -> Account360Out:
    """Everything about one account: snapshot with drivers, score history, journey, open tasks, notes."""
    account = repo.get_account(session, account_id, as_of=as_of)
    return Account360Out(
        account=AccountDetailOut.model_validate(account),
        scores=[ScorePointOut.model_validate(s) for s in repo.score_history(session, account_id)],
        events=[EventOut.model_validate(e) for e in repo.account_events(session, account_id, as_of=account.as_of)],
        tasks=[TaskOut.model_validate(t) for t in repo.list_tasks(session, account_id=account_id, limit=200).items],
        notes=[NoteOut.model_validate(n) for n in repo.list_notes(session, account_id)],
    )


@router.get("/accounts/{account_id}/events", tags=["accounts"], dependencies=[Depends(Permission("accounts:read"))])
def account_events(
    account_id: str, session: DB, stage: str | None = None, as_of: dt.date | None = None
) -> list[EventOut]:
    """The journey timeline (stage: before / during / after the first purchase)."""
    repo.get_account(session, account_id, as_of=as_of)
    return [EventOut.model_validate(e) for e in repo.account_events(session, account_id, as_of=as_of, stage=stage)]


@router.get("/accounts/{account_id}/scores", tags=["scores"], dependencies=[Depends(Permission("scores:read"))])
def account_scores(account_id: str, session: DB, score: str | None = None) -> list[ScorePointOut]:
    """Score history of one account (health, churn risk, CLV …), oldest first per score."""
    repo.get_account(session, account_id)
    return [ScorePointOut.model_validate(s) for s in repo.score_history(session, account_id, score)]


@router.get("/predictions", tags=["scores"], dependencies=[Depends(Permission("scores:read"))])
def predictions(
    session: DB,
    min_churn_risk: Annotated[float | None, Query(ge=0, le=1)] = None,
    segment: str | None = None,
    owner: str | None = None,
    sort: str = "-arr_at_risk",
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[AccountOut]:
    """Paying accounts with their health, churn risk and CLV — by default the most ARR at risk first."""
    flt = repo.AccountFilter(min_churn_risk=min_churn_risk, segment=segment, owner=owner, paying=True)
    page = repo.list_accounts(session, flt, sort=sort, limit=limit, offset=offset)
    return PageOut[AccountOut](
        items=[AccountOut.model_validate(a) for a in page.items], total=page.total, limit=page.limit, offset=page.offset
    )


@router.get("/portfolio/health", tags=["scores"], dependencies=[Depends(Permission("scores:read"))])
def health_distribution(session: DB, as_of: dt.date | None = None) -> dict[str, dict[str, float]]:
    """Paying accounts and their ARR per health band."""
    return repo.health_distribution(session, as_of=as_of)


# -- tasks ------------------------------------------------------------------------------------------------
@router.get("/tasks", tags=["tasks"], dependencies=[Depends(Permission("tasks:read"))])
def tasks(
    session: DB,
    account_id: str | None = None,
    owner_id: int | None = None,
    status: str | None = None,
    type: str | None = None,
    due_before: dt.date | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageOut[TaskOut]:
    page = repo.list_tasks(
        session,
        account_id=account_id,
        owner_id=owner_id,
        status=status,
        type_=type,
        due_before=due_before,
        limit=limit,
        offset=offset,
    )
    return PageOut[TaskOut](
        items=[TaskOut.model_validate(t) for t in page.items], total=page.total, limit=page.limit, offset=page.offset
    )


@router.post("/tasks", tags=["tasks"], status_code=201)
def create_task(
    body: TaskIn, principal: Annotated[Principal, Depends(Permission("tasks:write"))], session: DB
) -> TaskOut:
    task = repo.create_task(
        session,
        actor=principal.actor,
        account_id=body.account_id,
        type_=body.type,
        title=body.title,
        owner_id=body.owner_id,
        priority=body.priority,
        due=body.due,
        reason=body.reason,
    )
    session.commit()
    return TaskOut.model_validate(task)


@router.get("/tasks/{task_id}", tags=["tasks"], dependencies=[Depends(Permission("tasks:read"))])
def get_task(task_id: int, session: DB) -> TaskOut:
    return TaskOut.model_validate(repo.get_task(session, task_id))


@router.patch("/tasks/{task_id}", tags=["tasks"])
def update_task(
    task_id: int, body: TaskPatch, principal: Annotated[Principal, Depends(Permission("tasks:write"))], session: DB
) -> TaskOut:
    task = repo.get_task(session, task_id)
    changes = body.model_dump(exclude_unset=True)
    repo.update_task(session, task, actor=principal.actor, changes=changes)
    session.commit()
    return TaskOut.model_validate(task)


@router.post("/tasks/{task_id}/complete", tags=["tasks"])
def complete_task(
    task_id: int, body: CompleteIn, principal: Annotated[Principal, Depends(Permission("tasks:write"))], session: DB
) -> TaskOut:
    task = repo.complete_task(session, repo.get_task(session, task_id), actor=principal.actor, note=body.note)
    session.commit()
    return TaskOut.model_validate(task)


@router.post("/tasks/{task_id}/snooze", tags=["tasks"])
def snooze_task(
    task_id: int, body: SnoozeIn, principal: Annotated[Principal, Depends(Permission("tasks:write"))], session: DB
) -> TaskOut:
    task = repo.snooze_task(session, repo.get_task(session, task_id), actor=principal.actor, until=body.until)
    session.commit()
    return TaskOut.model_validate(task)


# -- notes ------------------------------------------------------------------------------------------------
@router.get("/accounts/{account_id}/notes", tags=["notes"], dependencies=[Depends(Permission("notes:read"))])
def notes(account_id: str, session: DB, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[NoteOut]:
    return [NoteOut.model_validate(n) for n in repo.list_notes(session, account_id, limit=limit)]


@router.post("/accounts/{account_id}/notes", tags=["notes"], status_code=201)
def add_note(
    account_id: str, body: NoteIn, principal: Annotated[Principal, Depends(Permission("notes:write"))], session: DB
) -> NoteOut:
    note = repo.add_note(session, actor=principal.actor, account_id=account_id, body=body.body, author=principal.user)
    session.commit()
    return NoteOut.model_validate(note)


__all__ = ["Response", "router"]
