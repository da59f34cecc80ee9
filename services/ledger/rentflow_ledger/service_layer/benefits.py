"""An overpaid Housing Benefit rent rebate recovered from the rent account (payments.reversed.v1 kind
`benefit_recovered`: a negative line of a council's HB schedule; docs/domain.md §3).

For a council's own tenants the rebate is credited to the rent account (`RHB`, Dr benefits clearing
Cr debtors control). When the council decides a rebate was overpaid it recovers it by debiting the
same rent account (Housing Benefit Regulations 2006, Part 13): `DHB` posted as a debit, journal Dr
debtors control Cr benefits clearing — the rebate's journal the other way round, never the bank. The
tenant now owes what the rebate had paid.

Each one not seen before (by reversal_id) names its rent account by reference (exact, normalised).
Found: posted (payment_reversals status posted). Not found: an UnreconciledItem
`benefit_recovery_unmatched` (a finance task), status unreconciled; nothing is posted."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Sequence

from rentflow_common.logging import get_logger
from rentflow_ledger.domain.codes import BENEFIT_RECOVERED_CODE
from rentflow_ledger.domain.journal import reversed_receipt_lines
from rentflow_ledger.domain.posting import Book, Journal, Transaction, business_date, check_control
from rentflow_ledger.domain.references import normalise_reference
from rentflow_ledger.service_layer import events
from rentflow_ledger.service_layer.reversals import unseen_reversals
from rentflow_schemas import derive_event_id

UTC = dt.timezone.utc
log = get_logger()
KIND = "benefit_recovered"
CHANNEL = "housing_benefit"


def item_id(reversal_id: uuid.UUID) -> uuid.UUID:
    return derive_event_id("unreconciled", KIND, reversal_id)


async def handle_benefit_recovered(uow: Any, commands: Sequence[Any]) -> None:
    """`commands`: ReversePayment (`.reversal`, `.cause`) of kind benefit_recovered."""
    if not commands:
        return
    fresh = await unseen_reversals(uow, commands)
    if not fresh:
        return
    now = dt.datetime.now(UTC)
    calendar = (await uow.periods.state()).calendar
    refs = {c.reversal.reversal_id: normalise_reference(c.reversal.original_reference or "") for c in fresh}
    known = {r["account_ref"] for r in await uow.accounts.find(sorted({r for r in refs.values() if r}))}
    book = Book(await uow.accounts.lock_balances(sorted(known)))
    transactions: list[Transaction] = []
    journals: list[Journal] = []
    records: list[tuple[Any, ...]] = []
    unknown: list[Any] = []
    for c in fresh:
        d = c.reversal
        rid, day, account = str(d.reversal_id), business_date(d.reversed_at), refs[d.reversal_id]
        status, txn = "unreconciled", None
        if account in known:
            source = f"benefit-recovered:{rid}:{d.provider_id}:{d.provider_ref}"
            booked = calendar.override(day)
            t = book.post(account, BENEFIT_RECOVERED_CODE, d.amount_pence,
                          transaction_id=derive_event_id("txn", "reversal", rid), business_date=day,
                          source_ref=source, channel=CHANNEL, allocation_rule=None, posting_period=booked)
            j = Journal(derive_event_id("journal", "reversal", rid), "reversal", day, source,
                        tuple(reversed_receipt_lines(account, CHANNEL, d.amount_pence)), booked)
            transactions.append(t)
            journals.append(j)
            events.transaction_posted(uow, t, now, c.cause)
            events.journal_posted(uow, j, now, c.cause)
            status, txn = "posted", t.transaction_id
        else:
            account = None
            unknown.append(c)
            log.warning("Housing Benefit overpayment for an account the ledger does not know: a finance task",
                        reversal_id=rid, reference=d.original_reference)
        records.append((d.reversal_id, d.payment_id, d.provider_id, d.provider_ref, d.kind, d.amount_pence, day,
                        d.reason, status, account, txn, c.cause.correlation_id, c.cause.event_id, now, now))
    check_control(transactions, journals)
    await uow.reversals.record(records)
    await uow.postings.add_transactions(transactions, now)
    await uow.postings.add_journals(journals, now)
    await uow.accounts.update_balances(book.balances, book.changed, now)
    new = await uow.unreconciled.open([
        (item_id(c.reversal.reversal_id), "benefit_recovery_unmatched", c.reversal.amount_pence,
         c.reversal.original_reference or "", business_date(c.reversal.reversed_at),
         f"{c.reversal.reason or 'Housing Benefit overpaid'}: no rent account "
         f"{c.reversal.original_reference!r} to debit", now) for c in unknown])
    for c in unknown:
        d = c.reversal
        if item_id(d.reversal_id) in new:
            events.unreconciled(uow, {
                "item_id": item_id(d.reversal_id), "action": "opened", "kind": "benefit_recovery_unmatched",
                "amount_pence": d.amount_pence, "reference": d.original_reference or "", "account_ref": None,
                "business_date": business_date(d.reversed_at),
                "reason": f"{d.reason or 'Housing Benefit overpaid'}: no rent account {d.original_reference!r} to "
                          "debit; find the account and post the recovery by adjustment",
                "source_id": d.reversal_id, "occurred_at": now}, c.cause)
