"""Operations commands: the control total across services (`payments reconcile`), republishing
from the outbox (`replay`), and dead letters (`dlq list|show|retry`). Each calls the services'
HTTP APIs (the ops routes every service has, libs/common/rentflow_common/service.py)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Optional

import typer

from rentflow_cli.output import Col

SERVICES = ("payments", "ledger", "notifications", "reporting")
JSON = typer.Option(False, "--json", help="print one JSON document")


def control_total(client: Any, day: dt.date | None = None) -> dict[str, Any]:
    """Intake accepted against ledger posted + in suspense, per business day and channel.

    Three databases, read one after the other while payments flow: downstream first (reporting, the
    ledger, then intake), as `reconcile` lists each group's payments (the ledger's, then intake's). A
    payment moving on during the reads is then only not there yet downstream (missing, not counted yet),
    never in the ledger unaccepted (unknown) nor counted by reporting beyond the ledger."""
    from rentflow_common.control import reconcile, reconcile_reporting

    params = {"date": day.isoformat()} if day else {}
    reporting = client.get("reporting", "/v1/control-totals", params=params)["groups"]
    ledger = client.get("ledger", "/v1/control-totals", params=params)["groups"]
    accepted = client.get("payments", "/v1/control-totals", params=params)["groups"]

    def items(side: str, on: str, channel: str) -> list[tuple[str, int]]:
        service = "payments" if side == "accepted" else "ledger"
        got = client.get(service, "/v1/control-totals", params={"date": on, "channel": channel})["items"]
        return [(pid, int(pence)) for pid, pence in got]

    result = reconcile(accepted, ledger, items)
    return {"date": day.isoformat() if day else None, **reconcile_reporting(result, reporting)}


def describe_control(result: dict[str, Any], pounds: Callable[[int], str]) -> str:
    parts = [f"{len(result[k])} {k.replace('_', ' ')}" for k in ("missing", "doubled", "unknown", "amounts_differ")
             if result[k]]
    if not result.get("reporting_balanced", True):
        parts.append(f"reporting counted {result['reporting_count']} as collected")
    return (f"intake accepted {result['accepted_count']} payments ({pounds(result['accepted_pence'])}), the ledger "
            f"posted or holds in suspense {result['ledger_count']} ({pounds(result['ledger_pence'])})"
            + (f": {', '.join(parts)}" if parts else ""))


def balances(result: dict[str, Any]) -> bool:
    return bool(result["balanced"] and result.get("reporting_balanced", True))


def register(app: typer.Typer, ctx: dict[str, Any]) -> None:
    client, emit_json, out, err, table, pounds = (ctx["client"], ctx["emit_json"], ctx["out"], ctx["err"],
                                                  ctx["table"], ctx["pounds"])
    CommandError, parse_date = ctx["CommandError"], ctx["parse_date"]
    payments_app = ctx["typer_apps"]["payments"]
    dlq_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                          help="dead letters: messages a consumer could not handle, with the reason")
    app.add_typer(dlq_app, name="dlq")

    @payments_app.command("reconcile")
    def payments_reconcile(date: Optional[str] = typer.Option(None, "--date", metavar="YYYY-MM-DD",
                                                              help="only this business day (default: every day)"),
                           json_out: bool = JSON) -> None:
        """Control total: what intake accepted against what the ledger posted or holds in suspense, per
        day and channel; names payments missing from the ledger or taken twice. Exits 1 when it does not
        balance."""
        day = parse_date(date, "--date") if date else None
        result = control_total(client(), day)
        if json_out:
            emit_json(result)
        else:
            table(f"control total{' ' + day.isoformat() if day else ''}: intake accepted vs ledger (posted or in "
                  "suspense)",
                  [Col("day"), Col("channel"), Col("accepted", "right"), Col("£ accepted", "right"),
                   Col("ledger", "right"), Col("£ ledger", "right"), Col("reporting", "right", drop=1), Col("state")],
                  [[g["day"], g["channel"], g["accepted_count"], pounds(g["accepted_pence"]), g["ledger_count"],
                    pounds(g["ledger_pence"]), g.get("reporting_count"),
                    "balanced" if g["balanced"] and g.get("reporting_count") == g["ledger_count"] else "NOT balanced"]
                   for g in result["groups"]])
            for key in ("missing", "doubled", "unknown", "amounts_differ"):
                for pid in result[key][:50]:
                    out.print(f"  {key.replace('_', ' ')}: payment {pid}", highlight=False)
        if not balances(result):
            raise CommandError(f"the control total does not balance: {describe_control(result, pounds)}")
        if not json_out:
            err.print(f"balanced: {describe_control(result, pounds)}", highlight=False)

    @app.command("replay")
    def replay(since: str = typer.Option(..., "--since", metavar="DATETIME",
                                         help="republish events published at or after this instant (ISO 8601; "
                                              "without an offset, Europe/London time)"),
               topic: Optional[list[str]] = typer.Option(None, "--topic", metavar="TOPIC",
                                                         help="only this topic (repeat for more; default every topic)"),
               service: Optional[list[str]] = typer.Option(None, "--service", metavar="NAME",
                                                           help="only this service's outbox (repeat; default all)"),
               json_out: bool = JSON) -> None:
        """Publish retained outbox events again from a time (after a broker was lost or rebuilt); the
        consumers absorb what they already had."""
        at = parse_instant(since, CommandError)
        for name in service or ():
            if name not in SERVICES:
                raise CommandError(f"--service must be one of {', '.join(SERVICES)}, not {name!r}")
        c = client()
        body: dict[str, Any] = {"since": at.isoformat(), **({"topics": topic} if topic else {})}
        result = {name: c.post(name, "/v1/ops/replay", json=body) for name in (service or SERVICES)}
        if json_out:
            return emit_json(result)
        for name, r in result.items():
            topics = r.get("republishing") or {}
            what = ", ".join(f"{t} ({n} events)" for t, n in sorted(topics.items()))
            out.print(f"{name}: republishing since {r['since']}: {what or 'nothing retained'}", highlight=False)

    def find(dead_letter_id: int) -> tuple[str, dict[str, Any]]:
        c = client()
        for name in SERVICES:
            try:
                return name, c.get(name, f"/v1/ops/dead-letters/{dead_letter_id}", ok=(200,))
            except CommandError as exc:
                if "answered 404" not in str(exc):
                    raise
        raise CommandError(f"no dead letter {dead_letter_id} in any service") from None

    @dlq_app.command("list")
    def dlq_list(status: Optional[str] = typer.Option(None, "--status", metavar="STATUS",
                                                      help="open, parked, retried or discarded (default: all)"),
                 limit: int = typer.Option(100, "--limit", metavar="N", min=1, max=10_000,
                                           help="at most this many per service"),
                 json_out: bool = JSON) -> None:
        """Dead letters of every service, with the reason each was set aside."""
        if status is not None and status not in ("open", "parked", "retried", "discarded"):
            raise CommandError(f"--status must be open, parked, retried or discarded, not {status!r}")
        c = client()
        params: dict[str, Any] = {"limit": limit, **({"status": status} if status else {})}
        rows = [{"service": name, **d} for name in SERVICES
                for d in c.get(name, "/v1/ops/dead-letters", params=params)]
        if json_out:
            return emit_json(rows)
        table("dead letters (rentflow dlq show ID: the message; rentflow dlq retry ID: handle it again)",
              [Col("id", "right"), Col("service"), Col("group", drop=2), Col("topic", drop=1), Col("status"),
               Col("reason", wrap=True)],
              [[d["id"], d["service"], d["group_id"], d["topic"], d["status"], d["reason"]] for d in rows])

    @dlq_app.command("show")
    def dlq_show(dead_letter_id: int = typer.Argument(..., metavar="ID", min=1, help="the dead letter's id"),
                 json_out: bool = JSON) -> None:
        """One dead letter: where it came from, why, and the message itself."""
        service, doc = find(dead_letter_id)
        doc = {"service": service, **doc}
        if json_out:
            return emit_json(doc)
        for key in ("id", "service", "group_id", "topic", "partition", "offset", "key", "event_id", "status",
                    "dead_lettered_at", "resolved_at", "resolved_by", "reason"):
            if doc.get(key) is not None:
                out.print(f"{key:<17} {doc[key]}", highlight=False, markup=False)
        out.print("message", highlight=False)
        out.print(doc.get("message") or "", highlight=False, markup=False)

    @dlq_app.command("retry")
    def dlq_retry(dead_letter_id: int = typer.Argument(..., metavar="ID", min=1, help="the dead letter's id"),
                  by: str | None = typer.Option(None, "--by", metavar="NAME",
                                                help="not needed: who retries is the token's user (refused if different)"),
                  json_out: bool = JSON) -> None:
        """Handle a dead letter again (after the cause is fixed), then what was parked behind it."""
        service, _ = find(dead_letter_id)
        result = client().post(service, f"/v1/ops/dead-letters/{dead_letter_id}/retry",
                               json={"by": by} if by else None)
        if json_out:
            return emit_json({"service": service, **result})
        out.print(f"dead letter {dead_letter_id} ({service}) handled again; with what was parked behind it, "
                  f"{len(result.get('retried') or [])} message(s) retried", highlight=False, markup=False)


def parse_instant(value: str, error: type[Exception]) -> dt.datetime:
    from zoneinfo import ZoneInfo

    try:
        at = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise error(f"--since must be a date and time such as 2026-10-05T09:00 or 2026-10-05T09:00+01:00, "
                    f"not {value!r}") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo("Europe/London"))
    return at
