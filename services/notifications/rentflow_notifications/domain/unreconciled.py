"""Finance tasks for what the ledger could not place on its own (ledger.unreconciled.v1): a Direct
Debit return whose collection is nowhere, a statement lump sum with no detail, money paid out that
came back and matches nothing, an AUDDIS lodgement report about unknown mandates, bank interest.
Pure.

They go to the finance queue, not an income officer: the question is where bank money belongs,
not what a tenant owes. One task per item (its id from the item's), opened once however often
the event is delivered; completed when the ledger says the item was resolved (e.g. the lump's
detail arrived and matched). Due in two working days: the bank and the ledger disagree meanwhile."""
from __future__ import annotations

import datetime as dt
import uuid

from rentflow_schemas import derive_event_id

from rentflow_notifications.domain.tasks import format_pence, london_date
from rentflow_notifications.domain.working_days import add_working_days

FINANCE_QUEUE = "finance"
DUE_WORKING_DAYS = 2


def task_id(kind: str, item_id: uuid.UUID) -> uuid.UUID:
    return derive_event_id("task", kind, item_id)


def due_on(occurred_at: dt.datetime) -> dt.date:
    return add_working_days(london_date(occurred_at), DUE_WORKING_DAYS)


def reason(amount_pence: int | None, business_date: dt.date, reference: str, what: str) -> str:
    money = f"{format_pence(amount_pence)} " if amount_pence is not None else ""
    ref = f" (reference '{reference}')" if reference else ""
    return f"{money}on {business_date}{ref}: {what}"
