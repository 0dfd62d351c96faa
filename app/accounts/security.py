"""Password hashing (argon2id) and signed, expiring session tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass

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
    Keys whose failures have all expired are forgotten, so sprayed names do not pile up."""

    def __init__(self, per_account: int, per_address: int, window_s: float = 60.0) -> None:
        self.limits = {"account": per_account, "address": per_address}
        self.window_s = window_s
        self._failures: dict[tuple[str, ...], deque[float]] = {}
        self._last_sweep = time.monotonic()

    @staticmethod
    def _keys(account: str, address: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return ("account", account.lower(), address), ("address", address)

    def retry_after(self, account: str, address: str) -> int:
        """Seconds to wait before trying again, or 0 if this account may try from here now."""
        now = time.monotonic()
        self._sweep(now)
        wait = 0.0
        for key in self._keys(account, address):
            failures = self._failures.get(key)
            if not failures:
                continue
            while failures and failures[0] <= now - self.window_s:
                failures.popleft()
            if len(failures) >= self.limits[key[0]]:
                wait = max(wait, failures[0] + self.window_s - now)
        return int(wait) + 1 if wait else 0

    def record_failure(self, account: str, address: str) -> None:
        now = time.monotonic()
        for key in self._keys(account, address):
            self._failures.setdefault(key, deque()).append(now)

    def reset(self, account: str, address: str) -> None:
        """A successful sign-in clears the account's failures from there (not the address's)."""
        self._failures.pop(self._keys(account, address)[0], None)

    def tracked(self) -> int:
        """How many accounts and addresses have failures on record."""
        return len(self._failures)

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < self.window_s:
            return
        self._last_sweep = now
        expired = [k for k, f in self._failures.items() if not f or f[-1] <= now - self.window_s]
        for key in expired:
            del self._failures[key]
