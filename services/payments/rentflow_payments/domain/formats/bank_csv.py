"""format=bank-csv: the two UK bank CSV export layouts of docs/domain.md §3.

- "debit/credit": `Transaction Date, Transaction Type, Sort Code, Account Number, Transaction
  Description, Debit Amount, Credit Amount, Balance` (types FPI, BGC, SO, DD, ...);
- "signed": `Date, Type, Description, Value, Balance, Account Name, Account Number` (one signed
  value; positive is money in).

Money in → a payment: standing_order for type SO / S/O / STO, else bank_transfer; the reference is
the description (the payer's reference is inside it; the ledger's ladder finds it); paid on the
transaction date (Europe/London). Money out is skipped. These exports carry no transaction id, so
provider_ref is `bank-csv:` + a hash of date, type, description, amount and running balance (+ n
for identical rows): the same row in an overlapping export is a duplicate. The account's own sort
code and number are never kept.

Option `skip` (default: the setting RENTFLOW_STATEMENT_SKIP): a pattern in RE2 syntax (linear time,
case-insensitive, at most 200 characters: rentflow_payments.domain.patterns); credits whose description
matches are skipped — the bank's lump-sum settlements of channels that have their own files
(Bacs DD collections, PayPoint, GOV.UK Pay payouts), which would otherwise be posted twice."""
from __future__ import annotations

import hashlib
from typing import BinaryIO, Iterator

from rentflow_payments.domain.formats import Options, Parsed, Unreadable, register
from rentflow_payments.domain.formats._common import BadValue, Occurrences, clip, pounds_to_pence
from rentflow_payments.domain.formats._csv import header_index, instant, rows
from rentflow_payments.domain.patterns import Pattern, PatternError, compile_pattern

DEBIT_CREDIT = ("transaction date", "transaction type", "transaction description", "debit amount", "credit amount",
                "balance")
SIGNED = ("date", "type", "description", "value", "balance")
STANDING_ORDER = {"SO", "S/O", "STO", "STDO"}


def _layout(index: dict[str, int]) -> str | None:
    if all(c in index for c in DEBIT_CREDIT):
        return "debit_credit"
    if all(c in index for c in SIGNED) and "account number" in index:
        return "signed"
    return None


def sniff(head: bytes) -> bool:
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("latin-1")
    return _layout(header_index([c.strip().strip('"') for c in first.split(",")])) is not None


def skip_pattern(options: Options | None) -> Pattern | None:
    """The import's `skip` option compiled (RE2); the HTTP edge checks it first and fills in the
    service's default."""
    try:
        return compile_pattern((options or {}).get("skip") or "")
    except PatternError as exc:
        raise Unreadable(f"skip: {exc}") from None


def _signed_pence(value: str, field: str) -> int:
    v = value.strip().replace("£", "")
    negative = v.startswith("-") or (v.startswith("(") and v.endswith(")"))
    pence = pounds_to_pence(v.strip("-()+ "), field)
    return -pence if negative else pence


def parse(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
    skip = skip_pattern(options)
    it = rows(fp)
    index: dict[str, int] = {}
    layout = None
    for line, cells, error in it:
        if cells is None:
            raise Unreadable(f"line {line}: {error}")
        index = header_index(cells)
        layout = _layout(index)
        if layout is None:
            raise Unreadable("not a bank CSV export: the header has neither the debit/credit columns "
                             f"({', '.join(DEBIT_CREDIT)}) nor the signed-value ones ({', '.join(SIGNED)}, account number)")
        break
    if layout is None:
        raise Unreadable("the file is empty")
    occ = Occurrences()

    def cell(cells: list[str], name: str) -> str:
        i = index[name]
        return cells[i].strip() if i < len(cells) else ""

    for line, cells, error in it:
        if cells is None:
            yield Parsed("line", line, error=error)
            continue
        try:
            if layout == "debit_credit":
                date, kind, desc = cell(cells, "transaction date"), cell(cells, "transaction type"), \
                    cell(cells, "transaction description")
                credit, debit = cell(cells, "credit amount"), cell(cells, "debit amount")
                pence = pounds_to_pence(credit, "Credit Amount") if credit else -pounds_to_pence(debit or "0", "Debit Amount")
            else:
                date, kind, desc = cell(cells, "date"), cell(cells, "type"), cell(cells, "description")
                pence = _signed_pence(cell(cells, "value"), "Value")
            paid_at = instant(date, "date")
        except BadValue as exc:
            yield Parsed("line", line, error=str(exc))
            continue
        if pence <= 0:
            yield Parsed("line", line, type="skipped", note="money out (a debit), not a rent payment")
            continue
        if skip is not None and skip.search(desc):
            yield Parsed("line", line, type="skipped", note="a settlement the skip pattern names: taken in from its own file")
            continue
        identity = occ.key(date, kind, desc, pence, cell(cells, "balance"))
        yield Parsed("line", line, value={
            "provider_ref": "bank-csv:" + hashlib.sha256(identity.encode()).hexdigest()[:32],
            "channel": "standing_order" if kind.upper() in STANDING_ORDER else "bank_transfer",
            "amount_pence": pence, "currency": "GBP", "paid_at": paid_at, "reference": clip(desc, 140) or "",
            "payer_name": None})


register("bank-csv", parse, sniff=sniff, description="UK bank CSV export (debit/credit columns, or one signed value)")
