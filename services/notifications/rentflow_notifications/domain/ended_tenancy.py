"""Tasks for payments posted to a tenancy that had ended before they were paid (the ledger posts
them and says so on ledger.ended-tenancy-payments.v1). Pure.

The officer checks each one: a former tenant paying off arrears (nothing to do but note it), or a
payment meant for the tenant's new home or for someone else (move it to the right account). Due
in five working days, as an unmatched payment is: the money is posted, nothing is at risk meanwhile."""
from __future__ import annotations

import datetime as dt
import uuid

from rentflow_schemas import derive_event_id

from rentflow_notifications.domain.tasks import _CHANNEL_WORDS, format_pence, london_date
from rentflow_notifications.domain.working_days import add_working_days

ENDED_TENANCY_PAYMENT = "ended_tenancy_payment"
DUE_WORKING_DAYS = 5


def task_id(transaction_id: uuid.UUID) -> uuid.UUID:
    return derive_event_id("task", ENDED_TENANCY_PAYMENT, transaction_id)


def due_on(posted_at: dt.datetime) -> dt.date:
    return add_working_days(london_date(posted_at), DUE_WORKING_DAYS)


def reason(amount_pence: int, channel: str, business_date: dt.date, account_ref: str, tenancy_end: dt.date,
           balance_after_pence: int) -> str:
    words = _CHANNEL_WORDS.get(str(channel), str(channel).replace("_", " "))
    balance = (f"it now owes {format_pence(balance_after_pence)}" if balance_after_pence > 0 else
               f"it is now {format_pence(-balance_after_pence)} in credit" if balance_after_pence < 0 else
               "its balance is now nil")
    return (f"{format_pence(amount_pence)} {words} payment of {business_date} posted to {account_ref}, whose "
            f"tenancy ended on {tenancy_end}; {balance}: check whether the former tenant is paying off arrears "
            f"or the payment belongs to another account (rentflow suspense move)")
