"""Officer tasks: what they say, when they are due, and how they move between states."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from rentflow_schemas import derive_event_id

from rentflow_notifications.domain.working_days import add_working_days

LONDON = ZoneInfo("Europe/London")
UNMATCHED_PAYMENT = "unmatched_payment"
UNMATCHED_PAYMENT_DUE_WORKING_DAYS = 5
STATUSES = ("open", "in_progress", "done")

_CHANNEL_WORDS = {
    "card": "card",
    "bank_transfer": "bank transfer",
    "direct_debit": "Direct Debit",
    "standing_order": "standing order",
    "cash": "cash",
    "housing_benefit": "Housing Benefit",
    "universal_credit": "Universal Credit",
}


class TaskConflict(Exception):
    """The task is not in a state that allows the command (HTTP 409)."""


def unmatched_payment_task_id(payment_id: uuid.UUID) -> uuid.UUID:
    return derive_event_id("task", UNMATCHED_PAYMENT, payment_id)


def format_pence(pence: int) -> str:
    sign = "-" if pence < 0 else ""
    pounds, p = divmod(abs(pence), 100)
    return f"{sign}£{pounds:,}.{p:02d}"


def unmatched_payment_reason(amount_pence: int, channel: str, reference: str, why: str | None) -> str:
    ref = reference.strip()
    quoted = f"reference '{ref}'" if ref else "no reference"
    words = _CHANNEL_WORDS.get(str(channel), str(channel).replace("_", " "))
    return f"{format_pence(amount_pence)} {words} payment, {quoted}, {(why or '').strip() or 'no matching account'}"


def london_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(LONDON).date()


def unmatched_payment_due_on(received_at: dt.datetime) -> dt.date:
    """Five working days after the Europe/London day the payment came in."""
    return add_working_days(london_date(received_at), UNMATCHED_PAYMENT_DUE_WORKING_DAYS)


@dataclass(frozen=True)
class Transition:
    action: str  # TaskEvent.action: "updated" | "completed"
    status: str
    assigned_to: str


def claim(status: str, assigned_to: str, claimed_by: str | None, by: str) -> Transition | None:
    """Claiming takes the task into `by`'s hands. None: nothing changes (already theirs)."""
    if status == "done":
        raise TaskConflict("task is already done")
    if status == "in_progress":
        if claimed_by == by:
            return None
        raise TaskConflict(f"task is already claimed by {claimed_by}")
    return Transition("updated", "in_progress", by)


def complete(status: str, assigned_to: str, claimed_by: str | None, by: str) -> Transition:
    """Anyone may complete an open or claimed task (a colleague or manager closing it is
    recorded as `completed_by`); a done task stays done."""
    if status == "done":
        raise TaskConflict("task is already done")
    return Transition("completed", "done", assigned_to)
