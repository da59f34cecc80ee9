"""GET /v1/kpi."""
from __future__ import annotations

import asyncio
import pathlib
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from rentflow_common.auth import Caller, outside_patch, require
from rentflow_common.inputs import LATEST_DATE, Day, Text
from rentflow_common.service import correlation_id

from rentflow_reporting.domain.snapshot import dumps
from rentflow_reporting.domain.statements import QUARTER_HELP, BadQuarter, parse_quarter, quarter_name
from rentflow_reporting.adapters import statement_files
from rentflow_reporting.service_layer.statements import BadOutput, NotReady, account_statement
from rentflow_reporting.service_layer.handlers import annual_return, read_kpis, record_snapshot, today_london

router = APIRouter(prefix="/v1", tags=["kpi"])
FINANCE = [Depends(require("finance"))]


@router.get(
    "/kpi",
    dependencies=[Depends(require("finance", "manager", "ops"))],
    summary="KPI snapshot for the latest period ending on or before as_of",
    description="The latest week/month/quarter/year whose last day is on or before `as_of` (default: today, "
                "Europe/London). When no such period has any activity yet, the current period to date, with "
                "`complete: false`. Every KPI of docs/domain.md §5 the ledger's events allow, with `definitions`. "
                "Percentages are JSON numbers with two decimals, null when the denominator is 0. The snapshot "
                "is stored and emitted on reporting.kpi-snapshots.v1 (once per distinct content).",
    responses={200: {"content": {"application/json": {}}}},
)
async def get_kpi(request: Request,
                  period: Literal["week", "month", "quarter", "year"] = Query("month"),
                  as_of: Annotated[Day | None, Query(description="YYYY-MM-DD; default today (Europe/London)")] = None
                  ) -> Response:
    runtime = request.app.state.runtime
    async with runtime.uow(correlation_id=correlation_id(request)) as reader:
        computed = await read_kpis(reader, period, as_of or today_london())
    async with runtime.uow(correlation_id=correlation_id(request)) as uow:
        snapshot = await record_snapshot(uow, computed)
        await uow.commit()
    return Response(content=dumps(snapshot), media_type="application/json")


@router.get(
    "/returns/{kind}",
    dependencies=FINANCE,
    tags=["returns"],
    summary="Annual extract: LAHS rent arrears figures (lahs) or benchmarking measures (benchmark)",
    description="For the financial year 1 April `year` – 31 March `year`+1, each item with its value, unit and "
                "definition. While the year runs, the figures are to date (`complete: false`, `through`).",
)
async def get_return(request: Request, kind: Literal["lahs", "benchmark"],
                     year: int = Query(..., ge=1900, le=LATEST_DATE.year - 1,
                                       description="the April the financial year starts in"),
                     as_of: Annotated[Day | None, Query(description="figures as known on this date (default today); "
                                                                    "after 31 March the year is complete")] = None,
                     ) -> Response:
    async with request.app.state.runtime.uow(correlation_id=correlation_id(request)) as uow:
        body = await annual_return(uow, kind, year, as_of or today_london())
    return Response(content=dumps(body), media_type="application/json")


class StatementRunRequest(BaseModel):
    quarter: Text = Field(max_length=20, description=QUARTER_HELP, examples=["2026-Q3"])
    output_dir: Text | None = Field(None, max_length=4096, description="no longer accepted (422): the service "
                                    "writes into its own folder and the files are downloaded from the run")


OUTPUT_DIR_GONE = ("output_dir: the service writes statements into its own folder (RENTFLOW_STATEMENTS_DIR), never "
                   "where a request names; download them with GET /v1/statements/runs/{run_id}/archive (or "
                   "`rentflow statements run --output DIR`, which does that)")


@router.post("/statements/runs", status_code=202, tags=["statements"],
             summary="Start writing every account's rent statement for a quarter (PDF and CSV) into the service's "
                     "folder; download them from the run once it is done (its start and end are audited as the "
                     "caller)")
async def start_statement_run(request: Request, body: StatementRunRequest,
                              caller: Annotated[Caller, Depends(require("finance"))]) -> Response:
    if body.output_dir is not None:
        raise HTTPException(422, OUTPUT_DIR_GONE)
    runtime = request.app.state.runtime
    try:
        run = await runtime.statements.start(body.quarter, audit_as=lambda: runtime.uow_for(request, caller))
    except BadQuarter as exc:
        raise HTTPException(422, str(exc)) from None
    except BadOutput as exc:
        raise HTTPException(503, str(exc)) from None
    return Response(content=dumps(run.as_dict()), media_type="application/json", status_code=202)


