"""format=stripe-payouts: Stripe's itemized payout reconciliation report (Dashboard → Reports → Payout
reconciliation → "Download itemized", or the Reporting API's `payout_reconciliation.itemized.N` report
runs): the card detail of a landlord's own Stripe account, each row a balance transaction with the
automatic payout it was paid out to the bank in (docs.stripe.com/reports/payout-reconciliation; column
names per docs.stripe.com/reports/report-types, reporting categories per
docs.stripe.com/reports/reporting-categories).

Columns read (any order, extra columns ignored, names as Stripe writes them, case-insensitively):

| column | | |
| --- | --- | --- |
| `balance_transaction_id` | required | the row's identity; a charge's provider_ref is its `charge_id` (else `source_id`, else this) |
| `reporting_category` | required | `charge` rows are payments; every other category is skipped (below) |
| `gross` | required | the amount the payer paid, in pounds (`45.99`); the currency must be `gbp` |
| `created_utc` or `created` | one required | when the charge was made: `created_utc` is UTC; `created` is in the report's time zone, read as Europe/London |
| `automatic_payout_id` | optional | the payout (`po_...`) the row was paid out in; blank before it is paid out |
| `fee` | optional | Stripe's fee on the charge, in pounds (`0.89`): kept as the payment's `fee_pence`; blank or absent: not stated |
| `currency`, `charge_id`, `source_id`, `description`, `customer_name` | optional | |

Each `charge` row → a card payment: amount = `gross` (the rent paid; Stripe's fee is not the tenant's),
fee_pence = `fee`,
reference = option `reference` (a column name, e.g. `payment_metadata[rent_ref]`), else the column
`payment_metadata[reference]` when present, else `description`; payer `customer_name`; `payout_id` =
`automatic_payout_id`. The ledger matches the statement's payout lump to exactly the charges of that
payout. Stripe pays out the net (gross − fees − refunds − disputes): the ledger matches the payout to its
charges less their fees less its refunds and disputes, and posts the fees (Dr card fees, Cr bank) when
it does.

Money taken back out of a payout (`gross` negative) → a reversal of the charge it names (`charge_id`,
which intake must have: in this report or an earlier one), carrying the payout id and the row's fee:
- `refund`: the payer was refunded (kind refund: the ledger posts `REF` on the account);
- `dispute`: the payer's bank took the money back, a chargeback (kind returned: `RRC`); the dispute fee
  (`fee`) is one of the payout's card fees.
A refund or dispute row with `gross` not below 0 is an error naming the line. Rows of any other category
(`fee`, `payout`, `dispute_reversal`, `refund_failure`, ...) are skipped with a note: a won dispute or a
failed refund is not taken in yet (the payout then differs, and the ledger's finance task names the
difference)."""
from __future__ import annotations

import datetime as dt
from typing import BinaryIO, Iterator

from rentflow_payments.domain.formats import Options, Parsed, Unreadable, register
from rentflow_payments.domain.formats._common import BadValue, clip, pounds_to_pence
from rentflow_payments.domain.formats._csv import headed_rows, header_index, instant

REQUIRED = ("balance_transaction_id", "reporting_category", "gross")


def sniff(head: bytes) -> bool:
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("latin-1").lower()
    names = {c.strip().strip('"') for c in first.split(",")}
    return {"balance_transaction_id", "reporting_category", "automatic_payout_id"} <= names


