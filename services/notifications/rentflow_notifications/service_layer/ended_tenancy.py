"""Payments posted to ended tenancies → one officer task each (domain/ended_tenancy.py), assigned
like an unmatched payment: the officer covering the account's patch, else the shared queue."""
from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from rentflow_common.consumer import Incoming
from rentflow_common.outbox import OutboxRow
from rentflow_schemas.ledger import EndedTenancyPayment

from rentflow_notifications.adapters import repository as repo
from rentflow_notifications.domain import ended_tenancy as domain
from rentflow_notifications.domain.assignment import choose_assignee
from rentflow_notifications.service_layer.events import task_event_row

TOPIC = "ledger.ended-tenancy-payments.v1"


async def open_tasks(raw: Any, items: Sequence[Incoming], now: dt.datetime) -> list[OutboxRow]:
    by_task: dict[Any, Incoming] = {}
    for i in items:
        by_task.setdefault(domain.task_id(i.envelope.data.transaction_id), i)
    accounts = await repo.accounts_by_ref(raw, [i.envelope.data.account_ref for i in by_task.values()])
    officers = await repo.load_officers(raw)
    new_tasks = []
    for task_id, i in by_task.items():
        e: EndedTenancyPayment = i.envelope.data
        new_tasks.append({
            "task_id": task_id, "account_ref": e.account_ref, "payment_id": e.payment_id,
            "assigned_to": choose_assignee(accounts.get(e.account_ref), officers),
            "due_on": domain.due_on(e.posted_at),
            "reason": domain.reason(e.amount_pence, e.channel, e.business_date, e.account_ref, e.tenancy_end,
                                    e.balance_after_pence)})
    rows = []
    for task in await repo.insert_tasks(raw, domain.ENDED_TENANCY_PAYMENT, new_tasks, now):
        env = by_task[task["task_id"]].envelope
        rows.append(task_event_row(task, "opened", changed_at=now, cause="opened", correlation_id=env.correlation_id,
                                   causation_id=env.event_id))
    return rows
