"""Handlers: one function per command or event batch, each taking a UnitOfWork. Every side
effect is here: rows written and TaskEvents put in the outbox, in the caller's transaction."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Sequence

import structlog

from rentflow_common.consumer import Incoming
from rentflow_common.db import UnitOfWork
from rentflow_common.logging import get_logger
from rentflow_common.outbox import OutboxRow, enqueue
from rentflow_schemas import derive_event_id
from rentflow_schemas.ledger import AccountUpserted, SuspenseEvent

from rentflow_notifications.adapters import repository as repo
from rentflow_notifications.config import NotificationsConfig
from rentflow_notifications.domain import tasks as domain
from rentflow_notifications.domain.assignment import SHARED_QUEUE, Account, choose_assignee
from rentflow_notifications.service_layer import dd_tasks, ended_tenancy, notices
from rentflow_notifications.service_layer.events import task_event_row

log = get_logger(__name__)

ACCOUNTS_TOPIC = "ledger.accounts.v1"
SUSPENSE_TOPIC = "ledger.suspense.v1"
DD_FAILURES_TOPIC = "ledger.dd-failures.v1"
MANDATES_TOPIC = "ledger.mandates.v1"
RENT_CHANGES_TOPIC = "ledger.rent-changes.v1"
TOPICS = [SUSPENSE_TOPIC, ACCOUNTS_TOPIC, DD_FAILURES_TOPIC, MANDATES_TOPIC, RENT_CHANGES_TOPIC, ended_tenancy.TOPIC]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# --- events from the ledger ----------------------------------------------------------------

async def handle_ledger_events(uow: UnitOfWork, items: Sequence[Incoming],
                               config: NotificationsConfig | None = None) -> None:
    """One consumer batch (only events not seen before). Accounts first, so an event and its
    account arriving in the same batch meet; then suspense items opened, then allocated; DD
    failures (letters planned first, so their tasks can name the re-presentation date) and
    mandate changes; rent changes (notices to render)."""
    raw = uow.raw
    now = config.clock() if config else _now()
    outbox: list[OutboxRow] = []
    topic = {t: [i for i in items if i.topic == t] for t in TOPICS}

    if topic[ACCOUNTS_TOPIC]:
        outbox += await _account_directory(raw, topic[ACCOUNTS_TOPIC], now)

    opened = [i for i in topic[SUSPENSE_TOPIC] if i.envelope.data.action == "opened"]
    # allocated by hand, or taken back by the bank or provider: either way the task is done
    allocated = [i for i in topic[SUSPENSE_TOPIC] if i.envelope.data.action in ("allocated", "reversed")]
    if opened:
        outbox += await _open_unmatched_payment_tasks(raw, opened, now)
    if topic[ended_tenancy.TOPIC]:
        outbox += await ended_tenancy.open_tasks(raw, topic[ended_tenancy.TOPIC], now)
    if allocated:
        outbox += await _complete_allocated(raw, allocated, now)

    if config is not None and (topic[DD_FAILURES_TOPIC] or topic[MANDATES_TOPIC] or topic[RENT_CHANGES_TOPIC]):
        represent_on: dict[uuid.UUID, dt.date | None] = {}
        if topic[DD_FAILURES_TOPIC]:
            rows, represent_on = await notices.take_in_dd_failures(raw, topic[DD_FAILURES_TOPIC], config, now)
            outbox += rows
        inputs = (dd_tasks.dd_failure_inputs(topic[DD_FAILURES_TOPIC], represent_on)
                  + dd_tasks.mandate_inputs(topic[MANDATES_TOPIC]))
        outbox += await dd_tasks.apply_task_inputs(raw, inputs, now)
        if topic[RENT_CHANGES_TOPIC]:
            outbox += await notices.take_in_rent_changes(raw, topic[RENT_CHANGES_TOPIC], config, now)
    await enqueue(raw, outbox)
    if outbox:
        log.info("notifications.changed", events=len(outbox), batch=len(items))


async def _account_directory(raw: Any, items: Sequence[Incoming], now: dt.datetime) -> list[OutboxRow]:
    latest: dict[str, tuple[dict[str, Any], Incoming]] = {}
    for i in items:  # per-account order holds within a batch (keyed by account_ref)
        a: AccountUpserted = i.envelope.data
        latest[a.account_ref] = ({"account_ref": a.account_ref, "patch": a.patch, "officer": a.officer,
                                  "property": a.property,
                                  "payment_method": str(a.payment_method) if a.payment_method else None,
                                  "tenancy_start": a.tenancy_start, "tenancy_end": a.tenancy_end}, i)
    await repo.upsert_accounts(raw, [a for a, _ in latest.values()])
    # Tasks opened before we knew the account waited in the shared queue: give them an owner now.
    queued = await repo.queued_tasks(raw, account_refs=list(latest))
    if not queued:
        return []
    officers = await repo.load_officers(raw)
    moves = []
    for t in queued:
        who = choose_assignee(Account(t["account_ref"], t["patch"], t["officer"]), officers)
        if who != SHARED_QUEUE:
            moves.append((t["task_id"], who))
    changed = await repo.reassign_from_queue(raw, moves, now)
    rows = []
    for task in changed:
        cause = latest[task["account_ref"]][1].envelope
        rows.append(task_event_row(task, "updated", changed_at=now, cause=f"{cause.event_id}:{task['assigned_to']}",
                                   correlation_id=cause.correlation_id, causation_id=cause.event_id))
    return rows


async def _open_unmatched_payment_tasks(raw: Any, items: Sequence[Incoming], now: dt.datetime) -> list[OutboxRow]:
    by_task: dict[uuid.UUID, Incoming] = {}
    for i in items:
        by_task.setdefault(domain.unmatched_payment_task_id(i.envelope.data.payment_id), i)
    accounts = await repo.accounts_by_ref(
        raw, [i.envelope.data.account_ref for i in by_task.values() if i.envelope.data.account_ref])
    officers = await repo.load_officers(raw)
    new_tasks = []
    for task_id, i in by_task.items():
        s: SuspenseEvent = i.envelope.data
        account = accounts.get(s.account_ref) if s.account_ref else None
        new_tasks.append({
            "task_id": task_id,
            "account_ref": s.account_ref,
            "assigned_to": choose_assignee(account, officers),
            "due_on": domain.unmatched_payment_due_on(s.received_at),
            "reason": domain.unmatched_payment_reason(s.amount_pence, s.channel, s.reference, s.reason),
            "payment_id": s.payment_id,
        })
    inserted = await repo.insert_tasks(raw, domain.UNMATCHED_PAYMENT, new_tasks, now)
    rows = []
    for task in inserted:
        env = by_task[task["task_id"]].envelope
        with structlog.contextvars.bound_contextvars(correlation_id=env.correlation_id):
            log.debug("task.opened", task_id=str(task["task_id"]), kind=task["kind"], assigned_to=task["assigned_to"],
                     due_on=task["due_on"].isoformat())
        rows.append(task_event_row(task, "opened", changed_at=now, cause="opened",
                                   correlation_id=env.correlation_id, causation_id=env.event_id))
    return rows


async def _complete_allocated(raw: Any, items: Sequence[Incoming], now: dt.datetime) -> list[OutboxRow]:
    by_task: dict[uuid.UUID, Incoming] = {}
    for i in items:
        by_task.setdefault(domain.unmatched_payment_task_id(i.envelope.data.payment_id), i)
    completions = []
    for task_id, i in by_task.items():
        s: SuspenseEvent = i.envelope.data
        if s.action == "reversed":
            outcome, by = "payment reversed by the payer's bank or provider: nothing to allocate", "rentflow"
        else:
            outcome, by = (f"allocated to {s.account_ref}" if s.account_ref else "allocated"), s.allocated_by
        if s.note:
            outcome += f": {s.note}"
        completions.append((task_id, by, outcome))
    changed = await repo.complete_tasks(raw, completions, now)
    rows = []
    for task in changed:
        env = by_task[task["task_id"]].envelope
        rows.append(task_event_row(task, "completed", changed_at=now, cause=str(env.event_id),
                                   correlation_id=env.correlation_id, causation_id=env.event_id,
                                   by=task["completed_by"], outcome=task["outcome"]))
    return rows


# --- commands from HTTP --------------------------------------------------------------------

@dataclass(frozen=True)
class RegisterOfficer:
    name: str
    patches: tuple[str, ...]
    role: str


async def register_officer(uow: UnitOfWork, cmd: RegisterOfficer, correlation_id: str) -> tuple[dict[str, Any], bool]:
    """Creates or replaces an officer; open tasks waiting in the shared queue for accounts in
    the officer's patches move to them (TaskEvent "updated")."""
    raw = uow.raw
    officer, created = await repo.upsert_officer(raw, derive_event_id("officer", cmd.name), cmd.name, cmd.role,
                                                 cmd.patches)
    outbox: list[OutboxRow] = []
    if cmd.patches:
        now = _now()
        queued = await repo.queued_tasks(raw, patches=list(cmd.patches))
        if queued:
            officers = await repo.load_officers(raw)
            moves = [(t["task_id"], who) for t in queued
                     if (who := choose_assignee(Account(t["account_ref"], t["patch"], t["officer"]), officers))
                     != SHARED_QUEUE]
            for task in await repo.reassign_from_queue(raw, moves, now):
                outbox.append(task_event_row(task, "updated", changed_at=now, cause=f"officer:{now.isoformat()}",
                                             correlation_id=correlation_id))
    await enqueue(raw, outbox)
    await uow.commit()
    return officer, created


