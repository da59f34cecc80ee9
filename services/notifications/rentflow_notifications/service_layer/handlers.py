"""Handlers: one function per command or event batch, each taking a UnitOfWork. Every side
effect is here: rows written and TaskEvents emitted, in the caller's transaction (the caller
commits)."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Sequence

import structlog

from rentflow_common.db import UnitOfWork
from rentflow_common.events import Msg
from rentflow_common.logging import get_logger
from rentflow_schemas import derive_event_id
from rentflow_schemas.directdebit import DdFailure, MandateChanged
from rentflow_schemas.ledger import AccountUpserted, EndedTenancyPayment, SuspenseEvent, UnreconciledItem
from rentflow_schemas.rents import RentChanged

from rentflow_notifications.adapters import repository as repo
from rentflow_notifications.config import NotificationsConfig
from rentflow_notifications.domain import tasks as domain
from rentflow_notifications.domain.assignment import SHARED_QUEUE, Account, choose_assignee
from rentflow_notifications.service_layer import dd_tasks, ended_tenancy, notices, unreconciled
from rentflow_notifications.service_layer.events import emit_task

log = get_logger(__name__)

ACCOUNTS_TOPIC = "ledger.accounts.v1"
SUSPENSE_TOPIC = "ledger.suspense.v1"
DD_FAILURES_TOPIC = "ledger.dd-failures.v1"
MANDATES_TOPIC = "ledger.mandates.v1"
RENT_CHANGES_TOPIC = "ledger.rent-changes.v1"
TOPICS = [SUSPENSE_TOPIC, ACCOUNTS_TOPIC, DD_FAILURES_TOPIC, MANDATES_TOPIC, RENT_CHANGES_TOPIC, ended_tenancy.TOPIC,
          unreconciled.TOPIC]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# --- events from the ledger ----------------------------------------------------------------

EVENT_TOPICS = {AccountUpserted: ACCOUNTS_TOPIC, SuspenseEvent: SUSPENSE_TOPIC, DdFailure: DD_FAILURES_TOPIC,
                MandateChanged: MANDATES_TOPIC, RentChanged: RENT_CHANGES_TOPIC,
                EndedTenancyPayment: ended_tenancy.TOPIC, UnreconciledItem: unreconciled.TOPIC}


async def handle_ledger_events(uow: UnitOfWork, msgs: Sequence[Msg[Any]],
                               config: NotificationsConfig | None = None) -> None:
    """One consumer batch (only events not seen before). Accounts first, so an event and its
    account arriving in the same batch meet; then suspense items opened, then allocated; DD
    failures (letters planned first, so their tasks can name the re-presentation date) and
    mandate changes; rent changes (notices to render)."""
    now = config.clock() if config else _now()
    topic: dict[str, list[Msg[Any]]] = {t: [] for t in TOPICS}
    for m in msgs:
        topic[EVENT_TOPICS[type(m.data)]].append(m)
    before = len(uow.emitted)

    if topic[ACCOUNTS_TOPIC]:
        await _account_directory(uow, topic[ACCOUNTS_TOPIC], now)

    opened = [m for m in topic[SUSPENSE_TOPIC] if m.data.action == "opened"]
    # allocated by hand, or taken back by the bank or provider: either way the task is done
    allocated = [m for m in topic[SUSPENSE_TOPIC] if m.data.action in ("allocated", "reversed")]
    if opened:
        await _open_unmatched_payment_tasks(uow, opened, now)
    if topic[ended_tenancy.TOPIC]:
        await ended_tenancy.open_tasks(uow, topic[ended_tenancy.TOPIC], now)
    if allocated:
        await _complete_allocated(uow, allocated, now)
    if topic[unreconciled.TOPIC]:  # finance tasks
        await unreconciled.apply(uow, topic[unreconciled.TOPIC], now)

    if config is not None and (topic[DD_FAILURES_TOPIC] or topic[MANDATES_TOPIC] or topic[RENT_CHANGES_TOPIC]):
        represent_on: dict[uuid.UUID, dt.date | None] = {}
        if topic[DD_FAILURES_TOPIC]:
            represent_on = await notices.take_in_dd_failures(uow, topic[DD_FAILURES_TOPIC], config, now)
        inputs = (dd_tasks.dd_failure_inputs(topic[DD_FAILURES_TOPIC], represent_on)
                  + dd_tasks.mandate_inputs(topic[MANDATES_TOPIC]))
        await dd_tasks.apply_task_inputs(uow, inputs, now)
        if topic[RENT_CHANGES_TOPIC]:
            await notices.take_in_rent_changes(uow, topic[RENT_CHANGES_TOPIC], config, now)
    if len(uow.emitted) > before:
        log.info("notifications.changed", events=len(uow.emitted) - before, batch=len(msgs))


async def _account_directory(uow: UnitOfWork, msgs: Sequence[Msg[AccountUpserted]], now: dt.datetime) -> None:
    raw = uow.raw
    latest: dict[str, tuple[dict[str, Any], Msg[AccountUpserted]]] = {}
    for i in msgs:  # per-account order holds within a batch (keyed by account_ref)
        a = i.data
        latest[a.account_ref] = ({"account_ref": a.account_ref, "patch": a.patch, "officer": a.officer,
                                  "property": a.property,
                                  "payment_method": str(a.payment_method) if a.payment_method else None,
                                  "tenancy_start": a.tenancy_start, "tenancy_end": a.tenancy_end}, i)
    await repo.upsert_accounts(raw, [a for a, _ in latest.values()])
    # Tasks opened before we knew the account waited in the shared queue: give them an owner now.
    queued = await repo.queued_tasks(raw, account_refs=list(latest))
    if not queued:
        return
    officers = await repo.load_officers(raw)
    moves = []
    for t in queued:
        who = choose_assignee(Account(t["account_ref"], t["patch"], t["officer"]), officers)
        if who != SHARED_QUEUE:
            moves.append((t["task_id"], who))
    for task in await repo.reassign_from_queue(raw, moves, now):
        cause = latest[task["account_ref"]][1].cause
        emit_task(uow, task, "updated", changed_at=now, cause_key=f"{cause.event_id}:{task['assigned_to']}", cause=cause)


async def _open_unmatched_payment_tasks(uow: UnitOfWork, msgs: Sequence[Msg[SuspenseEvent]],
                                        now: dt.datetime) -> None:
    raw = uow.raw
    by_task: dict[uuid.UUID, Msg[SuspenseEvent]] = {}
    for i in msgs:
        by_task.setdefault(domain.unmatched_payment_task_id(i.data.payment_id), i)
    accounts = await repo.accounts_by_ref(raw, [i.data.account_ref for i in by_task.values() if i.data.account_ref])
    officers = await repo.load_officers(raw)
    new_tasks = []
    for task_id, i in by_task.items():
        s = i.data
        account = accounts.get(s.account_ref) if s.account_ref else None
        new_tasks.append({
            "task_id": task_id,
            "account_ref": s.account_ref,
            "assigned_to": choose_assignee(account, officers),
            "due_on": domain.unmatched_payment_due_on(s.received_at),
            "reason": domain.unmatched_payment_reason(s.amount_pence, s.channel, s.reference, s.reason),
            "payment_id": s.payment_id,
        })
    for task in await repo.insert_tasks(raw, domain.UNMATCHED_PAYMENT, new_tasks, now):
        cause = by_task[task["task_id"]].cause
        with structlog.contextvars.bound_contextvars(correlation_id=cause.correlation_id):
            log.debug("task.opened", task_id=str(task["task_id"]), kind=task["kind"], assigned_to=task["assigned_to"],
                      due_on=task["due_on"].isoformat())
        emit_task(uow, task, "opened", changed_at=now, cause_key="opened", cause=cause)


async def _complete_allocated(uow: UnitOfWork, msgs: Sequence[Msg[SuspenseEvent]], now: dt.datetime) -> None:
    by_task: dict[uuid.UUID, Msg[SuspenseEvent]] = {}
    for i in msgs:
        by_task.setdefault(domain.unmatched_payment_task_id(i.data.payment_id), i)
    completions = []
    for task_id, i in by_task.items():
        s = i.data
        if s.action == "reversed":
            outcome, by = "payment reversed by the payer's bank or provider: nothing to allocate", "rentflow"
        else:
            outcome, by = (f"allocated to {s.account_ref}" if s.account_ref else "allocated"), s.allocated_by
        if s.note:
            outcome += f": {s.note}"
        completions.append((task_id, by, outcome))
    for task in await repo.complete_tasks(uow.raw, completions, now):
        cause = by_task[task["task_id"]].cause
        emit_task(uow, task, "completed", changed_at=now, cause_key=str(cause.event_id), cause=cause,
                  by=task["completed_by"], outcome=task["outcome"])


# --- commands from HTTP --------------------------------------------------------------------

@dataclass(frozen=True)
class RegisterOfficer:
    name: str
    patches: tuple[str, ...]
    role: str


async def register_officer(uow: UnitOfWork, cmd: RegisterOfficer) -> tuple[dict[str, Any], bool]:
    """Creates or replaces an officer; open tasks waiting in the shared queue for accounts in
    the officer's patches move to them (TaskEvent "updated")."""
    raw = uow.raw
    officer, created = await repo.upsert_officer(raw, derive_event_id("officer", cmd.name), cmd.name, cmd.role,
                                                 cmd.patches)
    if cmd.patches:
        now = _now()
        queued = await repo.queued_tasks(raw, patches=list(cmd.patches))
        if queued:
            officers = await repo.load_officers(raw)
            moves = [(t["task_id"], who) for t in queued
                     if (who := choose_assignee(Account(t["account_ref"], t["patch"], t["officer"]), officers))
                     != SHARED_QUEUE]
            for task in await repo.reassign_from_queue(raw, moves, now):
                emit_task(uow, task, "updated", changed_at=now, cause_key=f"officer:{now.isoformat()}")
    return officer, created


