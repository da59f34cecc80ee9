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
charges less their fees, and posts the fees (Dr card fees, Cr bank) when it does; a payout with refunds
or disputes in it still differs, and the ledger raises it as a finance task naming the figures. Rows of
any other category (`refund`, `fee`, `dispute`,
`payout`, ...) are skipped with a note; a refund of a rent payment is taken from the provider's own
refund event, not from this report."""
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
        if category != "charge":
            yield Parsed("line", line, type="skipped",
                         note=f"{category or 'blank'} row: not a payment (the payout on the statement is net of it)")
            continue
        try:
            yield Parsed("line", line, value=_payment(cells, cell, reference))
        except BadValue as exc:
            yield Parsed("line", line, error=str(exc))


def _payment(cells: list[str], cell, reference: str) -> dict:
    currency = cell(cells, "currency").lower() or "gbp"
    if currency != "gbp":
        raise BadValue(f"currency: {currency!r}: only GBP is taken in")
    pence = pounds_to_pence(cell(cells, "gross"), "gross")
    if pence <= 0:
        raise BadValue("gross: a charge must be more than 0")
    fee = pounds_to_pence(cell(cells, "fee"), "fee") if cell(cells, "fee") else None
    if fee is not None and not 0 <= fee <= pence:
        raise BadValue(f"fee: {cell(cells, 'fee')} is not between 0 and the charge's gross")
    ident = cell(cells, "charge_id") or cell(cells, "source_id") or cell(cells, "balance_transaction_id")
    if not ident:
        raise BadValue("balance_transaction_id: blank")
    if cell(cells, "created_utc"):
        paid_at = _utc(cell(cells, "created_utc"))
    else:
        paid_at = instant(cell(cells, "created"), "created")
    return {"provider_ref": ident[:100], "channel": "card", "amount_pence": pence, "currency": "GBP",
            "paid_at": paid_at, "reference": clip(cell(cells, reference), 140) or "",
            "payer_name": clip(cell(cells, "customer_name"), 140),
            "payout_id": cell(cells, "automatic_payout_id") or None, "fee_pence": fee}


def _utc(text: str) -> str:
    """Stripe's `*_utc` columns: `2026-09-15 10:22:31` (UTC, no offset written)."""
    try:
        at = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadValue(f"created_utc: {text!r} is not a date-time (YYYY-MM-DD HH:MM:SS)") from None
    return (at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)).isoformat()


register("stripe-payouts", parse, sniff=sniff,
         description="Stripe itemized payout reconciliation report (CSV): card charges with their payout id")
