"""The scenario of the invariant tests (tests/unit/test_invariants.py) on PostgreSQL: the same
events through the same handlers, once on the SQL repositories (real database) and once in
memory, end with the same balances, postings in the same order, journal lines, suspense queue,
closed periods and events emitted."""
from __future__ import annotations

import sys
from pathlib import Path

from rentflow_common.db import UnitOfWork, make_engine
from rentflow_common.audit import AUDIT_DDL
from rentflow_common.migrations import upgrade_async
from rentflow_ledger.adapters.memory import MemoryLedger
from rentflow_ledger.bootstrap import MIGRATIONS
from rentflow_ledger.domain.journal import is_balanced

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ledger_scenario import EVENTS, SEED, Scenario, memory_snapshot, random_events, sql_snapshot  # noqa: E402


async def test_the_same_scenario_on_postgresql_and_in_memory_ends_the_same(database_url):
    events = random_events(SEED, EVENTS)
    memory = MemoryLedger()
    in_memory = Scenario(memory.uow)
    await in_memory.setup()
    for event in events:
        await in_memory.apply(event)
    expected = memory_snapshot(memory)

    await upgrade_async(MIGRATIONS, database_url, "ledger")
    engine = make_engine(database_url, "ledger")
    try:
        async with engine.begin() as conn:  # as the service makes it at start (ServiceRuntime.identity_tables)
            raw = (await conn.get_raw_connection()).driver_connection
            for ddl in AUDIT_DDL:
                await raw.execute(ddl)
        on_postgres = Scenario(lambda: UnitOfWork(engine, producer="ledger"))
        await on_postgres.setup()
        for event in events:
            await on_postgres.apply(event)
        async with UnitOfWork(engine) as uow:
            got = await sql_snapshot(uow.raw)
            trail = sorted((r["actor"], r["action"], r["subject"])
                           for r in await uow.raw.fetch("select actor, action, subject from audit_log"))
    finally:
        await engine.dispose()

    assert got.comparable() == expected.comparable()
    # what the handlers audited on their own is the same, and named the ledger itself
    assert trail == sorted(("system:ledger", a["action"], a["subject"]) for a in memory.audit)
    assert sum(got.balances.values()) == got.control()
    assert all(is_balanced(lines) for lines in got.journals.values())
    assert got.suspense and got.closed and sum(got.emitted.values()) > 100  # the scenario did something
