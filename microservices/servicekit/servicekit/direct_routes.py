"""Hot endpoints served in front of FastAPI's middleware stack and router.

A small GET on FastAPI passes nine ASGI layers (server-error, telemetry, body-limit and
exception middleware, exit stack, the router's scan over every route, the endpoint wrapper)
before its handler runs; for a handler that takes the bare ``Request`` and returns a
``Response``, none of them does anything. Inside the observability middleware (request id,
log line, metrics), ``DirectRoutes`` matches such routes first and calls their endpoints
itself, answering their exceptions with the app's handlers.

A direct endpoint that takes a body and a signed-in caller gets them from
``signed_in_input``: the steps of FastAPI for a declared body model, header parameters and
``CurrentUser`` (``read_json``, ``authenticate``, ``validated_input``), in its order and with
its 401 and 422 answers, without its per-request dependency solving (a third of a money
write's cost).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, TypeVar, cast

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, HTTPExceptionHandler, Receive, Scope, Send

from servicekit.auth import Principal, authenticate

Endpoint = Callable[[Request], Awaitable[Response]]
Model = TypeVar("Model", bound=BaseModel)

# What ``read_json`` gives for a request without a body.
NO_BODY: Final = object()


class DirectRoutes:
    """Pure ASGI middleware: serves ``routes`` itself, everything else goes on to ``app``.

    Only a full match is served here; a path that matches with another method (a PUT on a
    GET route) goes on to the app, whose routers answer it or say 405. An exception the
    endpoint raises is answered by the app's handler for its class, as the app would; any
    other by the app's 500 handler, and then raised again, as Starlette's server-error
    middleware does, so that the server logs it too.
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: Sequence[Route],
        exception_handlers: Mapping[Any, Callable[..., Any]],
    ) -> None:
        self.app = app
        self.routes = tuple(routes)
        # The app's handlers, looked up when an exception happens: the mapping stays live.
        self.exception_handlers = exception_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope["route"] = route
                    scope.update(child_scope)
                    await self._serve(cast(Endpoint, route.endpoint), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler, unexpected = self._handler_for(exc)
            if handler is None:
                raise
            answer = handler(request, exc)
            response = await answer if inspect.isawaitable(answer) else answer
            await response(scope, receive, send)
            if unexpected:
                raise
            return
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> tuple[HTTPExceptionHandler | None, bool]:
        """The app's handler for this exception's class or its nearest base, and whether it
        is the catch-all (the 500 answer, registered for ``Exception`` or for 500)."""
        for cls in type(exc).__mro__:
            if cls is Exception:
                break
            handler = self.exception_handlers.get(cls)
            if handler is not None:
                return cast(HTTPExceptionHandler, handler), False
        handler = self.exception_handlers.get(Exception) or self.exception_handlers.get(500)
        return cast(HTTPExceptionHandler | None, handler), True


def _is_json(content_type: str | None) -> bool:
    # FastAPI's test: application/json or application/<anything>+json, parameters ignored.
    if not content_type:
        return False
    maintype, _, subtype = content_type.partition(";")[0].strip().lower().partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


async def read_json(request: Request, *, loads: Callable[[bytes], Any] = json.loads) -> Any:
    """The body of a direct route's request, read as FastAPI reads a declared body model.

    With a JSON content type (``application/json``, ``application/*+json``) it is decoded by
    ``loads``, and malformed JSON is answered at once with FastAPI's 422 (``json_invalid``):
    FastAPI reads the body before it checks the caller. Another content type leaves the
    bytes (which ``validated_input`` then refuses, as FastAPI does); no body is ``NO_BODY``.
    """
    try:
        body = await request.body()
    except Exception as exc:  # the client went away mid-body: FastAPI's answer
        raise HTTPException(400, "There was an error parsing the body") from exc
    if not body:
        return NO_BODY
    if not _is_json(request.headers.get("content-type")):
        return body
    try:
        return loads(body)
    except json.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise RequestValidationError([error], body=exc.doc) from exc


def validated_input(
    request: Request,
    payload: Any,
    body: type[Model],
    *,
    headers: Mapping[str, TypeAdapter[Any]] | None = None,
) -> tuple[Model, dict[str, Any]]:
    """The body model and the named headers' values (None when absent), checked as FastAPI
    checks a declared body model and header parameters: one 422 lists every failure,
    header errors first, each located as FastAPI locates it (``["body", "amount"]``)."""
    errors: list[Any] = []
    values: dict[str, Any] = {}
    for name, adapter in (headers or {}).items():
        value = request.headers.get(name)
        if value is not None:
            try:
                value = adapter.validate_python(value)
            except ValidationError as exc:
                errors.extend(_located(exc, ("header", name)))
        values[name] = value
    model: Model | None = None
    if payload is NO_BODY:
        errors.append({"type": "missing", "loc": ("body",), "msg": "Field required", "input": None})
    else:
        try:
            model = body.model_validate(payload, from_attributes=True)
        except ValidationError as exc:
            errors.extend(_located(exc, ("body",)))
    if errors:
        raise RequestValidationError(errors, body=None if payload is NO_BODY else payload)
    return cast(Model, model), values


async def signed_in_input(
    request: Request,
    body: type[Model],
    *,
    headers: Mapping[str, TypeAdapter[Any]] | None = None,
    loads: Callable[[bytes], Any] = json.loads,
) -> tuple[Principal, Model, dict[str, Any]]:
    """The caller, the body model and the named headers' values, as a declared route with
    ``CurrentUser``, a body model and header parameters gets them, in FastAPI's order: the
    body is read first (malformed JSON: 422 before any 401), then the caller is checked
    (401), then headers and body are validated (one 422)."""
    payload = await read_json(request, loads=loads)
    caller = await authenticate(request)
    model, values = validated_input(request, payload, body, headers=headers)
    return caller, model, values


def _located(exc: ValidationError, prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{**error, "loc": prefix + error["loc"]} for error in exc.errors(include_url=False)]
