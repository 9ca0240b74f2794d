"""Request and response bodies. Inputs forbid unknown fields (a typo is a 422, not silently ignored)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    error: ErrorBody


# -- auth ----------------------------------------------------------------------------------------------------
class LoginIn(Strict):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1000)


class UserOut(Out):
    id: int
    email: str
    name: str
    role: str
    locale: str
    active: bool
    created_at: dt.datetime


class MeOut(BaseModel):
    user: UserOut
    permissions: list[str]
    csrf_token: str | None = None


class UserIn(Strict):
    email: str = Field(min_length=3, max_length=320)
    role: Literal["admin", "manager", "csm", "support", "viewer"]
    name: str = Field(default="", max_length=200)
    password: str | None = Field(default=None, min_length=8, max_length=1000)
    locale: Literal["pt-BR", "en"] = "pt-BR"


class UserPatch(Strict):
    role: Literal["admin", "manager", "csm", "support", "viewer"] | None = None
    name: str | None = Field(default=None, max_length=200)
    locale: Literal["pt-BR", "en"] | None = None
    active: bool | None = None


class MePatch(Strict):
    locale: Literal["pt-BR", "en"] | None = None
    name: str | None = Field(default=None, max_length=200)


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=200)


class TokenOut(Out):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class IssuedTokenOut(BaseModel):
    token: str = Field(description="The secret: shown this once, store it now.")
    info: TokenOut


# -- accounts ------------------------------------------------------------------------------------------------
class AccountOut(Out):
    account_id: str
    as_of: dt.date
    name: str | None
    segment: str | None
    plan: str | None
    owner: str | None
    country: str | None
    lifecycle_stage: str | None
    currency: str | None
    customer_since: dt.datetime | None
    renewal_at: dt.datetime | None
    mrr: float
    arr: float
    health_score: float | None
    health_band: str | None
    health_trend: str | None
    churn_risk: float | None
    clv: float | None
    open_tickets: int


class AccountDetailOut(AccountOut):
    drivers: dict[str, Any]
    attributes: dict[str, Any]


class EventOut(Out):
    at: dt.datetime
    kind: str
    stage: str
    title: str
    details: dict[str, Any]


class ScorePointOut(Out):
    score: str
    as_of: dt.date
    value: float | None
    band: str | None
    trend: str | None
    explanation: dict[str, Any]
    model_version: str | None


class TaskOut(Out):
    id: int
    account_id: str
    type: str
    title: str
    owner_id: int | None
    status: str
    priority: str
    due: dt.date | None
    reason: str
    created_at: dt.datetime
    updated_at: dt.datetime
    snooze_until: dt.date | None
    completion_note: str | None
    created_by: str


class NoteOut(Out):
    id: int
    account_id: str
    author: str
    body: str
    at: dt.datetime


class Account360Out(BaseModel):
    account: AccountDetailOut
    scores: list[ScorePointOut]
    events: list[EventOut]
    tasks: list[TaskOut]
    notes: list[NoteOut]


TaskType = Literal["risk", "lifecycle", "expansion", "objective", "activity"]
Priority = Literal["low", "normal", "high", "urgent"]


class TaskIn(Strict):
    account_id: str = Field(min_length=1, max_length=200)
    type: TaskType
    title: str = Field(min_length=1, max_length=500)
    owner_id: int | None = None
    priority: Priority = "normal"
    due: dt.date | None = None
    reason: str = Field(default="", max_length=5000)


class TaskPatch(Strict):
    type: TaskType | None = None
    title: str | None = Field(default=None, min_length=1, max_length=500)
    owner_id: int | None = None
    priority: Priority | None = None
    due: dt.date | None = None
    reason: str | None = Field(default=None, max_length=5000)
    status: Literal["open"] | None = Field(default=None, description="Reopen a done or snoozed task.")


class CompleteIn(Strict):
    note: str | None = Field(default=None, max_length=5000)


class SnoozeIn(Strict):
    until: dt.date


class NoteIn(Strict):
    body: str = Field(min_length=1, max_length=20000)


# -- metrics ---------------------------------------------------------------------------------------------------
class MetricSummary(BaseModel):
    name: str
    family: str
    title: dict[str, str]
    unit: str
    direction: str


class MetricPointOut(Out):
    period_start: dt.date
    period_end: dt.date
    partial: bool
    group_key: str
    value: float | None
    numerator: float | None
    denominator: float | None
    n: int | None
    ci_low: float | None
    ci_high: float | None
    small_sample: bool


class MetricValuesOut(BaseModel):
    metric: str
    as_of: dt.date
    period: str
    group: str
    points: list[MetricPointOut]
    groups: list[str]


class RowsOut(BaseModel):
    metric: str
    as_of: dt.date
    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool


class AuditOut(Out):
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


class RecomputeRunOut(Out):
    as_of: dt.date
    started_at: dt.datetime
    finished_at: dt.datetime
    counts: dict[str, Any]
