"""Composition root of the ledger service."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from rentflow_common.service import ServiceRuntime, create_app
from rentflow_common.settings import Settings
from rentflow_ledger.entrypoints import consumers
from rentflow_ledger.entrypoints.http import router

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def build_runtime(settings: Settings | None = None, *, max_records: int = 2000) -> ServiceRuntime:
    runtime = ServiceRuntime("ledger", MIGRATIONS, settings)
    for topic, handle in consumers.HANDLERS.items():
        runtime.consume(consumers.GROUP_ID, [topic], handle, max_records=max_records)
    return runtime


def build_app(settings: Settings | None = None) -> FastAPI:
    runtime = build_runtime(settings)
    app = create_app(runtime, title="rentflow ledger",
                     description="Rent accounts, weekly debits, payment allocation, suspense and GL journals.")
    app.include_router(router)
    return app
