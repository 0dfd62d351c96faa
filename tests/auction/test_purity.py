"""The rules stay pure: app/auction imports only a few stdlib modules and itself."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import app.auction

PACKAGE = Path(app.auction.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))

# Pure computation only: no I/O, no clock, no threads, no framework.
ALLOWED = {"__future__", "collections", "dataclasses", "datetime", "enum", "typing"}
FORBIDDEN = ["asyncio", "fastapi", "pydantic", "sqlalchemy", "starlette", "socket", "sqlite3"]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: use absolute imports"
            names.add(node.module or "")
    return names


def test_the_package_has_modules_to_check() -> None:
    assert len(MODULES) >= 10


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_an_auction_module_imports_only_the_stdlib_allowlist_and_itself(path: Path) -> None:
    for name in imported_modules(path):
        if name == "app.auction" or name.startswith("app.auction."):
            continue
        assert name.split(".")[0] in ALLOWED, f"{path.name} imports {name}"


def test_importing_the_rules_loads_no_framework_database_or_event_loop() -> None:
    probe = "import sys, app.auction; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    for name in FORBIDDEN:
        assert name not in loaded, f"importing app.auction loads {name}"
