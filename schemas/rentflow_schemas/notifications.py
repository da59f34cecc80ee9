"""notifications.* events, emitted by services/notifications."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict


class TaskEvent(BaseModel):
    """notifications.tasks.v1: a task opened or changed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["opened", "updated", "completed"]
    task_id: uuid.UUID
    kind: str
    account_ref: str | None = None
    assigned_to: str
    status: Literal["open", "in_progress", "done"]
    due_on: dt.date
    reason: str
    payment_id: uuid.UUID | None = None
    changed_at: AwareDatetime
