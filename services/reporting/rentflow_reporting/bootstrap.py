"""Composition root of the reporting service."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from rentflow_common.control import control_router
from rentflow_common.service import ServiceRuntime, create_app
from rentflow_common.settings import Settings

from rentflow_reporting.adapters import control
from rentflow_reporting.entrypoints import consumers, http
from rentflow_reporting.settings import ReportingSettings
from rentflow_reporting.service_layer.scheduler import SnapshotScheduler
from rentflow_reporting.service_layer.statements import StatementRuns

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class ReportingRuntime(ServiceRuntime):
    """The shared runtime plus the snapshot scheduler and the statement runs."""

    settings: ReportingSettings

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__("reporting", MIGRATIONS, ReportingSettings.extend(settings))
        self.snapshots = SnapshotScheduler(self.uow, interval=self.settings.kpi_snapshot_interval_s)
        self.statements = StatementRuns(self.engine, self.settings.statements_folder,
                                        landlord=self.settings.landlord_name)

    async def start(self) -> None:
        await super().start()
        self.snapshots.start()

    async def stop(self) -> None:
        await self.statements.stop()
        await self.snapshots.stop()
        await super().stop()


def build_app(settings: Settings | None = None) -> FastAPI:
    runtime = ReportingRuntime(settings)
    runtime.consume(consumers.GROUP_ID, consumers.handlers(runtime.snapshots), fast=consumers.FAST,
                    busy_wait_ms=runtime.settings.background_fetch_wait_ms)  # KPIs are off the payment's path
    app = create_app(runtime, title="rentflow reporting",
                     description="KPI aggregates from ledger events, KPI snapshots (docs/domain.md §5)")
    app.include_router(http.router)
    app.include_router(control_router(runtime, "reporting", control.collected_totals, None,
                                      "payments reporting counted as collected (net of what went back)"))
    return app
