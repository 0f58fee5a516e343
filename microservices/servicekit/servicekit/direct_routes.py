"""Hot endpoints served in front of FastAPI's middleware stack and router.

A small GET on FastAPI passes nine ASGI layers (server-error, telemetry, body-limit and
exception middleware, exit stack, the router's scan over every route, the endpoint wrapper)
before its handler runs; for a handler that takes the bare ``Request`` and returns a
``Response``, none of them does anything. Inside the observability middleware (request id,
log line, metrics), ``DirectRoutes`` matches such routes first and calls their endpoints
itself, answering their exceptions with the app's handlers.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, HTTPExceptionHandler, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


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
