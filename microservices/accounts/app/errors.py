"""What can go wrong in accounts, as exceptions the routes turn into JSON errors."""

from __future__ import annotations

from servicekit.errors import ClientError

# 401s name the scheme the client should authenticate with.
BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class AccountsError(ClientError):
    """A refusal with an HTTP status and a message fit for the client."""


class PhoneAlreadyRegistered(AccountsError):
    status_code = 400
    detail = "A user with this phone number already exists"


class InvalidCredentials(AccountsError):
    # Same answer for an unknown phone and a wrong password: it must not tell which.
    status_code = 401
    detail = "Incorrect phone number or password"
    headers = BEARER_CHALLENGE


class InvalidRefreshToken(AccountsError):
    status_code = 401
    detail = "Invalid or expired refresh token"
    headers = BEARER_CHALLENGE


class UnsupportedGrantType(AccountsError):
    status_code = 400
    detail = "grant_type must be 'password' or 'refresh_token'"


class NotAuthenticated(AccountsError):
    status_code = 401
    detail = "Not authenticated"
    headers = BEARER_CHALLENGE


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


class InvalidAmount(AccountsError):
    status_code = 422
    detail = "Invalid amount"


class InvalidEvent(AccountsError):
    status_code = 422
    detail = "Malformed event"
