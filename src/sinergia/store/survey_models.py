"""Serving-store tables of surveys (migration ``0004``).

* ``survey_definitions``: NPS / CSAT / CES surveys with their scale, question texts (pt-BR and en), touchpoint and
  journey stage; created from the workspace config's ``surveys:`` section or the CLI (``source``).
* ``survey_invitations``: one row per invitation (a contact asked one survey): the signed link's ``nonce``, expiry,
  channel (e-mail through the outbox, or an in-app link), and once answered, when and the canonical
  ``survey_responses.response_id`` the answer was written as. Throttling and response rates read this table.

Times are naive UTC ``DateTime`` like the rest of the store.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sinergia.store.models import Base, utcnow


class SurveyDefinition(Base):
    __tablename__ = "survey_definitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # nps | csat | ces
    scale_min: Mapped[int] = mapped_column(Integer, nullable=False)
    scale_max: Mapped[int] = mapped_column(Integer, nullable=False)
    touchpoint: Mapped[str] = mapped_column(String(200), nullable=False)
    journey_stage: Mapped[str] = mapped_column(String(10), nullable=False)  # before | during | after
    #: {"pt-BR": "...", "en": "..."}
    questions: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    source: Mapped[str] = mapped_column(String(20), nullable=False, default="config")  # config | cli
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class SurveyInvitation(Base):
    __tablename__ = "survey_invitations"
    __table_args__ = (Index("ix_survey_invitations_contact", "contact_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: random id carried (signed) in the link; the link is ``/s/<nonce>.<expires>.<signature>``
    nonce: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    survey_id: Mapped[int] = mapped_column(
        ForeignKey("survey_definitions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    contact_id: Mapped[str] = mapped_column(String(200), nullable=False)
    account_id: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    locale: Mapped[str] = mapped_column(String(10), nullable=False)
    channel: Mapped[str] = mapped_column(String(20), nullable=False)  # email | in_app
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id", ondelete="SET NULL"))
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    response_id: Mapped[str | None] = mapped_column(String(200))