def parse(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
    cells, it = headed_rows(fp)
    index = header_index(cells)
    missing = [n for n in REQUIRED if n not in index]
    if "created_utc" not in index and "created" not in index:
        missing.append("created_utc or created")
    if missing:
        raise Unreadable(f"not a Stripe itemized payout reconciliation report: the header lacks {', '.join(missing)}")
    wanted = ((options or {}).get("reference") or "").strip().lower()
    if wanted and wanted not in index:
        raise Unreadable(f"reference: the report has no column {wanted!r}")
    reference = wanted or ("payment_metadata[reference]" if "payment_metadata[reference]" in index else "description")

    def cell(cells: list[str], name: str) -> str:
        i = index.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    for line, cells, error in it:
        if cells is None:
            yield Parsed("line", line, error=error)
            continue
        category = cell(cells, "reporting_category").lower()
        if category not in ("charge", *TAKEN_BACK):
            yield Parsed("line", line, type="skipped",
                         note=f"{category or 'blank'} row: not a payment (the payout on the statement is net of it)")
            continue
        try:
            if category == "charge":
                yield Parsed("line", line, value=_payment(cells, cell, reference))
            else:
                yield Parsed("line", line, type="reversal", value=_taken_back(category, cells, cell))
        except BadValue as exc:
            yield Parsed("line", line, error=str(exc))


def _payment(cells: list[str], cell, reference: str) -> dict:
    _gbp(cell(cells, "currency"))
    pence = pounds_to_pence(cell(cells, "gross"), "gross")
    if pence <= 0:
        raise BadValue("gross: a charge must be more than 0")
    fee = _fee(cell(cells, "fee"), pence)
    ident = cell(cells, "charge_id") or cell(cells, "source_id") or cell(cells, "balance_transaction_id")
    if not ident:
        raise BadValue("balance_transaction_id: blank")
    paid_at = _created(cells, cell)
    return {"provider_ref": ident[:100], "channel": "card", "amount_pence": pence, "currency": "GBP",
            "paid_at": paid_at, "reference": clip(cell(cells, reference), 140) or "",
            "payer_name": clip(cell(cells, "customer_name"), 140),
            "payout_id": cell(cells, "automatic_payout_id") or None, "fee_pence": fee}


# reporting category → (reversal kind, what the reason says)
TAKEN_BACK = {"refund": ("refund", "Stripe refund"), "dispute": ("returned", "Stripe dispute (chargeback)")}


def _taken_back(category: str, cells: list[str], cell) -> dict:
    """A refund or dispute row: money of an earlier charge taken back out of the payout."""
    kind, words = TAKEN_BACK[category]
    _gbp(cell(cells, "currency"))
    gross = _signed_pence(cell(cells, "gross"), "gross")
    if gross >= 0:
        raise BadValue(f"gross: a {category} takes money back, so it must be below 0, not {cell(cells, 'gross')}")
    fee = _fee(cell(cells, "fee"), None)
    charge = cell(cells, "charge_id")
    if not charge:
        raise BadValue(f"charge_id: blank: a {category} must name the charge it takes back")
    ident = cell(cells, "balance_transaction_id")
    if not ident:
        raise BadValue("balance_transaction_id: blank")
    own = cell(cells, f"{category}_id") or cell(cells, "source_id")
    return {"identity": f"{category}:{ident}"[:400], "kind": kind, "amount_pence": -gross,
            "reversed_at": _created(cells, cell), "reason": clip(f"{words} {own}".strip(), 140) or "",
            "original": {"provider_ref": charge[:100]},
            "payout_id": cell(cells, "automatic_payout_id") or None, "fee_pence": fee}


def _signed_pence(text: str, field: str) -> int:
    """Stripe writes money taken back with a minus sign: `-20.00`."""
    raw = text.strip()
    return -pounds_to_pence(raw[1:], field) if raw.startswith("-") else pounds_to_pence(raw, field)


def _gbp(currency: str) -> None:
    if (currency.lower() or "gbp") != "gbp":
        raise BadValue(f"currency: {currency.lower()!r}: only GBP is taken in")


def _fee(text: str, gross: int | None) -> int | None:
    if not text:
        return None
    fee = _signed_pence(text, "fee")
    if gross is not None and not 0 <= fee <= gross:
        raise BadValue(f"fee: {text} is not between 0 and the charge's gross")
    if fee < 0:
        raise BadValue(f"fee: {text} is below 0: a fee Stripe gave back is not taken in")
    return fee


def _created(cells: list[str], cell) -> str:
    return _utc(cell(cells, "created_utc")) if cell(cells, "created_utc") else instant(cell(cells, "created"), "created")


def _utc(text: str) -> str:
    """Stripe's `*_utc` columns: `2026-09-15 10:22:31` (UTC, no offset written)."""
    try:
        at = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadValue(f"created_utc: {text!r} is not a date-time (YYYY-MM-DD HH:MM:SS)") from None
    return (at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)).isoformat()


register("stripe-payouts", parse, sniff=sniff,
         description="Stripe itemized payout reconciliation report (CSV): card charges with their payout id")
