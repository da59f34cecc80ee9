"""Test support shared by every package: real broker and database, started once per session
the same way `rentflow up` starts them, and a fresh database per test module that asks."""
from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from pathlib import Path

import asyncpg

from rentflow_common.db import plain_url
from rentflow_common.infra import Infrastructure, start_infrastructure, with_database


def session_infrastructure() -> Infrastructure:
    home = Path(os.environ.get("RENTFLOW_TEST_HOME") or tempfile.mkdtemp(prefix="rentflow-test-"))
    return start_infrastructure(home, database="rentflow_test")


def fresh_database(infra: Infrastructure, prefix: str = "t") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(plain_url(infra.database_url))
        try:
            await conn.execute(f'create database "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return with_database(infra.database_url, name)


async def fresh_database_async(infra: Infrastructure, prefix: str = "t") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(plain_url(infra.database_url))
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    return with_database(infra.database_url, name)
