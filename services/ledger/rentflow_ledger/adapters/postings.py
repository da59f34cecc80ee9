"""SQL for postings, set-based on the asyncpg connection of the unit of work: COPY for new
rows, one UPDATE … FROM unnest for balances. Never a statement per posting."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Iterable, Sequence


from rentflow_ledger.domain.posting import Journal, Transaction

TRANSACTION_COLUMNS = ["transaction_id", "account_ref", "type_code", "amount_pence", "balance_after_pence",
                       "posted_at", "business_date", "period", "source_ref", "channel", "payment_id",
                       "allocation_rule", "week_start"]
JOURNAL_COLUMNS = ["journal_id", "line_no", "kind", "source_ref", "gl_code", "debit_pence", "credit_pence",
                   "account_ref", "business_date", "period", "posted_at"]
SUSPENSE_COLUMNS = ["payment_id", "provider_id", "provider_ref", "amount_pence", "channel", "reference",
                    "payer_name", "paid_at", "received_at", "business_date", "period", "reason", "opened_at"]


async def lock_accounts(raw: Any, refs: Sequence[str], dd_refs: Sequence[str] = ()) -> list[Any]:
    """The accounts with these references or DD references, locked, in reference order (so two
    transactions locking overlapping sets cannot deadlock)."""
    if not refs and not dd_refs:
        return []
    return await raw.fetch(
        "select account_ref, dd_reference, balance_pence from accounts "
        "where account_ref = any($1::text[]) or dd_reference = any($2::text[]) "
        "order by account_ref for update",
        list(refs), list(dd_refs))


async def find_accounts(raw: Any, refs: Sequence[str], dd_refs: Sequence[str] = (),
                        so_refs: Sequence[str] = ()) -> list[Any]:
    """The accounts with these references, DD or SO references, read without locking (accounts
    are never deleted; what allocation needs is which exist)."""
    if not refs and not dd_refs and not so_refs:
        return []
    return await raw.fetch(
        "select account_ref, dd_reference, so_reference from accounts "
        "where account_ref = any($1::text[]) or dd_reference = any($2::text[]) or so_reference = any($3::text[])",
        list(refs), list(dd_refs), list(so_refs))


async def lock_balances(raw: Any, refs: Sequence[str]) -> dict[str, int]:
    """Balances of these accounts, locked until commit, taken in reference order so transactions
    locking overlapping sets cannot deadlock."""
    if not refs:
        return {}
    rows = await raw.fetch("select account_ref, balance_pence from accounts where account_ref = any($1::text[]) "
                           "order by account_ref for update", sorted(set(refs)))
    return {r["account_ref"]: r["balance_pence"] for r in rows}


async def ended_tenancies(raw: Any, refs: Sequence[str]) -> dict[str, dt.date]:
    """The tenancy end of those of these accounts whose tenancy has an end date."""
    if not refs:
        return {}
    rows = await raw.fetch("select account_ref, tenancy_end from accounts where account_ref = any($1::text[]) "
                           "and tenancy_end is not null", list(set(refs)))
    return {r["account_ref"]: r["tenancy_end"] for r in rows}


async def already_taken(raw: Any, payment_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Payments already posted to an account or held in suspense (whatever event carried them)."""
    if not payment_ids:
        return set()
    rows = await raw.fetch(
        "select payment_id from transactions where payment_id = any($1::uuid[]) "
        "union all select payment_id from suspense where payment_id = any($1::uuid[])", list(payment_ids))
    return {r["payment_id"] for r in rows}


async def insert_transactions(raw: Any, transactions: Sequence[Transaction], posted_at: dt.datetime) -> None:
    if not transactions:
        return
    await raw.copy_records_to_table("transactions", columns=TRANSACTION_COLUMNS, records=[
        (t.transaction_id, t.account_ref, t.type_code, t.amount_pence, t.balance_after_pence, posted_at,
         t.business_date, t.period, t.source_ref, t.channel, t.payment_id, t.allocation_rule, t.week_start)
        for t in transactions])


async def insert_journals(raw: Any, journals: Iterable[Journal], posted_at: dt.datetime) -> None:
    records = [(j.journal_id, n, j.kind, j.source_ref, line.gl_code, line.debit_pence, line.credit_pence,
                line.account_ref, j.business_date, j.period, posted_at)
               for j in journals for n, line in enumerate(j.lines, 1)]
    if records:
        await raw.copy_records_to_table("journal_lines", columns=JOURNAL_COLUMNS, records=records)


async def update_balances(raw: Any, balances: dict[str, int], refs: Iterable[str], at: dt.datetime) -> None:
    refs = sorted(refs)
    if not refs:
        return
    await raw.execute(
        "update accounts a set balance_pence = u.balance, updated_at = $3 "
        "from unnest($1::text[], $2::bigint[]) as u(ref, balance) where a.account_ref = u.ref",
        refs, [balances[r] for r in refs], at)


async def insert_suspense(raw: Any, records: Sequence[tuple[Any, ...]]) -> None:
    if records:
        await raw.copy_records_to_table("suspense", columns=SUSPENSE_COLUMNS, records=records)
