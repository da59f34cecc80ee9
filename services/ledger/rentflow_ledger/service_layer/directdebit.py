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

Both: one batch, one transaction, a handful of set-based statements."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Sequence

from rentflow_common.db import UnitOfWork
from rentflow_common.events import Msg
from rentflow_common.logging import get_logger
from rentflow_ledger.adapters import postings as sql
from rentflow_ledger.adapters import state as ledger_state
from rentflow_ledger.domain.codes import DD_UNPAID_CODE
from rentflow_ledger.domain.directdebit import RETURN_REASONS, mandate_change, normalise_return_code, represent_by
from rentflow_schemas import derive_event_id
from rentflow_ledger.domain.journal import dd_unpaid_lines
from rentflow_ledger.domain.posting import Book, Journal, Transaction, check_control
from rentflow_ledger.domain.references import normalise_reference
from rentflow_ledger.service_layer import events
from rentflow_schemas.directdebit import DirectDebitReturned, MandateInstruction

UTC = dt.timezone.utc
log = get_logger()


async def _accounts_by_reference(raw: Any, refs: list[str]) -> dict[str, list[str]]:
    """normalised DD reference → accounts it names (by DD reference, else by account reference)."""
    rows = await raw.fetch("select account_ref, dd_reference from accounts "
                           "where dd_reference = any($1::text[]) or account_ref = any($1::text[])", refs)
    by_dd: dict[str, list[str]] = {}
    by_ref: dict[str, list[str]] = {}
    for r in rows:
        if r["dd_reference"]:
            by_dd.setdefault(r["dd_reference"], []).append(r["account_ref"])
        by_ref.setdefault(r["account_ref"], []).append(r["account_ref"])
    return {ref: by_dd.get(ref) or by_ref.get(ref) or [] for ref in refs}


async def _mandate_states(raw: Any, refs: list[str]) -> dict[str, str]:
    rows = await raw.fetch("select reference, state from mandates where reference = any($1::text[])", refs)
    return {r["reference"]: r["state"] for r in rows}


async def _upsert_mandates(raw: Any, rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    cols = list(zip(*rows))
    await raw.execute(
        """insert into mandates (reference, account_ref, state, reason_code, description, instruction_id,
                                 effective_date, updated_at)
           select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[],
                                $7::date[], $8::timestamptz[])
           on conflict (reference) do update set account_ref = coalesce(excluded.account_ref, mandates.account_ref),
               state = excluded.state, reason_code = excluded.reason_code, description = excluded.description,
               instruction_id = excluded.instruction_id, effective_date = excluded.effective_date,
               updated_at = excluded.updated_at""", *[list(c) for c in cols])


async def handle_dd_returned(uow: UnitOfWork, msgs: Sequence[Msg[DirectDebitReturned]]) -> None:
    raw = uow.raw
    now = dt.datetime.now(UTC)
    calendar = (await ledger_state.read_state(raw)).calendar
    batch: dict[uuid.UUID, Msg[DirectDebitReturned]] = {}
    for msg in msgs:
        batch.setdefault(msg.data.return_id, msg)
    seen = {r["return_id"] for r in await raw.fetch(
        "select return_id from dd_returns where return_id = any($1::uuid[])", list(batch))}
    fresh = [i for rid, i in batch.items() if rid not in seen]
    if not fresh:
        return
    refs = [normalise_reference(i.data.reference) for i in fresh]
    accounts = await _accounts_by_reference(raw, sorted(set(refs)))
    matched = {i.data.return_id: accounts[r][0] for i, r in zip(fresh, refs) if len(accounts[r]) == 1}
    originals: dict[tuple[str, dt.date, int], uuid.UUID] = {}
    keyed = [(matched[i.data.return_id], i.data.original_processing_date,
              i.data.amount_pence) for i in fresh if i.data.return_id in matched]
    if keyed:
        a, d, m = zip(*keyed)
        for r in await raw.fetch(
                "select distinct on (t.account_ref, t.business_date, t.amount_pence) t.transaction_id, t.account_ref, "
                "t.business_date, -t.amount_pence as amount from transactions t "
                "join unnest($1::text[], $2::date[], $3::bigint[]) u(a, d, m) "
                "on t.account_ref = u.a and t.business_date = u.d and t.amount_pence = -u.m and t.type_code = 'RDD' "
                "order by t.account_ref, t.business_date, t.amount_pence, t.seq", list(a), list(d), list(m)):
            originals[(r["account_ref"], r["business_date"], r["amount"])] = r["transaction_id"]
    states = await _mandate_states(raw, sorted(set(refs)))
    book = Book(await sql.lock_balances(raw, list(matched.values())))

    transactions: list[Transaction] = []
    journals: list[Journal] = []
    returns: list[tuple[Any, ...]] = []
    mandates: list[tuple[Any, ...]] = []
    for item, ref in zip(fresh, refs):
        d, cause = item.data, item.cause
        code = normalise_return_code(d.return_code)
        reason = RETURN_REASONS[code]
        rid = str(d.return_id)
        account = matched.get(d.return_id)
        failure_id = derive_event_id("dd-failure", rid)
        txn_id = original = None
        if account is None:
            log.warning("dd return for an unknown DD reference: nothing reversed",
                        return_id=rid, reference=d.reference, candidates=len(accounts[ref]))
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
    await raw.copy_records_to_table("dd_returns", records=returns, columns=[
        "return_id", "account_ref", "reference", "amount_pence", "return_code", "original_processing_date",
        "reported_on", "transaction_id", "original_transaction_id", "failure_id", "created_at"])
    await _upsert_mandates(raw, _last_per_reference(mandates))
    await sql.insert_transactions(raw, transactions, now)
    await sql.insert_journals(raw, journals, now)
    await sql.update_balances(raw, book.balances, book.changed, now)


def _last_per_reference(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    last: dict[str, tuple[Any, ...]] = {}
    for r in rows:
        last[r[0]] = r
    return list(last.values())


async def handle_mandate_instructions(uow: UnitOfWork, msgs: Sequence[Msg[MandateInstruction]]) -> None:
    raw = uow.raw
    now = dt.datetime.now(UTC)
    batch: dict[uuid.UUID, Msg[MandateInstruction]] = {}
    for msg in msgs:
        batch.setdefault(msg.data.instruction_id, msg)
    seen = {r["instruction_id"] for r in await raw.fetch(
        "select instruction_id from mandate_instructions where instruction_id = any($1::uuid[])", list(batch))}
    fresh = [i for iid, i in batch.items() if iid not in seen]
    if not fresh:
        return
    refs = [normalise_reference(i.data.reference) for i in fresh]
    accounts = await _accounts_by_reference(raw, sorted(set(refs)))
    states: dict[str, str | None] = dict(await _mandate_states(raw, sorted(set(refs))))
    mandates: list[tuple[Any, ...]] = []
    seen_rows: list[tuple[Any, ...]] = []
    for item, ref in zip(fresh, refs):
        d = item.data
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
    await raw.copy_records_to_table("mandate_instructions", records=seen_rows,
                                    columns=["instruction_id", "account_ref", "new_state", "received_at"])
    await _upsert_mandates(raw, _last_per_reference(mandates))
