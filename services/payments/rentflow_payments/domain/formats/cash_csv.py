"""format=csv: cash payment files (PayPoint, Post Office, allpay) in rentflow's one CSV layout.

A header row, then one payment per row. Columns (rentflow's names; any order, extra columns ignored):

| column | | |
| --- | --- | --- |
| `transaction_id` | required | the provider's unique id of the payment (its provider_ref) |
| `paid_at` | required | ISO 8601 date-time (with offset, or Europe/London local), or a date; 06/10/2026 14:05 also |
| `amount` or `amount_pence` | one required | pounds with up to 2 decimals (12.34), or whole pence (1234) |
| `reference` or `card_number` | one required | the rent reference; or the 19-digit allpay card number it is cut from |
| `payer_name`, `outlet` | optional | payer; where it was paid (not kept) |

Column mapping: option `columns` (query parameter) or the setting RENTFLOW_CSV_COLUMNS, as
`name=Header,...`, e.g. `transaction_id=TxnRef,paid_at=Date,amount=Value,card_number=Card`; the option
wins per column over the setting. Header names match case-insensitively.

allpay card numbers embed the rent reference: option `card_ref` (setting RENTFLOW_CSV_CARD_REF) as
`START:LENGTH`, 1-based; default `9:10`, the ten digits after an eight-digit issuer prefix and before
the final check digit. A card number must be 19 digits. Channel: cash."""
from __future__ import annotations

from typing import BinaryIO, Iterator

from rentflow_payments.domain.formats import Options, Parsed, Unreadable, register
from rentflow_payments.domain.formats._common import BadValue, clip, pounds_to_pence
from rentflow_payments.domain.formats._csv import headed_rows, header_index, instant

NAMES = ("transaction_id", "paid_at", "amount", "amount_pence", "reference", "card_number", "payer_name", "outlet")
DEFAULT_CARD_REF = "9:10"
# the landlord's layout (PaymentsSettings, applied by `configure` when the service starts)
_configured: dict[str, str] = {"columns": "", "card_ref": DEFAULT_CARD_REF}


def check_layout(columns: str = "", card_ref: str = DEFAULT_CARD_REF) -> None:
    """Unreadable, naming the setting, unless both are well formed."""
    _pairs(columns, "RENTFLOW_CSV_COLUMNS")
    card_slice({"card_ref": card_ref or DEFAULT_CARD_REF})


def configure(columns: str = "", card_ref: str = DEFAULT_CARD_REF) -> None:
    """The service's settings RENTFLOW_CSV_COLUMNS and RENTFLOW_CSV_CARD_REF: used when an import
    does not give the options."""
    check_layout(columns, card_ref)
    _configured.update(columns=columns, card_ref=card_ref or DEFAULT_CARD_REF)


def _pairs(text: str | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, header = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in NAMES or not header.strip():
            raise Unreadable(f"{what}: {part.strip()!r} is not name=Header with name one of {', '.join(NAMES)}")
        out[name] = header.strip().lower()
    return out


def mapping(options: Options | None) -> dict[str, str]:
    """rentflow column name → header name (lower case)."""
    cols = {n: n for n in NAMES}
    cols.update(_pairs(_configured["columns"], "RENTFLOW_CSV_COLUMNS"))
    cols.update(_pairs((options or {}).get("columns"), "columns"))
    return cols


def card_slice(options: Options | None) -> slice:
    text = (options or {}).get("card_ref") or _configured["card_ref"]
    start, _, length = text.partition(":")
    if not (start.isdigit() and length.isdigit() and int(start) >= 1 and int(length) >= 1
            and int(start) + int(length) - 1 <= 19):
        raise Unreadable(f"card_ref: {text!r} is not START:LENGTH within a 19-digit card number, e.g. 9:10")
    return slice(int(start) - 1, int(start) - 1 + int(length))


def sniff(head: bytes) -> bool:
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("latin-1")
    try:
        cols = mapping(None)
    except Unreadable:
        return False
    names = {c.strip().strip('"').lower() for c in first.split(",")}
    return cols["transaction_id"] in names and cols["paid_at"] in names


def parse(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
    cols = mapping(options)
    cut = card_slice(options)
    cells, it = headed_rows(fp)
    index = header_index(cells)
    where = {name: index.get(header) for name, header in cols.items()}
    missing = [f"{n} ({cols[n]!r})" for n in ("transaction_id", "paid_at") if where[n] is None]
    if where["amount"] is None and where["amount_pence"] is None:
        missing.append(f"amount ({cols['amount']!r}) or amount_pence ({cols['amount_pence']!r})")
    if where["reference"] is None and where["card_number"] is None:
        missing.append(f"reference ({cols['reference']!r}) or card_number ({cols['card_number']!r})")
    if missing:
        raise Unreadable(f"the header lacks {', '.join(missing)}; it has {', '.join(repr(c) for c in cells)} "
                         "(map columns with columns=name=Header,...)")

    def cell(cells: list[str], name: str) -> str:
        i = where[name]
        return cells[i].strip() if i is not None and i < len(cells) else ""

    for line, cells, error in it:
        if cells is None:
            yield Parsed("line", line, error=error)
            continue
        try:
            yield Parsed("line", line, value=_payment(cells, cell, cut))
        except BadValue as exc:
            yield Parsed("line", line, error=str(exc))


def _payment(cells: list[str], cell, cut: slice) -> dict:
    tid = cell(cells, "transaction_id")
    if not tid:
        raise BadValue("transaction_id: blank")
    if cell(cells, "amount"):
        pence = pounds_to_pence(cell(cells, "amount"), "amount")
    elif cell(cells, "amount_pence").isdigit():
        pence = int(cell(cells, "amount_pence"))
    else:
        raise BadValue(f"amount_pence: {cell(cells, 'amount_pence')!r} is not a whole number of pence")
    if pence <= 0:
        raise BadValue("amount: must be more than 0")
    reference = cell(cells, "reference")
    card = cell(cells, "card_number").replace(" ", "")
    if not reference and card:
        if len(card) != 19 or not card.isdigit():
            raise BadValue("card_number: must be 19 digits")
        reference = card[cut]
    return {"provider_ref": tid[:100], "channel": "cash", "amount_pence": pence, "currency": "GBP",
            "paid_at": instant(cell(cells, "paid_at"), "paid_at"), "reference": clip(reference, 140) or "",
            "payer_name": clip(cell(cells, "payer_name"), 140)}


register("csv", parse, sniff=sniff, description="cash payments (PayPoint, Post Office, allpay) in rentflow's CSV layout")
