"""Payments after a tenancy has ended (docs/domain.md §2: current and former tenant accounts).

A payment to an account whose tenancy ended before the payment's date is still posted there — it
is the account the payer named, and a former tenant clearing arrears is the usual case — but an
officer must look at it: it may be meant for the tenant's new home, or for someone else."""
from __future__ import annotations

import datetime as dt


def paid_after_tenancy_end(business_date: dt.date, tenancy_end: dt.date | None) -> bool:
    """True when the tenancy had ended before the payment's (Europe/London) date."""
    return tenancy_end is not None and tenancy_end < business_date
