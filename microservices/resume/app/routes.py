"""HTTP routes of the resume service: parse, authorize, call the operation, shape the answer."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from pydantic import AfterValidator
from starlette.routing import Route

from app import resumes
from app.model import Resume, ResumeDocument
from app.pagination import InvalidCursor, Position, decode_cursor
from app.preconditions import if_none_match_hit
from app.schemas import (
    SKILL_MAX_LENGTH,
    DeleteConfirmation,
    ResumeChanges,
    ResumeCreate,
    ResumeOut,
    storable_text,
)
from app.storage import ResumeReader
from servicekit.app import DatabaseDep
from servicekit.auth import CurrentUser

router = APIRouter(prefix="/resumes", tags=["resumes"])


async def get_reader(request: Request) -> ResumeReader:
    """The read path the app set up at start-up (a FastAPI dependency).

    ``async`` on purpose: FastAPI runs plain ``def`` dependencies in a worker thread, and
    that round trip would cost more than the whole lookup.
    """
    reader: ResumeReader = request.app.state.resume_reader
    return reader


ReaderDep = Annotated[ResumeReader, Depends(get_reader)]

MERGE_PATCH = "application/merge-patch+json"
_PATCH_MEDIA_TYPES = frozenset({MERGE_PATCH, "application/json"})

_ERROR = {"description": "Error", "content": {"application/json": {"example": {"detail": "..."}}}}
_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {**_ERROR, "description": "No or invalid bearer token"},
    403: {**_ERROR, "description": "Not the resume's owner (nor an admin)"},
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_AUTH_ERRORS,
    404: {**_ERROR, "description": "No such resume"},
    412: {**_ERROR, "description": "If-Match does not match the current ETag"},
}

IfMatch = Annotated[
    str | None,
    Header(description="Only change the resume if its ETag is one of these (or `*`)."),
]


def resume_response(
    resume: Resume | ResumeDocument, *, headers: dict[str, str] | None = None
) -> Response:
    """The resume as JSON with its ETag: a stored document as it is, a resume encoded."""
    body = resume.body if isinstance(resume, ResumeDocument) else resume.to_json()
    response = Response(body, media_type="application/json", headers=headers)
    # Appended ready-encoded: an ETag is ASCII by construction, so Starlette's encoding of a
    # headers dict (lowercase, latin-1, a set of names) would be work for nothing.
    response.raw_headers.append((b"etag", resume.etag.encode("ascii")))
    return response


async def require_patch_media_type(request: Request) -> None:
    """415 unless the body is declared as JSON merge-patch (or plain JSON)."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in _PATCH_MEDIA_TYPES:
        raise HTTPException(
            status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail=f"Send the patch as {MERGE_PATCH} (or application/json)",
        )


def _stripped_or_none(value: str | None) -> str | None:
    """A filter value without surrounding blanks; a blank filter is no filter."""
    stripped = value.strip() if value else ""
    return stripped or None


@router.post(
    "",
    response_model=ResumeOut,
    responses={**_AUTH_ERRORS, 400: {**_ERROR, "description": "The user already has a resume"}},
    summary="Create a resume",
)
async def create_resume(
    request: Request, body: ResumeCreate, caller: CurrentUser, db: DatabaseDep
) -> Response:
    """Create the caller's resume (an admin may name any `user_id`); one per user."""
    resume = await resumes.create_resume(db, body, caller)
    # request.url.path carries the gateway's prefix, so the location works from outside too.
    location = f"{request.url.path.rstrip('/')}/{resume.resume_id}"
    return resume_response(resume, headers={"Location": location})


