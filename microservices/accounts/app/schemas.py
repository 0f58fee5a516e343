"""Request and response bodies of the accounts API."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from app.phone import normalise_phone
from app.storage import AccountRecord, TransactionRecord, UserRecord
from servicekit.money import Amount, format_amount, from_minor_units

PhoneNumber = Annotated[str, StringConstraints(max_length=32), AfterValidator(normalise_phone)]
# Long enough for passphrases, short enough that hashing it is not a denial of service.
NewPassword = Annotated[str, StringConstraints(min_length=8, max_length=128)]
AccountId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _in_the_past(value: date | None) -> date | None:
    if value is None:
        return value
    if value >= datetime.now(UTC).date():
        raise ValueError("date_of_birth must be in the past")
    if value.year < 1900:
        raise ValueError("date_of_birth must be after 1900")
    return value


# -- users -----------------------------------------------------------------------------------


class UserCreate(BaseModel):
    """``POST /users``."""

    phone_number: PhoneNumber = Field(examples=["+15550109999"])
    password: NewPassword = Field(repr=False, examples=["correct horse battery staple"])
    date_of_birth: Annotated[date | None, AfterValidator(_in_the_past)] = None


class PublicUser(BaseModel):
    """A user as any signed-in user may see them."""

    user_id: str
    is_active: bool
    is_admin: bool
    created_at: datetime
    account_id: str

    @classmethod
    def of(cls, user: UserRecord) -> PublicUser:
        """The public view of a stored user."""
        return cls(
            user_id=user.id,
            is_active=user.is_active,
            is_admin=user.is_admin,
            created_at=user.created_at,
            account_id=user.account_id,
        )


class UserOut(PublicUser):
    """A user as they themself (or an admin) see them: with the private fields."""

    phone_number: str
    date_of_birth: date | None

    @classmethod
    def of(cls, user: UserRecord) -> UserOut:
        """The full view of a stored user."""
        return cls(
            user_id=user.id,
            phone_number=user.phone_number,
            date_of_birth=user.date_of_birth,
            is_active=user.is_active,
            is_admin=user.is_admin,
            created_at=user.created_at,
            account_id=user.account_id,
        )


# -- tokens ----------------------------------------------------------------------------------


class PasswordGrant(BaseModel):
    """Sign in with phone and password (JSON form of the OAuth2 password grant)."""

    grant_type: Literal["password"] = "password"
    phone_number: str = Field(max_length=64)
    password: str = Field(max_length=1024, repr=False)


class RefreshGrant(BaseModel):
    """Exchange a refresh token for a new pair."""

    grant_type: Literal["refresh_token"]
    refresh_token: str = Field(min_length=1, max_length=512, repr=False)


class TokenOut(BaseModel):
    """The OAuth2 token response."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int
    refresh_token: str


class JWKS(BaseModel):
    """The public signing keys."""

    keys: list[dict[str, str]]


# -- ledger ----------------------------------------------------------------------------------


class AccountOut(BaseModel):
    """An account as its owner (or an admin) sees it."""

    account_id: str
    user_id: str
    balance: str = Field(examples=["100.00"])
    currency: str
    created_at: datetime

    @classmethod
    def of(cls, account: AccountRecord, currency: str) -> AccountOut:
        """The owner's view of a stored account."""
        return cls(
            account_id=account.id,
            user_id=account.user_id,
            balance=format_amount(from_minor_units(account.balance, currency), currency),
            currency=currency,
            created_at=account.created_at,
        )


class AccountIdOut(BaseModel):
    """An account as anyone else sees it: enough to pay into it."""

    account_id: str


class TransferCreate(BaseModel):
    """``POST /transactions``."""

    sender_id: AccountId
    receiver_id: AccountId
    amount: Amount = Field(examples=["100.00"])
    description: str | None = Field(default=None, max_length=255)

    @model_validator(mode="after")
    def _different_accounts(self) -> TransferCreate:
        if self.sender_id == self.receiver_id:
            raise ValueError("sender_id and receiver_id must be different accounts")
        return self


class TransactionOut(BaseModel):
    """A ledger transaction. ``sender_id`` is null for top-ups from payments."""

    transaction_id: str
    sender_id: str | None
    receiver_id: str
    amount: str = Field(examples=["100.00"])
    currency: str
    kind: str = Field(examples=["transfer", "top_up"])
    status: str = Field(examples=["SUCCESS", "FAILED"])
    description: str | None
    created_at: datetime

    @classmethod
    def of(cls, record: TransactionRecord, currency: str) -> TransactionOut:
        """The API view of a stored transaction."""
        return cls(
            transaction_id=record.id,
            sender_id=record.sender_account_id,
            receiver_id=record.receiver_account_id,
            amount=format_amount(from_minor_units(record.amount, currency), currency),
            currency=currency,
            kind=record.kind,
            status=record.status,
            description=record.description,
            created_at=record.created_at,
        )


class TransactionPage(BaseModel):
    """A page of an account's history; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[TransactionOut]
    next_cursor: str | None


class EventReceipt(BaseModel):
    """What the events endpoint did with a delivery."""

    status: Literal["applied", "duplicate", "ignored"]
