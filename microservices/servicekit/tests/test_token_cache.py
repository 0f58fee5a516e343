"""The verified-token cache: one RS256 check per token, never trusted past its expiry."""

from __future__ import annotations

import asyncio

import jwt
import pytest

from servicekit.auth import InvalidToken, StaticKeySource, TokenVerifier
from servicekit.testing import TokenFactory


class CountingKeys(StaticKeySource):
    """Static keys that count how often a key was looked up (once per full verification)."""

    lookups = 0

    async def get_key(self, kid: str) -> jwt.PyJWK | None:
        self.lookups += 1
        return await super().get_key(kid)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _verifier(tokens: TokenFactory, clock: Clock, **options: float) -> TokenVerifier:
    return TokenVerifier(
        CountingKeys(tokens.jwks),
        issuer=tokens.issuer,
        audience=tokens.audience,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


def _lookups(verifier: TokenVerifier) -> int:
    assert isinstance(verifier.keys, CountingKeys)
    return verifier.keys.lookups


def _exp(token: str) -> float:
    return float(jwt.decode(token, options={"verify_signature": False})["exp"])


def test_a_token_is_checked_once_and_then_answered_from_the_cache(tokens: TokenFactory) -> None:
    token = tokens.issue("alice")
    verifier = _verifier(tokens, Clock(_exp(token) - 100))
    first = asyncio.run(verifier.verify(token))
    again = asyncio.run(verifier.verify(token))
    assert first.user_id == again.user_id == "alice"
    assert _lookups(verifier) == 1


def test_a_cached_token_is_checked_again_once_it_expires(tokens: TokenFactory) -> None:
    token = tokens.issue("alice")
    clock = Clock(_exp(token) - 1)
    verifier = _verifier(tokens, clock)
    asyncio.run(verifier.verify(token))
    clock.now = _exp(token)
    asyncio.run(verifier.verify(token))
    assert _lookups(verifier) == 2


def test_a_cached_token_is_checked_again_after_the_maximum_age(tokens: TokenFactory) -> None:
    token = tokens.issue("alice")
    clock = Clock(_exp(token) - 200)
    verifier = _verifier(tokens, clock, max_age_seconds=60)
    asyncio.run(verifier.verify(token))
    clock.now += 61
    asyncio.run(verifier.verify(token))
    assert _lookups(verifier) == 2


def test_rejected_tokens_are_not_remembered(tokens: TokenFactory) -> None:
    forged = tokens.issue("mallory")[:-4] + "AAAA"
    verifier = _verifier(tokens, Clock(0))
    for _ in range(2):
        with pytest.raises(InvalidToken):
            asyncio.run(verifier.verify(forged))
    assert _lookups(verifier) == 2


def test_the_cache_keeps_at_most_max_entries_tokens(tokens: TokenFactory) -> None:
    first, second = tokens.issue("a"), tokens.issue("b")
    verifier = _verifier(tokens, Clock(_exp(first) - 100), max_entries=1)
    asyncio.run(verifier.verify(first))
    asyncio.run(verifier.verify(second))
    asyncio.run(verifier.verify(first))  # was evicted by the second: checked again
    assert _lookups(verifier) == 3
