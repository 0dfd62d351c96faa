"""Settings read from the environment (prefix ``AUCTION_``); every default works out of the box."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "development-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUCTION_", extra="forbid")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str = ""
    """SQLAlchemy async URL; empty means a SQLite file under ``data_dir``."""
    secret_key: str = DEFAULT_SECRET_KEY
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    db_pool_size: int = Field(default=10, ge=1)
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0)

    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65_536, ge=8)
    """argon2id cost of password hashes (the defaults are argon2-cffi's recommended ones)."""

    access_token_minutes: int = Field(default=12 * 60, ge=1)
    login_attempts_per_minute: int = Field(default=10, ge=1)
    """Failed sign-ins a minute per account and address (an account is never locked for all)."""
    login_attempts_per_minute_per_address: int = Field(default=100, ge=1)
    """Failed sign-ins a minute per client address: high, as a whole room may share one."""
    bids_per_second_per_user: float = Field(default=5.0, gt=0)
    bids_per_second_per_address: float = Field(default=100.0, gt=0)
    """High: a village office's whole room of bidders may share one address."""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies trusted to name the client in X-Forwarded-For (comma-separated addresses or
    networks; ``*`` only where nothing but the proxy reaches the app). Rate limits and logs then
    see each client's address instead of the proxy's."""

    demo_live: bool = False
    """Run simulated bidders on the demo's live lot (``auction demo --live``)."""
    scheduler_enabled: bool = True
    scheduler_max_sleep_s: float = Field(default=1.0, gt=0)
    """The longest the deadline scheduler sleeps before looking again (it is also woken early)."""

    signing_key_file: Path | None = None
    """An Ed25519 private key (PEM) to sign the log with; default: made under ``data_dir``."""

    broker: Literal["auto", "memory", "postgres", "redis"] = "auto"
    """How processes tell each other of new events: auto = PostgreSQL LISTEN/NOTIFY on
    PostgreSQL, in memory on SQLite (one process)."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    ws_heartbeat_s: float = Field(default=15.0, gt=0)
    ws_ping_interval_s: float = Field(default=20.0, gt=0)
    ws_ping_timeout_s: float = Field(default=20.0, gt=0)
    socket_send_buffer_bytes: int = Field(default=128 * 1024, ge=0)
    """Kernel send buffer of each connection (0: the kernel's autotuning, up to megabytes)."""
    graceful_shutdown_s: int = Field(default=10, ge=1)
    """On SIGTERM: finish in-flight requests, tell sockets to reconnect (1012), then stop."""
    ws_queue_size: int = Field(default=256, ge=8)
    """Frames a watcher may fall behind by before it is dropped (it resumes with ?after=)."""

    allowed_origins: list[str] = []
    """Other sites' pages allowed to open live sockets (JSON list of origins); the site's own
    pages (the Origin matching the Host they were served from) need no entry."""

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        # uvicorn would take a typo for a name that never matches, and every client would then
        # share the proxy's address (and its limits).
        for item in (part.strip() for part in value.split(",")):
            if item != "*":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"{item!r} is not an IP address or network, nor *") from None
        return value

    @model_validator(mode="after")
    def _refuse_default_secret_outside_development(self) -> Settings:
        if self.env != "development" and self.secret_key == DEFAULT_SECRET_KEY:
            raise ValueError(
                "AUCTION_SECRET_KEY must be set to a long random value when AUCTION_ENV is "
                f"{self.env!r} (the default key is only for development)"
            )
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'auction.sqlite3').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