async def list_officers(uow: UnitOfWork) -> list[dict[str, Any]]:
    return await repo.list_officers(uow.raw)


class TaskNotFound(Exception):
    pass


async def claim_task(uow: UnitOfWork, task_id: uuid.UUID, by: str) -> dict[str, Any]:
    raw = uow.raw
    task = await repo.get_task(raw, task_id, for_update=True)
    if task is None:
        raise TaskNotFound(str(task_id))
    move = domain.claim(task["status"], task["assigned_to"], task["claimed_by"], by)
    if move is None:
        return task
    now = _now()
    task = await repo.update_task(raw, task_id, status=move.status, assigned_to=move.assigned_to, now=now,
                                  claimed_by=by)
    emit_task(uow, task, move.action, changed_at=now, cause_key=f"claim:{by}:{now.isoformat()}", by=by)
    return task


async def complete_task(uow: UnitOfWork, task_id: uuid.UUID, by: str, outcome: str | None) -> dict[str, Any]:
    raw = uow.raw
    task = await repo.get_task(raw, task_id, for_update=True)
    if task is None:
        raise TaskNotFound(str(task_id))
    move = domain.complete(task["status"], task["assigned_to"], task["claimed_by"], by)
    now = _now()
    task = await repo.update_task(raw, task_id, status=move.status, assigned_to=move.assigned_to, now=now,
                                  completed_by=by, outcome=outcome)
    emit_task(uow, task, move.action, changed_at=now, cause_key=f"complete:{by}:{now.isoformat()}", by=by,
              outcome=outcome)
    return task


async def list_tasks(uow: UnitOfWork, **filters: Any) -> list[dict[str, Any]]:
    return await repo.list_tasks(uow.raw, **filters)
