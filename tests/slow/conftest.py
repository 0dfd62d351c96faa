"""The slow suite's figures: tests note what they measured, and the run prints it at the end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

_FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``figures("line")``: printed under "figures" after the run, whatever its outcome."""
    lines = request.config.stash.setdefault(_FIGURES, [])
    name = request.node.nodeid

    def note(line: str) -> None:
        lines.append(f"{name}: {line}")

    return note


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(_FIGURES, [])
    if lines:
        terminalreporter.section("figures")
        for line in lines:
            terminalreporter.write_line(line)
