"""A table for the factory's own tests."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notes", sa.Column("id", sa.Integer, primary_key=True), sa.Column("text", sa.Text)
    )


def downgrade() -> None:
    op.drop_table("notes")
