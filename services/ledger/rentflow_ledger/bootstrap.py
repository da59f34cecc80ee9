"""Composition root of the ledger service."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from rentflow_common.control import control_router
from rentflow_common.service import ServiceRuntime, create_app
from rentflow_common.settings import Settings
from rentflow_ledger.adapters import control
from rentflow_ledger.domain.codes import use_gl_codes
from rentflow_ledger.entrypoints import consumers
from rentflow_ledger.entrypoints.http import router
from rentflow_ledger.settings import LedgerSettings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def build_runtime(settings: Settings | None = None, *, max_records: int = 2000,
                  consumers_per_topic: int | None = None) -> ServiceRuntime:
    """`consumers_per_topic` (RENTFLOW_LEDGER_CONSUMERS, default 1) members of the "ledger"
    group in this process, each with its own partitions, so one computes while another waits on
    PostgreSQL. On two shared cores a second member gained ~5% in bench ledger, nothing end to end
    (bench e2e: the intake needs the cores), and slows start-up by a group rebalance; more instances
    (processes) are the way to scale."""
    settings = LedgerSettings.extend(settings)
    use_gl_codes(settings.gl_codes)
    n = consumers_per_topic or settings.consumers
    runtime = ServiceRuntime("ledger", MIGRATIONS, settings, pool_size=max(8, 2 * n + 4))
    for _ in range(n):
        # users (identity.users.v1) in the same group: one group to join at start, not two
        runtime.consume(consumers.GROUP_ID, consumers.handlers(settings.check_scheme), max_records=max_records,
                        fast=consumers.FAST, overlap=consumers.OVERLAP, with_users=True,
                        idle_wait_ms=settings.path_fetch_idle_wait_ms)
    return runtime


def build_app(settings: Settings | None = None) -> FastAPI:
    runtime = build_runtime(settings)
    app = create_app(runtime, title="rentflow ledger",
                     description="Rent accounts, weekly debits, payment allocation, suspense and GL journals.")
    app.include_router(router)
    app.include_router(control_router(runtime, "ledger", control.ledger_totals, control.ledger_items,
                                      "payments the ledger posted or holds in suspense"))
    return app
