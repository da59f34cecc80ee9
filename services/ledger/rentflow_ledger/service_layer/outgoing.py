"""Money the landlord paid out came back (payments.reversed.v1 kind `outgoing_returned`: a statement
credit with bank sub-family RRTN or return information). Not rent, not suspense.

Each one not seen before (by reversal_id) is matched to the refund that bounced (domain/outgoing.py:
the refund's id in the returned payment's references, else the account reference and the exact
amount). Found: the refund is re-credited to the account it left — `REF` posted with the returned
amount as a credit (the account is in credit again), journal Dr bank Cr debtors control (the
refund's journal the other way round), dated the day the money came back. Not found: an
UnreconciledItem `outgoing_return_unmatched` (a finance task: the money is in the bank and nobody
can yet say whose). Either way the reversal is recorded once (payment_reversals, status posted or
unreconciled, the refund it was)."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Sequence

from rentflow_common.logging import get_logger
from rentflow_ledger.domain.codes import REFUND_CODE
from rentflow_ledger.domain.journal import returned_refund_lines
from rentflow_ledger.domain.outgoing import Refund, find_refund
from rentflow_ledger.domain.posting import LONDON, Book, Journal, Transaction, business_date, check_control
from rentflow_ledger.service_layer import events
from rentflow_ledger.service_layer.reversals import unseen_reversals
from rentflow_schemas import derive_event_id

UTC = dt.timezone.utc
log = get_logger()
KIND = "outgoing_returned"


def item_id(reversal_id: uuid.UUID) -> uuid.UUID:
    return derive_event_id("unreconciled", KIND, reversal_id)


async def handle_outgoing_returned(uow: Any, commands: Sequence[Any]) -> None:
    """`commands`: ReversePayment (`.reversal`, `.cause`) of kind outgoing_returned."""
    fresh = await unseen_reversals(uow, commands)
    if not fresh:
        return
    now = dt.datetime.now(UTC)
    calendar = (await uow.periods.state()).calendar
    refunds = [Refund(uuid.UUID(str(r["request_id"])), r["account_ref"], r["amount_pence"],
                      r["approved_at"].astimezone(LONDON).date())
               for r in await uow.cashbook.refunds(min(c.reversal.amount_pence for c in fresh))]
    returned = set(await uow.cashbook.returned_refunds())
    found: list[tuple[Any, Refund | None, str]] = []
    for c in fresh:
        d = c.reversal
        refund, why = find_refund(d.amount_pence, d.original_end_to_end_id, d.original_reference, refunds, returned)
        if refund is not None:
            returned.add(refund.request_id)
        found.append((c, refund, why))
    book = Book(await uow.accounts.lock_balances(sorted({r.account_ref for _, r, _ in found if r})))
    transactions: list[Transaction] = []
    journals: list[Journal] = []
    records: list[tuple[Any, ...]] = []
    pairs: list[tuple[uuid.UUID, uuid.UUID]] = []
    items: list[tuple[Any, str]] = []
    for c, refund, why in found:
        d = c.reversal
        rid = str(d.reversal_id)
        day = business_date(d.reversed_at)
        status, account, txn = "unreconciled", None, None
        if refund is not None:
            account = refund.account_ref
            source = f"refund-returned:{rid}:refund:{refund.request_id}"
            booked = calendar.override(day)
            t = book.post(account, REFUND_CODE, -d.amount_pence, transaction_id=derive_event_id("txn", "reversal", rid),
                          business_date=day, source_ref=source, channel="bank_transfer", allocation_rule=None,
                          posting_period=booked)
            j = Journal(derive_event_id("journal", "reversal", rid), "reversal", day, source,
                        tuple(returned_refund_lines(account, d.amount_pence)), booked)
            transactions.append(t)
            journals.append(j)
            events.transaction_posted(uow, t, now, c.cause)
            events.journal_posted(uow, j, now, c.cause)
            status, txn = "posted", t.transaction_id
            pairs.append((d.reversal_id, refund.request_id))
            log.info("returned refund re-credited", reversal_id=rid, account_ref=account, found_by=why)
        else:
            items.append((c, why))
        records.append((d.reversal_id, d.payment_id, d.provider_id, d.provider_ref, d.kind, d.amount_pence, day,
                        d.reason, status, account, txn, c.cause.correlation_id, c.cause.event_id, now, now))
    check_control(transactions, journals)
    await uow.reversals.record(records)
    await uow.cashbook.set_refunds(pairs)
    await uow.postings.add_transactions(transactions, now)
    await uow.postings.add_journals(journals, now)
    await uow.accounts.update_balances(book.balances, book.changed, now)
    new = await uow.unreconciled.open([
        (item_id(c.reversal.reversal_id), "outgoing_return_unmatched", c.reversal.amount_pence,
         c.reversal.original_reference or c.reversal.original_end_to_end_id or "", business_date(c.reversal.reversed_at),
         why, now) for c, why in items])
    for c, why in items:
        d = c.reversal
        if item_id(d.reversal_id) not in new:
            continue
        said = ", ".join(x for x in (f"EndToEndId {d.original_end_to_end_id}" if d.original_end_to_end_id else "",
                                     f"reference '{d.original_reference}'" if d.original_reference else "",
                                     f"reason {d.reason}" if d.reason else "") if x)
        events.unreconciled(uow, {
            "item_id": item_id(d.reversal_id), "action": "opened", "kind": "outgoing_return_unmatched",
            "amount_pence": d.amount_pence, "reference": d.original_reference or d.original_end_to_end_id or "",
            "account_ref": None, "business_date": business_date(d.reversed_at),
            "reason": f"a payment we made came back ({said or 'no references'}): {why}; find the refund or "
                      "supplier payment it was and re-credit it",
            "source_id": d.reversal_id, "occurred_at": now}, c.cause)
