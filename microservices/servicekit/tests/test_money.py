"""Money parsing: exact decimals from JSON text, and the refusals DESIGN.md asks for."""

from decimal import Decimal

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from servicekit.errors import install_error_handlers
from servicekit.money import (
    Amount,
    ExactJSONRoute,
    check_currency,
    check_precision,
    format_amount,
    from_minor_units,
    loads_exact,
    parse_amount,
    to_minor_units,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("100.00", Decimal("100.00")), (Decimal("0.1"), Decimal("0.1")), (5, Decimal(5))],
)
def test_plain_amounts_parse_exactly(value: object, expected: Decimal) -> None:
    assert parse_amount(value) == expected


@pytest.mark.parametrize(
    "value",
    ["0", "-1", "0.00", "1e2", "1E+2", " ", "abc", "NaN", "Infinity", True, None, [], "1000000000"],
)
def test_bad_amounts_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="amount"):
        parse_amount(value)


def test_json_numbers_keep_their_exact_text() -> None:
    body = loads_exact(b'{"amount": 0.1, "big": 100.000000000000001}')
    assert body["amount"] == Decimal("0.1")
    assert body["big"] == Decimal("100.000000000000001")


def test_json_exponents_and_constants_are_refused() -> None:
    with pytest.raises(ValueError, match="exponent"):
        parse_amount(loads_exact(b"1e2"))
    with pytest.raises(ValueError, match="not a number"):
        loads_exact(b'{"amount": NaN}')


def test_precision_follows_the_currency() -> None:
    assert check_precision(Decimal("1.5"), "USD") == Decimal("1.50")
    with pytest.raises(ValueError, match="at most 2"):
        check_precision(Decimal("1.005"), "USD")
    with pytest.raises(ValueError, match="at most 0"):
        check_precision(Decimal("1.5"), "JPY")
    assert check_currency("usd") == "USD"
    with pytest.raises(ValueError, match="unsupported"):
        check_currency("XXX")


def test_minor_units_round_trip() -> None:
    assert to_minor_units(Decimal("100.05"), "USD") == 10005
    assert from_minor_units(10005, "USD") == Decimal("100.05")
    assert to_minor_units(Decimal("7"), "KWD") == 7000
    assert format_amount(Decimal("100"), "USD") == "100.00"
    assert format_amount(from_minor_units(5, "JPY"), "JPY") == "5"


class _Charge(BaseModel):
    amount: Amount


def _money_app() -> FastAPI:
    router = APIRouter(route_class=ExactJSONRoute)

    @router.post("/charge")
    async def charge(body: _Charge) -> dict[str, str]:
        return {"amount": str(body.amount), "type": type(body.amount).__name__}

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return app


def test_exact_route_parses_json_numbers_as_decimals() -> None:
    client = TestClient(_money_app())
    response = client.post(
        "/charge", content=b'{"amount": 100.10}', headers={"content-type": "application/json"}
    )
    assert response.json() == {"amount": "100.10", "type": "Decimal"}


@pytest.mark.parametrize(
    "body", [b'{"amount": NaN}', b'{"amount": Infinity}', b'{"amount": 1e400}']
)
def test_exact_route_refuses_non_finite_numbers_with_422(body: bytes) -> None:
    client = TestClient(_money_app())
    response = client.post("/charge", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "detail" in response.json()
