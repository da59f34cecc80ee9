"""HTTP for officers and their tasks."""
from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from rentflow_common.db import UnitOfWork
from rentflow_common.service import correlation_id
from rentflow_common.inputs import Text
from rentflow_schemas.notifications import TASK_KINDS
from rentflow_notifications.domain.tasks import TaskConflict
from rentflow_notifications.service_layer import handlers

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
    by: Text = Field(max_length=200)

    @field_validator("by")
    @classmethod
    def _by(cls, v: str) -> str:
        return _clean(v, "by")


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


def _uow(request: Request) -> UnitOfWork:
    return request.app.state.runtime.uow(correlation_id=correlation_id(request))


@router.post("/officers", response_model=OfficerOut, status_code=201, tags=["officers"],
             responses={200: {"description": "an existing officer updated", "model": OfficerOut}})
async def add_officer(body: OfficerIn, request: Request, response: Response) -> dict[str, Any]:
    cmd = handlers.RegisterOfficer(name=body.name, patches=tuple(body.patches), role=body.role)
    async with _uow(request) as uow:
        officer, created = await handlers.register_officer(uow, cmd)
        await uow.commit()
    response.status_code = 201 if created else 200
    return _officer(officer)


@router.get("/officers", response_model=OfficersOut, tags=["officers"])
async def get_officers(request: Request) -> dict[str, Any]:
    async with _uow(request) as uow:
        return {"officers": [_officer(o) for o in await handlers.list_officers(uow)]}


@router.get("/tasks", response_model=TasksOut, tags=["tasks"],
            summary="tasks, soonest due first (at most limit); count is how many match")
async def get_tasks(
    request: Request,
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
    async with _uow(request) as uow:
        rows = await handlers.list_tasks(uow, status=status, kind=kind or None, assigned_to=assigned_to or None,
                                         account_ref=account_ref or None, limit=limit)
    return {"tasks": [_task(r) for r in rows], "count": rows[0]["total"] if rows else 0}


@router.post("/tasks/{task_id}/claim", response_model=TaskOut, tags=["tasks"],
             responses={404: {"description": "unknown task"}, 409: {"description": "done, or claimed by another"}})
async def claim(task_id: uuid.UUID, body: ClaimIn, request: Request) -> Any:
    try:
        async with _uow(request) as uow:
            task = await handlers.claim_task(uow, task_id, body.by)
            await uow.commit()
    except handlers.TaskNotFound:
        return JSONResponse({"detail": f"unknown task {task_id}"}, status_code=404)
    except TaskConflict as exc:
        return JSONResponse({"detail": str(exc)}, status_code=409)
    return _task(task)


@router.post("/tasks/{task_id}/complete", response_model=TaskOut, tags=["tasks"],
             responses={404: {"description": "unknown task"}, 409: {"description": "already done"}})
async def complete(task_id: uuid.UUID, body: CompleteIn, request: Request) -> Any:
    try:
        async with _uow(request) as uow:
            task = await handlers.complete_task(uow, task_id, body.by, body.outcome)
            await uow.commit()
    except handlers.TaskNotFound:
        return JSONResponse({"detail": f"unknown task {task_id}"}, status_code=404)
    except TaskConflict as exc:
        return JSONResponse({"detail": str(exc)}, status_code=409)
    return _task(task)
