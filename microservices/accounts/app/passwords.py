"""Argon2id password hashing, run in worker threads so it never stalls the event loop."""

from __future__ import annotations

import anyio
from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError


class PasswordHasher:
    """Hashes and verifies passwords with argon2id.

    Each hash takes ``memory_kib`` of RAM and real CPU time, so at most ``concurrency`` run
    at once in this process. A sign-in for an unknown phone verifies against a dummy hash of
    the same cost, so it takes as long as a wrong password for a real user.
    """

    def __init__(
        self,
        *,
        time_cost: int = 3,
        memory_kib: int = 65_536,
        parallelism: int = 4,
        concurrency: int = 2,
    ) -> None:
        self._argon2 = Argon2Hasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._dummy_hash = self._argon2.hash("dummy password to spend the same time on")

    async def hash(self, password: str) -> str:
        """The argon2id hash (PHC string, salt included) of ``password``."""
        return await anyio.to_thread.run_sync(self._argon2.hash, password, limiter=self._limiter)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; ``None`` (no such user) spends the time and says no."""
        target = password_hash if password_hash is not None else self._dummy_hash
        matches = await anyio.to_thread.run_sync(
            self._verify, target, password, limiter=self._limiter
        )
        return matches and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether a stored hash was made with other parameters than the current ones."""
        return self._argon2.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
