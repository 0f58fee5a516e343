"""The category tree: create, rename, move and delete nodes, keeping slugs and levels right.

Rules:
- a root has level 0; every other node has its parent's level + 1, also after moves;
- slugs come from titles (``app.slugs``) and are unique among siblings (``-2``, ``-3``, ...);
  renaming re-derives the slug, moving keeps it unless the new siblings already use it;
- a node cannot move under itself or one of its descendants;
- deleting a node moves its children up to the node's parent.

Every change is one transaction. Two admins creating the same slug at once are settled by the
unique index: the loser retries with the next free suffix.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from app import storage
from app.model import CategoryRecord, utc_now
from app.slugs import base_slug, first_free
from servicekit.db import Database
from servicekit.errors import ClientError, NotFound, Unprocessable

T = TypeVar("T")
_SLUG_ATTEMPTS = 5


class Unset:
    """Marks a field a PATCH did not mention (distinct from an explicit null)."""


UNSET = Unset()


@dataclass
class CategoryNode:
    """A category with its children, for the nested tree."""

    category: CategoryRecord
    children: list[CategoryNode]


async def create_category(
    db: Database, *, title: str, parent_id: str | None, file_tags: str | None
) -> CategoryRecord:
    """A new category under ``parent_id`` (a root when None); ``NotFound`` for a bad parent."""

    async def attempt(conn: AsyncConnection) -> CategoryRecord:
        level = 0
        if parent_id is not None:
            parent = await _parent(conn, parent_id)
            level = parent.level + 1
        category_id = str(uuid.uuid4())
        slug = await _free_slug(conn, parent_id, base_slug(title), excluding=category_id)
        record = CategoryRecord(
            category_id=category_id,
            title=title,
            slug=slug,
            level=level,
            parent_id=parent_id,
            file_tags=file_tags,
            first_file_id=None,
            created_at=utc_now(),
        )
        await storage.insert_category(conn, record)
        return record

    return await _with_slug_retries(db, attempt)


async def get_category(db: Database, category_id: str) -> CategoryRecord:
    """One category; ``NotFound`` if there is none."""
    async with db.read() as conn:
        return await _existing(conn, category_id)


async def list_categories(db: Database, *, parent_id: str | None = None) -> list[CategoryRecord]:
    """All categories by level and title, or the children of ``parent_id`` (which must exist)."""
    async with db.read() as conn:
        if parent_id is not None:
            await _existing(conn, parent_id)
        return await storage.list_categories(conn, parent_id=parent_id)


async def category_tree(db: Database) -> list[CategoryNode]:
    """Every category, nested: the roots, each with its children, recursively."""
    async with db.read() as conn:
        records = await storage.list_categories(conn)
    nodes = {record.category_id: CategoryNode(record, []) for record in records}
    roots: list[CategoryNode] = []
    # Records come parents-first (ordered by level), children in title order.
    for record in records:
        node = nodes[record.category_id]
        parent = nodes.get(record.parent_id) if record.parent_id else None
        (parent.children if parent else roots).append(node)
    return roots


async def update_category(
    db: Database,
    category_id: str,
    *,
    title: str | Unset = UNSET,
    parent_id: str | Unset | None = UNSET,
    file_tags: str | Unset | None = UNSET,
) -> CategoryRecord:
    """Rename, move (``parent_id``; None makes it a root) or retag a category."""

    async def attempt(conn: AsyncConnection) -> CategoryRecord:
        current = await _existing(conn, category_id)
        values: dict[str, object] = {}
        new_parent = current.parent_id if isinstance(parent_id, Unset) else parent_id
        if new_parent != current.parent_id:
            await _move_subtree(conn, current, new_parent)
            values["parent_id"] = new_parent
        if not isinstance(title, Unset) and title != current.title:
            values["title"] = title
            values["slug"] = await _free_slug(
                conn, new_parent, base_slug(title), excluding=category_id
            )
        elif "parent_id" in values:
            values["slug"] = await _keep_or_free_slug(conn, current, new_parent)
        if not isinstance(file_tags, Unset):
            values["file_tags"] = file_tags
        if values:
            await storage.update_category(conn, category_id, **values)
        return await _existing(conn, category_id)

    return await _with_slug_retries(db, attempt)


async def delete_category(db: Database, category_id: str) -> None:
    """Delete a category; its children (with their subtrees) move up to its parent."""

    async def attempt(conn: AsyncConnection) -> None:
        current = await _existing(conn, category_id)
        children = await storage.children_of(conn, [category_id])
        # The node goes first so that its slug is free for the children moving up.
        await storage.delete_category(conn, category_id)
        for child in children:
            subtree = await _descendants(conn, child.category_id)
            await storage.shift_levels(conn, [child.category_id, *subtree], -1)
            slug = await _keep_or_free_slug(conn, child, current.parent_id)
            await storage.update_category(
                conn, child.category_id, parent_id=current.parent_id, slug=slug
            )

    await _with_slug_retries(db, attempt)


async def attach_file(db: Database, category_id: str, file_id: str) -> CategoryRecord:
    """Attach a stored file to a category (the first one attached is the category's file)."""
    async with db.transaction() as conn:
        await _existing(conn, category_id)
        if await storage.get_file(conn, file_id) is None:
            raise NotFound("File not found")
        await storage.attach_file(conn, category_id, file_id, utc_now())
        return await _existing(conn, category_id)


# -- helpers ---------------------------------------------------------------------------------


async def _with_slug_retries(db: Database, attempt: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    for _ in range(_SLUG_ATTEMPTS):
        try:
            async with db.transaction() as conn:
                return await attempt(conn)
        except storage.SlugTaken:
            continue
    raise ClientError("Too many concurrent changes to these categories; try again", 409)


async def _existing(conn: AsyncConnection, category_id: str) -> CategoryRecord:
    record = await storage.get_category(conn, category_id)
    if record is None:
        raise NotFound("Category not found")
    return record


async def _parent(conn: AsyncConnection, parent_id: str) -> CategoryRecord:
    record = await storage.get_category(conn, parent_id)
    if record is None:
        raise NotFound("Parent category not found")
    return record


async def _descendants(conn: AsyncConnection, category_id: str) -> list[str]:
    """Ids of every category below ``category_id``, breadth first."""
    found: list[str] = []
    frontier = [category_id]
    while frontier:
        children = await storage.children_of(conn, frontier)
        frontier = [child.category_id for child in children]
        found.extend(frontier)
    return found


async def _move_subtree(
    conn: AsyncConnection, category: CategoryRecord, new_parent_id: str | None
) -> None:
    """Check a move and shift the levels of the moved subtree (the parent is set by the caller)."""
    new_level = 0
    if new_parent_id is not None:
        parent = await _parent(conn, new_parent_id)
        new_level = parent.level + 1
    subtree = await _descendants(conn, category.category_id)
    if new_parent_id == category.category_id or new_parent_id in subtree:
        raise Unprocessable("A category cannot move under itself or one of its descendants")
    await storage.shift_levels(conn, [category.category_id, *subtree], new_level - category.level)


async def _free_slug(
    conn: AsyncConnection, parent_id: str | None, base: str, *, excluding: str
) -> str:
    taken = await storage.sibling_slugs(conn, parent_id, base, excluding=excluding)
    return first_free(base, taken)


async def _keep_or_free_slug(
    conn: AsyncConnection, category: CategoryRecord, parent_id: str | None
) -> str:
    """The category's slug if its new siblings do not use it, else the next free one."""
    taken = await storage.sibling_slugs(
        conn, parent_id, category.slug, excluding=category.category_id
    )
    if category.slug not in taken:
        return category.slug
    return await _free_slug(
        conn, parent_id, base_slug(category.title), excluding=category.category_id
    )
