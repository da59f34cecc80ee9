"""What notifications emits: every task change on notifications.tasks.v1, every notice produced,
refused, delivered or failed on notifications.notices.v1 (through the unit of work)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from rentflow_common.events import Cause, Emitter
from rentflow_schemas.notifications import TaskEvent
from rentflow_schemas.rents import NoticeEvent


def emit_task(uow: Emitter, task: dict[str, Any], action: str, *, changed_at: dt.datetime, cause_key: str,
              cause: Cause | None = None, by: str | None = None, outcome: str | None = None) -> None:
    """`cause_key` is the identity of what caused the change (an input event id, or a command and
    its time), so a redelivered input derives the same event id."""
    uow.emit(TaskEvent(action=action, task_id=task["task_id"], kind=task["kind"], account_ref=task["account_ref"],
                       assigned_to=task["assigned_to"], status=task["status"], due_on=task["due_on"],
                       reason=task["reason"], payment_id=task["payment_id"], changed_at=changed_at,
                       occurrences=task.get("occurrences") or 1, amount_pence=task.get("amount_pence"),
                       return_code=task.get("return_code"), reference=task.get("reference"), by=by, outcome=outcome),
             identity=(task["task_id"], action, cause_key), cause=cause, occurred_at=changed_at)


def emit_notice(uow: Emitter, notice: dict[str, Any], status: str, *, at: dt.datetime, channel: str | None = None,
                reason: str | None = None) -> None:
    """One event per notice and status (and channel), so a chunk done again after a crash emits the
    same ids; caused by what the notice was made from."""
    uow.emit(NoticeEvent(notice_id=notice["notice_id"], kind=notice["kind"], account_ref=notice["account_ref"],
                         status=status, served_on=notice.get("served_on"), effective_on=notice.get("effective_on"),
                         old_weekly_pence=notice.get("old_weekly_pence"),
                         new_weekly_pence=notice.get("new_weekly_pence"), document=notice.get("document"),
                         reason=reason if reason is not None else notice.get("reason"), occurred_at=at,
                         letter_date=notice.get("letter_date"), html_document=notice.get("html_document"),
                         channel=channel, amount_pence=notice.get("amount_pence")),
             cause=Cause(notice.get("causation_id"), notice["correlation_id"]), occurred_at=at)
