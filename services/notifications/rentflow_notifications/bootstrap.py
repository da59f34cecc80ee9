"""Composition root: runtime, consumer group, routes."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from rentflow_common.service import ServiceRuntime, create_app
from rentflow_common.settings import Settings

from rentflow_notifications.entrypoints import consumers
from rentflow_notifications.entrypoints.http import router

MIGRATIONS = Path(__file__).parent / "migrations"


def build_app(settings: Settings | None = None) -> FastAPI:
    runtime = ServiceRuntime("notifications", MIGRATIONS, settings)
    consumers.register(runtime)
    app = create_app(runtime, title="rentflow notifications",
                     description="Income officers and their tasks: unmatched payments become owned, "
                                 "dated tasks; every change is announced on notifications.tasks.v1.")
    app.include_router(router)
    return app
