"""notifications.* events, emitted by services/notifications."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rentflow_schemas.ledger import UNRECONCILED_KINDS

# The kinds of officer task notifications opens (TaskEvent.kind), and what each is about.
TASK_KINDS: dict[str, str] = {
    "unmatched_payment": "a payment nobody could match to an account (in suspense)",
    "dd_failure": "a Direct Debit returned unpaid",
    "mandate_change": "a Direct Debit mandate cancelled, amended or refused",
    "ended_tenancy_payment": "a payment posted to a tenancy that had ended before it was paid",
    # finance tasks: what the ledger could not place on its own (ledger.unreconciled.v1)
    **{kind: f"finance: {words}" for kind, words in UNRECONCILED_KINDS.items()},
}


class TaskEvent(BaseModel):
    """notifications.tasks.v1: a task opened or changed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["opened", "updated", "completed"]
    task_id: uuid.UUID
    kind: str = Field(description="one of TASK_KINDS; a str so that a newer kind does not break older readers")
    account_ref: str | None = None
    assigned_to: str
    status: Literal["open", "in_progress", "done"]
    due_on: dt.date
    reason: str
    payment_id: uuid.UUID | None = None
    changed_at: AwareDatetime
    occurrences: int = Field(default=1, ge=1, description="inputs counted on this task (repeat DD failures)")
    amount_pence: int | None = Field(default=None, description="latest amount, e.g. of the last DD failure")
    return_code: str | None = Field(default=None, description="latest ARUDD reason code (dd_failure)")
    reference: str | None = Field(default=None, description="the DD reference, where the task has one")
    by: str | None = Field(default=None, description="who claimed or completed it (commands)")
    outcome: str | None = Field(default=None, description="what was done, on completion")
