"""Quarterly rent statements (Landlord and Tenant Act 1985 s.4: weekly tenants are owed a rent
book or the like; the landlord's practice is a statement each quarter).

A statement covers one account and one financial-year quarter: the balance at the end of the
day before it starts, every posting with a business date in it (oldest first: business date,
then the time the ledger posted it), each with the running balance, and the closing balance.
The running balance is by value date, so it can differ from the ledger's balance_after for a
back-dated correction; opening + Σ amounts = closing always. Pure: no IO."""
from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Iterable, Sequence

from rentflow_common.inputs import EARLIEST_DATE, LATEST_DATE
from rentflow_schemas.codes import CODES
from rentflow_reporting.domain.periods import Period, period_containing

QUARTER_RE = re.compile(r"^(\d{4})-Q([1-4])$")
QUARTER_HELP = ("YYYY-Qn, a quarter of the financial year that starts in April YYYY: Q1 April–June, Q2 July–September, "
                "Q3 October–December, Q4 January–March of YYYY+1")

# docs/domain.md §2: the shared table's words for a tenant
TYPE_MEANINGS: dict[str, str] = {c.code: c.label for c in CODES.values()}


class BadQuarter(ValueError):
    pass


def parse_quarter(text: str) -> Period:
    """`2026-Q3` → 1 October – 31 December 2026; `2026-Q4` → 1 January – 31 March 2027."""
    m = QUARTER_RE.match(text.strip())
    if not m:
        raise BadQuarter(f"quarter must be {QUARTER_HELP}; got {text!r}")
    year, q = int(m.group(1)), int(m.group(2))
    if not EARLIEST_DATE.year <= year < LATEST_DATE.year:
        raise BadQuarter(f"quarter must be in a year from {EARLIEST_DATE.year} to {LATEST_DATE.year - 1}; got {text!r}")
    month = 4 + 3 * (q - 1)
    first = dt.date(year, month, 1) if month <= 12 else dt.date(year + 1, month - 12, 1)
    return period_containing("quarter", first)


def quarter_name(p: Period) -> str:
    fy = p.start.year if p.start.month >= 4 else p.start.year - 1
    return f"{fy}-Q{(p.start.month - 4) % 12 // 3 + 1}"


@dataclass(frozen=True)
class PostingRow:
    transaction_id: uuid.UUID
    business_date: dt.date
    posted_at: dt.datetime
    type_code: str
    amount_pence: int
    source_ref: str


@dataclass(frozen=True)
class Line:
    date: dt.date
    type_code: str
    meaning: str
    amount_pence: int  # signed as on the account: + debit, − credit
    balance_pence: int


@dataclass(frozen=True)
class Statement:
    account_ref: str
    tenant_name: str | None
    property: str | None
    period: Period
    opening_pence: int
    lines: tuple[Line, ...]

    @property
    def closing_pence(self) -> int:
        return self.lines[-1].balance_pence if self.lines else self.opening_pence

    @property
    def debits_pence(self) -> int:
        return sum(x.amount_pence for x in self.lines if x.amount_pence > 0)

    @property
    def credits_pence(self) -> int:
        return -sum(x.amount_pence for x in self.lines if x.amount_pence < 0)


def build_statement(account_ref: str, tenant_name: str | None, property: str | None, period: Period,
                    opening_pence: int, postings: Iterable[PostingRow]) -> Statement:
    balance = opening_pence
    lines = []
    for p in sorted(postings, key=lambda p: (p.business_date, p.posted_at, str(p.transaction_id))):
        if not period.start <= p.business_date <= period.end:
            raise ValueError(f"posting {p.transaction_id} dated {p.business_date} is outside {quarter_name(period)}")
        balance += p.amount_pence
        lines.append(Line(p.business_date, p.type_code, TYPE_MEANINGS.get(p.type_code, p.type_code), p.amount_pence,
                          balance))
    return Statement(account_ref, tenant_name, property, period, opening_pence, tuple(lines))


def needs_statement(opening_pence: int, postings: Sequence[PostingRow], tenancy_start: dt.date | None,
                    tenancy_end: dt.date | None, period: Period) -> bool:
    """A tenancy current at some time in the quarter, or any balance or movement to show."""
    current = (tenancy_start is None or tenancy_start <= period.end) and (tenancy_end is None
                                                                          or tenancy_end >= period.start)
    return current or opening_pence != 0 or bool(postings)


CSV_HEADER = ("account_ref", "date", "type", "description", "debit_pence", "credit_pence", "amount_pence",
              "balance_pence")


def csv_rows(s: Statement) -> list[tuple]:
    """Opening balance, one row per posting, closing balance; amounts in pence."""
    rows: list[tuple] = [(s.account_ref, s.period.start.isoformat(), "", "Opening balance", "", "", "",
                          s.opening_pence)]
    for x in s.lines:
        rows.append((s.account_ref, x.date.isoformat(), x.type_code, x.meaning,
                     x.amount_pence if x.amount_pence > 0 else "", -x.amount_pence if x.amount_pence < 0 else "",
                     x.amount_pence, x.balance_pence))
    rows.append((s.account_ref, s.period.end.isoformat(), "", "Closing balance", s.debits_pence, s.credits_pence,
                 s.closing_pence - s.opening_pence, s.closing_pence))
    return rows


def money(pence: int) -> str:
    """£1,234.56; a credit balance is shown as such rather than with a minus."""
    text = f"£{abs(pence) // 100:,}.{abs(pence) % 100:02d}"
    return f"{text} in credit" if pence < 0 else text
