"""DD failure and mandate-change tasks from a consumer batch: one open task per account (or DD
reference) and kind; a repeat while it is open counts on it and emits `updated`.

Per batch: which inputs were counted before (task_sources), the open tasks for their keys (locked),
the officers and their open load, then one insert, one update and one insert of sources. Inputs are
folded in batch order, which keeps each account's order (the topics are keyed by account)."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from rentflow_common.db import UnitOfWork
from rentflow_common.events import Msg
from rentflow_common.logging import get_logger

from rentflow_notifications.adapters import repository as repo
from rentflow_notifications.domain import dd_tasks as domain
from rentflow_notifications.domain.assignment import Account, spread_assignee
from rentflow_notifications.service_layer.events import emit_task

log = get_logger(__name__)


@dataclass(frozen=True)
class TaskInput:
    source_id: uuid.UUID
    dedupe_key: str
    account_ref: str | None
    opens: Callable[[str], domain.TaskState]  # assignee -> the new task
    repeats: Callable[[domain.TaskState], domain.TaskState]  # open task -> after this input
    msg: Msg[Any]


def dd_failure_inputs(msgs: Sequence[Msg[Any]], represent_on: dict[uuid.UUID, dt.date | None]) -> list[TaskInput]:
    out = []
    for i in msgs:
        d = i.data
        f = domain.Failure(d.failure_id, d.account_ref, d.reference, d.amount_pence, d.return_code, d.meaning,
                           d.occurred_at, represent_on.get(d.failure_id))
        out.append(TaskInput(d.failure_id, domain.dedupe_key(domain.DD_FAILURE, d.account_ref, d.reference),
                             d.account_ref, lambda who, f=f: domain.open_dd_failure_task(f, who),
                             lambda t, f=f: domain.repeat_dd_failure(t, f), i))
    return out


def mandate_inputs(msgs: Sequence[Msg[Any]]) -> list[TaskInput]:
    out = []
    for i in msgs:
        d = i.data
        if not d.needs_person:
            continue
        m = domain.MandateInput(d.instruction_id, d.account_ref, d.reference, d.new_state, d.reason_code,
                                d.description, d.occurred_at)
        out.append(TaskInput(d.instruction_id, domain.dedupe_key(domain.MANDATE_CHANGE, d.account_ref, d.reference),
                             d.account_ref, lambda who, m=m: domain.open_mandate_task(m, who),
                             lambda t, m=m: domain.repeat_mandate(t, m), i))
    return out


def _state(row: dict[str, Any]) -> domain.TaskState:
    return domain.TaskState(row["task_id"], row["kind"], row["dedupe_key"], row["account_ref"], row["reference"],
                            row["assigned_to"], row["status"], row["due_on"], row["reason"], row["occurrences"],
                            row["amount_pence"], row["return_code"])


async def apply_task_inputs(uow: UnitOfWork, inputs: Sequence[TaskInput], now: dt.datetime) -> None:
    if not inputs:
        return
    raw = uow.raw
    counted = await repo.counted_sources(raw, [t.source_id for t in inputs])
    fresh, seen = [], set(counted)
    for t in inputs:  # the same input under another event id, or twice in the batch: counted once
        if t.source_id not in seen:
            seen.add(t.source_id)
            fresh.append(t)
    if not fresh:
        return
    open_rows = await repo.open_tasks_by_key(raw, sorted({t.dedupe_key for t in fresh}))
    current = {k: _state(r) for k, r in open_rows.items()}
    directory = await repo.directory(raw, [t.account_ref for t in fresh if t.account_ref])
    officers = await repo.load_officers(raw)
    load = await repo.open_load(raw)

    new: dict[uuid.UUID, domain.TaskState] = {}
    changed: dict[uuid.UUID, domain.TaskState] = {}
    steps: list[tuple[str, domain.TaskState, TaskInput]] = []  # (action, state after, input): one event each
    sources = []
    for t in fresh:
        task = current.get(t.dedupe_key)
        if task is None:
            known = directory.get(t.account_ref) if t.account_ref else None
            account = (Account(t.account_ref, known["patch"] if known else "", known["officer"] if known else None)
                       if t.account_ref else None)
            task = t.opens(spread_assignee(account, officers, load))
            load[task.assigned_to] = load.get(task.assigned_to, 0) + 1
            new[task.task_id] = task
            steps.append(("opened", task, t))
        else:
            task = t.repeats(task)
            (new if task.task_id in new else changed)[task.task_id] = task
            steps.append(("updated", task, t))
        current[t.dedupe_key] = task
        sources.append((t.source_id, task.task_id))

    inserted = {r["task_id"]: r for r in await repo.insert_open_tasks(raw, list(new.values()), now)}
    updated = {r["task_id"]: r for r in await repo.update_counted_tasks(raw, list(changed.values()), now)}
    await repo.record_sources(raw, sources, now)
    for action, state, t in steps:
        base = inserted.get(state.task_id) or updated.get(state.task_id)
        task = {**base, **{k: getattr(state, k) for k in ("occurrences", "amount_pence", "return_code", "reason",
                                                          "due_on")}}
        emit_task(uow, task, action, changed_at=now, cause_key=str(t.source_id), cause=t.msg.cause)
    log.info("tasks.dd", opened=len(inserted), repeats=sum(1 for a, _, _ in steps if a == "updated"),
             inputs=len(fresh))
