"""Maker-checker: a request posts nothing; an approval by a manager who is not the requester
posts it (domain/adjustments.py has the rules, codes and journals). The ledger keeps its own
list of approvers (POST /v1/approvers): it cannot read the notifications service's officers."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Callable, Any

from rentflow_common.db import UnitOfWork
from rentflow_common.events import Cause
from rentflow_ledger.adapters import postings as sql
from rentflow_ledger.adapters import state as ledger_state
from rentflow_ledger.domain.adjustments import (Refused, check_approver, check_limit, check_balance, moves_of, plan,
                                                transfer_leaving, validate_request)
from rentflow_schemas import derive_event_id
from rentflow_ledger.domain.posting import LONDON, Book, Journal, check_control
from rentflow_ledger.domain.references import normalise_reference
from rentflow_ledger.service_layer import events

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


async def upsert_approver(uow: UnitOfWork, name: str, role: str) -> bool:
    """True when the name is new."""
    row = await uow.raw.fetchrow(
        "insert into approvers (name, role, updated_at) values ($1, $2, now()) on conflict (name) "
        "do update set role = excluded.role, updated_at = excluded.updated_at returning (xmax = 0) as created",
        name.strip(), role)
    return bool(row["created"])


async def list_approvers(raw: Any) -> list[dict[str, Any]]:
    return [{"name": r["name"], "role": r["role"]} for r in await raw.fetch("select name, role from approvers order by name")]


async def request_adjustment(uow: UnitOfWork, account_ref: str, type_: str, amount: int,
                             to_account_ref: str | None, reason: str, by: str,
                             moves: str | None = None) -> dict[str, Any]:
    raw = uow.raw
    ref = normalise_reference(account_ref)
    to_ref = normalise_reference(to_account_ref) or None
    validate_request(type_, amount, ref, to_ref, reason)
    refs = [r for r in (ref, to_ref) if r]
    rows = {r["account_ref"]: r["balance_pence"] for r in await raw.fetch(
        "select account_ref, balance_pence from accounts where account_ref = any($1::text[])", refs)}
    for r, given in ((ref, account_ref), (to_ref, to_account_ref)):
        if r and r not in rows:
            raise NotFound(f"no account {given!r}")
    if moves is not None and type_ != "transfer":
        raise Refused(f"moves: only for a transfer, not a {type_}", 422)
    if type_ == "transfer":  # stored as the signed balance leaving the source
        amount = transfer_leaving(moves, amount, ref, rows[ref])
    check_balance(type_, amount, rows[ref], ref)  # early word; checked again at approval
    row = await raw.fetchrow(
        "insert into adjustments (request_id, account_ref, type, amount_pence, to_account_ref, reason, requested_by, "
        "requested_at) values ($1, $2, $3, $4, $5, $6, $7, now()) returning *",
        uuid.uuid4(), ref, type_, amount, to_ref, reason, by.strip())
    return _request(row)


async def get_request(raw: Any, request_id: uuid.UUID) -> dict[str, Any] | None:
    row = await raw.fetchrow("select * from adjustments where request_id = $1", request_id)
    return _request(row) if row else None


async def list_requests(raw: Any, status: str | None) -> list[dict[str, Any]]:
    rows = await raw.fetch("select * from adjustments where ($1::text is null or status = $1) "
                           "order by requested_at", status)
    return [_request(r) for r in rows]


async def approve_adjustment(uow: UnitOfWork, request_id: uuid.UUID, by: str, *, role: str | None = None,
                             limit_of: Callable[[str], int | None] | None = None) -> dict[str, Any]:
    """Posts the request. Raises NotFound, or Refused (403 requester, not a manager or above the
    approver's limit; 409 already approved or the balance no longer allows it). The caller commits.
    `role` and `limit_of` come from the approver's token; without `role`, the older approvers list."""
    raw = uow.raw
    now = dt.datetime.now(UTC)
    calendar = (await ledger_state.read_state(raw)).calendar
    req = await raw.fetchrow("select * from adjustments where request_id = $1 for update", request_id)
    if req is None:
        raise NotFound(f"no adjustment request {request_id}")
    if req["status"] != "pending":
        raise Refused(f"request {request_id} was already approved by {req['approved_by']} at "
                      f"{req['approved_at'].isoformat()}")
    if role is None:
        role = await raw.fetchval("select role from approvers where lower(name) = lower($1)", by.strip())
    check_approver(req["requested_by"], by, role)
    type_, amount, ref, to_ref = req["type"], req["amount_pence"], req["account_ref"], req["to_account_ref"]
    check_limit(type_, amount, limit_of(type_) if limit_of else None, by)
    book = Book(await sql.lock_balances(raw, [r for r in (ref, to_ref) if r]))
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
    await sql.insert_transactions(raw, transactions, now)
    await sql.insert_journals(raw, [journal], now)
    await sql.update_balances(raw, book.balances, book.changed, now)
    row = await raw.fetchrow(
        "update adjustments set status = 'approved', approved_by = $2, approved_at = $3, transaction_ids = $4 "
        "where request_id = $1 returning *", request_id, by.strip(), now, [t.transaction_id for t in transactions])
    cause = Cause(None, f"adjustment:{rid}")
    for t in transactions:
        events.transaction_posted(uow, t, now, cause)
    events.journal_posted(uow, journal, now, cause)
    out = _request(row)
    out["balances"] = {r: book.balances[r] for r in sorted(book.changed)}
    out["balance_pence"] = book.balances[ref]
    return out
