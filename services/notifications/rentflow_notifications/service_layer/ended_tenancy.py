"""Payments posted to ended tenancies → one officer task each (domain/ended_tenancy.py), assigned
like an unmatched payment: the officer covering the account's patch, else the shared queue."""
from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from rentflow_common.db import UnitOfWork
from rentflow_common.events import Msg
from rentflow_schemas.ledger import EndedTenancyPayment

from rentflow_notifications.adapters import repository as repo
from rentflow_notifications.domain import ended_tenancy as domain
from rentflow_notifications.domain.assignment import choose_assignee
from rentflow_notifications.service_layer.events import emit_task

TOPIC = "ledger.ended-tenancy-payments.v1"


async def open_tasks(uow: UnitOfWork, msgs: Sequence[Msg[EndedTenancyPayment]], now: dt.datetime) -> None:
    raw = uow.raw
    by_task: dict[Any, Msg[EndedTenancyPayment]] = {}
    for m in msgs:
        by_task.setdefault(domain.task_id(m.data.transaction_id), m)
    accounts = await repo.accounts_by_ref(raw, [m.data.account_ref for m in by_task.values()])
    officers = await repo.load_officers(raw)
    new_tasks = []
    for task_id, m in by_task.items():
        e = m.data
        new_tasks.append({
            "task_id": task_id, "account_ref": e.account_ref, "payment_id": e.payment_id,
            "assigned_to": choose_assignee(accounts.get(e.account_ref), officers),
            "due_on": domain.due_on(e.posted_at),
            "reason": domain.reason(e.amount_pence, e.channel, e.business_date, e.account_ref, e.tenancy_end,
                                    e.balance_after_pence)})
    for task in await repo.insert_tasks(raw, domain.ENDED_TENANCY_PAYMENT, new_tasks, now):
        emit_task(uow, task, "opened", changed_at=now, cause_key="opened", cause=by_task[task["task_id"]].cause)
