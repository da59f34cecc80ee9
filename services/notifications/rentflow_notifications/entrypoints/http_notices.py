"""HTTP for tenants' notices: list, progress of a bulk run, print files, email contacts."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from rentflow_common.auth import Caller, outside_patch, require
from rentflow_common.db import UnitOfWork
from rentflow_common.service import correlation_id
from rentflow_common.inputs import Text
from rentflow_notifications.adapters import notices_repo as nrepo
from rentflow_notifications.service_layer import notices

router = APIRouter(prefix="/v1")

NoticeStatus = Literal["pending", "produced", "refused", "failed"]


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v


def _notice(r: dict[str, Any]) -> dict[str, Any]:
    return {"notice_id": str(r["notice_id"]), "kind": r["kind"], "account_ref": r["account_ref"],
            "served_on": _iso(r["served_on"]), "effective_on": _iso(r["effective_on"]),
            "old_weekly_pence": r["old_weekly_pence"], "new_weekly_pence": r["new_weekly_pence"],
            "document": r["document"], "status": r["status"], "reason": r["reason"], "run": r["run"],
            "letter_date": _iso(r["letter_date"]), "html_document": r["html_document"], "pages": r["pages"],
            "amount_pence": r["amount_pence"], "received_at": _iso(r["received_at"]),
            "deliveries": [{k: _iso(v) for k, v in d.items()} for d in r["deliveries"]]}


def _uow(request: Request) -> UnitOfWork:
    return request.app.state.runtime.uow(correlation_id=correlation_id(request))




@router.get("/notices", tags=["notices"],
            summary="notices, oldest first (at most limit); count is how many match (an officer: those of accounts "
                    "in their own patches)")
async def get_notices(
    request: Request,
    caller: Annotated[Caller, Depends(require("officer", "manager", "finance"))],
    kind: Annotated[Text | None, Query(max_length=100)] = None,
    status: Annotated[NoticeStatus | None, Query()] = None,
    account_ref: Annotated[Text | None, Query(max_length=100)] = None,
    run: Annotated[Text | None, Query(max_length=200, description="e.g. rent_review:2027-04-05")] = None,
    limit: Annotated[int, Query(ge=1, le=20000)] = 1000,
) -> dict[str, Any]:
    async with _uow(request) as uow:
        rows = await nrepo.list_notices(uow.raw, kind=kind or None, status=status, account_ref=account_ref or None,
                                        run=run or None, limit=limit, patches=caller.patch_scope)
    return {"notices": [_notice(r) for r in rows], "count": rows[0]["total"] if rows else 0}


@router.get("/notices/progress", tags=["notices"], dependencies=[Depends(require("officer", "manager", "finance", "ops"))],
            summary="per run: received, pending, produced, refused, failed, pages and emails")
async def get_progress(request: Request) -> dict[str, Any]:
    async with _uow(request) as uow:
        runs = await nrepo.progress(uow.raw)
    runtime = request.app.state.runtime
    return {"runs": [{k: _iso(v) for k, v in r.items()} for r in runs],
            "rendered_by_this_process": runtime.workers.rendered}


class PrintIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: Text = Field(max_length=200, description="kind:date, e.g. rent_review:2027-04-05 or dd_failure:2026-12-23")

    @field_validator("run")
    @classmethod
    def _run(cls, v: str) -> str:
        kind, _, day = v.strip().partition(":")
        if kind not in ("rent_review", "dd_failure"):
            raise ValueError("run must start with rent_review: or dd_failure:")
        try:
            dt.date.fromisoformat(day)
        except ValueError:
            raise ValueError(f"run must be KIND:YYYY-MM-DD, got {v!r}") from None
        return f"{kind}:{day}"


@router.post("/notices/print", tags=["notices"],
             summary="merge a run's produced letters into one print file (patch, then account order); an officer's "
                     "holds only their own patches' letters")
async def print_file(body: PrintIn, request: Request,
                     caller: Caller = Depends(require("officer", "manager", "finance"))) -> Any:
    runtime = request.app.state.runtime
    result = await notices.print_run(lambda: runtime.uow_for(request, caller), runtime.config,
                                     body.run.split(":")[0], body.run, runtime.workers.run_cpu,
                                     patches=caller.patch_scope)
    if not result["notices"]:
        return JSONResponse({"detail": f"no produced letters in run {body.run}"}, status_code=404)
    return result


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Text | None = Field(default=None, max_length=320, description="null removes the address")

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return validate_email(v.strip(), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(f"not an email address: {exc}") from None


@router.put("/contacts/{account_ref}", tags=["notices"],
            summary="where a rent account's letters are also emailed (letters are always written for post)")
async def put_contact(account_ref: Annotated[Text, Path(max_length=100)], body: ContactIn,
                      request: Request, caller: Caller = Depends(require("officer", "manager"))) -> dict[str, Any]:
    ref = account_ref.strip().upper().replace(" ", "").replace("-", "")
    async with request.app.state.runtime.uow_for(request, caller) as uow:
        if caller.patch_scope is not None:
            patch = await uow.raw.fetchval("select patch from accounts where account_ref = $1", ref)
            if not caller.may_work(patch):
                raise outside_patch(caller, ref, patch)
        before = await uow.raw.fetchval("select email from contacts where account_ref = $1", ref)
        row = await nrepo.set_contact(uow.raw, ref, body.email, request.app.state.config.clock())
        uow.audit("contact.changed", subject=ref, account_ref=ref, before={"email": before}, after={"email": row["email"]})
        await uow.commit()
    return {"account_ref": row["account_ref"], "email": row["email"], "updated_at": row["updated_at"].isoformat()}
