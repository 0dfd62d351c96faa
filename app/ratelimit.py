"""Token buckets: at most so many requests a second per key (a user, an address), per process."""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

from starlette.requests import HTTPConnection


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``rate`` requests a second on average, bursts of up to ``burst``; keys idle for a minute
    are forgotten so the table stays small."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}
        self._last_sweep = time.monotonic()

    def retry_after(self, key: str) -> float:
        """Take a token for ``key``: 0 if allowed, else the seconds until one is available."""
        now = time.monotonic()
        self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < 60:
            return
        self._last_sweep = now
        idle = [key for key, b in self._buckets.items() if now - b.updated > 60]
        for key in idle:
            del self._buckets[key]


def seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


def address_key(connection: HTTPConnection) -> str:
    """The key a client's address is limited by: an IPv4 address as it is, an IPv6 one by its
    /64 (one household or phone holds a whole /64, and could walk through it)."""
    host = connection.client.host if connection.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
