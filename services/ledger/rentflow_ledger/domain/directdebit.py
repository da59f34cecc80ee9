"""Direct Debit returns (ARUDD/DDICA) and mandate instructions (ADDACS/AUDDIS/Bacs 0N/0C/0S):
what each reason code means and what follows (docs/domain.md §3). Pure tables and functions."""
from __future__ import annotations

import calendar
import datetime as dt
from typing import NamedTuple


class ReturnReason(NamedTuple):
    meaning: str
    action: str
    mandate_state: str  # the mandate's state after the return
    may_represent: bool


# docs/domain.md §3, ARUDD reason codes: every return reverses the collection (RDN) and raises a DD failure.
RETURN_REASONS: dict[str, ReturnReason] = {
    "0": ReturnReason("refer to payer (usually insufficient funds)",
                      "reverse; mandate stays live; task; may re-present (code 18) within one month, "
                      "notifying the payer 5 working days before", "live", True),
    "1": ReturnReason("instruction cancelled", "reverse; mandate cancelled; task: agree another way to pay",
                      "cancelled", False),
    "2": ReturnReason("payer deceased", "reverse; mandate cancelled; task to the tenancy/bereavement process",
                      "cancelled", False),
    "3": ReturnReason("account transferred", "reverse; mandate suspended until a new one and a new advance notice",
                      "suspended", False),
    "4": ReturnReason("advance notice disputed", "reverse; hold collections until resolved", "held", False),
    "5": ReturnReason("no account", "reverse; mandate cancelled; task", "cancelled", False),
    "6": ReturnReason("no instruction", "reverse; mandate cancelled; task: re-lodge after contact", "cancelled", False),
    "7": ReturnReason("amount differs", "reverse; task to investigate", "live", False),
    "8": ReturnReason("amount not yet due", "reverse; task to investigate", "live", False),
    "9": ReturnReason("presentation overdue", "reverse; task to investigate", "live", False),
    "A": ReturnReason("service user differs", "reverse; task to investigate", "live", False),
    "B": ReturnReason("account closed", "reverse; mandate cancelled; task: new mandate", "cancelled", False),
}

# Prefixed variants some bureaux send (docs/domain.md: e.g. F21 for 1).
_PREFIXED = {"F20": "0", "F21": "1", "F22": "2", "F23": "3", "F24": "4", "F25": "5", "F26": "6", "F27": "7",
             "F28": "8", "F29": "9", "F2A": "A", "F2B": "B"}


def normalise_return_code(code: str) -> str:
    c = code.strip().upper()
    c = _PREFIXED.get(c, c)
    if c not in RETURN_REASONS:
        raise ValueError(f"unknown ARUDD return code {code!r}")
    return c


def add_month(day: dt.date) -> dt.date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def represent_by(code: str, original_processing_date: dt.date) -> dt.date | None:
    """Last day a re-presentation (Bacs code 18) may go: one month after the original collection's
    processing date, for code 0 only (the Bacs rule as commonly applied; docs/domain.md says "within one
    month")."""
    return add_month(original_processing_date) if RETURN_REASONS[code].may_represent else None


# Mandate instruction action → the mandate's new state, and whether a person must act.
MANDATE_ACTIONS: dict[str, tuple[str, bool]] = {
    "new": ("live", False),          # 0N lodged / AUDDIS accepted
    "converted": ("live", False),    # 0S paper instruction converted
    "amended": ("live", False),      # ADDACS C/E: details amended, collections carry on
    "reinstated": ("live", False),   # ADDACS R
    "cancelled": ("cancelled", True),  # ADDACS 0/1, Bacs 0C
    "deceased": ("cancelled", True),   # ADDACS 2
    "closed": ("cancelled", True),     # ADDACS B
    "transferred": ("pending", True),  # ADDACS 3: new bank details, lodge 0N, no 0C
    "disputed": ("held", True),        # ADDACS D
    "rejected": ("cancelled", True),   # AUDDIS rejection: the instruction never became live
}


def mandate_change(action: str) -> tuple[str, bool]:
    try:
        return MANDATE_ACTIONS[action]
    except KeyError:
        raise ValueError(f"unknown mandate action {action!r}") from None
