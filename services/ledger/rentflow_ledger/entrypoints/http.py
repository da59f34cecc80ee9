"""HTTP API of the ledger (the CLI calls exactly these)."""
from __future__ import annotations

import contextlib
import re
import uuid
from typing import Annotated, Any, AsyncIterator, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from rentflow_common.auth import Caller, check_patches, outside_patch, require
from rentflow_common.db import UnitOfWork
from rentflow_common.service import correlation_id, refuse_other
from rentflow_common.inputs import Day, Offset, Pence, Text
from rentflow_ledger.domain.accounts import HeaderError
from rentflow_ledger.domain.adjustments import Refused
from rentflow_ledger.adapters import views
from rentflow_ledger.service_layer import adjustments, periods, rents
from rentflow_ledger.service_layer.accounts import NothingImported, import_accounts_csv
from rentflow_ledger.service_layer.debits import rent_free_weeks as load_rent_free_weeks, run_debits
from rentflow_ledger.settings import LedgerSettings
from rentflow_ledger.service_layer.suspense import (AlreadyAllocated, NotAReceipt, NotFound, allocate_suspense,
                                                   move_receipt)
from rentflow_ledger.service_layer.unit_of_work import SqlLedgerUnitOfWork

router = APIRouter(prefix="/v1")
PERIOD = r"^(19\d{2}|20\d{2}|2100)-(0[1-9]|1[0-2])$"  # YYYY-MM, 1900-01 to 2100-12 (rentflow_common.inputs)
PERIOD_RE = re.compile(PERIOD)
Ref = Annotated[Text, Path(max_length=100, description="rent account reference")]


@contextlib.asynccontextmanager
async def _uow(request: Request, caller: Caller | None = None) -> AsyncIterator[SqlLedgerUnitOfWork]:
    """The ledger's unit of work for a request: the caller acts (audited), the route commits.
    Without a caller, a read."""
    async with _read(request, caller) as uow:
        yield SqlLedgerUnitOfWork(uow)


def _read(request: Request, caller: Caller | None = None) -> UnitOfWork:
    """The shared unit of work (adapters/views.py reads on `uow.raw`)."""
    runtime = request.app.state.runtime
    if caller is None:
        return runtime.uow(correlation_id=correlation_id(request))
    return runtime.uow_for(request, caller)


# who may call what (docs/contract.md lists every route with its roles)
READERS = require("officer", "manager", "finance")
WORKERS = require("officer", "manager", "finance")
FINANCE = require("finance")
MANAGER = require("manager")


async def _in_patch(raw: Any, caller: Caller, *refs: str | None) -> None:
    """403 unless the caller may work every known account named (an officer: their own patches);
    an unknown account is left to the handler's 404."""
    if caller.patch_scope is None:
        return
    check_patches(caller, await views.account_patches(raw, [r for r in refs if r]))


def _settings(request: Request) -> LedgerSettings:
    return request.app.state.runtime.settings  # type: ignore[no-any-return]


class DebitRunRequest(BaseModel):
    through: Day = Field(description="raise every rent week whose Monday is on or before this date")


class AllocateRequest(BaseModel):
    account_ref: Text = Field(min_length=1, max_length=100)
    by: Text | None = Field(default=None, max_length=200,
                            description="optional: who acts is the token's user; naming anyone else is refused")
    note: Text = Field(min_length=1, max_length=2000, description="why")