@router.get("", response_model=list[ResumeOut], summary="List resumes")
async def list_resumes(
    request: Request,
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="The `X-Next-Cursor` of the last page.")
    ] = None,
    offset: Annotated[
        int, Query(ge=0, le=10_000, description="Skip this many (instead of a cursor).")
    ] = 0,
    skill: Annotated[
        str | None,
        Query(min_length=1, max_length=SKILL_MAX_LENGTH, description="Has this skill (any case)."),
        AfterValidator(storable_text),
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Text in the title or summary (any case)."),
        AfterValidator(storable_text),
    ] = None,
) -> Response:
    """Resumes, oldest first. A `Link: rel="next"` header (and `X-Next-Cursor`) leads on."""
    after: Position | None = None
    if cursor is not None:
        if offset:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "Use either cursor or offset")
        try:
            after = decode_cursor(cursor)
        except InvalidCursor:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                "Invalid cursor: pass back the X-Next-Cursor of the previous page unchanged",
            ) from None
    page = await resumes.list_resumes(
        db,
        limit=limit,
        after=after,
        offset=offset,
        skill=_stripped_or_none(skill),
        text=_stripped_or_none(q),
    )
    body = orjson.dumps([resume.to_document() for resume in page.items])
    headers: dict[str, str] = {}
    if page.next_cursor is not None:
        params = request.query_params.multi_items()
        kept = [(key, value) for key, value in params if key not in ("cursor", "offset")]
        query = urlencode([*kept, ("cursor", page.next_cursor)])
        headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
        headers["X-Next-Cursor"] = page.next_cursor
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "/user/{user_id}",
    response_model=ResumeOut,
    responses={404: {**_ERROR, "description": "The user has no resume"}},
    summary="Get a user's resume",
)
async def read_resume_of_user(user_id: str, reader: ReaderDep) -> Response:
    """The resume of a user (public)."""
    return resume_response(await resumes.get_resume_of_user(reader, user_id))


@router.get(
    "/{resume_id}",
    response_model=ResumeOut,
    responses={
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
        404: {**_ERROR, "description": "No such resume"},
    },
    openapi_extra={
        "parameters": [
            {"name": "resume_id", "in": "path", "required": True, "schema": {"type": "string"}},
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "Answer 304 if the resume still has this ETag.",
            },
        ]
    },
    summary="Get a resume",
)
async def read_resume(request: Request) -> Response:
    """A resume by id (public), with its ETag.

    The hot read path: it takes the bare request rather than declared parameters, so that
    it can be served as a plain Starlette route (``direct_routes`` below); its parameters
    are documented above through ``openapi_extra``.
    """
    reader: ResumeReader = request.app.state.resume_reader  # what get_reader gives routes
    document = await resumes.get_resume(reader, request.path_params["resume_id"])
    # Every If-None-Match line counts (a list header), and a missing one costs no KeyError.
    if_none_match = ", ".join(request.headers.getlist("if-none-match"))
    # Most reads carry no If-None-Match: the ETag is then made once, for the response.
    if if_none_match and if_none_match_hit(if_none_match, document.etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": document.etag})
    return resume_response(document)


# The hot read path is dispatched by this plain route, matched before the routers (see
# servicekit's ``create_app``); the declaration above documents it in OpenAPI.
direct_routes = [Route("/resumes/{resume_id}", read_resume, methods=["GET"])]


@router.put(
    "/{resume_id}",
    response_model=ResumeOut,
    responses=_WRITE_ERRORS,
    summary="Update a resume (only the fields sent)",
)
async def update_resume(
    resume_id: str,
    body: ResumeChanges,
    caller: CurrentUser,
    db: DatabaseDep,
    if_match: IfMatch = None,
) -> Response:
    """Change the fields sent and keep the others (the original partial update)."""
    resume = await resumes.change_resume(db, resume_id, body, caller, if_match=if_match)
    return resume_response(resume)


@router.patch(
    "/{resume_id}",
    response_model=ResumeOut,
    responses={**_WRITE_ERRORS, 415: {**_ERROR, "description": "Not a JSON body"}},
    dependencies=[Depends(require_patch_media_type)],
    openapi_extra={
        "requestBody": {
            "content": {MERGE_PATCH: {"schema": {"$ref": "#/components/schemas/ResumeChanges"}}}
        }
    },
    summary="Patch a resume (JSON merge-patch)",
)
async def patch_resume(
    resume_id: str,
    body: ResumeChanges,
    caller: CurrentUser,
    db: DatabaseDep,
    if_match: IfMatch = None,
) -> Response:
    """RFC 7396 merge-patch: sent fields replace, `null` removes (title cannot be removed)."""
    resume = await resumes.change_resume(db, resume_id, body, caller, if_match=if_match)
    return resume_response(resume)


@router.delete(
    "/{resume_id}",
    response_model=DeleteConfirmation,
    responses=_WRITE_ERRORS,
    summary="Delete a resume",
)
async def delete_resume(
    resume_id: str, caller: CurrentUser, db: DatabaseDep, if_match: IfMatch = None
) -> DeleteConfirmation:
    """Delete a resume (owner or admin)."""
    await resumes.delete_resume(db, resume_id, caller, if_match=if_match)
    return DeleteConfirmation(message="Resume deleted successfully")
