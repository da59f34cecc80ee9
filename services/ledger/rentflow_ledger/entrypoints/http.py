"""HTTP API of the ledger (the CLI calls exactly these)."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from rentflow_common.db import UnitOfWork
from rentflow_ledger.domain.accounts import HeaderError
from rentflow_ledger.service_layer import views
from rentflow_ledger.service_layer.accounts import NothingImported, import_accounts_csv
from rentflow_ledger.service_layer.debits import run_debits
from rentflow_ledger.service_layer.suspense import AlreadyAllocated, NotFound, allocate_suspense

router = APIRouter(prefix="/v1")


def _engine(request: Request) -> Any:
    return request.app.state.runtime.engine


class DebitRunRequest(BaseModel):
    through: dt.date = Field(description="raise every rent week whose Monday is on or before this date")


class AllocateRequest(BaseModel):
    account_ref: str = Field(min_length=1)
    by: str = Field(min_length=1, description="who allocated it")
    note: str = Field(min_length=1, description="why")


CSV_BODY = {"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}}


@router.post("/accounts/import", tags=["accounts"], openapi_extra=CSV_BODY,
             summary="load or update rent accounts from the accounts CSV (CONTRACT.md)")
async def import_accounts(request: Request) -> Any:
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(422, f"the file is not UTF-8 text (byte {exc.start})") from None
    async with UnitOfWork(_engine(request)) as uow:
        try:
            result = await import_accounts_csv(uow, text, correlation_id=request.headers.get("X-Correlation-Id"))
        except HeaderError as exc:
            raise HTTPException(422, str(exc)) from None
        except NothingImported as exc:
            return JSONResponse(status_code=422, content={"detail": str(exc),
                                                          "errors": [e.as_dict() for e in exc.errors]})
        await uow.commit()
    return {"created": result.created, "updated": result.updated, "unchanged": result.unchanged,
            "errors": result.errors}


@router.get("/accounts/{account_ref}", tags=["accounts"], summary="an account with its transactions, oldest first")
async def get_account(account_ref: str, request: Request) -> Any:
    async with UnitOfWork(_engine(request)) as uow:
        account = await views.get_account(uow.raw, account_ref)
    if account is None:
        raise HTTPException(404, f"no account {account_ref!r}")
    return account


@router.get("/accounts", tags=["accounts"], summary="accounts with balances, by reference")
async def list_accounts(request: Request, limit: int = Query(100, ge=1, le=10000),
                        offset: int = Query(0, ge=0)) -> Any:
    async with UnitOfWork(_engine(request)) as uow:
        return await views.list_accounts(uow.raw, limit, offset)


@router.post("/debits/run", tags=["debits"], summary="raise every weekly rent and charge debit due, once")
async def debit_run(body: DebitRunRequest, request: Request) -> Any:
    result = await run_debits(_engine(request), body.through)
    return result.as_dict()


@router.get("/suspense", tags=["suspense"], summary="unallocated receipts, oldest first")
async def suspense(request: Request) -> Any:
    async with UnitOfWork(_engine(request)) as uow:
        return await views.list_suspense(uow.raw)


@router.post("/suspense/{payment_id}/allocate", tags=["suspense"],
             summary="allocate a suspense item to an account by hand")
async def allocate(payment_id: uuid.UUID, body: AllocateRequest, request: Request) -> Any:
    async with UnitOfWork(_engine(request)) as uow:
        try:
            done = await allocate_suspense(uow, payment_id, body.account_ref, body.by, body.note)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except AlreadyAllocated as exc:
            raise HTTPException(409, str(exc)) from None
        await uow.commit()
    return {"payment_id": str(done.payment_id), "account_ref": done.account_ref,
            "transaction_id": str(done.transaction_id), "balance_pence": done.balance_pence}


@router.get("/gl/reconcile", tags=["gl"], summary="rent accounts against the GL journals as at a month's end")
async def reconcile(request: Request, period: str = Query(..., pattern=r"^\d{4}-(0[1-9]|1[0-2])$")) -> Any:
    async with UnitOfWork(_engine(request)) as uow:
        return await views.reconcile(uow.raw, period)


@router.get("/invariants", tags=["gl"], summary="sum of balances equals the debtors control; journals balance")
async def invariants(request: Request) -> Any:
    async with UnitOfWork(_engine(request)) as uow:
        return await views.invariants(uow.raw)