CSV_BODY = {"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}}


@router.post("/accounts/import", tags=["accounts"], openapi_extra=CSV_BODY,
             summary="load or update rent accounts from the accounts CSV (docs/contract.md)")
async def import_accounts(request: Request, caller: Caller = Depends(require("finance", "admin"))) -> Any:
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(422, f"the file is not UTF-8 text (byte {exc.start})") from None
    async with _uow(request, caller) as uow:
        try:
            result = await import_accounts_csv(uow, text, correlation_id=request.headers.get("X-Correlation-Id"))
        except HeaderError as exc:
            raise HTTPException(422, str(exc)) from None
        except NothingImported as exc:
            return JSONResponse(status_code=422, content={"detail": str(exc),
                                                          "errors": [e.as_dict() for e in exc.errors]})
        uow.audit("accounts.imported", after={"created": result.created, "updated": result.updated,
                                              "unchanged": result.unchanged, "errors": len(result.errors)})
        await uow.commit()
    return {"created": result.created, "updated": result.updated, "unchanged": result.unchanged,
            "errors": result.errors}


@router.get("/accounts/{account_ref}", tags=["accounts"],
            summary="an account with its transactions, oldest first (an officer: in their own patches)")
async def get_account(account_ref: Ref, request: Request, caller: Caller = Depends(READERS)) -> Any:
    async with _read(request) as uow:
        account = await views.get_account(uow.raw, account_ref)
    if account is None:
        raise HTTPException(404, f"no account {account_ref!r}")
    if not caller.may_work(account["patch"]):
        raise outside_patch(caller, account["account_ref"], account["patch"])
    return account


@router.get("/accounts", tags=["accounts"],
            summary="accounts with balances, by reference (an officer: those in their own patches)")
async def list_accounts(request: Request, limit: int = Query(100, ge=1, le=10000),
                        offset: Annotated[Offset, Query()] = 0,
                        after: Annotated[Text | None, Query(max_length=100, description=(
                            "only accounts after this reference: page by the last one seen (an account "
                            "imported meanwhile does not shift the pages, as with offset)"))] = None,
                        caller: Caller = Depends(READERS)) -> Any:
    async with _read(request) as uow:
        return await views.list_accounts(uow.raw, limit, offset, caller.patch_scope, after or None)


@router.post("/debits/run", tags=["debits"], summary="raise every weekly rent and charge debit due, once")
async def debit_run(body: DebitRunRequest, request: Request, caller: Caller = Depends(FINANCE)) -> Any:
    runtime = request.app.state.runtime
    result = await run_debits(lambda: runtime.uow_for(request, caller), body.through,
                              rent_free=_settings(request).rent_free, in_flight=2)
    async with runtime.uow_for(request, caller) as uow:
        uow.audit("debits.run", after={"through": body.through.isoformat(), **result.as_dict()})
        await uow.commit()
    return result.as_dict()


@router.get("/suspense", tags=["suspense"], dependencies=[Depends(READERS)], summary="unallocated receipts, oldest first")
async def suspense(request: Request) -> Any:
    async with _read(request) as uow:
        return await views.list_suspense(uow.raw)


@router.post("/suspense/{payment_id}/allocate", tags=["suspense"],
             summary="allocate a suspense item to an account by hand")
async def allocate(payment_id: uuid.UUID, body: AllocateRequest, request: Request,
                   caller: Caller = Depends(WORKERS)) -> Any:
    refuse_other(body.by, caller)
    async with _uow(request, caller) as uow:
        await _in_patch(uow.base.raw, caller, body.account_ref)
        try:
            done = await allocate_suspense(uow, payment_id, body.account_ref, caller.name, body.note)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except AlreadyAllocated as exc:
            raise HTTPException(409, str(exc)) from None
        uow.audit("suspense.allocated", subject=payment_id, account_ref=done.account_ref,
                  after={"account_ref": done.account_ref, "note": body.note, "balance_pence": done.balance_pence})
        await uow.commit()
    return {"payment_id": str(done.payment_id), "account_ref": done.account_ref,
            "transaction_id": str(done.transaction_id), "balance_pence": done.balance_pence}


@router.get("/gl/reconcile", tags=["gl"], dependencies=[Depends(FINANCE)], summary="rent accounts against the GL journals as at a month's end")
async def reconcile(request: Request, period: str = Query(..., pattern=PERIOD, description="YYYY-MM")) -> Any:
    async with _read(request) as uow:
        return await views.reconcile(uow.raw, period)


@router.get("/gl/daily", tags=["gl"], dependencies=[Depends(FINANCE)], summary="the day's GL batch for finance: journals posted that day, per GL code")
async def gl_daily(request: Request,
                   date: Annotated[Day, Query(description="Europe/London date, YYYY-MM-DD")]) -> Any:
    async with _read(request) as uow:
        return await views.gl_daily(uow.raw, date)


@router.get("/invariants", tags=["gl"], dependencies=[Depends(require("finance", "ops"))], summary="sum of balances equals the debtors control; journals balance")
async def invariants(request: Request) -> Any:
    async with _read(request) as uow:
        return await views.invariants(uow.raw)


@router.get("/cashbook", tags=["gl"], dependencies=[Depends(FINANCE)],
            summary="the cash book: statement lump sums (how each was matched to its detail, or not) and the "
                    "items the ledger could not place on its own (finance tasks), newest first")
async def cashbook(request: Request,
                   lumps: Literal["all", "open", "matched", "mismatch", "no_detail", "reversed", "none"] = Query(
                       "all", description="open: unmatched, ambiguous or mismatch (a payout whose detail adds up "
                                          "to another amount); none: leave lumps out"),
                   items: Literal["open", "resolved", "all", "none"] = Query("open"),
                   limit: int = Query(1000, ge=1, le=100_000)) -> Any:
    async with _read(request) as uow:
        found, open_items = await views.cash_book(uow.raw, lumps, items, limit)
    out_lumps = [{k: (str(v) if isinstance(v, uuid.UUID) else v.isoformat() if hasattr(v, "isoformat") else v)
                  for k, v in dict(r).items()} for r in found]
    out_items = [{k: (str(v) if isinstance(v, uuid.UUID) else v.isoformat() if hasattr(v, "isoformat") else v)
                  for k, v in dict(r).items()} for r in sorted(open_items, key=lambda r: (r["business_date"],
                                                                                          str(r["item_id"])),
                                                               reverse=True)[:limit]]
    return {"lumps": out_lumps, "items": out_items,
            "lumps_pence": sum(x["amount_pence"] for x in out_lumps),
            "items_pence": sum(x["amount_pence"] or 0 for x in out_items)}


class ApproverRequest(BaseModel):
    name: Text = Field(min_length=1, max_length=200)
    role: Literal["officer", "manager"] = "officer"


class AdjustmentRequest(BaseModel):
    account_ref: Text = Field(min_length=1, max_length=100)
    type: Literal["adjustment", "refund", "write_off", "transfer"]
    amount_pence: Pence = Field(description="adjustment: signed (positive a write-on, negative a credit); "
                                          "refund, write_off: positive; transfer: the debt or credit moved "
                                          "(positive, with `moves`; without it, the older signed balance moved)")
    moves: Literal["debt", "credit"] | None = Field(
        default=None, description="transfer: what moves from account_ref to to_account_ref, never more than "
                                  "account_ref holds of it")
    to_account_ref: Text | None = Field(default=None, max_length=100)
    reason: Text = Field(min_length=1, max_length=2000,
                         description="for a write-off, one of docs/domain.md's reasons, optionally "
                                     "followed by ': details'")
    by: Text | None = Field(default=None, max_length=200,
                            description="optional: who asks is the token's user; naming anyone else is refused")


class ApproveRequest(BaseModel):
    by: Text | None = Field(default=None, max_length=200,
                            description="optional: who approves is the token's user (a manager, not the requester)")


@router.post("/approvers", tags=["adjustments"], status_code=201,
             summary="the ledger's older list of approvers (kept for old clients): who may approve now comes from "
                     "the caller's token (role manager)")
async def add_approver(body: ApproverRequest, request: Request, caller: Caller = Depends(require("admin"))) -> Any:
    async with _uow(request, caller) as uow:
        created = await adjustments.upsert_approver(uow, body.name, body.role)
        await uow.commit()
    return JSONResponse(status_code=201 if created else 200, content={"name": body.name.strip(), "role": body.role})


@router.get("/approvers", tags=["adjustments"], summary="the older list of approvers",
            dependencies=[Depends(require("admin", "manager", "finance"))])
async def get_approvers(request: Request) -> Any:
    async with _uow(request) as uow:
        return {"approvers": await adjustments.list_approvers(uow)}


@router.post("/adjustments", tags=["adjustments"], status_code=201,
             summary="request an adjustment, refund, write-off or transfer (nothing is posted until approved)")
async def request_adjustment(body: AdjustmentRequest, request: Request, caller: Caller = Depends(WORKERS)) -> Any:
    refuse_other(body.by, caller)
    async with _uow(request, caller) as uow:
        await _in_patch(uow.base.raw, caller, body.account_ref, body.to_account_ref)
        try:
            out = await adjustments.request_adjustment(uow, body.account_ref, body.type, body.amount_pence,
                                                       body.to_account_ref, body.reason, caller.name, body.moves)
        except adjustments.NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except Refused as exc:
            raise HTTPException(exc.status, str(exc)) from None
        uow.audit("adjustment.requested", subject=out["request_id"], account_ref=out["account_ref"], after=out)
        await uow.commit()
    return out


@router.get("/adjustments", tags=["adjustments"],
            summary="adjustment requests, oldest first (an officer: those on accounts in their own patches)")
async def list_adjustments(request: Request, status: Literal["pending", "approved"] | None = None,
                           caller: Caller = Depends(READERS)) -> Any:
    async with _uow(request) as uow:
        items = await adjustments.list_requests(uow, status)
        if caller.patch_scope is not None:
            patches = await views.account_patches(
                uow.base.raw, {r for i in items for r in (i["account_ref"], i.get("to_account_ref")) if r})
            items = [i for i in items if all(caller.may_work(patches.get(r))
                                             for r in (i["account_ref"], i.get("to_account_ref")) if r)]
    return {"requests": items, "count": len(items)}


@router.get("/adjustments/{request_id}", tags=["adjustments"],
            summary="one adjustment request (an officer: on accounts in their own patches)")
async def get_adjustment(request_id: uuid.UUID, request: Request, caller: Caller = Depends(READERS)) -> Any:
    async with _uow(request) as uow:
        out = await adjustments.get_request(uow, request_id)
        if out is not None:
            await _in_patch(uow.base.raw, caller, out["account_ref"], out.get("to_account_ref"))
    if out is None:
        raise HTTPException(404, f"no adjustment request {request_id}")
    return out


@router.post("/adjustments/{request_id}/approve", tags=["adjustments"],
             summary="approve and post a request: 403 requester or not a manager, 409 already approved or the "
                     "balance does not allow it")
async def approve_adjustment(request_id: uuid.UUID, request: Request, body: ApproveRequest | None = None,
                             caller: Caller = Depends(MANAGER)) -> Any:
    refuse_other(body.by if body else None, caller)
    async with _uow(request, caller) as uow:
        try:
            out = await adjustments.approve_adjustment(uow, request_id, caller.name, role="manager",
                                                       limit_of=caller.limit)
        except adjustments.NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except Refused as exc:
            refused = exc
        else:
            refused = None
        if refused is not None:  # nothing posted; the refusal is in the audit trail
            async with _uow(request, caller) as trail:
                trail.audit("adjustment.approval_refused", subject=request_id, after={"reason": str(refused)})
                await trail.commit()
            raise HTTPException(refused.status, str(refused))
        uow.audit("adjustment.approved", subject=request_id, account_ref=out["account_ref"],
                  before={"status": "pending"}, after=out)
        await uow.commit()
    return out


class CloseRequest(BaseModel):
    by: Text | None = Field(None, max_length=200,
                            description="optional: who closes it is the token's user; naming anyone else is refused")


@router.post("/periods/{period}/close", tags=["gl"],
             summary="close a month: no postings land in it afterwards (late items go to the next open month, "
                     "keeping their value date); 409 when already closed")
async def close_period(period: str, request: Request, body: CloseRequest | None = None,
                       caller: Caller = Depends(FINANCE)) -> Any:
    if not PERIOD_RE.match(period):
        raise HTTPException(422, f"period: must be YYYY-MM (1900-01 to 2100-12), got {period!r}")
    refuse_other(body.by if body else None, caller)
    async with _uow(request, caller) as uow:
        try:
            out = await periods.close_period(uow, period, caller.name)
        except periods.AlreadyClosed as exc:
            raise HTTPException(409, str(exc)) from None
        uow.audit("period.closed", subject=period, before={"closed": False}, after=out)
        await uow.commit()
    return out


@router.get("/periods", tags=["gl"], dependencies=[Depends(READERS)], summary="closed periods")
async def get_periods(request: Request) -> Any:
    async with _uow(request) as uow:
        return {"closed": await periods.list_periods(uow)}


class RentFreeRequest(BaseModel):
    rent_year: int = Field(ge=2000, le=2100, description="the rent year by its April: 2026 is 2026/27")
    weeks: list[int] = Field(description="rent week numbers (1–52 or 1–53) that carry no debit")


class UprateRequest(BaseModel):
    percent: str | float = Field(description="e.g. \"4.8\" (a string keeps it exact)")
    effective: Day = Field(description="the Monday the new rent is charged from")


@router.post("/rent-free-weeks", tags=["debits"], summary="set the rent-free weeks of a rent year (replaces them)")
async def set_rent_free_weeks(body: RentFreeRequest, request: Request, caller: Caller = Depends(FINANCE)) -> Any:
    async with _uow(request, caller) as uow:
        try:
            out = await rents.set_rent_free_weeks(uow, body.rent_year, body.weeks)
        except Refused as exc:
            raise HTTPException(exc.status, str(exc)) from None
        uow.audit("rent_free_weeks.set", subject=body.rent_year, after=out)
        await uow.commit()
    return out


@router.get("/rent-free-weeks", tags=["debits"], dependencies=[Depends(READERS)], summary="rent-free weeks by rent year (table and environment)")
async def get_rent_free_weeks(request: Request) -> Any:
    async with _uow(request) as uow:
        free = await load_rent_free_weeks(uow, _settings(request).rent_free)
    return {"rent_free_weeks": {str(y): sorted(w) for y, w in sorted(free.items())}}


@router.post("/rents/uprate", tags=["debits"],
             summary="year-end uprating: every current tenancy's weekly rent x (1 + percent/100), half up, "
                     "from a Monday at least the notice period away; emits RentChanged; idempotent")
async def uprate(body: UprateRequest, request: Request, caller: Caller = Depends(FINANCE)) -> Any:
    async with _uow(request, caller) as uow:
        try:
            settings = _settings(request)
            out = await rents.uprate(uow, body.percent, body.effective, notice_days=settings.rent_notice_days,
                                     service_days=settings.notice_service_days)
        except Refused as exc:
            raise HTTPException(exc.status, str(exc)) from None
        uow.audit("rents.uprated", subject=body.effective.isoformat(),
                  after={k: v for k, v in out.items() if not isinstance(v, (list, dict))})
        await uow.commit()
    return out


@router.post("/transactions/{transaction_id}/move", tags=["suspense"],
             summary="move a misallocated receipt to another account (reversal and re-post, nil in the GL)")
async def move(transaction_id: uuid.UUID, body: AllocateRequest, request: Request,
               caller: Caller = Depends(WORKERS)) -> Any:
    refuse_other(body.by, caller)
    async with _uow(request, caller) as uow:
        await _in_patch(uow.base.raw, caller, await views.transaction_account(uow.base.raw, transaction_id),
                        body.account_ref)
        try:
            done = await move_receipt(uow, transaction_id, body.account_ref, caller.name, body.note)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except (AlreadyAllocated, NotAReceipt) as exc:
            raise HTTPException(409, str(exc)) from None
        uow.audit("receipt.moved", subject=transaction_id, account_ref=done.to_account,
                  before={"account_ref": done.from_account}, after={"account_ref": done.to_account, "note": body.note})
        await uow.commit()
    return {"transaction_id": str(done.transaction_id), "from_account_ref": done.from_account,
            "account_ref": done.to_account, "reversal_transaction_id": str(done.reversal_id),
            "transaction_id_new": str(done.reposted_id), "from_balance_pence": done.from_balance_pence,
            "balance_pence": done.to_balance_pence}
