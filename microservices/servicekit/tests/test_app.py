"""The app factory: what every service gets for free, checked on a small sample service."""

from __future__ import annotations

import gc
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar
from unittest.mock import ANY

import pytest
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse
from starlette.routing import Route

from servicekit import ServiceSettings, create_app
from servicekit.app import DatabaseDep
from servicekit.errors import ClientError
from servicekit.logging import JsonLinesHandler
from servicekit.observability import finished_requests
from servicekit.testing import TokenFactory

MIGRATIONS = Path(__file__).parent / "sample_migrations"
notes = sa.table("notes", sa.column("id", sa.Integer), sa.column("text", sa.Text))

router = APIRouter()


class Secret(BaseModel):
    password: str = Field(min_length=8)


@router.post("/secrets")
async def store_secret(body: Secret) -> dict[str, str]:
    return {"status": "stored"}


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("database password is hunter2")


RETRY_LATER = {"Retry-After": "60"}


class TeapotRefusal(ClientError):
    status_code = 418
    detail = "No coffee here"
    headers = RETRY_LATER


@router.get("/coffee")
async def coffee() -> None:
    raise TeapotRefusal()


@router.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    return {"item_id": item_id}


@router.post("/notes")
async def add_note(db: DatabaseDep, text: str) -> dict[str, str]:
    async with db.transaction() as conn:
        await conn.execute(sa.insert(notes).values(text=text))
    return {"text": text}


@router.get("/notes")
async def list_notes(db: DatabaseDep) -> list[str]:
    async with db.read() as conn:
        return list((await conn.execute(sa.select(notes.c.text).order_by(notes.c.id))).scalars())


class SampleSettings(ServiceSettings):
    service_name: ClassVar[str] = "sample"


def build(data_dir: Path, database_url: str, tokens: TokenFactory) -> FastAPI:
    settings = SampleSettings(data_dir=data_dir, database_url=database_url)
    return create_app(
        settings,
        routers=[router],
        title="sample",
        migrations=MIGRATIONS,
        token_verifier=tokens.verifier,
    )


@pytest.fixture
def client(data_dir: Path, database_url: str, tokens: TokenFactory) -> Iterator[TestClient]:
    with TestClient(build(data_dir, database_url, tokens), raise_server_exceptions=False) as c:
        yield c


def test_every_response_gets_a_request_id(client: TestClient) -> None:
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    kept = client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
    assert kept == "abc-123"
    replaced = client.get("/healthz", headers={"X-Request-ID": "x" * 200}).headers["X-Request-ID"]
    assert replaced != "x" * 200


def test_an_unhandled_error_is_a_json_500_without_details(client: TestClient) -> None:
    response = client.get("/boom", headers={"X-Request-ID": "trace-500"})
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error", "request_id": "trace-500"}
    assert response.headers.get_list("X-Request-ID") == ["trace-500"]
    assert "hunter2" not in response.text


def test_a_domain_refusal_answers_with_its_own_status_detail_and_headers(
    client: TestClient,
) -> None:
    response = client.get("/coffee")
    assert response.status_code == 418
    assert response.json() == {"detail": "No coffee here"}
    assert response.headers["Retry-After"] == "60"


def test_validation_errors_do_not_echo_what_was_sent(client: TestClient) -> None:
    response = client.post("/secrets", json={"password": "pw-1234"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "password"]
    assert "pw-1234" not in response.text


def test_request_log_line_names_route_status_and_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="servicekit.access"):
        client.get("/items/7", headers={"X-Request-ID": "log-me"})
    [record] = [r for r in caplog.records if r.name == "servicekit.access"]
    assert (record.method, record.path, record.route, record.status) == (  # type: ignore[attr-defined]
        "GET", "/items/7", "/items/{item_id}", 200,
    )  # fmt: skip
    from servicekit.logging import JsonFormatter

    line = json.loads(JsonFormatter("sample").format(record))
    assert line["service"] == "sample"
    assert line["duration_ms"] >= 0


def _service_handler() -> JsonLinesHandler:
    """The handler configure_logging put on the root logger."""
    [handler] = [h for h in logging.getLogger().handlers if isinstance(h, JsonLinesHandler)]
    return handler


