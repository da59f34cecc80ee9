"""Composition root of the reporting service."""
from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from rentflow_common.service import ServiceRuntime, create_app
from rentflow_common.settings import Settings

from rentflow_reporting.entrypoints import consumers, http
from rentflow_reporting.service_layer.scheduler import SnapshotScheduler
from rentflow_reporting.service_layer.statements import StatementRuns

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class ReportingRuntime(ServiceRuntime):
    """The shared runtime plus the snapshot scheduler and the statement runs."""

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__("reporting", MIGRATIONS, settings)
        interval = float(os.environ.get("RENTFLOW_KPI_SNAPSHOT_INTERVAL_S", "5"))
        self.snapshots = SnapshotScheduler(self.engine, interval=interval)
        self.statements = StatementRuns(self.engine)

    async def start(self) -> None:
        await super().start()
        self.snapshots.start()

    async def stop(self) -> None:
        await self.statements.stop()
        await self.snapshots.stop()
        await super().stop()


def build_app(settings: Settings | None = None) -> FastAPI:
    runtime = ReportingRuntime(settings)
    runtime.consume(consumers.GROUP_ID, consumers.TOPICS, consumers.ledger_events_handler(runtime.snapshots))
    app = create_app(runtime, title="rentflow reporting",
                     description="KPI aggregates from ledger events, KPI snapshots (docs/domain.md §5)")
    app.include_router(http.router)
    return app
