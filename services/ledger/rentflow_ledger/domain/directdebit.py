"""Direct Debit returns (ARUDD/DDICA) and mandate instructions (ADDACS/AUDDIS/Bacs 0N/0C/0S):
what each reason code means and what follows (docs/domain.md §3). Pure tables and functions."""
from __future__ import annotations

import calendar
import datetime as dt

from rentflow_schemas.bacs import (ARUDD_REASONS, MANDATE_ACTIONS, UNKNOWN_RETURN, UNKNOWN_RETURN_REASON,
                                   MandateEffect, ReturnReason)
from rentflow_schemas.bacs import normalise_return_code as bacs_return_code

__all__ = ["RETURN_REASONS", "MANDATE_ACTIONS", "normalise_return_code", "mandate_change", "represent_by", "add_month"]


# What each code means and what follows is defined once, in rentflow_schemas.bacs; the ledger also
# takes a return whose code intake did not recognise ("unknown"): the bank took the money back.
RETURN_REASONS: dict[str, ReturnReason] = {**ARUDD_REASONS, UNKNOWN_RETURN: UNKNOWN_RETURN_REASON}


def normalise_return_code(code: str) -> str:
    c = code.strip()
    if c == UNKNOWN_RETURN:
        return c
    normalised = bacs_return_code(c)
    if normalised is None:
        raise ValueError(f"unknown ARUDD return code {code!r}")
    return normalised


def add_month(day: dt.date) -> dt.date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def represent_by(code: str, original_processing_date: dt.date) -> dt.date | None:
    """Last day a re-presentation (Bacs code 18) may go: one month after the original collection's
    processing date, for code 0 only (the Bacs rule as commonly applied; docs/domain.md says "within one
    month")."""
    return add_month(original_processing_date) if RETURN_REASONS[code].may_represent else None


def mandate_change(action: str) -> MandateEffect:
    """The mandate's new state after an instruction, and whether a person must act."""
    try:
        return MANDATE_ACTIONS[action]
    except KeyError:
        raise ValueError(f"unknown mandate action {action!r}") from None
