"""Composition root of the ledger service."""
from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from rentflow_common.service import ServiceRuntime, create_app
from rentflow_common.settings import Settings
from rentflow_ledger.entrypoints import consumers
from rentflow_ledger.entrypoints.http import router

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def build_runtime(settings: Settings | None = None, *, max_records: int = 2000,
                  consumers_per_topic: int | None = None) -> ServiceRuntime:
    """`consumers_per_topic` (env RENTFLOW_LEDGER_CONSUMERS, default 1) members of the "ledger"
    group in this process, each with its own partitions, so one computes while another waits on
    PostgreSQL. On two shared cores a second member gained ~5% and slowed start-up by a group
    rebalance; more instances (processes) are the way to scale."""
    n = consumers_per_topic or int(os.environ.get("RENTFLOW_LEDGER_CONSUMERS", "1"))
    runtime = ServiceRuntime("ledger", MIGRATIONS, settings, pool_size=max(8, 2 * n + 4))
    for _ in range(n):
        runtime.consume(consumers.GROUP_ID, consumers.TOPICS, consumers.handle, max_records=max_records)
    return runtime


def build_app(settings: Settings | None = None) -> FastAPI:
    runtime = build_runtime(settings)
    app = create_app(runtime, title="rentflow ledger",
                     description="Rent accounts, weekly debits, payment allocation, suspense and GL journals.")
    app.include_router(router)
    return app
