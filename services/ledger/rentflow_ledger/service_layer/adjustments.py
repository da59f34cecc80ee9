"""Maker-checker: a request posts nothing; an approval by a manager who is not the requester
posts it (domain/adjustments.py has the rules, codes and journals). The ledger keeps its own
list of approvers (POST /v1/approvers): it cannot read the notifications service's officers."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Callable, Any

from rentflow_common.events import Cause
from rentflow_ledger.domain.adjustments import (Refused, check_approver, check_limit, check_balance, moves_of, plan,
                                                transfer_leaving, validate_request)
from rentflow_schemas import derive_event_id
from rentflow_ledger.domain.posting import LONDON, Book, Journal, check_control
from rentflow_ledger.domain.references import normalise_reference
from rentflow_ledger.service_layer import events
from rentflow_ledger.service_layer.unit_of_work import LedgerUnitOfWork

UTC = dt.timezone.utc


class NotFound(LookupError):
    pass


def _request(row: Any) -> dict[str, Any]:
    out = {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v) for k, v in dict(row).items()}
    out["request_id"] = str(row["request_id"])
    out["transaction_ids"] = [str(t) for t in row["transaction_ids"] or []]
    if row["type"] == "transfer":
        out["moves"] = moves_of(row["type"], row["amount_pence"])
    return out


async def upsert_approver(uow: LedgerUnitOfWork, name: str, role: str) -> bool:
    """True when the name is new."""
    return await uow.adjustments.upsert_approver(name.strip(), role)


async def list_approvers(uow: LedgerUnitOfWork) -> list[dict[str, Any]]:
    return [{"name": r["name"], "role": r["role"]} for r in await uow.adjustments.approvers()]


async def request_adjustment(uow: LedgerUnitOfWork, account_ref: str, type_: str, amount: int,
                             to_account_ref: str | None, reason: str, by: str,
                             moves: str | None = None) -> dict[str, Any]:
    ref = normalise_reference(account_ref)
    to_ref = normalise_reference(to_account_ref) or None
    validate_request(type_, amount, ref, to_ref, reason)
    refs = [r for r in (ref, to_ref) if r]
    rows = await uow.accounts.balances(refs)
    for r, given in ((ref, account_ref), (to_ref, to_account_ref)):
        if r and r not in rows:
            raise NotFound(f"no account {given!r}")
    if moves is not None and type_ != "transfer":
        raise Refused(f"moves: only for a transfer, not a {type_}", 422)
    if type_ == "transfer":  # stored as the signed balance leaving the source
        amount = transfer_leaving(moves, amount, ref, rows[ref])
    check_balance(type_, amount, rows[ref], ref)  # early word; checked again at approval
    row = await uow.adjustments.add(uuid.uuid4(), ref, type_, amount, to_ref, reason, by.strip())
    return _request(row)


async def get_request(uow: LedgerUnitOfWork, request_id: uuid.UUID) -> dict[str, Any] | None:
    row = await uow.adjustments.get(request_id)
    return _request(row) if row else None


async def list_requests(uow: LedgerUnitOfWork, status: str | None) -> list[dict[str, Any]]:
    return [_request(r) for r in await uow.adjustments.list(status)]


async def approve_adjustment(uow: LedgerUnitOfWork, request_id: uuid.UUID, by: str, *, role: str | None = None,
                             limit_of: Callable[[str], int | None] | None = None) -> dict[str, Any]:
    """Posts the request. Raises NotFound, or Refused (403 requester, not a manager or above the
    approver's limit; 409 already approved or the balance no longer allows it). The caller commits.
    `role` and `limit_of` come from the approver's token; without `role`, the older approvers list."""
    now = dt.datetime.now(UTC)
    calendar = (await uow.periods.state()).calendar
    req = await uow.adjustments.get(request_id, lock=True)
    if req is None:
        raise NotFound(f"no adjustment request {request_id}")
    if req["status"] != "pending":
        raise Refused(f"request {request_id} was already approved by {req['approved_by']} at "
                      f"{req['approved_at'].isoformat()}")
    if role is None:
        role = await uow.adjustments.role_of(by.strip())
    check_approver(req["requested_by"], by, role)
    type_, amount, ref, to_ref = req["type"], req["amount_pence"], req["account_ref"], req["to_account_ref"]
    check_limit(type_, amount, limit_of(type_) if limit_of else None, by)
    book = Book(await uow.accounts.lock_balances([r for r in (ref, to_ref) if r]))
    check_balance(type_, amount, book.balances[ref], ref)
    legs, lines = plan(type_, amount, ref, to_ref)
    day = now.astimezone(LONDON).date()
    booked = calendar.override(day)
    rid = str(request_id)
    source = f"adjustment:{type_}:{rid}"
    transactions = [book.post(leg.account_ref, leg.code, leg.amount,
                              transaction_id=derive_event_id("txn", "adjustment", rid, str(n)), business_date=day,
                              source_ref=source, posting_period=booked) for n, leg in enumerate(legs)]
    journal = Journal(derive_event_id("journal", "adjustment", rid), "adjustment", day, source, tuple(lines), booked)
    check_control(transactions, [journal])
    await uow.postings.add_transactions(transactions, now)
    await uow.postings.add_journals([journal], now)
    await uow.accounts.update_balances(book.balances, book.changed, now)
    row = await uow.adjustments.approve(request_id, by.strip(), now, [t.transaction_id for t in transactions])
    cause = Cause(None, f"adjustment:{rid}")
    for t in transactions:
        events.transaction_posted(uow, t, now, cause)
    events.journal_posted(uow, journal, now, cause)
    out = _request(row)
    out["balances"] = {r: book.balances[r] for r in sorted(book.changed)}
    out["balance_pence"] = book.balances[ref]
    return out
