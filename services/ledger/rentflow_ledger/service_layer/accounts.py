"""Loading rent accounts: upsert set-based, post each new account's opening balance once,
emit AccountUpserted for every created or changed account (nothing for an identical re-import)."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from rentflow_common.events import Cause
from rentflow_ledger.domain.accounts import AccountRecord, RowError, parse_accounts_csv
from rentflow_ledger.domain.codes import OPENING_BALANCE_CODE
from rentflow_ledger.domain.journal import opening_balance_lines
from rentflow_ledger.domain.posting import Book, Journal, check_control
from rentflow_ledger.service_layer import events
from rentflow_ledger.service_layer.unit_of_work import LedgerUnitOfWork, ledger_uow
from rentflow_schemas import derive_event_id

UTC = dt.timezone.utc
OPENING_SOURCE = "opening-balance"

class NothingImported(ValueError):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"every row has errors ({len(errors)}); nothing imported")
        self.errors = errors


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


async def import_accounts_csv(uow: LedgerUnitOfWork, text: str, correlation_id: str | None = None) -> ImportResult:
    """Raises HeaderError (unreadable header) or NothingImported (every row bad)."""
    records, errors = parse_accounts_csv(text)
    if errors and not records:
        raise NothingImported(errors)
    result = await upsert_accounts(uow, records, correlation_id or f"accounts-import:{uuid.uuid4()}")
    result.errors = [e.as_dict() for e in errors]
    return result


async def upsert_accounts(uow: LedgerUnitOfWork, records: list[AccountRecord], correlation_id: str) -> ImportResult:
    """`uow`: the ledger's, or a rentflow_common.db.UnitOfWork the ledger's repositories are put on."""
    uow = ledger_uow(uow)
    now = dt.datetime.now(UTC)
    cause = Cause(None, correlation_id)
    records = sorted(records, key=lambda r: r.account_ref)
    # imports run one at a time: two creating the same new account would otherwise collide
    await uow.accounts.lock_for_import()
    # first (before any account lock, the order payment batches take them in): the cached set of
    # known references is stale from this commit on
    await uow.periods.references_changed()
    calendar = (await uow.periods.state(lock=False)).calendar
    existing = await uow.accounts.lock_existing([r.account_ref for r in records])
    result = ImportResult()
    new: list[tuple[AccountRecord, str]] = []
    changed: list[tuple[AccountRecord, str, int]] = []
    for rec in records:
        digest = rec.content_hash()
        old = existing.get(rec.account_ref)
        if old is None:
            new.append((rec, digest))
        elif old["content_hash"] != digest:
            changed.append((rec, digest, old["version"] + 1))
        else:
            result.unchanged += 1
    result.created, result.updated = len(new), len(changed)

    if new:
        recs = [r for r, _ in new]
        await uow.accounts.add(new, now)
        # opening balances, posted once, on creation only
        book = Book({r.account_ref: 0 for r in recs})
        opening = [r for r in recs if r.opening_balance_pence != 0]
        txns = [book.post(r.account_ref, OPENING_BALANCE_CODE, r.opening_balance_pence,
                          transaction_id=derive_event_id("txn", OPENING_SOURCE, r.account_ref),
                          business_date=r.balance_date, source_ref=OPENING_SOURCE,
                          posting_period=calendar.override(r.balance_date)) for r in opening]
        journals = [Journal(derive_event_id("journal", OPENING_SOURCE, r.account_ref), "opening_balance",
                            r.balance_date, f"{OPENING_SOURCE}:{r.account_ref}",
                            tuple(opening_balance_lines(r.account_ref, r.opening_balance_pence)),
                            calendar.override(r.balance_date)) for r in opening]
        check_control(txns, journals)
        await uow.postings.add_transactions(txns, now)
        await uow.postings.add_journals(journals, now)
        await uow.accounts.update_balances(book.balances, book.changed, now)
        for t in txns:
            events.transaction_posted(uow, t, now, cause)
        for j in journals:
            events.journal_posted(uow, j, now, cause)
        for r, d in new:
            events.account_upserted(uow, _account_data(r, book.balances[r.account_ref]), 1, d, now, cause)
    if changed:
        await uow.accounts.update(changed, now)
        for r, d, v in changed:
            events.account_upserted(uow, _account_data(r, existing[r.account_ref]["balance_pence"]), v, d, now, cause)
    return result


def _account_data(r: AccountRecord, balance: int) -> dict[str, Any]:
    return {"account_ref": r.account_ref, "property": r.property, "patch": r.patch, "tenant_name": r.tenant_name,
            "officer": r.officer,
            "tenancy_start": r.tenancy_start, "tenancy_end": r.tenancy_end, "weekly_rent_pence": r.weekly_rent_pence,
            "weekly_charges_pence": r.weekly_charges_pence, "payment_method": r.payment_method,
            "balance_pence": balance}
