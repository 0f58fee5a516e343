"""A direct route's body, header and caller checks answer as FastAPI's declared ones do.

The sample endpoint is served twice: declared on a router (FastAPI reads the body, solves
the caller dependency and validates the parameters) and as a direct route that gets them from
``signed_in_input``. Every request gets the same answer
from both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self

import pytest
from fastapi import APIRouter, Header, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, TypeAdapter, model_validator
from starlette.routing import Route

from servicekit import ServiceSettings, create_app
from servicekit.auth import CurrentUser, Principal, bearer_token
from servicekit.direct_routes import signed_in_input
from servicekit.money import Amount, ExactJSONRoute, loads_exact
from servicekit.testing import TokenFactory


class Order(BaseModel):
    amount: Amount
    note: str | None = Field(default=None, max_length=10)

    @model_validator(mode="after")
    def _round_amounts_only_with_a_note(self) -> Self:
        if self.note is None and self.amount == self.amount.to_integral_value():
            raise ValueError("a round amount needs a note")
        return self


OrderKey = Annotated[str | None, Header(alias="Order-Key", min_length=1, max_length=8)]
_ORDER_HEADERS = {"Order-Key": TypeAdapter(OrderKey)}

router = APIRouter(route_class=ExactJSONRoute)


def _accepted(order: Order, caller: Principal, key: str | None) -> Response:
    body = {"amount": str(order.amount), "note": order.note, "by": caller.user_id, "key": key}
    return Response(json.dumps(body), media_type="application/json")


@router.post("/declared/orders")
async def place_order_declared(order: Order, caller: CurrentUser, key: OrderKey = None) -> Response:
    return _accepted(order, caller, key)


async def place_order_directly(request: Request) -> Response:
    caller, order, headers = await signed_in_input(
        request, Order, headers=_ORDER_HEADERS, loads=loads_exact
    )
    return _accepted(order, caller, headers["Order-Key"])


class SampleSettings(ServiceSettings):
    service_name: ClassVar[str] = "sample"


@pytest.fixture
def client(data_dir: Path, tokens: TokenFactory) -> Iterator[TestClient]:
    app = create_app(
        SampleSettings(data_dir=data_dir),
        routers=[router],
        title="sample",
        token_verifier=tokens.verifier,
        direct_routes=[Route("/orders", place_order_directly, methods=["POST"])],
    )
    with TestClient(app) as test_client:
        yield test_client


JSON = {"Content-Type": "application/json"}
GOOD = '{"amount": "1.50"}'

CASES: dict[str, tuple[str, dict[str, str], bool]] = {
    # name: (body, headers, signed in)
    "accepted": (GOOD, JSON, True),
    "a JSON number, exact": ('{"amount": 0.10, "note": "n"}', JSON, True),
    "with a key": (GOOD, {**JSON, "Order-Key": "k1"}, True),
    "a JSON subtype with parameters": (GOOD, {"Content-Type": "application/x+json; a=b"}, True),
    "no content type": (GOOD, {}, True),
    "not JSON": (GOOD, {"Content-Type": "text/plain"}, True),
    "no body": ("", JSON, True),
    "no body, no token": ("", JSON, False),
    "malformed JSON": ('{"amount": ', JSON, True),
    "malformed JSON, no token": ('{"amount": ', JSON, False),
    "NaN": ('{"amount": NaN}', JSON, True),
    "an exponent": ('{"amount": 1e2}', JSON, True),
    "not an object": ("[1]", JSON, True),
    "null": ("null", JSON, True),
    "missing and too long fields": ('{"note": "far too long a note"}', JSON, True),
    "the model's own check": ('{"amount": "2"}', JSON, True),
    "an empty key": (GOOD, {**JSON, "Order-Key": ""}, True),
    "a long key and a bad body": ("[1]", {**JSON, "Order-Key": "k" * 9}, True),
    "a long key, no token": (GOOD, {**JSON, "Order-Key": "k" * 9}, False),
    "no token": (GOOD, JSON, False),
}


@pytest.mark.parametrize("case", CASES)
def test_a_direct_route_answers_as_the_declared_route_does(
    client: TestClient, tokens: TokenFactory, case: str
) -> None:
    body, headers, signed_in = CASES[case]
    if signed_in:
        headers = {**headers, **tokens.headers("user-1")}
    declared = client.post("/declared/orders", content=body, headers=headers)
    direct = client.post("/orders", content=body, headers=headers)
    assert direct.status_code == declared.status_code
    assert direct.json() == declared.json()
    assert direct.headers.get("WWW-Authenticate") == declared.headers.get("WWW-Authenticate")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token", "bearer not-a-token", "Basic dXNlcjpwdw==", "Bearer", "Bearer  ", ""],
)
def test_a_direct_route_refuses_bad_credentials_as_the_declared_route_does(
    client: TestClient, authorization: str
) -> None:
    headers = {**JSON, "Authorization": authorization}
    declared = client.post("/declared/orders", content=GOOD, headers=headers)
    direct = client.post("/orders", content=GOOD, headers=headers)
    assert direct.status_code == declared.status_code == 401
    assert direct.json() == declared.json()
    assert direct.headers["WWW-Authenticate"] == declared.headers["WWW-Authenticate"] == "Bearer"


def test_the_direct_route_really_served_the_request(
    client: TestClient, tokens: TokenFactory
) -> None:
    # Only the direct route exists at /orders: a 200 there proves the comparison above compared
    # two different code paths.
    answer = client.post("/orders", content=GOOD, headers={**JSON, **tokens.headers("user-1")})
    assert answer.json() == {"amount": "1.50", "note": None, "by": "user-1", "key": None}
    spec: dict[str, Any] = client.get("/openapi.json").json()
    assert "/orders" not in spec["paths"]


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer abc", "abc"),
        ("BEARER abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        (None, None),
    ],
)
def test_bearer_token_reads_the_header_as_fastapis_http_bearer(
    value: str | None, token: str | None
) -> None:
    assert bearer_token(value) == token


def test_exact_amounts_survive_the_direct_path(client: TestClient, tokens: TokenFactory) -> None:
    answer = client.post(
        "/orders", content='{"amount": 0.1, "note": "n"}', headers={**JSON, **tokens.headers()}
    )
    assert Decimal(answer.json()["amount"]) == Decimal("0.1")
