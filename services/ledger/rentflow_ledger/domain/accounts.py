"""Rent accounts as loaded from the accounts CSV (CONTRACT.md "Rent accounts CSV")."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import astuple, dataclass
from typing import Any

from rentflow_ledger.domain.references import normalise_reference
from rentflow_ledger.domain.rent_weeks import default_balance_date

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
        return value

    def date(field: str, required: bool) -> dt.date | None:
        value = text(field, required)
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            err(field, f"not a date (YYYY-MM-DD): {value!r}")
            return None

    def pence(field: str, required: bool, *, minimum: int | None = 0, default: int = 0) -> int:
        value = text(field, required)
        if value is None:
            return default
        try:
            amount = int(value)
        except ValueError:
            err(field, f"not a whole number of pence: {value!r}")
            return default
        if minimum is not None and amount < minimum:
            err(field, f"must be >= {minimum}, got {amount}")
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
    rent = pence("weekly_rent_pence", True)
    charges = pence("weekly_charges_pence", False)
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
