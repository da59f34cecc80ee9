"""Indemnity claims (DDICA) cancelled by the paying bank (directdebit.returned.v1 with
`cancels_return_id`; docs/domain.md §3): the claim was posted as an unpaid (`RDN`), and the money
it took comes back. Post the claim the other way round on the account it was posted to — `RDN`
with the claim's amount as a credit, journal Dr bank Cr debtors control — dated the report's day,
once per claim (`dd_returns.cancelled_by`) and once per cancellation (its own return_id).

A cancellation of a claim the ledger never posted (unknown, on no account, or cancelled already by
another report) posts nothing: an UnreconciledItem `dd_claim_cancellation_unmatched` for finance."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Sequence

from rentflow_common.logging import get_logger
from rentflow_ledger.domain.codes import DD_UNPAID_CODE
from rentflow_ledger.domain.directdebit import normalise_return_code
from rentflow_ledger.domain.journal import cancelled_claim_lines
from rentflow_ledger.domain.posting import Book, Journal, Transaction, check_control
from rentflow_ledger.domain.references import normalise_reference
from rentflow_ledger.service_layer import events
from rentflow_schemas import derive_event_id

log = get_logger()


def item_id(return_id: uuid.UUID) -> uuid.UUID:
    return derive_event_id("unreconciled", "dd-claim-cancellation", return_id)


async def cancel_claims(uow: Any, commands: Sequence[Any], now: dt.datetime) -> None:
    """`commands`: ReturnDirectDebit (`.dd_return`, `.cause`) not seen before, each cancelling a claim."""
    calendar = (await uow.periods.state()).calendar
    claims = await uow.cashbook.returns([c.dd_return.cancels_return_id for c in commands])
    live = {cid: r for cid, r in claims.items()
            if r["transaction_id"] is not None and r["account_ref"] and r["cancelled_by"] is None}
    book = Book(await uow.accounts.lock_balances(sorted({r["account_ref"] for r in live.values()})))
    transactions: list[Transaction] = []
    journals: list[Journal] = []
    rows: list[tuple[Any, ...]] = []
    lost: list[Any] = []
    for c in commands:
        d = c.dd_return
        rid = str(d.return_id)
        claim = live.pop(d.cancels_return_id, None)  # popped: a second cancellation of it finds nothing
        txn = account = None
        amount = d.amount_pence
        if claim is not None:
            account, amount = claim["account_ref"], claim["amount_pence"]
            source = f"dd-claim-cancelled:{rid}:claim:{d.cancels_return_id}"
            booked = calendar.override(d.reported_on)
            t = book.post(account, DD_UNPAID_CODE, -amount, transaction_id=derive_event_id("txn", "dd-claim-cancelled", rid),
                          business_date=d.reported_on, source_ref=source, channel="direct_debit",
                          allocation_rule=None, posting_period=booked)
            j = Journal(derive_event_id("journal", "reversal", rid), "reversal", d.reported_on, source,
                        tuple(cancelled_claim_lines(account, amount)), booked)
            transactions.append(t)
            journals.append(j)
            events.transaction_posted(uow, t, now, c.cause)
            events.journal_posted(uow, j, now, c.cause)
            txn = t.transaction_id
            log.info("indemnity claim cancelled: credited back", return_id=rid, account_ref=account)
        else:
            lost.append(c)
        rows.append((d.return_id, account, normalise_reference(d.reference), amount, normalise_return_code(d.return_code),
                     d.original_processing_date, d.reported_on, txn, derive_event_id("dd-failure", rid),
                     d.cancels_return_id, now))
    check_control(transactions, journals)
    await uow.postings.add_transactions(transactions, now)
    await uow.postings.add_journals(journals, now)
    await uow.accounts.update_balances(book.balances, book.changed, now)
    await uow.cashbook.add_cancellations(rows)
    new = await uow.unreconciled.open([
        (item_id(c.dd_return.return_id), "dd_claim_cancellation_unmatched", c.dd_return.amount_pence,
         c.dd_return.reference, c.dd_return.reported_on, "cancelled claim not posted here", now) for c in lost])
    for c in lost:
        d = c.dd_return
        if item_id(d.return_id) in new:
            events.unreconciled(uow, {
                "item_id": item_id(d.return_id), "action": "opened", "kind": "dd_claim_cancellation_unmatched",
                "amount_pence": d.amount_pence, "reference": d.reference, "account_ref": None,
                "business_date": d.reported_on,
                "reason": f"the paying bank cancelled an indemnity claim (collection of {d.original_processing_date}) "
                          "that the ledger never posted to an account, or credited back already: find where the "
                          "money it returns belongs",
                "source_id": d.return_id, "occurred_at": now}, c.cause)
