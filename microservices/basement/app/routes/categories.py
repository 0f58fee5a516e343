"""Category routes: reading is public, changing needs an admin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response, status

from app import categories
from app.dependencies import RootPath
from app.schemas import AttachFile, CategoryCreate, CategoryOut, CategoryTreeOut, CategoryUpdate
from servicekit.app import DatabaseDep
from servicekit.auth import AdminUser
from servicekit.errors import Unprocessable

router = APIRouter(tags=["categories"])

_ERROR: dict[str, Any] = {"content": {"application/json": {"example": {"detail": "..."}}}}
_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _ERROR,
    403: _ERROR,
    404: _ERROR,
    422: _ERROR,
}


@router.post("/categories", responses=_ADMIN_ERRORS)
async def create_category(
    body: CategoryCreate, _admin: AdminUser, db: DatabaseDep, prefix: RootPath
) -> CategoryOut:
    """Create a category (admin). The slug comes from the title, unique among siblings;
    the level is the parent's + 1 (roots are 0)."""
    record = await categories.create_category(
        db, title=body.title, parent_id=body.parent_id, file_tags=body.file_tags
    )
    return CategoryOut.of(record, prefix)


@router.get(
    "/categories",
    response_model=list[CategoryOut] | list[CategoryTreeOut],
    responses={404: _ERROR},
)
async def list_categories(
    db: DatabaseDep,
    prefix: RootPath,
    parent_id: str | None = Query(default=None, description="Only this category's children."),
    tree: bool = Query(default=False, description="The whole tree, nested under `children`."),
) -> list[CategoryOut] | list[CategoryTreeOut]:
    """Every category (by level, then title), the children of one, or the nested tree."""
    if tree:
        if parent_id is not None:
            raise Unprocessable("Use either tree or parent_id, not both")
        tree_nodes = await categories.category_tree(db)
        return [CategoryTreeOut.of_node(node, prefix) for node in tree_nodes]
    records = await categories.list_categories(db, parent_id=parent_id)
    return [CategoryOut.of(record, prefix) for record in records]


@router.get("/categories/{category_id}", responses={404: _ERROR})
async def get_category(category_id: str, db: DatabaseDep, prefix: RootPath) -> CategoryOut:
    """One category (public)."""
    return CategoryOut.of(await categories.get_category(db, category_id), prefix)


@router.patch("/categories/{category_id}", responses=_ADMIN_ERRORS)
async def update_category(
    category_id: str, body: CategoryUpdate, _admin: AdminUser, db: DatabaseDep, prefix: RootPath
) -> CategoryOut:
    """Rename (new slug), move (`parent_id`; null for a root; levels follow) or retag (admin).
    Moving a category under itself or a descendant is refused with 422."""
    sent = body.model_fields_set
    title: str | categories.Unset = categories.UNSET
    if "title" in sent:
        if body.title is None:
            raise Unprocessable("title cannot be null")
        title = body.title
    record = await categories.update_category(
        db,
        category_id,
        title=title,
        parent_id=body.parent_id if "parent_id" in sent else categories.UNSET,
        file_tags=body.file_tags if "file_tags" in sent else categories.UNSET,
    )
    return CategoryOut.of(record, prefix)


@router.delete(
    "/categories/{category_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: _ERROR, 403: _ERROR, 404: _ERROR},
)
async def delete_category(category_id: str, _admin: AdminUser, db: DatabaseDep) -> Response:
    """Delete a category (admin); its children move up to its parent."""
    await categories.delete_category(db, category_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/categories/{category_id}/files", responses=_ADMIN_ERRORS)
async def attach_file(
    category_id: str, body: AttachFile, _admin: AdminUser, db: DatabaseDep, prefix: RootPath
) -> CategoryOut:
    """Attach a stored file to a category (admin); the first attached is its `file_url`."""
    return CategoryOut.of(await categories.attach_file(db, category_id, body.file_id), prefix)
