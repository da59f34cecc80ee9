"""CSV and XLSX exports that a spreadsheet cannot be made to run: a text cell starting with `=`,
`+`, `-`, `@`, a tab or a carriage return is read by Excel, LibreOffice and Google Sheets as a
formula (`=HYPERLINK(...)`, `=cmd|' /C calc'!A0`), and a tenant's name or a payer's reference is
whatever someone typed. Such cells get a leading apostrophe (OWASP's "CSV injection" advice), so
they show as typed and never run. Numbers (int, float, Decimal, and text that is only a number,
like "-2500" or "-12.50") are left as they are.

Every CSV or XLSX rentflow writes for people goes through `csv_writer` or `safe_cell`:
    w = csv_writer(f); w.writerow([...]); w.writerows(rows)
    worksheet.append([safe_cell(v) for v in row])
"""
from __future__ import annotations

import csv
import re
from typing import Any, Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def safe_cell(value: Any) -> Any:
    """`value`, or a text that cannot start a formula ("'=1+1")."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


class SafeWriter:
    """csv.writer whose every cell passes `safe_cell`."""

    def __init__(self, f: Any, **kw: Any) -> None:
        self._w = csv.writer(f, **kw)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._w.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(f: Any, **kw: Any) -> SafeWriter:
    return SafeWriter(f, **kw)
