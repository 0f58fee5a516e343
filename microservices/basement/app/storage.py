"""Where the basement's metadata lives: the tables (as the migrations create them) and every
query on them. File bytes are not here; they are in the blob store (``app.blobs``).

Sibling categories have distinct slugs: a unique index on (parent, slug) enforces it, with
roots sharing the empty parent, so that two concurrent creations cannot both win.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.model import CategoryRecord, FileRecord, StoredBlob

metadata = sa.MetaData()

files = sa.Table(
    "files",
    metadata,
    sa.Column("file_id", sa.String(36), primary_key=True),
    sa.Column("bucket_name", sa.String(63), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(127), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("width", sa.Integer(), nullable=True),
    sa.Column("height", sa.Integer(), nullable=True),
    sa.Column("file_tags", sa.String(4096), nullable=True),
    sa.Column("uploader_id", sa.String(128), nullable=False),
    sa.Column("thumbnail_key", sa.String(128), nullable=True),
    sa.Column("thumbnail_content_type", sa.String(127), nullable=True),
    sa.Column("thumbnail_size", sa.BigInteger(), nullable=True),
    sa.Column("thumbnail_sha256", sa.String(64), nullable=True),
    sa.Column("created_at", sa.String(32), nullable=False),
)

categories = sa.Table(
    "categories",
    metadata,
    sa.Column("category_id", sa.String(36), primary_key=True),
    sa.Column("title", sa.String(255), nullable=False),
    sa.Column("slug", sa.String(300), nullable=False),
    sa.Column(
        "parent_id",
        sa.String(36),
        sa.ForeignKey("categories.category_id", deferrable=True, initially="DEFERRED"),
        nullable=True,
    ),
    sa.Column("level", sa.Integer(), nullable=False),
    sa.Column("file_tags", sa.String(4096), nullable=True),
    sa.Column("created_at", sa.String(32), nullable=False),
)
sa.Index(
    "ux_categories_sibling_slug",
    sa.func.coalesce(categories.c.parent_id, ""),
    categories.c.slug,
    unique=True,
)
sa.Index("ix_categories_parent_id", categories.c.parent_id)

category_files = sa.Table(
    "category_files",
    metadata,
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
sa.Index("ix_category_files_file_id", category_files.c.file_id)


class SlugTaken(Exception):
    """Another sibling got the slug first (the unique index said so)."""


# -- files ---------------------------------------------------------------------------------


def _file_from_row(row: Any) -> FileRecord:
    thumbnail = None
    if row.thumbnail_key is not None:
        thumbnail = StoredBlob(
            bucket=row.bucket_name,
            key=row.thumbnail_key,
            content_type=row.thumbnail_content_type,
            size=row.thumbnail_size,
            sha256=row.thumbnail_sha256,
        )
    return FileRecord(
        file_id=row.file_id,
        file_name=row.file_name,
        bucket_name=row.bucket_name,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        width=row.width,
        height=row.height,
        file_tags=row.file_tags,
        uploader_id=row.uploader_id,
        thumbnail=thumbnail,
        created_at=row.created_at,
    )


async def insert_file(conn: AsyncConnection, record: FileRecord) -> None:
    """Store a file's metadata."""
    thumbnail = record.thumbnail
    await conn.execute(
        files.insert().values(
            file_id=record.file_id,
            bucket_name=record.bucket_name,
            file_name=record.file_name,
            content_type=record.content_type,
            size=record.size,
            sha256=record.sha256,
            width=record.width,
            height=record.height,
            file_tags=record.file_tags,
            uploader_id=record.uploader_id,
            thumbnail_key=thumbnail.key if thumbnail else None,
            thumbnail_content_type=thumbnail.content_type if thumbnail else None,
            thumbnail_size=thumbnail.size if thumbnail else None,
            thumbnail_sha256=thumbnail.sha256 if thumbnail else None,
            created_at=record.created_at,
        )
    )


async def get_file(conn: AsyncConnection, file_id: str) -> FileRecord | None:
    """A file's metadata, or None."""
    row = (await conn.execute(files.select().where(files.c.file_id == file_id))).first()
    return _file_from_row(row) if row is not None else None


async def delete_file(conn: AsyncConnection, file_id: str) -> None:
    """Remove a file's metadata and its category attachments."""
    await conn.execute(category_files.delete().where(category_files.c.file_id == file_id))
    await conn.execute(files.delete().where(files.c.file_id == file_id))


# -- categories ------------------------------------------------------------------------------

_first_file = (
    sa.select(category_files.c.file_id)
    .where(category_files.c.category_id == categories.c.category_id)
    .order_by(category_files.c.attached_at, category_files.c.file_id)
    .limit(1)
    .correlate(categories)
    .scalar_subquery()
    .label("first_file_id")
)
_SELECT_CATEGORIES = sa.select(
    categories.c.category_id,
    categories.c.title,
    categories.c.slug,
    categories.c.level,
    categories.c.parent_id,
    categories.c.file_tags,
    categories.c.created_at,
    _first_file,
).order_by(categories.c.level, categories.c.title, categories.c.category_id)


