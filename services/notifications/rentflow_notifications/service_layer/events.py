"""Envelopes for the outbox: every task change is announced on notifications.tasks.v1, every
notice produced, refused, delivered or failed on notifications.notices.v1."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from rentflow_common.outbox import OutboxRow, outbox_row
from rentflow_schemas import TOPICS, derive_event_id, new_envelope
from rentflow_schemas.notifications import TaskEvent
from rentflow_schemas.rents import NoticeEvent

TASKS_TOPIC = "notifications.tasks.v1"
NOTICES_TOPIC = "notifications.notices.v1"
PRODUCER = "notifications"


def task_event_row(task: dict[str, Any], action: str, *, changed_at: dt.datetime, cause: str,
                   correlation_id: str, causation_id: uuid.UUID | None = None, by: str | None = None,
                   outcome: str | None = None) -> OutboxRow:
    """`cause` is the identity of what caused the change (an input event id, or a command and
    its time), so a redelivered input derives the same event id."""
    data = TaskEvent(action=action, task_id=task["task_id"], kind=task["kind"], account_ref=task["account_ref"],
                     assigned_to=task["assigned_to"], status=task["status"], due_on=task["due_on"],
                     reason=task["reason"], payment_id=task["payment_id"], changed_at=changed_at,
                     occurrences=task.get("occurrences") or 1, amount_pence=task.get("amount_pence"),
                     return_code=task.get("return_code"), reference=task.get("reference"), by=by, outcome=outcome)
    envelope = new_envelope(data, event_type=TOPICS[TASKS_TOPIC].event_type,
                            event_id=derive_event_id(TASKS_TOPIC, task["task_id"], action, cause),
                            producer=PRODUCER, correlation_id=correlation_id, causation_id=causation_id,
                            occurred_at=changed_at)
    return outbox_row(TASKS_TOPIC, str(task["task_id"]), envelope)


def notice_event_row(notice: dict[str, Any], status: str, *, at: dt.datetime, channel: str | None = None,
                     reason: str | None = None) -> OutboxRow:
    """One event per notice and status (and channel): its id derives from those, so a chunk done
    again after a crash emits the same ids."""
    data = NoticeEvent(notice_id=notice["notice_id"], kind=notice["kind"], account_ref=notice["account_ref"],
                       status=status, served_on=notice.get("served_on"), effective_on=notice.get("effective_on"),
                       old_weekly_pence=notice.get("old_weekly_pence"), new_weekly_pence=notice.get("new_weekly_pence"),
                       document=notice.get("document"), reason=reason if reason is not None else notice.get("reason"),
                       occurred_at=at, letter_date=notice.get("letter_date"),
                       html_document=notice.get("html_document"), channel=channel,
                       amount_pence=notice.get("amount_pence"))
    envelope = new_envelope(data, event_type=TOPICS[NOTICES_TOPIC].event_type,
                            event_id=derive_event_id(NOTICES_TOPIC, notice["notice_id"], status, channel or ""),
                            producer=PRODUCER, correlation_id=notice["correlation_id"],
                            causation_id=notice.get("causation_id"), occurred_at=at)
    return outbox_row(NOTICES_TOPIC, notice["account_ref"], envelope)