def _done_folder(request: Request, run_id: uuid.UUID) -> pathlib.Path:
    try:
        found = request.app.state.runtime.statements.folder_of(run_id)
    except NotReady as exc:
        raise HTTPException(409, f"{exc}: its files are there once it is done") from None
    if found is None:
        raise HTTPException(404, f"no statement run {run_id}")
    return found[0]  # type: ignore[no-any-return]


@router.get("/statements/runs/{run_id}/files", tags=["statements"], dependencies=FINANCE, summary="The files of a finished run",
            responses={200: {"description": '{"run_id", "files": ["index.csv", "pdf/REF.pdf", "csv/REF.csv", ...]}'},
                       409: {"description": "the run is still running, or failed"}})
async def statement_run_files(request: Request, run_id: uuid.UUID) -> Response:
    folder = _done_folder(request, run_id)
    names = await asyncio.to_thread(statement_files.run_files, folder)
    return Response(content=dumps({"run_id": run_id, "files": names}), media_type="application/json")


@router.get("/statements/runs/{run_id}/files/{name:path}", tags=["statements"], dependencies=FINANCE,
            summary="One file of a finished run: index.csv, pdf/REF.pdf or csv/REF.csv")
async def statement_run_file(request: Request, run_id: uuid.UUID,
                             name: Annotated[Text, Path(max_length=300)]) -> FileResponse:
    folder = _done_folder(request, run_id)
    path = statement_files.run_file(folder, name)
    if path is None:
        raise HTTPException(404, f"no file {name!r} in statement run {run_id} (index.csv, pdf/REF.pdf, csv/REF.csv)")
    media = "application/pdf" if path.suffix == ".pdf" else "text/csv"
    return FileResponse(path, media_type=media, filename=path.name)


@router.get("/statements/runs/{run_id}/archive", tags=["statements"], dependencies=FINANCE,
            summary="Every file of a finished run as one zip (statements-QUARTER/index.csv, pdf/, csv/)",
            responses={409: {"description": "the run is still running, or failed"}})
async def statement_run_archive(request: Request, run_id: uuid.UUID) -> FileResponse:
    _done_folder(request, run_id)
    path = await request.app.state.runtime.statements.archive(run_id)
    return FileResponse(path, media_type="application/zip", filename=f"statements-{run_id}.zip")


@router.get("/statements/runs/{run_id}", tags=["statements"], dependencies=FINANCE, summary="Progress of a statement run")
async def get_statement_run(request: Request, run_id: uuid.UUID) -> Response:
    run = request.app.state.runtime.statements.runs.get(run_id)
    if run is None:
        raise HTTPException(404, f"no statement run {run_id} (runs are forgotten when the service restarts)")
    return Response(content=dumps(run.as_dict()), media_type="application/json")


@router.get("/statements/{quarter}/{account_ref}", tags=["statements"],
            summary="One account's statement for a quarter, as JSON (an officer: in their own patches)")
async def get_statement(request: Request, quarter: Annotated[Text, Path(max_length=20)],
                        account_ref: Annotated[Text, Path(max_length=100)],
                        caller: Annotated[Caller, Depends(require("finance", "officer", "manager"))]) -> Response:
    try:
        period = parse_quarter(quarter)
    except BadQuarter as exc:
        raise HTTPException(422, str(exc)) from None
    s = await account_statement(request.app.state.runtime.engine, period, account_ref)
    if s is None:
        raise HTTPException(404, f"no statement for {account_ref} in {quarter_name(period)}")
    if caller.patch_scope is not None:
        async with request.app.state.runtime.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            patch = await raw.fetchval("select patch from account_state where account_ref = $1", s.account_ref)
        if not caller.may_work(patch):
            raise outside_patch(caller, s.account_ref, patch)
    body = {"account_ref": s.account_ref, "tenant_name": s.tenant_name, "property": s.property,
            "quarter": quarter_name(period), "period_start": period.start, "period_end": period.end,
            "opening_balance_pence": s.opening_pence, "closing_balance_pence": s.closing_pence,
            "transactions": [{"date": x.date, "type": x.type_code, "meaning": x.meaning,
                              "amount_pence": x.amount_pence, "balance_pence": x.balance_pence} for x in s.lines]}
    return Response(content=dumps(body), media_type="application/json")
