"""Alembic, run programmatically: each service keeps its migrations in its package and its
version table in its own schema. Run at service start under an advisory lock, so several
instances starting together migrate once."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Mapping

from alembic import command, context
from alembic.config import Config
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from rentflow_common.db import asyncpg_url


def alembic_config(migrations_dir: Path, url: str, schema: str, attributes: Mapping[str, Any] | None = None) -> Config:
    """`attributes`: values a service's migrations read from `context.config.attributes` (from its
    settings, e.g. a key to encrypt existing rows with)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", asyncpg_url(url).replace("%", "%%"))
    cfg.attributes.update(attributes or {})
    cfg.attributes["schema"] = schema
    return cfg


def upgrade(migrations_dir: Path, url: str, schema: str, attributes: Mapping[str, Any] | None = None) -> None:
    command.upgrade(alembic_config(migrations_dir, url, schema, attributes), "head")


async def upgrade_async(migrations_dir: Path, url: str, schema: str,
                        attributes: Mapping[str, Any] | None = None) -> None:
    await asyncio.to_thread(upgrade, migrations_dir, url, schema, attributes)


def run_env() -> None:
    """Body of every service's migrations/env.py."""
    cfg = context.config
    schema = cfg.attributes["schema"]
    url = cfg.get_main_option("sqlalchemy.url")

    def do_run(connection) -> None:  # type: ignore[no-untyped-def]
        context.configure(connection=connection, version_table_schema=schema, include_schemas=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.execute(text("select pg_advisory_lock(hashtext(:s))"), {"s": f"rentflow-migrate-{schema}"})
            await conn.execute(text(f'create schema if not exists "{schema}"'))
            await conn.execute(text(f'set search_path to "{schema}", public'))
            await conn.commit()
            try:
                await conn.run_sync(do_run)
                await conn.commit()
            finally:
                await conn.execute(text("select pg_advisory_unlock(hashtext(:s))"), {"s": f"rentflow-migrate-{schema}"})
                await conn.commit()
        await engine.dispose()

    asyncio.run(run_async())
