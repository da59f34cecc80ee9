"""Composition root of the payments (intake) service."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from rentflow_common.control import control_router
from rentflow_common.service import ServiceRuntime, create_app
from rentflow_common.settings import Settings

from rentflow_payments.adapters import control
from rentflow_payments.entrypoints.http import make_router
from rentflow_payments.domain.formats import cash_csv
from rentflow_payments.settings import PaymentsSettings

MIGRATIONS = Path(__file__).parent / "migrations"

DESCRIPTION = """Intake: payment providers push payments (signed with HMAC-SHA256 over the time and the raw body),
upload statement/report files, and operators import files. Every payment taken in is emitted once
on payments.received.v1; every refused file item on payments.rejected.v1."""


def build_app(settings: Settings | None = None) -> FastAPI:
    own = PaymentsSettings.extend(settings)
    cash_csv.configure(own.csv_columns, own.csv_card_ref)
    runtime = ServiceRuntime("payments", MIGRATIONS, own, pool_size=10,
                             migration_attributes={"secrets_key": own.secrets_key.get_secret_value()})
    app = create_app(runtime, title="rentflow payments", description=DESCRIPTION)
    app.include_router(make_router(runtime))
    app.include_router(control_router(runtime, "accepted", control.accepted_totals, control.accepted_items,
                                      "payments intake accepted"))
    return app
