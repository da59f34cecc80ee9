"""GET /v1/kpi."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Query, Request, Response

from rentflow_common.db import UnitOfWork

from rentflow_reporting.domain.snapshot import dumps
from rentflow_reporting.service_layer.handlers import annual_return, kpi_snapshot, today_london

router = APIRouter(prefix="/v1", tags=["kpi"])


@router.get(
    "/kpi",
    summary="KPI snapshot for the latest period ending on or before as_of",
    description="The latest week/month/quarter/year whose last day is on or before `as_of` (default: today, "
                "Europe/London). When no such period has any activity yet, the current period to date, with "
                "`complete: false`. Every KPI of DOMAIN.md §5 the ledger's events allow, with `definitions`. "
                "Percentages are JSON numbers with two decimals, null when the denominator is 0. The snapshot "
                "is stored and emitted on reporting.kpi-snapshots.v1 (once per distinct content).",
    responses={200: {"content": {"application/json": {}}}},
)
async def get_kpi(request: Request,
                  period: Literal["week", "month", "quarter", "year"] = Query("month"),
                  as_of: dt.date | None = Query(None, description="YYYY-MM-DD; default today (Europe/London)")
                  ) -> Response:
    engine = request.app.state.runtime.engine
    async with UnitOfWork(engine) as uow:
        snapshot = await kpi_snapshot(uow, period, as_of or today_london())
        await uow.commit()
    return Response(content=dumps(snapshot), media_type="application/json")


@router.get(
    "/returns/{kind}",
    tags=["returns"],
    summary="Annual extract: LAHS rent arrears figures (lahs) or benchmarking measures (benchmark)",
    description="For the financial year 1 April `year` – 31 March `year`+1, each item with its value, unit and "
                "definition. While the year runs, the figures are to date (`complete: false`, `through`).",
)
async def get_return(request: Request, kind: Literal["lahs", "benchmark"],
                     year: int = Query(..., ge=1900, le=9998, description="the April the financial year starts in"),
                     ) -> Response:
    async with UnitOfWork(request.app.state.runtime.engine) as uow:
        body = await annual_return(uow, kind, year, today_london())
    return Response(content=dumps(body), media_type="application/json")
