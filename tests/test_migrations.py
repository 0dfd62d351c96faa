"""The schema belongs to Alembic: one head, no drift from the models, and a clean round trip."""

from __future__ import annotations

import re
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from app import schema
from app.config import Settings
from app.db import create_engine
from app.models import metadata


def test_there_is_exactly_one_migration_head() -> None:
    heads = ScriptDirectory.from_config(schema.alembic_config()).get_heads()
    assert len(heads) == 1, f"several heads: {heads}; merge them"


def test_migration_files_are_date_prefixed() -> None:
    scripts = ScriptDirectory.from_config(schema.alembic_config())
    for revision in scripts.walk_revisions():
        name = revision.path.rsplit("/", 1)[-1]
        assert re.match(r"^\d{4}_\d{2}_\d{2}_\d{4}-[a-z0-9_]+\.py$", name), name


def _drift(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_the_migrated_schema_matches_the_models(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            drift = await connection.run_sync(_drift)
    finally:
        await engine.dispose()
    assert drift == []


def test_downgrade_to_base_then_upgrade_to_head_works(settings: Settings) -> None:
    config = schema.alembic_config(settings.database_url)
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    command.check(config)
