"""HTTP for officers and their tasks."""
from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from rentflow_common.auth import Caller, outside_patch, require
from rentflow_common.db import UnitOfWork
from rentflow_common.service import refuse_other
from rentflow_common.inputs import Text
from rentflow_schemas.notifications import TASK_KINDS
from rentflow_notifications.domain.tasks import TaskConflict
from rentflow_notifications.adapters import repository as repo
from rentflow_notifications.service_layer import handlers, users
from rentflow_schemas.identity import ROLES

router = APIRouter(prefix="/v1")


def _clean(value: str, field: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{field} must not be empty")
    return value


class OfficerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(max_length=200, description="unique; posting an existing name replaces its patches and role")
    patches: list[Text] = Field(default_factory=list, description="tasks for accounts in these patches go to this officer")
    role: Literal["officer", "manager"] = "officer"

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _clean(v, "name")

    @field_validator("patches")
    @classmethod
    def _patches(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for i, p in enumerate(v):
            p = p.strip()
            if not p:
                raise ValueError(f"patches[{i}] must not be empty")
            if p not in out:
                out.append(p)
        return out


class OfficerOut(BaseModel):
    officer_id: str
    name: str
    patches: list[str]
    role: str
    token: str | None = Field(default=None, description="a new user's API token, shown once")
    roles: list[str] | None = None


class OfficersOut(BaseModel):
    officers: list[OfficerOut]


class TaskOut(BaseModel):
    task_id: str
    kind: str
    account_ref: str | None
    assigned_to: str
    status: str
    due_on: str
    reason: str
    payment_id: str | None
    created_at: str
    updated_at: str
    occurrences: int
    amount_pence: int | None
    return_code: str | None
    reference: str | None
    claimed_by: str | None
    completed_by: str | None
    outcome: str | None


class TasksOut(BaseModel):
    tasks: list[TaskOut]
    count: int


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: Text | None = Field(default=None, max_length=200,
                            description="optional: who acts is the token's user; naming anyone else is refused")


class CompleteIn(ClaimIn):
    outcome: Text | None = Field(default=None, max_length=2000, description="what was done (recorded, and on the "
                                                                           "TaskEvent)")

    @field_validator("outcome")
    @classmethod
    def _outcome(cls, v: str | None) -> str | None:
        return None if v is None else _clean(v, "outcome")


def _officer(row: dict[str, Any]) -> dict[str, Any]:
    return {"officer_id": str(row["officer_id"]), "name": row["name"], "patches": list(row["patches"]),
            "role": row["role"]}


def _task(row: dict[str, Any]) -> dict[str, Any]:
    return {"task_id": str(row["task_id"]), "kind": row["kind"], "account_ref": row["account_ref"],
            "assigned_to": row["assigned_to"], "status": row["status"], "due_on": row["due_on"].isoformat(),
            "reason": row["reason"], "payment_id": str(row["payment_id"]) if row["payment_id"] else None,
            "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat(),
            "occurrences": row["occurrences"], "amount_pence": row["amount_pence"], "return_code": row["return_code"],
            "reference": row["reference"], "claimed_by": row["claimed_by"], "completed_by": row["completed_by"],
            "outcome": row["outcome"]}


def _uow(request: Request, caller: Caller) -> UnitOfWork:
    return request.app.state.runtime.uow_for(request, caller)


async def _in_patch(uow: UnitOfWork, caller: Caller, task_id: uuid.UUID) -> None:
    """403 for an officer reaching a task on an account outside their patches (unless it was given to
    them); a task on no known account is the shared queue's, for any officer."""
    if caller.patch_scope is None:
        return
    found = await repo.task_patch(uow.raw, task_id)
    if found is None:
        return  # the handler answers 404
    account_ref, patch, assigned_to = found
    if patch is not None and assigned_to != caller.name and not caller.may_work(patch):
        raise outside_patch(caller, account_ref or "", patch)


ADMIN = require("admin")
WORKERS = require("officer", "manager", "finance")  # finance works the finance queue (ledger.unreconciled.v1)


@router.post("/officers", response_model=OfficerOut, status_code=201, tags=["officers"],
             responses={200: {"description": "an existing officer updated", "model": OfficerOut}},
             summary="an officer or manager: a user with that role and these patches (a new user's token is in "
                     "`token`, shown once)")
async def add_officer(body: OfficerIn, request: Request, response: Response,
                      caller: Caller = Depends(ADMIN)) -> dict[str, Any]:
    async with _uow(request, caller) as uow:
        try:
            user, token = await users.upsert_officer(uow, body.name, body.role, tuple(body.patches))
        except users.UserError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        officer = next(o for o in await handlers.list_officers(uow) if o["name"] == user["user"])
        await uow.commit()
    response.status_code = 201 if token else 200
    return {**_officer(officer), "token": token, "roles": user["roles"]}


@router.get("/officers", response_model=OfficersOut, tags=["officers"],
            dependencies=[Depends(require("officer", "manager", "admin"))])
async def get_officers(request: Request) -> dict[str, Any]:
    async with request.app.state.runtime.uow() as uow:
        return {"officers": [_officer(o) for o in await handlers.list_officers(uow)]}


@router.get("/tasks", response_model=TasksOut, tags=["tasks"],
            summary="tasks, soonest due first (at most limit); count is how many match. An officer sees tasks on "
                    "accounts in their own patches, tasks given to them, and the shared queue's")
async def get_tasks(
    request: Request,
    caller: Annotated[Caller, Depends(WORKERS)],
    status: Annotated[Literal["open", "in_progress", "done"] | None, Query()] = None,
    kind: Annotated[Text | None, Query(max_length=100, description=", ".join(TASK_KINDS))] = None,
    assigned_to: Annotated[Text | None, Query(max_length=200)] = None,
    account_ref: Annotated[Text | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> Any:
    if kind and kind not in TASK_KINDS:
        return JSONResponse({"detail": [{"loc": ["query", "kind"], "type": "enum",
                                         "msg": f"must be one of {', '.join(TASK_KINDS)}", "input": kind}]},
                            status_code=422)
    async with request.app.state.runtime.uow() as uow:
        rows = await handlers.list_tasks(uow, status=status, kind=kind or None, assigned_to=assigned_to or None,
                                         account_ref=account_ref or None, limit=limit, patches=caller.patch_scope,
                                         me=caller.name)
    return {"tasks": [_task(r) for r in rows], "count": rows[0]["total"] if rows else 0}


@router.post("/tasks/{task_id}/claim", response_model=TaskOut, tags=["tasks"],
             responses={404: {"description": "unknown task"}, 409: {"description": "done, or claimed by another"}})
async def claim(task_id: uuid.UUID, request: Request, body: ClaimIn | None = None,
                caller: Caller = Depends(WORKERS)) -> Any:
    refuse_other(body.by if body else None, caller)
    try:
        async with _uow(request, caller) as uow:
            await _in_patch(uow, caller, task_id)
            task = await handlers.claim_task(uow, task_id, caller.name)
            uow.audit("task.claimed", subject=task_id, account_ref=task["account_ref"],
                      after={"status": task["status"], "assigned_to": task["assigned_to"]})
            await uow.commit()
    except handlers.TaskNotFound:
        return JSONResponse({"detail": f"unknown task {task_id}"}, status_code=404)
    except TaskConflict as exc:
        return JSONResponse({"detail": str(exc)}, status_code=409)
    return _task(task)


@router.post("/tasks/{task_id}/complete", response_model=TaskOut, tags=["tasks"],
             responses={404: {"description": "unknown task"}, 409: {"description": "already done"}})
async def complete(task_id: uuid.UUID, body: CompleteIn, request: Request, caller: Caller = Depends(WORKERS)) -> Any:
    refuse_other(body.by, caller)
    try:
        async with _uow(request, caller) as uow:
            await _in_patch(uow, caller, task_id)
            task = await handlers.complete_task(uow, task_id, caller.name, body.outcome)
            uow.audit("task.completed", subject=task_id, account_ref=task["account_ref"],
                      after={"status": task["status"], "outcome": task["outcome"]})
            await uow.commit()
    except handlers.TaskNotFound:
        return JSONResponse({"detail": f"unknown task {task_id}"}, status_code=404)
    except TaskConflict as exc:
        return JSONResponse({"detail": str(exc)}, status_code=409)
    return _task(task)


# ------------------------------------------------------------------------------------------- users

class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=200)
    roles: list[Literal["officer", "manager", "finance", "ops", "admin"]] = Field(min_length=1, max_length=5)
    patches: list[Annotated[Text, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=1000)
    approval_limits: dict[Literal["adjustment", "refund", "write_off", "transfer", "*"],
                          Annotated[int, Field(ge=0, le=10**11)]] = Field(
        default_factory=dict, description="manager: the largest amount in pence approvable per type (`*`: any type)")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _clean(v, "name")


class UserOut(BaseModel):
    user: str
    roles: list[str]
    patches: list[str]
    approval_limits: dict[str, int]
    disabled: bool
    version: int
    created_at: str
    created_by: str | None
    updated_at: str
    token: str | None = Field(default=None, description="the API token, shown once (new users and new tokens)")


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"],
             summary="a user with roles " + ", ".join(ROLES) + "; its API token is in `token`, shown once",
             responses={409: {"description": "the name is taken"}})
async def add_user(body: UserIn, request: Request, caller: Caller = Depends(ADMIN)) -> Any:
    async with _uow(request, caller) as uow:
        try:
            user, token = await users.add_user(uow, users.NewUser(body.name, tuple(body.roles), tuple(body.patches),
                                                                  dict(body.approval_limits)))
        except users.UserError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        await uow.commit()
    return {**user, "token": token}


@router.get("/users", tags=["users"], summary="users (never their tokens)", dependencies=[Depends(ADMIN)])
async def list_users(request: Request) -> Any:
    async with request.app.state.runtime.uow() as uow:
        return {"users": await users.list_users(uow.raw)}


@router.post("/users/{name}/disable", response_model=UserOut, tags=["users"],
             summary="disable a user: their token stops working at once here, and in the other services as soon "
                     "as they take in identity.users.v1 (milliseconds)")
async def disable_user(name: Annotated[Text, Path(max_length=200)], request: Request,
                       caller: Caller = Depends(ADMIN)) -> Any:
    async with _uow(request, caller) as uow:
        try:
            user = await users.disable_user(uow, name)
        except users.UserError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        await uow.commit()
    return user


@router.post("/users/{name}/token", response_model=UserOut, tags=["users"],
             summary="a new token for a user (shown once; the old one stops working)")
async def new_token(name: Annotated[Text, Path(max_length=200)], request: Request,
                    caller: Caller = Depends(ADMIN)) -> Any:
    async with _uow(request, caller) as uow:
        try:
            user, token = await users.rotate_token(uow, name)
        except users.UserError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        await uow.commit()
    return {**user, "token": token}
