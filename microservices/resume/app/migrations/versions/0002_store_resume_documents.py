"""Store each resume's API document beside its columns, so that a read sends it as it is.

Revision ID: 0002_store_resume_documents
Revises: 0001_create_resumes
Create Date: 2026-12-02
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_store_resume_documents"
down_revision: str | None = "0001_create_resumes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The document as the API showed it at this revision, in this order. Spelled out here rather
# than imported: a migration must keep doing what it did when the code around it changes.
_FIELDS = (
    "resume_id",
    "user_id",
    "title",
    "summary",
    "skills",
    "experience",
    "education",
    "created_at",
    "updated_at",
)


def upgrade() -> None:
    # SQLite adds a NOT NULL column only with a default; every row gets its document below.
    op.add_column("resumes", sa.Column("document", sa.Text(), nullable=False, server_default=""))
    connection = op.get_bind()
    rows = connection.execute(sa.text(f"SELECT {', '.join(_FIELDS)} FROM resumes")).all()  # noqa: S608
    for row in rows:
        document = dict(zip(_FIELDS, row, strict=True))
        document["skills"] = json.loads(document["skills"])
        connection.execute(
            sa.text("UPDATE resumes SET document = :document WHERE resume_id = :resume_id"),
            {
                "document": json.dumps(document, ensure_ascii=False, separators=(",", ":")),
                "resume_id": document["resume_id"],
            },
        )
    if connection.dialect.name != "sqlite":
        # SQLite cannot drop a default without copying the table, which would cascade.
        op.alter_column("resumes", "document", server_default=None)


def downgrade() -> None:
    op.drop_column("resumes", "document")
