"""Direct Debit returns and mandate instructions (docs/domain.md §3; issue #3, ledger side).

Returns (directdebit.returned.v1): find the account by its DD reference (else its account
reference); reverse the collection with an `RDN` posting of the returned amount dated the
report's processing date (source_ref = the return id, linked to the original `RDD` found by
account, original processing date and amount), journal Dr debtors control Cr bank; record the
mandate's state after the return; emit DdFailure (meaning, action, mandate state, whether and
until when it may be re-presented). An unknown or ambiguous reference posts nothing and still
emits a DdFailure with account_ref None (logged). Each return is handled once by return_id,
whatever event carries it.

Mandate instructions (directdebit.mandates.v1): keep each mandate's state (by DD reference),
emit MandateChanged with needs_person for cancelled / deceased / transferred / closed /
disputed / rejected. Each instruction once by instruction_id.

A return whose collection is on no account (or not on the account its reference names) is looked
for in suspense: an open DD receipt of that reference, date and amount leaves the queue (journal
Dr suspense Cr bank, SuspenseEvent reversed); one allocated by hand since is reversed on that
account. Found nowhere: an UnreconciledItem dd_return_unmatched (a finance task), besides the
DdFailure. A cancelled indemnity claim (`cancels_return_id`) is credited back (claims.py).
Lodgement reports (AUDACC/AUDREJ): lodgements.py.

Both: one batch, one transaction, a handful of set-based statements."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Sequence

from rentflow_common.logging import get_logger
from rentflow_ledger.domain.codes import DD_UNPAID_CODE
from rentflow_ledger.domain.directdebit import RETURN_REASONS, mandate_change, normalise_return_code, represent_by
from rentflow_schemas import derive_event_id
from rentflow_ledger.domain.journal import dd_unpaid_lines, reversed_suspense_lines
from rentflow_ledger.domain.posting import Book, Journal, Transaction, check_control, period_of
from rentflow_ledger.domain.references import normalise_reference
from rentflow_ledger.service_layer import events
from rentflow_ledger.service_layer.claims import cancel_claims
from rentflow_ledger.service_layer.lodgements import handle_lodgement_reports, is_lodgement, remember_lodgements
from rentflow_ledger.service_layer.commands import ChangeMandate, ReturnDirectDebit
from rentflow_ledger.service_layer.unit_of_work import LedgerUnitOfWork

UTC = dt.timezone.utc
log = get_logger()


async def handle_dd_returned(uow: LedgerUnitOfWork, commands: Sequence[ReturnDirectDebit]) -> None:
    now = dt.datetime.now(UTC)
    calendar = (await uow.periods.state()).calendar
    batch: dict[uuid.UUID, ReturnDirectDebit] = {}
    for c in commands:
        batch.setdefault(c.dd_return.return_id, c)
    seen = await uow.mandates.returns_seen(list(batch))
    fresh = [i for rid, i in batch.items() if rid not in seen and i.dd_return.cancels_return_id is None]
    cancellations = [i for rid, i in batch.items() if rid not in seen and i.dd_return.cancels_return_id is not None]
    if fresh:
        await _returns(uow, fresh, calendar, now)
    if cancellations:  # after the claims, so a claim and its cancellation in one batch meet
        await cancel_claims(uow, cancellations, now)


async def _returns(uow: LedgerUnitOfWork, fresh: list[ReturnDirectDebit], calendar: Any, now: dt.datetime) -> None:
    refs = [normalise_reference(i.dd_return.reference) for i in fresh]
    accounts = await uow.accounts.by_dd_reference(sorted(set(refs)))
    matched = {i.dd_return.return_id: accounts[r][0] for i, r in zip(fresh, refs) if len(accounts[r]) == 1}
    originals = await uow.postings.dd_collections([
        (matched[i.dd_return.return_id], i.dd_return.original_processing_date, i.dd_return.amount_pence)
        for i in fresh if i.dd_return.return_id in matched])
    # a collection the ledger could not place is in suspense: look there for returns on no account, or
    # whose account has no such collection (issue 11)
    def key(i: ReturnDirectDebit, ref: str) -> tuple[str, dt.date, int]:
        return ref, i.dd_return.original_processing_date, i.dd_return.amount_pence
    lost = [(i, ref) for i, ref in zip(fresh, refs)
            if (matched.get(i.dd_return.return_id), i.dd_return.original_processing_date,
                i.dd_return.amount_pence) not in originals]
    held = await uow.cashbook.dd_collections_in_suspense(sorted({key(i, ref) for i, ref in lost}))
    from_suspense: dict[uuid.UUID, Any] = {}
    for i, ref in lost:
        row = held.get(key(i, ref))
        if row is None or row["payment_id"] in {r["payment_id"] for r in from_suspense.values()}:
            continue
        if row["allocated_at"] is None:
            from_suspense[i.dd_return.return_id] = row  # still in the queue: it leaves it
        elif row["account_ref"] and i.dd_return.return_id not in matched:
            matched[i.dd_return.return_id] = row["account_ref"]  # allocated by hand since: reverse it there
    states = await uow.mandates.states(sorted(set(refs)))
    book = Book(await uow.accounts.lock_balances(matched.values()))

    transactions: list[Transaction] = []
    journals: list[Journal] = []
    returns: list[tuple[Any, ...]] = []
    mandates: list[tuple[Any, ...]] = []
    closed: list[tuple[Any, ...]] = []
    unmatched: list[tuple[ReturnDirectDebit, str]] = []
    for item, ref in zip(fresh, refs):
        d, cause = item.dd_return, item.cause
        code = normalise_return_code(d.return_code)
        reason = RETURN_REASONS[code]
        rid = str(d.return_id)
        account = matched.get(d.return_id)
        failure_id = derive_event_id("dd-failure", rid)
        txn_id = original = None
        held_item = from_suspense.get(d.return_id)
        if held_item is not None:
            # the collection never reached an account: the bank took back money held in suspense
            source = f"dd-return:{rid}:suspense:{held_item['payment_id']}"
            booked = calendar.override(d.reported_on)
            j = Journal(derive_event_id("journal", "reversal", rid), "reversal", d.reported_on, source,
                        tuple(reversed_suspense_lines("direct_debit", d.amount_pence)), booked)
            journals.append(j)
            events.journal_posted(uow, j, now, cause)
            closed.append((held_item["payment_id"], f"Direct Debit returned unpaid ({reason.meaning})", now,
                           booked or period_of(d.reported_on)))
            events.suspense(uow, {
                "action": "reversed", "payment_id": held_item["payment_id"], "amount_pence": held_item["amount_pence"],
                "channel": held_item["channel"], "reference": held_item["reference"],
                "payer_name": held_item["payer_name"], "received_at": held_item["received_at"],
                "reason": held_item["reason"], "account_ref": None, "allocated_by": None,
                "note": f"Direct Debit returned unpaid, code {code}", "paid_at": held_item["paid_at"],
                "business_date": held_item["business_date"]}, now, cause)
            uow.audit("suspense.reversed", subject=held_item["payment_id"], before={"status": "open"},
                      after={"status": "reversed", "amount_pence": held_item["amount_pence"],
                             "reason": f"Direct Debit returned unpaid, code {code}", "return_id": rid})
        elif account is None:
            log.warning("dd return whose collection is on no account and not in suspense: a finance task",
                        return_id=rid, reference=d.reference, candidates=len(accounts[ref]))
            unmatched.append((item, ref))
        else:
            original = originals.get((account, d.original_processing_date, d.amount_pence))
            source = f"dd-return:{rid}" + (f":original:{original}" if original else "")
            t = book.post(account, DD_UNPAID_CODE, d.amount_pence, transaction_id=derive_event_id("txn", "dd-return", rid),
                          business_date=d.reported_on, source_ref=source, channel="direct_debit",
                          allocation_rule=None, posting_period=calendar.override(d.reported_on))
            j = Journal(derive_event_id("journal", "reversal", rid), "reversal", d.reported_on, source,
                        tuple(dd_unpaid_lines(account, d.amount_pence)), t.posting_period)
            transactions.append(t)
            journals.append(j)
            txn_id = t.transaction_id
            events.transaction_posted(uow, t, now, cause)
            events.journal_posted(uow, j, now, cause)
        if account is not None:
            old = states.get(ref, "live")
            if old != reason.mandate_state:
                # the DdFailure carries the task; this records the state change (needs_person False)
                events.mandate_changed(uow, {
                    "account_ref": account, "reference": ref, "old_state": old, "new_state": reason.mandate_state,
                    "reason_code": f"ARUDD {code}", "description": reason.meaning, "needs_person": False,
                    "effective_date": d.reported_on, "instruction_id": d.return_id, "occurred_at": now},
                    f"return:{rid}", cause)
            states[ref] = reason.mandate_state
            mandates.append((ref, account, reason.mandate_state, f"ARUDD {code}", reason.meaning, d.return_id,
                             d.reported_on, now))
        events.dd_failure(uow, {
            "failure_id": failure_id, "return_id": d.return_id, "account_ref": account, "reference": d.reference,
            "amount_pence": d.amount_pence, "return_code": code, "meaning": reason.meaning, "action": reason.action,
            "mandate_state": reason.mandate_state, "may_represent": reason.may_represent and account is not None,
            "represent_by": represent_by(code, d.original_processing_date) if account else None,
            "original_processing_date": d.original_processing_date, "reversal_transaction_id": txn_id,
            "payer_name": d.payer_name, "occurred_at": now}, cause)
        returns.append((d.return_id, account, ref, d.amount_pence, code, d.original_processing_date, d.reported_on,
                        txn_id, original, failure_id, now))
    check_control(transactions, journals)
    await uow.mandates.add_returns(returns)
    await uow.mandates.upsert(_last_per_reference(mandates))
    await uow.postings.add_transactions(transactions, now)
    await uow.postings.add_journals(journals, now)
    await uow.accounts.update_balances(book.balances, book.changed, now)
    await uow.suspense.close_reversed(closed)
    await _unmatched_returns(uow, unmatched, now)


def _unmatched_item(return_id: uuid.UUID) -> uuid.UUID:
    return derive_event_id("unreconciled", "dd-return", return_id)


async def _unmatched_returns(uow: LedgerUnitOfWork, unmatched: list[tuple[ReturnDirectDebit, str]],
                             now: dt.datetime) -> None:
    """Returns whose collection is nowhere: the bank took back money the ledger never received."""
    new = await uow.unreconciled.open([
        (_unmatched_item(i.dd_return.return_id), "dd_return_unmatched", i.dd_return.amount_pence, i.dd_return.reference,
         i.dd_return.reported_on, "collection not found", now) for i, _ in unmatched]) if unmatched else set()
    for i, _ in unmatched:
        d = i.dd_return
        if _unmatched_item(d.return_id) not in new:
            continue
        events.unreconciled(uow, {
            "item_id": _unmatched_item(d.return_id), "action": "opened", "kind": "dd_return_unmatched",
            "amount_pence": d.amount_pence, "reference": d.reference, "account_ref": None,
            "business_date": d.reported_on,
            "reason": f"Direct Debit returned unpaid ({d.source}, code {d.return_code_raw}) for a collection of "
                      f"{d.original_processing_date} that is on no rent account and not in suspense: the bank took "
                      "back money the ledger never received; find the collection file or the account",
            "source_id": d.return_id, "occurred_at": now}, i.cause)


def _last_per_reference(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    last: dict[str, tuple[Any, ...]] = {}
    for r in rows:
        last[r[0]] = r
    return list(last.values())


async def handle_mandate_instructions(uow: LedgerUnitOfWork, commands: Sequence[ChangeMandate]) -> None:
    """Lodgement reports (AUDACC/AUDREJ) go to service_layer/lodgements.py; the rest below, and the
    lodgement each new instruction came in is kept for them."""
    reports = [c for c in commands if is_lodgement(c)]
    rest = [c for c in commands if not is_lodgement(c)]
    if rest:
        await _instructions(uow, rest)
        await remember_lodgements(uow, rest)
    if reports:
        await handle_lodgement_reports(uow, reports)


async def _instructions(uow: LedgerUnitOfWork, commands: Sequence[ChangeMandate]) -> None:
    now = dt.datetime.now(UTC)
    batch: dict[uuid.UUID, ChangeMandate] = {}
    for c in commands:
        batch.setdefault(c.instruction.instruction_id, c)
    seen = await uow.mandates.instructions_seen(list(batch))
    fresh = [i for iid, i in batch.items() if iid not in seen]
    if not fresh:
        return
    refs = [normalise_reference(i.instruction.reference) for i in fresh]
    accounts = await uow.accounts.by_dd_reference(sorted(set(refs)))
    states: dict[str, str | None] = dict(await uow.mandates.states(sorted(set(refs))))
    mandates: list[tuple[Any, ...]] = []
    seen_rows: list[tuple[Any, ...]] = []
    for item, ref in zip(fresh, refs):
        d = item.instruction
        new_state, needs_person = mandate_change(d.action)
        candidates = accounts[ref]
        account = candidates[0] if len(candidates) == 1 else None
        if account is None:
            log.warning("mandate instruction for an unknown DD reference", instruction_id=str(d.instruction_id),
                        reference=d.reference, candidates=len(candidates))
        old = states.get(ref)
        if old is None and account is not None and d.action != "new":
            old = "live"  # an account with a DD reference and no recorded instruction: assumed live
        states[ref] = new_state
        mandates.append((ref, account, new_state, d.reason_code, d.description, d.instruction_id, d.effective_date,
                         now))
        seen_rows.append((d.instruction_id, account, new_state, d.received_at))
        events.mandate_changed(uow, {
            "account_ref": account, "reference": ref, "old_state": old, "new_state": new_state,
            "reason_code": d.reason_code, "description": d.description,
            "needs_person": needs_person or account is None, "effective_date": d.effective_date,
            "instruction_id": d.instruction_id, "occurred_at": now},
            f"instruction:{d.instruction_id}", item.cause)
    await uow.mandates.add_instructions(seen_rows)
    await uow.mandates.upsert(_last_per_reference(mandates))