@contextmanager
def logging_as_configured(stream: io.StringIO) -> Iterator[logging.Logger]:
    """Logging as a running service has it (pytest's capture handlers taken off the root
    logger), writing to ``stream``; yields the access logger."""
    root = logging.getLogger()
    handler = _service_handler()
    saved = root.handlers[:]
    previous = handler.setStream(stream)
    root.handlers[:] = [handler]
    try:
        yield logging.getLogger("servicekit.access")
    finally:
        root.handlers[:] = saved
        handler.setStream(previous)


def _access_lines(stream: io.StringIO) -> list[dict[str, object]]:
    # The app's loop writes its lines at the end of a turn; the test reads them now.
    finished_requests.settle()
    _service_handler().flush()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == "servicekit.access"]


def test_the_request_line_is_written_whole_to_the_log_stream(client: TestClient) -> None:
    stream = io.StringIO()
    with logging_as_configured(stream):
        client.get("/items/7", headers={"X-Request-ID": "line-1"})
    [line] = _access_lines(stream)
    assert line == {
        "time": ANY,
        "level": "INFO",
        "service": "sample",
        "logger": "servicekit.access",
        "message": "request",
        "request_id": "line-1",
        "method": "GET",
        "path": "/items/7",
        "route": "/items/{item_id}",
        "status": 200,
        "duration_ms": ANY,
    }


