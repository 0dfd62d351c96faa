"""Debian's nginx in front of test app processes, configured from deploy/nginx.conf.

The production config is used as it is, with only what must differ on a test machine replaced:
the upstream servers, the listening address, and every path nginx writes (pid, logs, temporary
files) moved into a directory of the test's own. nginx runs in the foreground as a child process.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

DEPLOY_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


def nginx_binary() -> str:
    """The nginx executable; a skip here, but a failure under CI=true, if there is none."""
    found = shutil.which("nginx") or next((c for c in CANDIDATES if os.access(c, os.X_OK)), None)
    if found is None:
        message = "nginx is not installed (apt-get install nginx-light)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true needs it for the slow suite", pytrace=False)
        pytest.skip(message)
    return found


def _replace(pattern: str, replacement: str, text: str) -> str:
    """``re.sub`` that insists on a match: if deploy/nginx.conf changes shape, say so."""
    new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if count == 0:
        raise AssertionError(f"deploy/nginx.conf no longer matches {pattern!r}; update the test")
    return new


def nginx_config(backends: list[int], port: int, workdir: Path) -> str:
    """deploy/nginx.conf with these backends and port, writing only under ``workdir``."""
    text = DEPLOY_CONFIG.read_text()
    first = re.search(r"^\s*server app\d:8000([^;\n]*);", text, re.MULTILINE)
    if first is None:
        raise AssertionError("deploy/nginx.conf no longer names its replicas app1:8000, ...")
    servers = "".join(f"        server 127.0.0.1:{b}{first.group(1)};\n" for b in backends)
    upstreams = r"^\s*server app\d:8000[^\n]*\n(?:\s*server app\d:8000[^\n]*\n)*"
    text = _replace(upstreams, servers, text)
    text = _replace(r"listen 80;", f"listen 127.0.0.1:{port};", text)
    text = _replace(r"^worker_processes auto;", "worker_processes 2;", text)
    temp = "\n".join(
        f"    {kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = _replace(
        r"^http \{\n",
        f"http {{\n    access_log {workdir / 'access.log'};\n{temp}\n",
        text,
    )
    # Run as root (a container's CI), the workers would switch to "nobody", which may not reach
    # a private temporary directory; the test's nginx serves nobody else.
    user = "user root;\n" if os.geteuid() == 0 else ""
    head = f"daemon off;\npid {workdir / 'nginx.pid'};\nerror_log {workdir / 'error.log'} warn;\n"
    return head + user + text


class Nginx:
    """nginx on a free port, balancing over ``backends`` (ports of app processes)."""

    def __init__(self, backends: list[int], workdir: Path) -> None:
        self.binary = nginx_binary()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "nginx.conf"
        self.config.write_text(nginx_config(backends, self.port, workdir))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 15.0) -> Nginx:
        command = [self.binary, "-p", str(self.workdir), "-c", str(self.config)]
        command += ["-e", str(self.workdir / "error.log")]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
        if checked.returncode != 0:
            raise AssertionError(f"nginx refuses the test config:\n{checked.stderr}")
        log = (self.workdir / "stderr.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.errors()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"nginx not answering: {self.errors()}")

    def errors(self) -> str:
        return "".join(
            path.read_text(errors="replace")[-3000:]
            for path in (self.workdir / "error.log", self.workdir / "stderr.log")
            if path.exists()
        )

    def access_statuses(self) -> dict[int, int]:
        """How many responses of each status nginx logged (the combined log format)."""
        counts: dict[int, int] = {}
        log = self.workdir / "access.log"
        for line in log.read_text(errors="replace").splitlines() if log.exists() else ():
            match = re.search(r'" (\d{3}) ', line)
            if match:
                status = int(match.group(1))
                counts[status] = counts.get(status, 0) + 1
        return counts

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
