"""Serving-store tables of playbooks, the outbox and routing (migration ``0003``).

* ``playbook_firings``: one row per (playbook, account, as-of) firing, with the inputs the runner saw
  (``inputs``: an as-of snapshot) and what its actions did (``actions``), so "why did this fire?" has an answer.
* ``outbox_messages`` / ``outbox_attempts``: the durable outbox (e-mail, webhook, Slack) and every delivery try.
* ``account_fields``: fields and tags set by playbooks (``set_field`` actions).
* ``route_decisions``: Support-vs-CS routing decisions with their reason.

Times are naive UTC ``DateTime`` like the rest of the store. Tasks live in the app's ``tasks`` table (0002).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sinergia.store.models import Base, utcnow


class PlaybookFiring(Base):
    __tablename__ = "playbook_firings"
    __table_args__ = (
        UniqueConstraint("playbook_id", "account_id", "as_of", name="uq_playbook_firings_once_per_day"),
        Index("ix_playbook_firings_account", "account_id", "fired_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    playbook_id: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    #: "" for a portfolio firing (a metric trigger without ``by``); "<dimension>=<value>" for a group.
    account_id: Mapped[str] = mapped_column(String(200), nullable=False)
    as_of: Mapped[dt.date] = mapped_column(Date, nullable=False)
    fired_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    trigger_kind: Mapped[str] = mapped_column(String(30), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # email | webhook | slack
    target: Mapped[str] = mapped_column(String(1000), nullable=False)  # address(es) or URL
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    #: pending → sending → delivered; or back to pending with a later next_attempt_at; dead after max_attempts
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=6)
    backoff_seconds: Mapped[float] = mapped_column(Float, nullable=False, default=30.0)
    max_backoff_seconds: Mapped[float] = mapped_column(Float, nullable=False, default=3600.0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    firing_id: Mapped[int | None] = mapped_column(ForeignKey("playbook_firings.id", ondelete="SET NULL"),
                                                  index=True)


class OutboxAttempt(Base):
    __tablename__ = "outbox_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id", ondelete="CASCADE"), nullable=False,
                                            index=True)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    ok: Mapped[bool] = mapped_column(nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float | None] = mapped_column(Float)


class AccountField(Base):
    __tablename__ = "account_fields"
    __table_args__ = (UniqueConstraint("account_id", "field", "value", name="uq_account_fields"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    field: Mapped[str] = mapped_column(String(100), nullable=False)  # "tag" for tags
    value: Mapped[str] = mapped_column(String(500), nullable=False)
    set_by: Mapped[str] = mapped_column(String(200), nullable=False)
    set_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class RouteDecisionRow(Base):
    __tablename__ = "route_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_ref: Mapped[str] = mapped_column(String(300), nullable=False, index=True)  # ticket id, message id
    account_id: Mapped[str | None] = mapped_column(String(200), index=True)
    queue: Mapped[str] = mapped_column(String(20), nullable=False)
    method: Mapped[str] = mapped_column(String(20), nullable=False)
    rule: Mapped[str | None] = mapped_column(String(100))
    probability: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class FeedbackCase(Base):
    """Closed loop: a low NPS/CSAT answer opens a case with an SLA; it escalates by age and needs a root cause."""

    __tablename__ = "feedback_cases"
    __table_args__ = (Index("ix_feedback_cases_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    response_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    account_id: Mapped[str | None] = mapped_column(String(200), index=True)
    contact_id: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    survey: Mapped[str] = mapped_column(String(10), nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)  # the answer's time
    sla_hours: Mapped[float] = mapped_column(Float, nullable=False)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="open")  # open | escalated | closed
    escalation_level: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    root_cause: Mapped[str | None] = mapped_column(Text)
    action_taken: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_by: Mapped[str | None] = mapped_column(String(320))
    follow_up_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
