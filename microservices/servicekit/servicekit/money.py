"""Money as exact decimals: parsed from the JSON text, stored as integer minor units.

Amounts arrive as JSON numbers (``100.00``, as the original payment example sends them) or
as strings (``"100.00"``). Routers built with ``ExactJSONRoute`` parse JSON numbers straight
into ``Decimal`` from their text, so ``0.1`` is 0.1 and never 0.1000000000000000055.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BeforeValidator, PlainSerializer

# ISO 4217 minor units of the currencies we accept.
MINOR_UNITS: dict[str, int] = {
    "USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "NZD": 2, "SEK": 2, "NOK": 2,
    "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2, "RON": 2, "TRY": 2, "INR": 2, "CNY": 2, "HKD": 2,
    "SGD": 2, "BRL": 2, "MXN": 2, "ZAR": 2, "RUB": 2, "UZS": 2, "KZT": 2, "UAH": 2, "ILS": 2,
    "AED": 2, "SAR": 2, "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0,
    "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3,
}  # fmt: skip

# Anything at or above this is a typo or an attack, not a payment.
MAX_AMOUNT = Decimal("1000000000")

_AMOUNT_TEXT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,12})?$")


class _ExponentDecimal(Decimal):
    """A JSON number that was written with an exponent (``1e2``); refused as an amount."""


def _parse_json_number(text: str) -> Decimal:
    return (_ExponentDecimal if "e" in text or "E" in text else Decimal)(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def loads_exact(body: bytes | str) -> Any:
    """``json.loads`` with JSON numbers as exact Decimals and NaN/Infinity refused.

    Raises ``json.JSONDecodeError`` for either (a NaN is reported like any other malformed
    JSON).
    """
    try:
        return json.loads(body, parse_float=_parse_json_number, parse_constant=_refuse_constant)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # from _refuse_constant, which is given no position
        raise json.JSONDecodeError(str(exc), "", 0) from exc


class ExactJSONRequest(Request):
    """A request whose JSON body keeps decimal numbers exact."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_exact(await self.body())
        return self._json


class ExactJSONRoute(APIRoute):
    """Route class for routers that accept money: ``APIRouter(route_class=ExactJSONRoute)``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_handler(request: Request) -> Response:
            return await handler(ExactJSONRequest(request.scope, request.receive))

        return exact_handler


def parse_amount(value: object) -> Decimal:
    """A positive, finite, sane amount from a JSON number or a plain decimal string.

    Raises ValueError (a 422 when used in a model) with a message fit for the client.
    """
    if isinstance(value, bool):
        raise ValueError("amount must be a number or a decimal string")
    if isinstance(value, _ExponentDecimal):
        raise ValueError("amount must be written without an exponent")
    if isinstance(value, str):
        text = value.strip()
        if not _AMOUNT_TEXT.match(text):
            raise ValueError("amount must be a plain decimal such as 100.00")
        amount = Decimal(text)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        # Only reached when a caller bypasses ExactJSONRoute; repr is the shortest exact text.
        try:
            amount = Decimal(repr(value))
        except InvalidOperation as exc:
            raise ValueError("amount must be a finite number") from exc
    else:
        raise ValueError("amount must be a number or a decimal string")
    if not amount.is_finite():
        raise ValueError("amount must be a finite number")
    if amount <= 0:
        raise ValueError("amount must be greater than zero")
    if amount >= MAX_AMOUNT:
        raise ValueError(f"amount must be less than {MAX_AMOUNT}")
    return amount


def check_currency(code: str) -> str:
    """The ISO 4217 code in upper case, if it is a currency we handle; ValueError otherwise."""
    upper = code.strip().upper() if isinstance(code, str) else ""
    if upper not in MINOR_UNITS:
        raise ValueError(f"unsupported currency {code!r}")
    return upper


def check_precision(amount: Decimal, currency: str) -> Decimal:
    """The amount at the currency's precision; ValueError if it has more decimals than that."""
    places = MINOR_UNITS[currency]
    quantum = Decimal(1).scaleb(-places)
    quantized = amount.quantize(quantum)
    if quantized != amount:
        raise ValueError(f"{currency} amounts have at most {places} decimal places")
    return quantized


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Integer minor units (cents) for storage: ``Decimal('100.05')`` USD -> 10005."""
    return int(check_precision(amount, currency).scaleb(MINOR_UNITS[currency]))


def from_minor_units(units: int, currency: str) -> Decimal:
    """The amount of ``units`` minor units, at the currency's precision."""
    places = MINOR_UNITS[currency]
    return Decimal(units).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def format_amount(amount: Decimal, currency: str) -> str:
    """The amount as a string with exactly the currency's minor units: ``"100.00"``."""
    places = MINOR_UNITS[currency]
    return f"{amount.quantize(Decimal(1).scaleb(-places)):f}"


# A model field for amounts; the model checks precision against its currency.
Amount = Annotated[Decimal, BeforeValidator(parse_amount), PlainSerializer(str, return_type=str)]
