"""Serving-store tables: what the app reads (snapshots, metric and score history, journey events) and the
app's own state (users, tokens, sessions, login attempts, tasks, notes, audit log).

Every time is a naive UTC ``DateTime`` (the same convention as the engine). Migration ``0002`` creates
every table below except ``audit_log`` (``0001``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("admin", "manager", "csm", "support", "viewer")
LOCALES = ("pt-BR", "en")
TASK_TYPES = ("risk", "lifecycle", "expansion", "objective", "activity")
TASK_STATUSES = ("open", "done", "snoozed")
TASK_PRIORITIES = ("low", "normal", "high", "urgent")
JOURNEY_STAGES = ("before", "during", "after")


def utcnow() -> dt.datetime:
    """Now, as the naive UTC datetime every store column holds."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class AuditEntry(Base):
    """Who changed what, when: every import and every change made in the app leaves a row."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    target: Mapped[str] = mapped_column(String(500), nullable=False)
    details: Mapped[dict[str, object]] = mapped_column(JSON, nullable=False, default=dict)


# -- people and access ------------------------------------------------------------------------------
class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    locale: Mapped[str] = mapped_column(String(10), nullable=False, default="pt-BR")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class ApiToken(Base):
    """A bearer token: only its SHA-256 is stored; ``prefix`` (first characters) identifies it in lists."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    prefix: Mapped[str] = mapped_column(String(20), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class WebSession(Base):
    """A server-side login session: the cookie holds a random id, the row holds its SHA-256 and CSRF token."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    ip: Mapped[str] = mapped_column(String(64), nullable=False, default="")


class LoginAttempt(Base):
    """One login try, kept in the store so the rate limit survives restarts and holds across workers."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_email_ip_at", "email", "ip", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    ip: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    success: Mapped[bool] = mapped_column(Boolean, nullable=False)


# -- what the recompute writes ------------------------------------------------------------------------
class RecomputeRun(Base):
    """One recompute: which as-of it wrote and how many rows of each kind. The app reads the newest as-of."""

    __tablename__ = "recompute_runs"

    as_of: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    finished_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class AccountSnapshot(Base):
    __tablename__ = "account_snapshots"
    __table_args__ = (
        UniqueConstraint("as_of", "account_id", name="uq_account_snapshots_as_of_account"),
        # each sort of the account list walks an index; ties break on account_id in the same direction
        Index("ix_account_snapshots_sort_arr", "as_of", "arr", "account_id"),
        Index("ix_account_snapshots_sort_arr_at_risk", "as_of", "arr_at_risk", "account_id"),
        Index("ix_account_snapshots_sort_churn_risk", "as_of", "churn_risk", "account_id"),
        Index("ix_account_snapshots_sort_health", "as_of", "health_score", "account_id"),
        Index("ix_account_snapshots_segment", "as_of", "segment"),
        Index("ix_account_snapshots_owner", "as_of", "owner"),
        Index("ix_account_snapshots_band", "as_of", "health_band", "arr"),  # covers the health distribution
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[dt.date] = mapped_column(Date, nullable=False)
    account_id: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    name: Mapped[str | None] = mapped_column(String(500))
    segment: Mapped[str | None] = mapped_column(String(200))
    plan: Mapped[str | None] = mapped_column(String(200))
    owner: Mapped[str | None] = mapped_column(String(320))
    country: Mapped[str | None] = mapped_column(String(100))
    lifecycle_stage: Mapped[str | None] = mapped_column(String(50))
    currency: Mapped[str | None] = mapped_column(String(3))
    customer_since: Mapped[dt.datetime | None] = mapped_column(DateTime)
    renewal_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    mrr: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    arr: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    health_score: Mapped[float | None] = mapped_column(Float)
    health_band: Mapped[str | None] = mapped_column(String(50))
    health_trend: Mapped[str | None] = mapped_column(String(20))
    churn_risk: Mapped[float | None] = mapped_column(Float)
    clv: Mapped[float | None] = mapped_column(Float)
    #: ARR × churn risk (0 when the risk is unknown): what the risk list sorts by .
    arr_at_risk: Mapped[float] = mapped_column(Float, nullable=False, default=0.0, server_default="0")
    open_tickets: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    drivers: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class MetricPoint(Base):
    __tablename__ = "metric_points"
    __table_args__ = (Index("ix_metric_points_lookup", "as_of", "metric", "group_key", "period_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[dt.date] = mapped_column(Date, nullable=False)
    metric: Mapped[str] = mapped_column(String(100), nullable=False)
    period: Mapped[str] = mapped_column(String(20), nullable=False)
    period_start: Mapped[dt.date] = mapped_column(Date, nullable=False)
    period_end: Mapped[dt.date] = mapped_column(Date, nullable=False)
    partial: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: "" for the whole portfolio, else "<dimension>=<value>" (e.g. "segment=SMB").
    group_key: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    value: Mapped[float | None] = mapped_column(Float)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int | None] = mapped_column(Integer)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    small_sample: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ScorePoint(Base):
    __tablename__ = "score_points"
    __table_args__ = (Index("ix_score_points_account", "account_id", "score", "as_of"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(200), nullable=False)
    score: Mapped[str] = mapped_column(String(100), nullable=False)
    as_of: Mapped[dt.date] = mapped_column(Date, nullable=False)
    value: Mapped[float | None] = mapped_column(Float)
    band: Mapped[str | None] = mapped_column(String(50))
    trend: Mapped[str | None] = mapped_column(String(20))
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    model_version: Mapped[str | None] = mapped_column(String(100))


class AccountEvent(Base):
    """One dated step of an account's journey (the Customer 360 timeline)."""

    __tablename__ = "account_events"
    __table_args__ = (Index("ix_account_events_account_at", "as_of", "account_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[dt.date] = mapped_column(Date, nullable=False)
    account_id: Mapped[str] = mapped_column(String(200), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    kind: Mapped[str] = mapped_column(String(50), nullable=False)
    stage: Mapped[str] = mapped_column(String(10), nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


# -- the app's own state ----------------------------------------------------------------------------------
class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_status_due", "status", "due"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    type: Mapped[str] = mapped_column(String(20), nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open")
    priority: Mapped[str] = mapped_column(String(20), nullable=False, default="normal")
    due: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    snooze_until: Mapped[dt.date | None] = mapped_column(Date)
    completion_note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(320), nullable=False, default="")


class Note(Base):
    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(200), nullable=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author: Mapped[str] = mapped_column(String(320), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
