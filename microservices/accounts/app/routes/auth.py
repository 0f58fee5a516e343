"""Tokens: the OAuth2 token endpoint and the public keys to verify what it issues."""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.dependencies import IdentityDep, KeyStoreDep, SettingsDep
from app.errors import UnsupportedGrantType
from app.schemas import JWKS, PasswordGrant, RefreshGrant, TokenOut

router = APIRouter(tags=["auth"])

GrantT = TypeVar("GrantT", PasswordGrant, RefreshGrant)

_TOKEN_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["password", "refresh_token"]},
                        "username": {"type": "string", "description": "phone number"},
                        "password": {"type": "string", "format": "password"},
                        "refresh_token": {"type": "string"},
                    },
                }
            },
            "application/json": {
                "schema": {
                    "oneOf": [PasswordGrant.model_json_schema(), RefreshGrant.model_json_schema()]
                }
            },
        },
    }
}


@router.post(
    "/auth/token",
    openapi_extra=_TOKEN_REQUEST_BODY,
    responses={401: {"description": "Wrong phone number or password, or a dead refresh token"}},
)
async def issue_token(request: Request, response: Response, identity: IdentityDep) -> TokenOut:
    """Sign in (``grant_type=password``: phone and password) or refresh a session.

    Takes the OAuth2 form (``username`` is the phone number) or the same as JSON
    (``{"phone_number", "password"}``). A refresh token works once; each answer has a new one.
    """
    grant = await _read_grant(request)
    if isinstance(grant, PasswordGrant):
        pair = await identity.sign_in(grant.phone_number, grant.password)
    else:
        pair = await identity.refresh(grant.refresh_token)
    response.headers["Cache-Control"] = "no-store"
    return TokenOut(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


async def _read_grant(request: Request) -> PasswordGrant | RefreshGrant:
    content_type = request.headers.get("content-type", "")
    fields: dict[str, Any]
    if content_type.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError as exc:
            raise _invalid_body("body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise _invalid_body("body must be a JSON object")
        fields = body
    else:
        form = await request.form()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        if "username" in fields:
            fields["phone_number"] = fields.pop("username")
    grant_type = fields.get("grant_type") or "password"
    if grant_type == "password":
        return _validated(PasswordGrant, {**fields, "grant_type": grant_type})
    if grant_type == "refresh_token":
        return _validated(RefreshGrant, fields)
    raise UnsupportedGrantType()


def _validated(model: type[GrantT], fields: dict[str, Any]) -> GrantT:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(_in_body(exc)) from exc


def _in_body(exc: ValidationError) -> list[dict[str, Any]]:
    return [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]


def _invalid_body(message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body",), "msg": message, "type": "json_invalid"}])


@router.get("/.well-known/jwks.json", response_model=JWKS)
async def read_jwks(request: Request, keys: KeyStoreDep, settings: SettingsDep) -> Response:
    """The public keys that verify access tokens: the signing key and recently replaced ones."""
    document = {"keys": [key.public_jwk() for key in keys.published_keys()]}
    content = json.dumps(document, separators=(",", ":")).encode("utf-8")
    etag = f'"{hashlib.sha256(content).hexdigest()[:32]}"'
    headers = {
        "Cache-Control": f"public, max-age={settings.jwks_cache_seconds}",
        "ETag": etag,
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(content, media_type="application/json", headers=headers)