def _category_from_row(row: Any) -> CategoryRecord:
    return CategoryRecord(
        category_id=row.category_id,
        title=row.title,
        slug=row.slug,
        level=row.level,
        parent_id=row.parent_id,
        file_tags=row.file_tags,
        first_file_id=row.first_file_id,
        created_at=row.created_at,
    )


async def insert_category(conn: AsyncConnection, record: CategoryRecord) -> None:
    """Store a new category; ``SlugTaken`` if a sibling has its slug."""
    statement = categories.insert().values(
        category_id=record.category_id,
        title=record.title,
        slug=record.slug,
        parent_id=record.parent_id,
        level=record.level,
        file_tags=record.file_tags,
        created_at=record.created_at,
    )
    await _execute_guarding_slug(conn, statement)


async def get_category(conn: AsyncConnection, category_id: str) -> CategoryRecord | None:
    """One category, or None."""
    statement = _SELECT_CATEGORIES.where(categories.c.category_id == category_id)
    row = (await conn.execute(statement)).first()
    return _category_from_row(row) if row is not None else None


async def list_categories(
    conn: AsyncConnection, *, parent_id: str | None = None
) -> list[CategoryRecord]:
    """Every category (by level, then title), or only the children of ``parent_id``."""
    statement = _SELECT_CATEGORIES
    if parent_id is not None:
        statement = statement.where(categories.c.parent_id == parent_id)
    return [_category_from_row(row) for row in await conn.execute(statement)]


async def sibling_slugs(
    conn: AsyncConnection, parent_id: str | None, base: str, *, excluding: str
) -> set[str]:
    """Slugs of ``parent_id``'s children but ``excluding`` that are ``base`` or ``base-...``."""
    parent = (
        categories.c.parent_id.is_(None)
        if parent_id is None
        else categories.c.parent_id == parent_id
    )
    # The prefix match is narrowed in Python; LIKE would need escaping of "_" and "%".
    statement = sa.select(categories.c.slug).where(
        parent, sa.func.substr(categories.c.slug, 1, len(base)) == base
    )
    statement = statement.where(categories.c.category_id != excluding)
    slugs = (await conn.execute(statement)).scalars()
    return {slug for slug in slugs if slug == base or slug.startswith(base + "-")}


async def children_of(conn: AsyncConnection, parent_ids: Sequence[str]) -> list[CategoryRecord]:
    """The direct children of any of ``parent_ids``."""
    if not parent_ids:
        return []
    statement = _SELECT_CATEGORIES.where(categories.c.parent_id.in_(parent_ids))
    return [_category_from_row(row) for row in await conn.execute(statement)]


async def update_category(conn: AsyncConnection, category_id: str, **values: Any) -> None:
    """Change columns of one category; ``SlugTaken`` if the new slug collides."""
    statement = categories.update().where(categories.c.category_id == category_id).values(**values)
    await _execute_guarding_slug(conn, statement)


async def shift_levels(conn: AsyncConnection, category_ids: Iterable[str], delta: int) -> None:
    """Add ``delta`` to the level of every listed category."""
    ids = list(category_ids)
    if not ids or delta == 0:
        return
    await conn.execute(
        categories.update()
        .where(categories.c.category_id.in_(ids))
        .values(level=categories.c.level + delta)
    )


async def delete_category(conn: AsyncConnection, category_id: str) -> None:
    """Remove one category and its file attachments.

    Its children must be moved within the same transaction: the parent reference is checked
    at commit (deferred), so the node can go first and free its slug for them.
    """
    await conn.execute(category_files.delete().where(category_files.c.category_id == category_id))
    await conn.execute(categories.delete().where(categories.c.category_id == category_id))


async def attach_file(
    conn: AsyncConnection, category_id: str, file_id: str, attached_at: str
) -> None:
    """Attach a file to a category; attaching it again changes nothing."""
    exists = await conn.execute(
        sa.select(category_files.c.file_id).where(
            category_files.c.category_id == category_id, category_files.c.file_id == file_id
        )
    )
    if exists.first() is None:
        await conn.execute(
            category_files.insert().values(
                category_id=category_id, file_id=file_id, attached_at=attached_at
            )
        )


async def _execute_guarding_slug(conn: AsyncConnection, statement: sa.Executable) -> None:
    # A savepoint keeps the transaction usable on PostgreSQL after a constraint violation.
    try:
        async with conn.begin_nested():
            await conn.execute(statement)
    except IntegrityError as exc:
        if "ux_categories_sibling_slug" in str(exc.orig):
            raise SlugTaken from exc
        raise
