"""A control total across services (intake accepted = ledger posted + in suspense), and the route
each side answers it with: GET /v1/control-totals, per business day and channel, and with
`channel=` the payments themselves (asked only for a day and channel whose totals differ).

`reconcile` compares two sides: the CLI's `rentflow payments reconcile` and `rentflow wait`."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any, Awaitable, Callable, Iterable

from fastapi import APIRouter, Depends, HTTPException, Query

from rentflow_common.auth import require

Totals = Callable[[Any, "dt.date | None"], Awaitable[list[dict[str, Any]]]]
Items = Callable[[Any, dt.date, str], Awaitable[list[tuple[str, int]]]]


def control_router(runtime: Any, side: str, totals: Totals, items: Items | None, what: str) -> APIRouter:
    """`items` None: the side keeps totals only (reporting), and `channel=` is refused."""
    router = APIRouter(prefix="/v1", tags=["ops"])

    @router.get("/control-totals", summary=f"control total: {what}, per business day and channel",
                dependencies=[Depends(require("finance", "ops", "admin"))],
                description="`count` and `pence` per Europe/London business day and channel; with `channel` (and "
                            "`date`) also `items`: [payment_id, pence] of that day and channel.")
    async def control_totals(date: dt.date | None = Query(None, description="only this business day"),
                             channel: str | None = Query(None, max_length=50, pattern=r"^[a-z_]+$",
                                                         description="list the payments of this channel (needs date)")
                             ) -> dict[str, Any]:
        if date is not None and not dt.date(2000, 1, 1) <= date <= dt.date(2100, 12, 31):
            raise HTTPException(422, [{"field": "date", "reason": "must be a date between 2000 and 2100"}])
        async with runtime.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            if channel is not None:
                if items is None:
                    raise HTTPException(422, [{"field": "channel", "reason": f"{side} keeps totals, not payments"}])
                if date is None:
                    raise HTTPException(422, [{"field": "date", "reason": "listing a channel's payments needs date"}])
                return {"side": side, "date": date.isoformat(), "channel": channel,
                        "items": [list(i) for i in await items(raw, date, channel)]}
            return {"side": side, "date": date.isoformat() if date else None, "groups": await totals(raw, date)}

    return router


CONTROL_KEYS = ("balanced", "accepted_count", "accepted_pence", "ledger_count", "ledger_pence", "missing", "doubled")


def reconcile_reporting(result: dict[str, Any], reporting: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Adds reporting's collected count to each group of `result` (`reporting_count`) and
    `reporting_balanced`: every day and channel counted by reporting as often as the ledger has it."""
    counted = {(g["day"], g["channel"]): int(g["count"]) for g in reporting}
    groups = {(g["day"], g["channel"]): g for g in result["groups"]}
    for key in sorted(set(counted) - set(groups)):
        groups[key] = {"day": key[0], "channel": key[1], "balanced": False, "accepted_count": 0, "accepted_pence": 0,
                       "ledger_count": 0, "ledger_pence": 0, "missing": [], "doubled": [], "unknown": [],
                       "amounts_differ": []}
    for key, g in groups.items():
        g["reporting_count"] = counted.get(key, 0)
    result["groups"] = [groups[k] for k in sorted(groups)]
    result["reporting_count"] = sum(counted.values())
    # statement lump sums are taken by the ledger's cash book, never posted: reporting counts their detail
    result["reporting_balanced"] = all(g["reporting_count"] == g["ledger_count"] - g.get("ledger_lumps", 0)
                                       for g in result["groups"])
    return result


def reconcile(accepted: Iterable[dict[str, Any]], ledger: Iterable[dict[str, Any]],
              items: Callable[[str, str, str], list[tuple[str, int]]]) -> dict[str, Any]:
    """Intake's totals against the ledger's, per day and channel. Where a group differs,
    `items(side, day, channel)` lists its payments, to name those `missing` (accepted, not in the
    ledger), `doubled` (in the ledger more than once) and `unknown` (in the ledger, never accepted)
    and those whose amount differs (the ledger's listed first: a payment is accepted before it is
    posted, so one posted meanwhile is never unknown). Balanced when every group's counts and pence
    agree and nothing is missing, doubled or unknown."""
    a = {(g["day"], g["channel"]): g for g in accepted}
    b = {(g["day"], g["channel"]): g for g in ledger}
    groups = []
    for day, channel in sorted(set(a) | set(b)):
        ga, gb = a.get((day, channel), {}), b.get((day, channel), {})
        g: dict[str, Any] = {"day": day, "channel": channel,
                             "accepted_count": int(ga.get("count", 0)), "accepted_pence": int(ga.get("pence", 0)),
                             "ledger_count": int(gb.get("count", 0)), "ledger_pence": int(gb.get("pence", 0)),
                             "ledger_lumps": int(gb.get("lumps", 0)), "missing": [], "doubled": list(gb.get("doubled", [])), "unknown": [], "amounts_differ": []}
        if (g["accepted_count"], g["accepted_pence"]) != (g["ledger_count"], g["ledger_pence"]) or g["doubled"]:
            theirs_list = items("ledger", day, channel) if gb else []  # first: what it has, intake accepted
            ours = dict(items("accepted", day, channel)) if ga else {}
            seen = Counter(pid for pid, _ in theirs_list)
            theirs = dict(theirs_list)
            g["missing"] = sorted(set(ours) - set(theirs))
            g["doubled"] = sorted({pid for pid, n in seen.items() if n > 1} | set(g["doubled"]))
            g["unknown"] = sorted(set(theirs) - set(ours))
            g["amounts_differ"] = sorted(pid for pid in set(ours) & set(theirs) if ours[pid] != theirs[pid])
        g["balanced"] = ((g["accepted_count"], g["accepted_pence"]) == (g["ledger_count"], g["ledger_pence"])
                         and not (g["missing"] or g["doubled"] or g["unknown"] or g["amounts_differ"]))
        groups.append({k: g[k] for k in ("day", "channel", *CONTROL_KEYS, "ledger_lumps", "unknown", "amounts_differ")})
    total: dict[str, Any] = {
        "balanced": all(g["balanced"] for g in groups),
        **{k: sum(g[k] for g in groups) for k in ("accepted_count", "accepted_pence", "ledger_count", "ledger_pence")},
        **{k: [p for g in groups for p in g[k]] for k in ("missing", "doubled", "unknown", "amounts_differ")},
        "groups": groups}
    return total
