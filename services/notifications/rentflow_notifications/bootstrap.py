"""Composition root: runtime, consumer group, background workers, routes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from rentflow_common.db import UnitOfWork
from rentflow_common.service import ServiceRuntime, create_app
from rentflow_common.settings import Settings

from rentflow_notifications.adapters import notices_repo
from rentflow_notifications.config import NotificationsConfig
from rentflow_notifications.domain import working_days
from rentflow_notifications.entrypoints import consumers
from rentflow_notifications.entrypoints.http import router
from rentflow_notifications.entrypoints.http_notices import router as notices_router
from rentflow_notifications.entrypoints.workers import Workers
from rentflow_notifications.settings import NotificationsSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class NotificationsRuntime(ServiceRuntime):
    """The shared runtime plus the renderer and mailer, started after the migrations and stopped
    before the database goes."""

    settings: NotificationsSettings

    def __init__(self, settings: Settings | None, config: NotificationsConfig | None) -> None:
        # notifications owns the users: it authenticates against them directly (a change counts at once)
        super().__init__("notifications", MIGRATIONS, NotificationsSettings.extend(settings), identity_table="users")
        self.config = config or NotificationsConfig.from_settings(self.settings)
        self.workers = Workers(self.config)
        self.on_start.append(self._load_bank_holidays)

    async def _load_bank_holidays(self) -> None:
        """The calendars of this year and the next, before the consumer starts (and before the
        runtime freezes what start made: they stay loaded for good)."""
        year = self.config.clock().year
        working_days.load_years(year - 1, year, year + 1)

    async def start(self) -> None:
        await super().start()
        await self.workers.start(self._workers_uow)

    def committed(self, emitted: bool) -> None:
        super().committed(emitted)
        self.workers.wake()  # a consumer's or a route's commit may have queued notices or emails

    def _workers_uow(self) -> UnitOfWork:
        """The workers' own units of work wake them again only when they emitted (a notice rendered
        or sent: an email may now be due), so an idle worker's empty look does not wake itself."""
        return UnitOfWork(self.engine, producer=self.name, on_commit=self._workers_committed)

    def _workers_committed(self, emitted: bool) -> None:
        super().committed(emitted)
        if emitted:
            self.workers.wake()

    async def stop(self) -> None:
        await self.workers.stop()
        await super().stop()

    async def status(self, with_lag: bool = False) -> dict[str, Any]:
        status = await super().status(with_lag=with_lag)
        status["pending_work"] = 0
        if self.ready:  # notices still to render and emails still to send: `rentflow wait` counts them
            async with self.engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                status["pending_work"] = await notices_repo.pending_work(raw)
        status["notices_rendered"] = self.workers.rendered
        return status


def build_app(settings: Settings | None = None, config: NotificationsConfig | None = None) -> FastAPI:
    runtime = NotificationsRuntime(settings, config)
    consumers.register(runtime, runtime.config)
    app = create_app(runtime, title="rentflow notifications",
                     description="Income officers, their tasks and tenants' letters: unmatched payments, DD "
                                 "failures and mandate changes become owned, dated tasks (notifications.tasks.v1); "
                                 "rent changes and DD failures become letters, emailed where an address is known "
                                 "(notifications.notices.v1).")
    app.state.config = runtime.config
    app.include_router(router)
    app.include_router(notices_router)
    return app
