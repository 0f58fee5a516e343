"""Create the files, categories and category_files tables.

Revision ID: 0001_files_and_categories
Revises:
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_files_and_categories"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("file_id", sa.String(36), primary_key=True),
        sa.Column("bucket_name", sa.String(63), nullable=False),
        # The client's name for the file, for display only: never part of a path.
        sa.Column("file_name", sa.String(255), nullable=False),
        # Detected from the bytes, not taken from the client.
        sa.Column("content_type", sa.String(127), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("file_tags", sa.String(4096), nullable=True),
        sa.Column("uploader_id", sa.String(128), nullable=False),
        # Blob key of the thumbnail in the same bucket (the file's own key for SVG).
        sa.Column("thumbnail_key", sa.String(128), nullable=True),
        sa.Column("thumbnail_content_type", sa.String(127), nullable=True),
        sa.Column("thumbnail_size", sa.BigInteger(), nullable=True),
        sa.Column("thumbnail_sha256", sa.String(64), nullable=True),
        # Fixed-width ISO 8601 UTC text: sorts chronologically on every database.
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "categories",
        sa.Column("category_id", sa.String(36), primary_key=True),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("slug", sa.String(300), nullable=False),
        sa.Column(
            "parent_id",
            sa.String(36),
            # Checked at commit, so deleting a node can reparent its children afterwards.
            sa.ForeignKey("categories.category_id", deferrable=True, initially="DEFERRED"),
            nullable=True,
        ),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("file_tags", sa.String(4096), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    # Roots share the empty parent, so their slugs are unique too (NULLs would not be).
    op.create_index(
        "ux_categories_sibling_slug",
        "categories",
        [sa.text("coalesce(parent_id, '')"), "slug"],
        unique=True,
    )
    op.create_index("ix_categories_parent_id", "categories", ["parent_id"])
    op.create_table(
        "category_files",
        sa.Column(
            "category_id",
            sa.String(36),
            sa.ForeignKey("categories.category_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "file_id",
            sa.String(36),
            sa.ForeignKey("files.file_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("attached_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_category_files_file_id", "category_files", ["file_id"])


def downgrade() -> None:
    op.drop_index("ix_category_files_file_id", table_name="category_files")
    op.drop_table("category_files")
    op.drop_index("ix_categories_parent_id", table_name="categories")
    op.drop_index("ux_categories_sibling_slug", table_name="categories")
    op.drop_table("categories")
    op.drop_table("files")