async def list_officers(uow: UnitOfWork) -> list[dict[str, Any]]:
    return await repo.list_officers(uow.raw)


class TaskNotFound(Exception):
    pass


async def claim_task(uow: UnitOfWork, task_id: uuid.UUID, by: str, correlation_id: str) -> dict[str, Any]:
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
    await enqueue(raw, [task_event_row(task, move.action, changed_at=now, cause=f"claim:{by}:{now.isoformat()}",
                                       correlation_id=correlation_id, by=by)])
    await uow.commit()
    return task


async def complete_task(uow: UnitOfWork, task_id: uuid.UUID, by: str, outcome: str | None,
                        correlation_id: str) -> dict[str, Any]:
    raw = uow.raw
    task = await repo.get_task(raw, task_id, for_update=True)
    if task is None:
        raise TaskNotFound(str(task_id))
    move = domain.complete(task["status"], task["assigned_to"], task["claimed_by"], by)
    now = _now()
    task = await repo.update_task(raw, task_id, status=move.status, assigned_to=move.assigned_to, now=now,
                                  completed_by=by, outcome=outcome)
    await enqueue(raw, [task_event_row(task, move.action, changed_at=now, cause=f"complete:{by}:{now.isoformat()}",
                                       correlation_id=correlation_id, by=by, outcome=outcome)])
    await uow.commit()
    return task


async def list_tasks(uow: UnitOfWork, **filters: Any) -> list[dict[str, Any]]:
    return await repo.list_tasks(uow.raw, **filters)
