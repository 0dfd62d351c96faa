"""Password hashing (argon2id) and signed, expiring session tokens."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verifying against this keeps the time of a login for an unknown user like that of a known one.
_dummy_hash = _hasher.hash(secrets.token_hex(16))


def configure_password_hashing(time_cost: int, memory_kib: int) -> None:
    """Set the argon2id cost of new hashes (each hash keeps its own cost for verifying)."""
    global _hasher, _dummy_hash
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    _dummy_hash = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    expires_at: int
    csrf: str
    """The double-submit CSRF secret bound to a browser session."""


def issue_token(secret_key: str, user_id: int, lifetime_s: int) -> str:
    claims = {
        "sub": user_id,
        "exp": int(time.time()) + lifetime_s,
        "csrf": secrets.token_urlsafe(16),
    }
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{body}.{_sign(secret_key, body)}"


def read_token(secret_key: str, token: str) -> TokenClaims | None:
    """The token's claims if its signature holds and it has not expired; otherwise None."""
    body, _, signature = token.partition(".")
    if not hmac.compare_digest(signature, _sign(secret_key, body)):
        return None
    try:
        claims = json.loads(_unb64(body))
        parsed = TokenClaims(int(claims["sub"]), int(claims["exp"]), str(claims["csrf"]))
    except (ValueError, KeyError, TypeError):
        return None
    return parsed if parsed.expires_at > time.time() else None


def _sign(secret_key: str, body: str) -> str:
    return _b64(hmac.new(secret_key.encode(), body.encode(), hashlib.sha256).digest())


class LoginThrottle:
    """At most so many failed sign-ins a minute for an account from one address, and from one
    address in all, in this process. An account is never locked for everyone: in an auction a
    rival could otherwise keep a bidder out until the round is over by failing on purpose.

    An attempt counts as failed from the moment it begins until it succeeds, so guesses sent in
    parallel are held up as surely as guesses sent one after another. Addresses are keys as
    ``ratelimit.address_key`` gives them. Keys whose failures have all expired are forgotten, so
    sprayed names do not pile up."""

    def __init__(self, per_account: int, per_address: int, window_s: float = 60.0) -> None:
        self.per_account = per_account
        self.per_address = per_address
        self.window_s = window_s
        self._by_account: dict[tuple[str, str], deque[float]] = {}
        self._by_address: dict[str, deque[float]] = {}
        self._last_sweep = time.monotonic()

    def retry_after(self, account: str, address: str) -> int:
        """Seconds to wait before trying again, or 0 if this account may try from here now."""
        now = time.monotonic()
        self._sweep(now)
        waits = (
            self._wait(self._by_account.get((account.lower(), address)), self.per_account, now),
            self._wait(self._by_address.get(address), self.per_address, now),
        )
        wait = max(waits)
        return int(wait) + 1 if wait else 0

    def begin(self, account: str, address: str) -> float:
        """Count an attempt, as failed until ``succeeded``; returns its time."""
        now = time.monotonic()
        self._by_account.setdefault((account.lower(), address), deque()).append(now)
        self._by_address.setdefault(address, deque()).append(now)
        return now

    def succeeded(self, account: str, address: str, began: float) -> None:
        """The attempt that began at ``began`` signed in: the account's failures from there are
        cleared, and that attempt no longer counts against the address."""
        self._by_account.pop((account.lower(), address), None)
        with contextlib.suppress(KeyError, ValueError):
            self._by_address[address].remove(began)

    def _wait(self, failures: deque[float] | None, limit: int, now: float) -> float:
        if not failures:
            return 0.0
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures[0] + self.window_s - now if len(failures) >= limit else 0.0

    def tracked(self) -> int:
        """How many accounts and addresses have failures on record."""
        return len(self._by_account) + len(self._by_address)

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < self.window_s:
            return
        self._last_sweep = now
        _forget_expired(self._by_account, now - self.window_s)
        _forget_expired(self._by_address, now - self.window_s)


def _forget_expired(table: dict[Any, deque[float]], before: float) -> None:
    for key in [k for k, failures in table.items() if not failures or failures[-1] <= before]:
        del table[key]
