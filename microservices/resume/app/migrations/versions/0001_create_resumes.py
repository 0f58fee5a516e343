"""Create the resumes table and the normalized skills index.

Revision ID: 0001_create_resumes
Revises:
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_create_resumes"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resumes",
        sa.Column("resume_id", sa.String(36), primary_key=True),
        # One resume per user: the constraint, not a check-then-insert, is what enforces it.
        sa.Column("user_id", sa.String(128), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("skills", sa.Text(), nullable=False),
        sa.Column("experience", sa.Text(), nullable=True),
        sa.Column("education", sa.Text(), nullable=True),
        # Case-folded copies for `q`: SQLite's lower() only folds ASCII, Python folds Unicode.
        sa.Column("title_folded", sa.String(800), nullable=False),
        sa.Column("summary_folded", sa.Text(), nullable=False),
        # Fixed-width ISO 8601 UTC text: sorts chronologically on every database.
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_resumes_created_at_resume_id", "resumes", ["created_at", "resume_id"])
    op.create_table(
        "resume_skills",
        sa.Column(
            "resume_id",
            sa.String(36),
            sa.ForeignKey("resumes.resume_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("skill_folded", sa.String(200), nullable=False),
    )
    op.create_index(
        "ix_resume_skills_skill_folded_resume_id", "resume_skills", ["skill_folded", "resume_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_resume_skills_skill_folded_resume_id", table_name="resume_skills")
    op.drop_table("resume_skills")
    op.drop_index("ix_resumes_created_at_resume_id", table_name="resumes")
    op.drop_table("resumes")
