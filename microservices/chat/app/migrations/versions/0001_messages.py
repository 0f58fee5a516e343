"""Chat history: one row per message.

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


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("room", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("phone_number", sa.Text(), nullable=False),
        sa.Column("avatar", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_messages_room_seq", "messages", ["room", "seq"])


def downgrade() -> None:
    op.drop_index("ix_messages_room_seq", table_name="messages")
    op.drop_table("messages")
