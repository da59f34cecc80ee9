"""Rent accounts as loaded from the accounts CSV (docs/contract.md, "Rent accounts CSV").

Dates and money are read as the payment CSVs read them (the same functions, from intake's CSV
layouts): dates as 2020-04-06, 06/04/2020, 6/4/20 or 06-Apr-2020 (day first); a `_pence` column
as whole pence (12050), or as pounds when written with a £ sign or decimal point (£120.50,
120.50, -£25.00)."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import astuple, dataclass
from typing import Any

from rentflow_common.inputs import EARLIEST_DATE, LATEST_DATE, MAX_PENCE, MAX_WEEKLY_PENCE, control_character
from rentflow_ledger.domain.references import normalise_reference
from rentflow_ledger.domain.rent_weeks import default_balance_date
from rentflow_common.parsing import BadValue, pounds_to_pence, uk_date

REQUIRED_COLUMNS = ("account_ref", "tenant_name", "property", "patch", "tenancy_start", "weekly_rent_pence",
                    "opening_balance_pence")
OPTIONAL_COLUMNS = ("tenancy_end", "weekly_charges_pence", "payment_method", "dd_reference", "officer",
                    "balance_date", "so_reference")
PAYMENT_METHODS = ("dd", "so", "card", "cash", "hb", "uc")


class HeaderError(ValueError):
    """The file cannot be read as an accounts CSV at all."""


@dataclass(frozen=True)
class AccountRecord:
    account_ref: str
    tenant_name: str
    property: str
    patch: str
    tenancy_start: dt.date
    tenancy_end: dt.date | None
    weekly_rent_pence: int
    weekly_charges_pence: int
    payment_method: str | None
    dd_reference: str | None
    officer: str | None
    balance_date: dt.date
    opening_balance_pence: int
    so_reference: str | None = None  # the reference its standing orders quote, when not the account's

    def content_hash(self) -> str:
        """Identity of the account's details (not its balance): equal hashes mean nothing changed.
        The opening balance is left out: it only counts on the first import. `so_reference` counts
        only when given (accounts imported before it existed keep their hash)."""
        fields = astuple(self)[:-2] + ((self.so_reference,) if self.so_reference else ())
        return hashlib.sha256("\x1f".join("" if v is None else str(v) for v in fields).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class RowError:
    line: int
    field: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


def parse_accounts_csv(text: str) -> tuple[list[AccountRecord], list[RowError]]:
    """Valid rows, and every error with its line number (the header is line 1) and field.
    Raises HeaderError when there is no header or it lacks a required column."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise HeaderError(f"not a CSV text file: it contains NUL bytes (line {line})")
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise HeaderError("empty file: expected a header row with " + ", ".join(REQUIRED_COLUMNS)) from None
    except csv.Error as exc:
        raise HeaderError(f"unreadable CSV header: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise HeaderError(f"missing required column(s): {', '.join(missing)}")
    index = {name: i for i, name in reversed(list(enumerate(header)))}  # first occurrence wins

    records: list[AccountRecord] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    line = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, None, f"unreadable CSV: {exc}"))
            break
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # blank line
        values = {name: (row[i].strip() if i < len(row) else "") for name, i in index.items()}
        record, row_errors = _record(values, start)
        if record is not None and record.account_ref in seen:
            row_errors.append(RowError(start, "account_ref",
                                       f"{record.account_ref!r} already given on line {seen[record.account_ref]}"))
        if row_errors:
            errors.extend(row_errors)
        elif record is not None:
            seen[record.account_ref] = start
            records.append(record)
    return records, errors


def _record(v: dict[str, str], line: int) -> tuple[AccountRecord | None, list[RowError]]:
    errors: list[RowError] = []

    def err(field: str, reason: str) -> None:
        errors.append(RowError(line, field, reason))

    def text(field: str, required: bool) -> str | None:
        value = v.get(field, "")
        if not value:
            if required:
                err(field, "required")
            return None
        if (found := control_character(value)) is not None:
            err(field, f"must not contain control characters (found {found})")
            return None
        return value

    def date(field: str, required: bool) -> dt.date | None:
        value = text(field, required)
        if value is None:
            return None
        try:
            day, at = uk_date(value, field)
        except BadValue:
            err(field, f"not a date (e.g. 2020-04-06 or 06/04/2020): {value!r}")
            return None
        if at is not None:
            err(field, f"a date without a time, please: {value!r}")
        elif not EARLIEST_DATE <= day <= LATEST_DATE:
            err(field, f"{day} is outside {EARLIEST_DATE.year}–{LATEST_DATE.year}")
            return None
        return day

    def pence(field: str, required: bool, *, minimum: int | None = 0, default: int = 0,
              maximum: int = MAX_PENCE) -> int:
        value = text(field, required)
        if value is None:
            return default
        try:
            amount = _pence(value, field)
        except BadValue:
            err(field, f"not an amount: {value!r} (whole pence like 12050, or pounds like £120.50)")
            return default
        if minimum is not None and amount < minimum:
            err(field, f"must be at least {minimum}, got {amount}")
        elif abs(amount) > maximum:
            err(field, f"{value!r} is more than £{maximum // 100:,}: a typo?")
            return default
        return amount

    raw_ref = text("account_ref", True)
    ref = normalise_reference(raw_ref)
    if raw_ref is not None and not ref.isalnum():
        err("account_ref", f"must be letters and digits (spaces and hyphens are ignored): {raw_ref!r}")
    tenant_name = text("tenant_name", True)
    prop = text("property", True)
    patch = text("patch", True)
    start = date("tenancy_start", True)
    end = date("tenancy_end", False)
    rent = pence("weekly_rent_pence", True, maximum=MAX_WEEKLY_PENCE)
    charges = pence("weekly_charges_pence", False, maximum=MAX_WEEKLY_PENCE)
    opening = pence("opening_balance_pence", True, minimum=None)
    method = text("payment_method", False)
    if method is not None:
        method = method.lower()
        if method not in PAYMENT_METHODS:
            err("payment_method", f"must be one of {', '.join(PAYMENT_METHODS)}, got {method!r}")
    dd_reference = normalise_reference(text("dd_reference", False)) or None
    so_reference = normalise_reference(text("so_reference", False)) or None
    officer = text("officer", False)
    balance_date = date("balance_date", False)
    if start and end and end < start:
        err("tenancy_end", f"{end} is before tenancy_start {start}")
    if errors or start is None:
        return None, errors
    assert tenant_name and prop and patch
    return AccountRecord(ref, tenant_name, prop, patch, start, end, rent, charges, method, dd_reference, officer,
                         balance_date or default_balance_date(start), opening, so_reference), []


def _pence(value: str, field: str) -> int:
    """Whole pence ("12050", "-2500"), or pounds when the text says so with a £ or a decimal point
    ("£120.50", "120.50", "-£25.00", "£-25.00"), read by intake's pounds_to_pence."""
    text = value.strip()
    negative = text.startswith("-") or text.startswith("£-")
    unsigned = text.replace("-", "", 1) if negative else text
    if "£" not in unsigned and "." not in unsigned:
        if not unsigned.replace(",", "").isdigit():
            raise BadValue(field)
        amount = int(unsigned.replace(",", ""))
    else:
        amount = pounds_to_pence(unsigned, field)
    return -amount if negative else amount
