"""Real uvicorn servers in child processes, for tests of concurrency, restarts and fan-out."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(settings: Settings, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUCTION_")}
    env.update(
        AUCTION_ENV="test",
        AUCTION_SECRET_KEY=settings.secret_key,
        AUCTION_DATABASE_URL=settings.effective_database_url,
        AUCTION_DATA_DIR=str(settings.data_dir),
        AUCTION_PORT=str(port),
        AUCTION_LOG_LEVEL="warning",
        AUCTION_ARGON2_TIME_COST=str(settings.argon2_time_cost),
        AUCTION_ARGON2_MEMORY_KIB=str(settings.argon2_memory_kib),
        AUCTION_LOGIN_ATTEMPTS_PER_MINUTE="1000",
        AUCTION_BIDS_PER_SECOND_PER_USER="1000",
        AUCTION_BIDS_PER_SECOND_PER_ADDRESS="10000",
        AUCTION_SCHEDULER_MAX_SLEEP_S="0.5",
    )
    env.update(extra)
    return env


class Server:
    """``auction serve`` on a free port; ``kill()`` is kill -9, ``start()`` starts it again."""

    def __init__(self, settings: Settings, log_dir: Path, **extra_env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = server_env(settings, self.port, **extra_env)
        self.log_path = log_dir / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> Server:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"], env=self.env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, as in a power cut of the process."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


async def metric(client: httpx.AsyncClient, name: str) -> float:
    """The value of sample ``name`` (summed over its labels) in the server's ``/metrics``."""
    text = (await client.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )
