"""playbooks: firings, outbox messages and attempts, account fields, routing decisions, feedback cases

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "playbook_firings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("playbook_id", sa.String(length=100), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("fired_at", sa.DateTime(), nullable=False),
        sa.Column("trigger_kind", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("playbook_id", "account_id", "as_of", name="uq_playbook_firings_once_per_day"),
    )
    op.create_index("ix_playbook_firings_playbook_id", "playbook_firings", ["playbook_id"])
    op.create_index("ix_playbook_firings_account", "playbook_firings", ["account_id", "fired_at"])
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=1000), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("backoff_seconds", sa.Float(), nullable=False),
        sa.Column("max_backoff_seconds", sa.Float(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("firing_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["firing_id"], ["playbook_firings.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_outbox_messages_due", "outbox_messages", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_messages_firing_id", "outbox_messages", ["firing_id"])
    op.create_table(
        "outbox_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["outbox_messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_attempts_message_id", "outbox_attempts", ["message_id"])
    op.create_table(
        "account_fields",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=False),
        sa.Column("field", sa.String(length=100), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "field", "value", name="uq_account_fields"),
    )
    op.create_index("ix_account_fields_account_id", "account_fields", ["account_id"])
    op.create_table(
        "route_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_ref", sa.String(length=300), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=True),
        sa.Column("queue", sa.String(length=20), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_route_decisions_request_ref", "route_decisions", ["request_ref"])
    op.create_index("ix_route_decisions_account_id", "route_decisions", ["account_id"])
    op.create_table(
        "feedback_cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("response_id", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=True),
        sa.Column("contact_id", sa.String(length=200), nullable=True),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("survey", sa.String(length=10), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("sla_hours", sa.Float(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("escalated_at", sa.DateTime(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("root_cause", sa.Text(), nullable=True),
        sa.Column("action_taken", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=320), nullable=True),
        sa.Column("follow_up_message_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["follow_up_message_id"], ["outbox_messages.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("response_id"),
    )
    op.create_index("ix_feedback_cases_account_id", "feedback_cases", ["account_id"])
    op.create_index("ix_feedback_cases_owner_id", "feedback_cases", ["owner_id"])
    op.create_index("ix_feedback_cases_status_due", "feedback_cases", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_feedback_cases_status_due", "feedback_cases")
    op.drop_index("ix_feedback_cases_owner_id", "feedback_cases")
    op.drop_index("ix_feedback_cases_account_id", "feedback_cases")
    op.drop_table("feedback_cases")
    op.drop_index("ix_route_decisions_account_id", "route_decisions")
    op.drop_index("ix_route_decisions_request_ref", "route_decisions")
    op.drop_table("route_decisions")
    op.drop_index("ix_account_fields_account_id", "account_fields")
    op.drop_table("account_fields")
    op.drop_index("ix_outbox_attempts_message_id", "outbox_attempts")
    op.drop_table("outbox_attempts")
    op.drop_index("ix_outbox_messages_firing_id", "outbox_messages")
    op.drop_index("ix_outbox_messages_due", "outbox_messages")
    op.drop_table("outbox_messages")
    op.drop_index("ix_playbook_firings_account", "playbook_firings")
    op.drop_index("ix_playbook_firings_playbook_id", "playbook_firings")
    op.drop_table("playbook_firings")
