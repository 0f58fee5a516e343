"""Users and sign-in: registration, password and refresh-token grants, the first admin."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.exc import IntegrityError

from app import storage
from app.errors import (
    InvalidCredentials,
    InvalidRefreshToken,
    PhoneAlreadyRegistered,
    UserNotFound,
)
from app.passwords import PasswordHasher
from app.phone import normalise_phone
from app.storage import UserRecord
from app.tokens import AccessTokenIssuer, new_refresh_token, refresh_token_hash
from servicekit.db import Database

logger = logging.getLogger("accounts.identity")


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a successful grant answers."""

    access_token: str
    expires_in: int
    refresh_token: str


class IdentityService:
    """Registration and sign-in over the accounts database."""

    def __init__(
        self,
        db: Database,
        hasher: PasswordHasher,
        issuer: AccessTokenIssuer,
        *,
        refresh_token_ttl: timedelta,
    ) -> None:
        self.db = db
        self.hasher = hasher
        self.issuer = issuer
        self.refresh_token_ttl = refresh_token_ttl

    async def register_user(
        self, *, phone_number: str, password: str, date_of_birth: date | None = None
    ) -> UserRecord:
        """Create a user and their empty account; PhoneAlreadyRegistered if the phone is taken."""
        async with self.db.read() as conn:
            if await storage.get_user_by_phone(conn, phone_number) is not None:
                raise PhoneAlreadyRegistered()
        password_hash = await self.hasher.hash(password)
        try:
            async with self.db.transaction() as conn:
                return await storage.insert_user_with_account(
                    conn,
                    phone_number=phone_number,
                    password_hash=password_hash,
                    date_of_birth=date_of_birth,
                )
        except IntegrityError as exc:
            # Someone registered the same phone between our check and our insert.
            raise PhoneAlreadyRegistered() from exc

    async def get_user(self, user_id: str) -> UserRecord:
        """The user with this id; UserNotFound otherwise."""
        async with self.db.read() as conn:
            user = await storage.get_user(conn, user_id)
        if user is None:
            raise UserNotFound()
        return user

    async def authenticate(self, phone_text: str, password: str) -> UserRecord:
        """The active user with this phone and password; InvalidCredentials otherwise.

        An unknown or malformed phone costs the same hash verification as a wrong password.
        """
        user: UserRecord | None = None
        try:
            phone = normalise_phone(phone_text)
        except ValueError:
            phone = None
        if phone is not None:
            async with self.db.read() as conn:
                user = await storage.get_user_by_phone(conn, phone)
        matches = await self.hasher.verify(user.password_hash if user else None, password)
        if user is None or not matches or not user.is_active:
            raise InvalidCredentials()
        if self.hasher.needs_rehash(user.password_hash):
            new_hash = await self.hasher.hash(password)
            async with self.db.transaction() as conn:
                await storage.set_password_hash(conn, user.id, new_hash)
        return user

    async def sign_in(self, phone_text: str, password: str) -> TokenPair:
        """The password grant: a new access token and the first refresh token of a session."""
        user = await self.authenticate(phone_text, password)
        return await self._issue_pair(user, family_id=str(uuid.uuid4()))

    async def refresh(self, refresh_token: str) -> TokenPair:
        """The refresh grant: spend the refresh token, answer a new pair.

        A refresh token works once. Presenting a spent one again means it was copied, so
        every token of that session is revoked and the caller must sign in again.
        """
        token_hash = refresh_token_hash(refresh_token)
        now = storage.utc_now()
        user: UserRecord | None = None
        async with self.db.transaction() as conn:
            spent = await storage.spend_refresh_token(conn, token_hash, now)
            if spent is None:
                known = await storage.find_refresh_token(conn, token_hash)
                if known is not None and known.used_at is not None:
                    logger.warning("refresh token reused", extra={"user_id": known.user_id})
                    await storage.revoke_refresh_family(conn, known.family_id, now)
            else:
                user = await storage.get_user(conn, spent.user_id)
        if spent is None or user is None or not user.is_active:
            raise InvalidRefreshToken()
        return await self._issue_pair(user, family_id=spent.family_id)

    async def _issue_pair(self, user: UserRecord, *, family_id: str) -> TokenPair:
        access = self.issuer.issue(
            user_id=user.id, phone_number=user.phone_number, is_admin=user.is_admin
        )
        refresh_token = new_refresh_token()
        async with self.db.transaction() as conn:
            await storage.insert_refresh_token(
                conn,
                user_id=user.id,
                family_id=family_id,
                token_hash=refresh_token_hash(refresh_token),
                expires_at=storage.utc_now() + self.refresh_token_ttl,
            )
        return TokenPair(access.token, access.expires_in, refresh_token)

    async def ensure_admin(self, phone_text: str, password: str) -> UserRecord:
        """Create the admin user, or promote the user who already has this phone.

        Safe when several workers start at once: the loser of the insert race promotes.
        An existing user's password is left as it is.
        """
        phone = normalise_phone(phone_text)
        if len(password) < 8:
            raise ValueError("the admin password must have at least 8 characters")
        for _ in range(2):
            async with self.db.transaction() as conn:
                existing = await storage.get_user_by_phone(conn, phone)
                if existing is not None and not existing.is_admin:
                    await storage.make_admin(conn, existing.id)
                    logger.info("promoted user to admin", extra={"user_id": existing.id})
            if existing is not None:
                return await self.get_user(existing.id)
            password_hash = await self.hasher.hash(password)
            try:
                async with self.db.transaction() as conn:
                    created = await storage.insert_user_with_account(
                        conn, phone_number=phone, password_hash=password_hash, is_admin=True
                    )
                logger.info("created the admin user", extra={"user_id": created.id})
                return created
            except IntegrityError:
                continue  # another worker created it first: promote (or find) it
        raise RuntimeError("could not create or promote the admin user")
