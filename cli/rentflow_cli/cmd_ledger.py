"""Ledger commands beyond the skeleton: maker-checker adjustments, approvers, period close,
rent-free weeks and the year-end uprating. Each calls the ledger's HTTP API (services/ledger)."""
from __future__ import annotations

from typing import Any, Optional

import typer

JSON = typer.Option(False, "--json", help="print one JSON document")
TYPES = ("adjustment", "refund", "write_off", "transfer")


def register(app: typer.Typer, ctx: dict[str, Any]) -> None:
    client, emit_json, out, pounds = ctx["client"], ctx["emit_json"], ctx["out"], ctx["pounds"]
    CommandError, parse_date = ctx["CommandError"], ctx["parse_date"]
    adjust_app = typer.Typer(no_args_is_help=True, help="adjustments, refunds, write-offs and transfers "
                                                        "(a request, then a manager's approval)")
    rents_app = typer.Typer(no_args_is_help=True, help="rents: year-end uprating")
    app.add_typer(adjust_app, name="adjust")
    app.add_typer(rents_app, name="rents")
    gl_app, ledger_app = ctx["typer_apps"]["gl"], ctx["typer_apps"]["ledger"]

    @adjust_app.command("request")
    def adjust_request(account_ref: str = typer.Argument(..., metavar="REF"),
                       type_: str = typer.Option(..., "--type", help="adjustment | refund | write_off | transfer"),
                       amount_pence: int = typer.Option(..., "--amount-pence", help="adjustment: signed; others > 0"),
                       to: Optional[str] = typer.Option(None, "--to", help="the account a transfer goes to"),
                       reason: str = typer.Option(..., "--reason", help="why (write-offs: a listed reason)"),
                       by: str = typer.Option(..., "--by", help="who asks"),
                       json_out: bool = JSON) -> None:
        """Request an adjustment; prints its request_id. Nothing is posted until a manager approves it."""
        if type_ not in TYPES:
            raise CommandError(f"--type must be one of {', '.join(TYPES)}, not {type_!r}")
        body = {"account_ref": account_ref, "type": type_, "amount_pence": amount_pence, "to_account_ref": to,
                "reason": reason, "by": by}
        result = client().post("ledger", "/v1/adjustments", json=body)
        if json_out:
            emit_json(result)
        else:
            out.print(result["request_id"])

    @adjust_app.command("approve")
    def adjust_approve(request_id: str = typer.Argument(..., metavar="REQUEST_ID"),
                       by: str = typer.Option(..., "--by", help="a manager who is not the requester"),
                       json_out: bool = JSON) -> None:
        """Approve and post a request (refused when BY is the requester or not a manager, or when a refund
        exceeds the credit balance)."""
        result = client().post("ledger", f"/v1/adjustments/{request_id}/approve", json={"by": by})
        if json_out:
            emit_json(result)
        else:
            out.print(f"approved {result['type']} {result['request_id']} on {result['account_ref']}: "
                      f"balance now {pounds(result['balance_pence'])}")

    @adjust_app.command("list")
    def adjust_list(status: Optional[str] = typer.Option(None, "--status", help="pending | approved"),
                    json_out: bool = JSON) -> None:
        """Adjustment requests."""
        result = client().get("ledger", "/v1/adjustments", params={"status": status} if status else {})
        if json_out:
            emit_json(result)
            return
        ctx["table"]("adjustment requests", ["request_id", "account", "type", "amount", "by", "status", "approved_by"],
                     [[r["request_id"], r["account_ref"], r["type"], pounds(r["amount_pence"]), r["requested_by"],
                       r["status"], r["approved_by"] or ""] for r in result["requests"]])

    @adjust_app.command("approver")
    def adjust_approver(name: str = typer.Argument(...),
                        role: str = typer.Option("manager", "--role", help="manager | officer"),
                        json_out: bool = JSON) -> None:
        """Register who may approve with the ledger only (`officers add` registers with both services)."""
        result = client().post("ledger", "/v1/approvers", json={"name": name, "role": role})
        emit_json(result) if json_out else out.print(f"{result['name']}: {result['role']}")

    @ctx["typer_apps"]["suspense"].command("move")
    def suspense_move(transaction_id: str = typer.Argument(..., metavar="TRANSACTION_ID"),
                      account_ref: str = typer.Argument(..., metavar="REF"),
                      by: str = typer.Option(..., "--by"), note: str = typer.Option(..., "--note"),
                      json_out: bool = JSON) -> None:
        """Move a receipt posted to the wrong account to REF (reversal and re-post)."""
        result = client().post("ledger", f"/v1/transactions/{transaction_id}/move",
                               json={"account_ref": account_ref, "by": by, "note": note})
        if json_out:
            emit_json(result)
        else:
            out.print(f"moved to {result['account_ref']}: balance {pounds(result['balance_pence'])}; "
                      f"{result['from_account_ref']} now {pounds(result['from_balance_pence'])}")

    @gl_app.command("close")
    def gl_close(period: str = typer.Option(..., "--period", help="YYYY-MM"),
                 by: str = typer.Option("operator", "--by", help="who closes it"),
                 json_out: bool = JSON) -> None:
        """Close a month: no postings land in it afterwards (late items go to the next open month)."""
        result = client().post("ledger", f"/v1/periods/{period}/close", json={"by": by})
        emit_json(result) if json_out else out.print(f"period {result['period']} closed by {result['closed_by']}")

    @gl_app.command("daily")
    def gl_daily(date: str = typer.Option(..., "--date", help="YYYY-MM-DD (Europe/London)"),
                 fmt: str = typer.Option("table", "--format", help="table, json or csv"),
                 json_out: bool = JSON) -> None:
        """The day's batch for finance: journals posted that day, totalled per GL code and period."""
        if fmt not in ("table", "json", "csv"):
            raise CommandError(f"--format must be table, json or csv, not {fmt!r}")
        result = client().get("ledger", "/v1/gl/daily", params={"date": date})
        if json_out or fmt == "json":
            emit_json(result)
        elif fmt == "csv":
            out.file.write("date,period,gl_code,debit_pence,credit_pence,net_pence\n")
            for x in result["lines"]:
                out.file.write(f"{result['date']},{x['period']},{x['gl_code']},{x['debit_pence']},"
                               f"{x['credit_pence']},{x['net_pence']}\n")
        else:
            ctx["table"](f"GL batch {result['date']}: {result['journals']} journals, "
                         f"{'balanced' if result['balanced'] else 'NOT BALANCED'}",
                         ["period", "gl_code", "debit", "credit"],
                         [[x["period"], x["gl_code"], pounds(x["debit_pence"]), pounds(x["credit_pence"])]
                          for x in result["lines"]])

    @ledger_app.command("rent-free-weeks")
    def rent_free_weeks(rent_year: int = typer.Option(..., "--year", help="rent year by its April: 2026 = 2026/27"),
                        weeks: list[int] = typer.Option(..., "--week", help="rent week number (repeat)"),
                        json_out: bool = JSON) -> None:
        """Set the rent-free weeks of a rent year (no debit is raised in them)."""
        result = client().post("ledger", "/v1/rent-free-weeks", json={"rent_year": rent_year, "weeks": weeks})
        emit_json(result) if json_out else out.print(f"{result['rent_year']}: rent-free weeks {result['weeks']}")

    @rents_app.command("uprate")
    def rents_uprate(percent: str = typer.Option(..., "--percent", help="e.g. 4.8"),
                     effective: str = typer.Option(..., "--effective", help="YYYY-MM-DD (a Monday)"),
                     json_out: bool = JSON) -> None:
        """Raise every current tenancy's weekly rent by PERCENT from DATE (rounded half up to the penny)."""
        parse_date(effective, "--effective")
        result = client().post("ledger", "/v1/rents/uprate", json={"percent": percent, "effective": effective})
        if json_out:
            emit_json(result)
        else:
            out.print(f"{result['changed']} tenancies uprated by {result['percent']}% from {result['effective']} "
                      f"({result['unchanged']} already done); weekly rent roll {pounds(result['old_weekly_pence'])} "
                      f"→ {pounds(result['new_weekly_pence'])}")
