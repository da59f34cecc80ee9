"""TaskEvent envelopes for the outbox: every task change is announced on notifications.tasks.v1."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from rentflow_common.outbox import OutboxRow, outbox_row
from rentflow_schemas import TOPICS, derive_event_id, new_envelope
from rentflow_schemas.notifications import TaskEvent

TASKS_TOPIC = "notifications.tasks.v1"
PRODUCER = "notifications"


def task_event_row(task: dict[str, Any], action: str, *, changed_at: dt.datetime, cause: str,
                   correlation_id: str, causation_id: uuid.UUID | None = None) -> OutboxRow:
    """`cause` is the identity of what caused the change (an input event id, or a command and
    its time), so a redelivered input derives the same event id."""
    data = TaskEvent(action=action, task_id=task["task_id"], kind=task["kind"], account_ref=task["account_ref"],
                     assigned_to=task["assigned_to"], status=task["status"], due_on=task["due_on"],
                     reason=task["reason"], payment_id=task["payment_id"], changed_at=changed_at)
    envelope = new_envelope(data, event_type=TOPICS[TASKS_TOPIC].event_type,
                            event_id=derive_event_id(TASKS_TOPIC, task["task_id"], action, cause),
                            producer=PRODUCER, correlation_id=correlation_id, causation_id=causation_id,
                            occurred_at=changed_at)
    return outbox_row(TASKS_TOPIC, str(task["task_id"]), envelope)
