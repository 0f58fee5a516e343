"""What can go wrong in accounts, as exceptions the routes turn into JSON errors."""

from __future__ import annotations

from typing import ClassVar

from fastapi import Request
from fastapi.responses import JSONResponse


class AccountsError(Exception):
    """A refusal with an HTTP status and a message fit for the client."""

    status_code: ClassVar[int] = 400
    detail: ClassVar[str] = "Bad request"
    # 401s name the scheme the client should authenticate with.
    www_authenticate: ClassVar[bool] = False

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        self.message = detail or self.detail


class PhoneAlreadyRegistered(AccountsError):
    status_code = 400
    detail = "A user with this phone number already exists"


class InvalidCredentials(AccountsError):
    # Same answer for an unknown phone and a wrong password: it must not tell which.
    status_code = 401
    detail = "Incorrect phone number or password"
    www_authenticate = True


class InvalidRefreshToken(AccountsError):
    status_code = 401
    detail = "Invalid or expired refresh token"
    www_authenticate = True


class UnsupportedGrantType(AccountsError):
    status_code = 400
    detail = "grant_type must be 'password' or 'refresh_token'"


class NotAuthenticated(AccountsError):
    status_code = 401
    detail = "Not authenticated"
    www_authenticate = True


class Forbidden(AccountsError):
    status_code = 403
    detail = "Not allowed"


class UserNotFound(AccountsError):
    status_code = 404
    detail = "User not found"


class AccountNotFound(AccountsError):
    status_code = 404
    detail = "Account not found"


class TransactionNotFound(AccountsError):
    status_code = 404
    detail = "Transaction not found"


class IdempotencyKeyReused(AccountsError):
    status_code = 422
    detail = "This Idempotency-Key was already used with a different request"


class InvalidSignature(AccountsError):
    status_code = 401
    detail = "Invalid or missing event signature"


async def accounts_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """``{"detail": ...}`` with the error's status (and ``WWW-Authenticate`` for 401s)."""
    assert isinstance(exc, AccountsError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.www_authenticate else None
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=headers)


class InvalidAmount(AccountsError):
    status_code = 422
    detail = "Invalid amount"


class InvalidEvent(AccountsError):
    status_code = 422
    detail = "Malformed event"
