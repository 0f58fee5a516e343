"""Payments, idempotency keys and the outbox of payment events.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("payer_id", sa.String(255), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("payment_method", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("failure_message", sa.Text, nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        _timestamp("processing_started_at", nullable=True),
        _timestamp("completed_at", nullable=True),
        sa.Column("lease_token", sa.String(36), nullable=True),
        _timestamp("lease_expires_at", nullable=True),
        sa.Column("processing_attempts", sa.Integer, nullable=False, server_default="0"),
    )
    # A payer's list, newest first; the worker's queue of accepted and expired-lease payments.
    op.create_index("ix_payments_payer_created", "payments", ["payer_id", "created_at", "id"])
    op.create_index("ix_payments_status_created", "payments", ["status", "created_at"])
    op.create_index("ix_payments_lease_token", "payments", ["lease_token"])

    op.create_table(
        "idempotency_keys",
        sa.Column("caller_id", sa.String(255), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("lock_token", sa.String(36), nullable=True),
        _timestamp("locked_at"),
        _timestamp("created_at"),
        _timestamp("completed_at", nullable=True),
        sa.Column("response_status", sa.Integer, nullable=True),
        sa.Column("response_body", sa.Text, nullable=True),
        sa.Column("response_headers", sa.Text, nullable=True),
    )
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"])

    op.create_table(
        "outbox_events",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payment_id", sa.String(36), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        _timestamp("created_at"),
    )
    op.create_index("ix_outbox_events_payment", "outbox_events", ["payment_id"])
    op.create_index("ix_outbox_events_created", "outbox_events", ["created_at"])

    op.create_table(
        "outbox_deliveries",
        sa.Column(
            "event_id",
            sa.String(36),
            sa.ForeignKey("outbox_events.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("subscriber", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        _timestamp("next_attempt_at"),
        sa.Column("claim_token", sa.String(36), nullable=True),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        _timestamp("created_at"),
        _timestamp("delivered_at", nullable=True),
    )
    # The relay's queue per subscriber, and the backlog metric.
    op.create_index(
        "ix_outbox_deliveries_due",
        "outbox_deliveries",
        ["subscriber", "status", "next_attempt_at"],
    )
    op.create_index(
        "ix_outbox_deliveries_status_created", "outbox_deliveries", ["status", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("outbox_deliveries")
    op.drop_table("outbox_events")
    op.drop_table("idempotency_keys")
    op.drop_table("payments")
