"""Test support shared by every package: real broker and database, started once per session
the same way `rentflow up` starts them, and a fresh database per test module that asks."""
from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

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


async def poll(predicate: Any, timeout: float = 30.0, what: str | None = None) -> Any:
    """Awaits `predicate()` every 0.1 s until it returns something truthy (returned), or raises
    AssertionError naming `what` and the last value seen after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(0.1)
    if what:
        raise AssertionError(f"timed out waiting for {what}; last saw {last!r}")
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
