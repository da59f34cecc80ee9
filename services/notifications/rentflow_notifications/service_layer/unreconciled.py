"""Unreconciled items from the ledger → finance tasks (domain/unreconciled.py): `opened` opens one
task per item in the finance queue, `updated` rewords it while it is not done, `resolved` completes it."""
from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from rentflow_common.db import UnitOfWork
from rentflow_common.events import Msg
from rentflow_schemas.ledger import UnreconciledItem

from rentflow_notifications.adapters import repository as repo
from rentflow_notifications.domain import unreconciled as domain
from rentflow_notifications.service_layer.events import emit_task

TOPIC = "ledger.unreconciled.v1"


async def apply(uow: UnitOfWork, msgs: Sequence[Msg[UnreconciledItem]], now: dt.datetime) -> None:
    raw = uow.raw
    opened: dict[str, dict[Any, Msg[UnreconciledItem]]] = {}
    updated: dict[Any, Msg[UnreconciledItem]] = {}
    resolved: dict[Any, Msg[UnreconciledItem]] = {}
    for m in msgs:
        tid = domain.task_id(m.data.kind, m.data.item_id)
        if m.data.action == "opened":
            opened.setdefault(m.data.kind, {}).setdefault(tid, m)
        elif m.data.action == "updated":
            updated[tid] = m  # the latest wording wins
        else:
            resolved.setdefault(tid, m)
    for kind, by_task in opened.items():
        new_tasks = [{"task_id": tid, "account_ref": m.data.account_ref, "payment_id": None,
                      "assigned_to": domain.FINANCE_QUEUE, "due_on": domain.due_on(m.data.occurred_at),
                      "reason": _reason(m.data)} for tid, m in by_task.items()]
        for task in await repo.insert_tasks(raw, kind, new_tasks, now):
            emit_task(uow, task, "opened", changed_at=now, cause_key="opened", cause=by_task[task["task_id"]].cause)
    for task in await repo.reword_tasks(raw, [(tid, _reason(m.data)) for tid, m in updated.items()], now):
        cause = updated[task["task_id"]].cause
        emit_task(uow, task, "updated", changed_at=now, cause_key=str(cause.event_id), cause=cause)
    if resolved:
        done = await repo.complete_tasks(raw, [(tid, "rentflow", m.data.reason) for tid, m in resolved.items()], now)
        for task in done:
            cause = resolved[task["task_id"]].cause
            emit_task(uow, task, "completed", changed_at=now, cause_key=str(cause.event_id), cause=cause,
                      by=task["completed_by"], outcome=task["outcome"])


def _reason(item: UnreconciledItem) -> str:
    return domain.reason(item.amount_pence, item.business_date, item.reference, item.reason)
