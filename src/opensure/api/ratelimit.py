"""Per-token rate limits, GitHub style: a fixed window (default 5,000 requests an hour).

Every API response carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (epoch seconds); past the limit the answer is ``429`` with
``Retry-After``. The embedded shape counts in the process; with ``OPENSURE_REDIS_URL`` every
API process shares one count in Redis. If Redis cannot be reached, requests are still served
(counted in the process meanwhile) and the problem is logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

log = logging.getLogger("opensure.api")


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int
    remaining: int
    reset: int

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(max(self.remaining, 0)).encode()),
            (b"x-ratelimit-reset", str(self.reset).encode()),
        ]


class LocalLimiter:
    """Counts in this process: exact for the embedded shape (one process)."""

    def __init__(self, limit: int, window: int) -> None:
        self.limit = limit
        self.window = window
        self._counts: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str) -> Quota:
        start = int(time.time()) // self.window * self.window
        window_start, count = self._counts.get(key, (start, 0))
        if window_start != start:
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if v[0] == start}
            count = 0
        count += 1
        self._counts[key] = (start, count)
        return Quota(self.limit, self.limit - count, start + self.window)

    async def close(self) -> None:
        return None


class RedisLimiter:
    """One count per token and window in Redis, shared by every API process."""

    def __init__(self, url: str, limit: int, window: int) -> None:
        import redis.asyncio as redis

        self.client = redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.limit = limit
        self.window = window
        self.fallback = LocalLimiter(limit, window)
        self._last_warning = 0.0

    async def hit(self, key: str) -> Quota:
        start = int(time.time()) // self.window * self.window
        name = f"opensure:ratelimit:{key}:{start}"
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, self.window + 60)
                count, _ = await pipe.execute()
        except Exception as exc:  # Redis down or slow: serve, count locally, say so
            now = time.monotonic()
            if now - self._last_warning > 30:
                self._last_warning = now
                log.warning("rate limit store unavailable, counting in this process: %s", exc)
            return await self.fallback.hit(key)
        return Quota(self.limit, self.limit - int(count), start + self.window)

    async def close(self) -> None:
        await self.client.aclose()


Limiter = LocalLimiter | RedisLimiter


def make_limiter(limit: int, window: int, redis_url: str | None) -> Limiter | None:
    if limit <= 0:
        return None
    if redis_url:
        return RedisLimiter(redis_url, limit, window)
    return LocalLimiter(limit, window)