def test_uvicorn_builds_no_access_message_of_its_own() -> None:
    # uvicorn formats an access message per request whenever ``uvicorn.access`` has a
    # handler (it asks ``hasHandlers()``); our request line replaces it. In a process of its
    # own: pytest hangs its capture handlers on every logger that does not propagate.
    script = (
        "import logging; from servicekit.logging import configure_logging;"
        "configure_logging('sample');"
        "print(logging.getLogger('uvicorn.access').hasHandlers(),"
        " logging.getLogger('uvicorn.error').hasHandlers())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    # uvicorn's other records still reach the service's JSON lines.
    assert result.stdout.split() == ["False", "True"]


@pytest.mark.parametrize(("level", "shown"), [("INFO", []), ("DEBUG", ["HTTP Request"])])
def test_httpxs_line_per_request_is_shown_at_debug_only(level: str, shown: list[str]) -> None:
    script = (
        "import logging; from servicekit.logging import configure_logging;"
        f"configure_logging('sample', {level!r});"
        "logging.getLogger('httpx').info('HTTP Request'); logging.getLogger('app').info('ours')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    messages = [json.loads(line)["message"] for line in result.stdout.splitlines()]
    assert messages == [*shown, "ours"]


def test_a_filter_on_the_access_logger_still_decides(client: TestClient) -> None:
    stream = io.StringIO()
    with logging_as_configured(stream) as access:
        no_probes = logging.Filter("nothing")  # a filter that lets no access line through
        access.addFilter(no_probes)
        try:
            client.get("/items/7")
        finally:
            access.removeFilter(no_probes)
        client.get("/items/8")
    assert [line["path"] for line in _access_lines(stream)] == ["/items/8"]


def test_metrics_count_by_route_template_not_raw_path(client: TestClient) -> None:
    client.get("/items/1")
    client.get("/items/2")
    text = client.get("/metrics").text
    assert 'route="/items/{item_id}",status="200"' in text
    assert 'route="/items/1"' not in text


def test_readiness_names_the_failing_check(client: TestClient) -> None:
    async def broken() -> None:
        raise ConnectionError("redis down")

    client.app.state.readiness_checks["redis"] = broken  # type: ignore[attr-defined]
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == {"redis": "ConnectionError"}


def test_docs_follow_the_gateway_prefix(client: TestClient) -> None:
    spec = client.get("/openapi.json", headers={"X-Forwarded-Prefix": "/sample"}).json()
    assert spec["servers"] == [{"url": "/sample"}]
    docs = client.get("/docs", headers={"X-Forwarded-Prefix": "/sample"}).text
    assert "/sample/openapi.json" in docs
    # Routing is unaffected by the prefix, even for paths that start like it.
    assert client.get("/items/3", headers={"X-Forwarded-Prefix": "/items"}).json() == {"item_id": 3}


def test_data_survives_a_restart_on_the_same_database(
    data_dir: Path, database_url: str, tokens: TokenFactory
) -> None:
    with TestClient(build(data_dir, database_url, tokens)) as first:
        first.post("/notes", params={"text": "remember me"})
    with TestClient(build(data_dir, database_url, tokens)) as second:
        assert second.get("/notes").json() == ["remember me"]


def test_a_failed_transaction_writes_nothing(client: TestClient) -> None:
    db = client.app.state.db  # type: ignore[attr-defined]

    async def half_write() -> None:
        async with db.transaction() as conn:
            await conn.execute(sa.insert(notes).values(text="half"))
            raise ValueError("client error after the first write")

    with pytest.raises(ValueError, match="client error"):
        client.portal.call(half_write)  # type: ignore[union-attr]
    assert client.get("/notes").json() == []


def test_the_start_up_heap_is_frozen_while_serving_and_released_at_shutdown(
    data_dir: Path, database_url: str, tokens: TokenFactory
) -> None:
    gc.unfreeze()
    with TestClient(build(data_dir, database_url, tokens)) as serving:
        assert serving.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


async def _direct_greeting(request: Request) -> Response:
    name = request.path_params["name"]
    if name == "teapot":
        raise TeapotRefusal()
    if name == "crash":
        raise RuntimeError("database password is hunter2")
    return JSONResponse({"served_by": "direct route", "name": request.path_params["name"]})


@router.get("/greetings/{name}", summary="Greet someone")
async def routed_greeting(name: str) -> dict[str, str]:
    return {"served_by": "router", "name": name}


@router.put("/greetings/{name}")
async def change_greeting(name: str) -> dict[str, str]:
    return {"served_by": "router", "changed": name}


@pytest.fixture
def direct(data_dir: Path, database_url: str, tokens: TokenFactory) -> Iterator[TestClient]:
    """The sample app with GET /greetings/{name} as a direct route."""
    settings = SampleSettings(data_dir=data_dir, database_url=database_url)
    app = create_app(
        settings,
        routers=[router],
        title="sample",
        token_verifier=tokens.verifier,
        direct_routes=[Route("/greetings/{name}", _direct_greeting, methods=["GET"])],
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_a_direct_route_is_served_before_the_routers_which_document_it(
    direct: TestClient,
) -> None:
    assert direct.get("/greetings/ada").json() == {"served_by": "direct route", "name": "ada"}
    operation = direct.get("/openapi.json").json()["paths"]["/greetings/{name}"]["get"]
    assert operation["summary"] == "Greet someone"


def test_another_method_on_a_direct_routes_path_goes_to_the_routers(direct: TestClient) -> None:
    assert direct.put("/greetings/ada").json() == {"served_by": "router", "changed": "ada"}
    assert direct.delete("/greetings/ada").status_code == 405


def test_a_direct_route_is_metered_and_logged_under_its_template(
    direct: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="servicekit.access"):
        response = direct.get("/greetings/ada", headers={"X-Request-ID": "direct-1"})
    assert response.headers["X-Request-ID"] == "direct-1"
    [record] = [r for r in caplog.records if r.name == "servicekit.access"]
    assert record.route == "/greetings/{name}"  # type: ignore[attr-defined]
    metrics = direct.get("/metrics").text
    assert 'http_requests_total{method="GET",route="/greetings/{name}",status="200"}' in metrics


def test_a_client_error_in_a_direct_route_is_answered_like_anywhere_else(
    direct: TestClient,
) -> None:
    response = direct.get("/greetings/teapot")
    routed = direct.get("/coffee")  # the same refusal, raised by a routed endpoint
    assert response.status_code == routed.status_code == 418
    assert response.json() == routed.json()
    assert response.headers["Retry-After"] == routed.headers["Retry-After"]


def test_a_crash_in_a_direct_route_is_a_500_naming_the_request_id(direct: TestClient) -> None:
    stream = io.StringIO()
    with logging_as_configured(stream):
        response = direct.get("/greetings/crash", headers={"X-Request-ID": "crash-1"})
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error", "request_id": "crash-1"}
    assert response.headers.get_list("X-Request-ID") == ["crash-1"]
    [line] = _access_lines(stream)
    assert (line["route"], line["status"], line["request_id"]) == (
        "/greetings/{name}", 500, "crash-1",
    )  # fmt: skip


def test_metrics_count_an_unknown_method_as_other(client: TestClient) -> None:
    for method in ("BREW", "WHEN"):
        client.request(method, "/healthz")
    metrics = client.get("/metrics").text
    assert 'method="OTHER",route="/healthz"' in metrics
    assert "BREW" not in metrics
