"""The whole test suite: everything on SQLite, then every database test again on PostgreSQL.

PostgreSQL comes from AUCTION_TEST_DATABASE_URL, else the local server if one answers. With
CI=true a missing PostgreSQL is a failure, not a skip. Extra arguments go to pytest.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg

from tests.databases import POSTGRES_ENV

LOCAL_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def _reachable(url: str) -> bool:
    async def probe() -> None:
        connection = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    return True


def _pytest(label: str, args: list[str], env: dict[str, str]) -> int:
    print(f"\n===== tests on {label} =====", flush=True)
    return subprocess.call([sys.executable, "-m", "pytest", *args], env=env)


def main(argv: list[str]) -> int:
    slow = "--slow" in argv
    args = [a for a in argv if a != "--slow"]
    marks = ["-m", "slow"] if slow else ["-m", "not slow"]
    env = {k: v for k, v in os.environ.items() if k != POSTGRES_ENV}
    results = {"SQLite": _pytest("SQLite (all tests)", [*marks, *args], env)}

    postgres = os.environ.get(POSTGRES_ENV) or LOCAL_POSTGRES
    if _reachable(postgres):
        pg_marks = ["-m", "db and slow" if slow else "db and not slow"]
        results["PostgreSQL"] = _pytest(
            f"PostgreSQL {postgres} (database tests)",
            [*pg_marks, *args],
            {**env, POSTGRES_ENV: postgres},
        )
    elif os.environ.get("CI") == "true":
        print(f"FAILED: PostgreSQL at {postgres} is unreachable and CI=true", flush=True)
        results["PostgreSQL"] = 1
    else:
        print(f"NOTE: PostgreSQL at {postgres} is unreachable: database tests ran on SQLite only")

    if slow:  # no slow test on a backend is not a failure; a missing main suite is
        results = {label: 0 if code == 5 else code for label, code in results.items()}
    print("\n===== summary =====")
    for label, code in results.items():
        print(f"{label}: {'passed' if code == 0 else f'FAILED (exit {code})'}")
    return 0 if all(code == 0 for code in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
