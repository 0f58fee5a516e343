"""A token bucket: the per-connection limit on how fast a client may send frames."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """Allows ``burst`` frames at once and ``rate`` per second sustained."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def try_take(self) -> bool:
        """Spend one token if there is one; False means the caller is over its limit."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class FloodGuard:
    """A connection's rate limit: throttle frames over the limit, give up on persistent floods.

    ``admit`` answers True for a frame within the limit. Over it, the frame is throttled;
    ``strikes`` throttled frames in a row mean the client ignores the error frames and
    ``flooding`` turns True.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        strikes: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bucket = TokenBucket(rate, burst, clock=clock)
        self.max_strikes = strikes
        self.strikes = 0

    @property
    def flooding(self) -> bool:
        """True once the client kept sending through ``max_strikes`` throttled frames."""
        return self.strikes >= self.max_strikes

    def admit(self) -> bool:
        """Whether the next frame is within the limit (a throttled one counts a strike)."""
        if self._bucket.try_take():
            self.strikes = 0
            return True
        self.strikes += 1
        return False
