"""Ledger commands beyond the skeleton: maker-checker adjustments, approvers, period close,
rent-free weeks and the year-end uprating. Each calls the ledger's HTTP API (services/ledger)."""
from __future__ import annotations

from typing import Any, Optional

import typer

from rentflow_common.exports import csv_writer

from rentflow_cli.output import Col

BY_OPTIONAL = ("no longer needed: who acts is the token's user (RENTFLOW_TOKEN or --token); "
               "naming anyone else is refused")
JSON = typer.Option(False, "--json", help="print one JSON document")
TYPES = ("adjustment", "refund", "write_off", "transfer")
MOVES = ("debt", "credit")


def register(app: typer.Typer, ctx: dict[str, Any]) -> None:
    client, emit_json, out, pounds = ctx["client"], ctx["emit_json"], ctx["out"], ctx["pounds"]
    CommandError, parse_date = ctx["CommandError"], ctx["parse_date"]
    adjust_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="adjustments, refunds, write-offs and transfers "
                                                        "(a request, then a manager's approval)")
    rents_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="rents: year-end uprating")
    app.add_typer(adjust_app, name="adjust")
    app.add_typer(rents_app, name="rents")
    gl_app, ledger_app = ctx["typer_apps"]["gl"], ctx["typer_apps"]["ledger"]

    @gl_app.command("cashbook")
    def gl_cashbook(lumps: str = typer.Option("all", "--lumps", metavar="STATUS",
                                              help="all, open (unmatched, ambiguous or mismatch), matched, "
                                                   "mismatch, no_detail, reversed, or none"),
                    items: str = typer.Option("open", "--items", metavar="STATUS", help="open, resolved, all or none"),
                    limit: int = typer.Option(1000, "--limit", metavar="N", min=1, max=100_000,
                                              help="at most this many lumps and this many items"),
                    json_out: bool = JSON) -> None:
        """The cash book: statement lump sums (the DD collection total, cash and card settlements, GOV.UK
        Pay payouts, UC, interest) and how each was matched to its detail (a payout by its payout id); and the items the ledger could not place on its
        own (finance tasks). Newest first."""
        if lumps not in ("all", "open", "matched", "mismatch", "no_detail", "reversed", "none"):
            raise CommandError("--lumps must be one of all, open, matched, mismatch, no_detail, reversed, none, "
                               f"not {lumps!r}")
        if items not in ("open", "resolved", "all", "none"):
            raise CommandError(f"--items must be one of open, resolved, all, none, not {items!r}")
        result = client().get("ledger", "/v1/cashbook", params={"lumps": lumps, "items": items, "limit": limit})
        if json_out:
            emit_json(result)
            return
        if lumps != "none":
            ctx["table"](f"statement lumps: {len(result['lumps'])}, {pounds(result['lumps_pence'])}",
                         [Col("value_date"), Col("kind"), Col("amount", "right"), Col("status"),
                          Col("matched", drop=2), Col("reference", drop=1), Col("payment_id", drop=3)],
                         [[x["value_date"], x["kind"], pounds(x["amount_pence"]), x["status"],
                           x.get("matched_key") or "", x["reference"], x["payment_id"]] for x in result["lumps"]])
        if items != "none":
            ctx["table"](f"finance items ({items}): {len(result['items'])}, {pounds(result['items_pence'])}",
                         [Col("date"), Col("kind"), Col("amount", "right"), Col("status", drop=3),
                          Col("reason", drop=1), Col("item_id", drop=2)],
                         [[x["business_date"], x["kind"], pounds(x["amount_pence"] or 0), x["status"], x["reason"],
                           x["item_id"]] for x in result["items"]])

    @adjust_app.command("request")
    def adjust_request(account_ref: str = typer.Argument(..., metavar="REF",
                                                         help="the account (for a transfer: the one it comes from)"),
                       type_: str = typer.Option(..., "--type", metavar="TYPE",
                                                 help="adjustment, refund, write_off or transfer"),
                       amount_pence: int = typer.Option(..., "--amount-pence", metavar="PENCE",
                                                        help="adjustment: signed (negative a credit); refund, "
                                                             "write_off, transfer: positive"),
                       moves: Optional[str] = typer.Option(None, "--moves", metavar="WHAT",
                                                           help="transfer: debt or credit, what moves from REF to "
                                                                "--to (never more than REF holds of it)"),
                       to: Optional[str] = typer.Option(None, "--to", metavar="REF",
                                                        help="transfer: the account it goes to"),
                       reason: str = typer.Option(..., "--reason", metavar="TEXT",
                                                  help="why (a write-off starts with a listed reason)"),
                       by: Optional[str] = typer.Option(None, "--by", metavar="NAME", help=BY_OPTIONAL),
                       json_out: bool = JSON) -> None:
        """Request an adjustment; prints its request_id. Nothing is posted until a manager approves it.

        A transfer says what moves: `--moves credit --amount-pence 10000 --to B` takes £100 of A's credit to B
        (A £100 less in credit, B £100 more); `--moves debt` moves arrears. Without --moves, an amount from an
        account that owes moves debt, as before; from an account in credit it is refused: say --moves credit."""
        if type_ not in TYPES:
            raise CommandError(f"--type must be one of {', '.join(TYPES)}, not {type_!r}")
        if moves is not None and moves not in MOVES:
            raise CommandError(f"--moves must be debt or credit, not {moves!r}")
        if moves is not None and type_ != "transfer":
            raise CommandError(f"--moves is for a transfer only, not a {type_}")
        body = {"account_ref": account_ref, "type": type_, "amount_pence": amount_pence, "to_account_ref": to,
                "reason": reason, **({"by": by} if by else {}), **({"moves": moves} if moves else {})}
        result = client().post("ledger", "/v1/adjustments", json=body)
        if json_out:
            return emit_json(result)
        out.print(result["request_id"], highlight=False)
        ctx["err"].print(f"pending: {describe_request(result, pounds)}; a manager approves it with "
                         f"`rentflow adjust approve {result['request_id']}` (with the manager's token)", highlight=False)

    @adjust_app.command("approve")
    def adjust_approve(request_id: str = typer.Argument(..., metavar="REQUEST_ID",
                                                        help="from `rentflow adjust request` or `adjust list`"),
                       by: Optional[str] = typer.Option(None, "--by", metavar="NAME", help=BY_OPTIONAL),
                       json_out: bool = JSON) -> None:
        """Approve and post a request as the token's user (refused when they are the requester, not a manager,
        or above their approval limit, or when a refund exceeds the credit balance)."""
        result = client().post("ledger", f"/v1/adjustments/{request_id}/approve", json={"by": by} if by else {})
        if json_out:
            emit_json(result)
        else:
            balances = "; ".join(f"{ref} {pounds(b)}" for ref, b in (result.get("balances") or {}).items())
            out.print(f"approved {result['request_id']}: {describe_request(result, pounds)}; balance now "
                      f"{balances or pounds(result['balance_pence'])}", highlight=False)

    @adjust_app.command("list")
    def adjust_list(status: Optional[str] = typer.Option(None, "--status", metavar="STATUS",
                                                         help="pending or approved"),
                    json_out: bool = JSON) -> None:
        """Adjustment requests."""
        result = client().get("ledger", "/v1/adjustments", params={"status": status} if status else {})
        if json_out:
            emit_json(result)
            return
        ctx["table"]("adjustment requests",
                     [Col("request_id"), Col("account"), Col("type"), Col("amount", "right"), Col("to", drop=3),
                      Col("by", drop=2), Col("status", drop=4), Col("approved_by", drop=1)],
                     [[r["request_id"], r["account_ref"], r["type"], amount_words(r, pounds),
                       r.get("to_account_ref") or "", r["requested_by"], r["status"], r["approved_by"] or ""]
                      for r in result["requests"]])

    @adjust_app.command("approver")
    def adjust_approver(name: str = typer.Argument(..., metavar="NAME", help="who may approve"),
                        role: str = typer.Option("manager", "--role", metavar="ROLE", help="manager or officer"),
                        json_out: bool = JSON) -> None:
        """The ledger's older list of approvers (admin; kept for old scripts): who may approve now comes from the
        approver's token (role manager, `rentflow users add NAME --role manager`)."""
        result = client().post("ledger", "/v1/approvers", json={"name": name, "role": role})
        emit_json(result) if json_out else out.print(f"{result['name']}: {result['role']}")

    @ctx["typer_apps"]["suspense"].command("move")
    def suspense_move(transaction_id: str = typer.Argument(..., metavar="TRANSACTION_ID",
                                                           help="the receipt (from `rentflow accounts show --json`)"),
                      account_ref: str = typer.Argument(..., metavar="REF", help="the account it belongs to"),
                      by: Optional[str] = typer.Option(None, "--by", metavar="NAME", help=BY_OPTIONAL),
                      note: str = typer.Option(..., "--note", metavar="TEXT", help="why"),
                      json_out: bool = JSON) -> None:
        """Move a receipt posted to the wrong account to REF (reversal and re-post)."""
        result = client().post("ledger", f"/v1/transactions/{transaction_id}/move",
                               json={"account_ref": account_ref, "note": note, **({"by": by} if by else {})})
        if json_out:
            emit_json(result)
        else:
            out.print(f"moved to {result['account_ref']}: balance {pounds(result['balance_pence'])}; "
                      f"{result['from_account_ref']} now {pounds(result['from_balance_pence'])}")

    @gl_app.command("close")
    def gl_close(period: str = typer.Option(..., "--period", metavar="YYYY-MM", help="the month"),
                 by: Optional[str] = typer.Option(None, "--by", metavar="NAME", help=BY_OPTIONAL),
                 json_out: bool = JSON) -> None:
        """Close a month: no postings land in it afterwards (late items go to the next open month)."""
        result = client().post("ledger", f"/v1/periods/{period}/close", json={"by": by} if by else {})
        emit_json(result) if json_out else out.print(f"period {result['period']} closed by {result['closed_by']}")

    @gl_app.command("daily")
    def gl_daily(date: str = typer.Option(..., "--date", metavar="DATE", help="YYYY-MM-DD (Europe/London)"),
                 fmt: str = typer.Option("table", "--format", metavar="FORMAT", help="table, json or csv"),
                 json_out: bool = JSON) -> None:
        """The day's batch for finance: journals posted that day, totalled per GL code and period."""
        if fmt not in ("table", "json", "csv"):
            raise CommandError(f"--format must be table, json or csv, not {fmt!r}")
        result = client().get("ledger", "/v1/gl/daily", params={"date": date})
        if json_out or fmt == "json":
            emit_json(result)
        elif fmt == "csv":
            w = csv_writer(out.file, lineterminator="\n")
            w.writerow(["date", "period", "gl_code", "debit_pence", "credit_pence", "net_pence"])
            w.writerows([result["date"], x["period"], x["gl_code"], x["debit_pence"], x["credit_pence"],
                         x["net_pence"]] for x in result["lines"])
        else:
            ctx["table"](f"GL batch {result['date']}: {result['journals']:,} journals, "
                         f"{'balanced' if result['balanced'] else 'NOT BALANCED'}",
                         [Col("period"), Col("gl_code"), Col("debit", "right"), Col("credit", "right")],
                         [[x["period"], x["gl_code"], pounds(x["debit_pence"]), pounds(x["credit_pence"])]
                          for x in result["lines"]])

    @ledger_app.command("rent-free-weeks")
    def rent_free_weeks(rent_year: int = typer.Option(..., "--year", metavar="YYYY",
                                                      help="rent year by its April: 2026 = 2026/27"),
                        weeks: list[int] = typer.Option(..., "--week", metavar="N",
                                                        help="rent week number (repeat for more)"),
                        json_out: bool = JSON) -> None:
        """Set the rent-free weeks of a rent year (no debit is raised in them)."""
        result = client().post("ledger", "/v1/rent-free-weeks", json={"rent_year": rent_year, "weeks": weeks})
        emit_json(result) if json_out else out.print(f"{result['rent_year']}: rent-free weeks {result['weeks']}")

    @rents_app.command("uprate")
    def rents_uprate(percent: str = typer.Option(..., "--percent", metavar="P", help="e.g. 4.8"),
                     effective: str = typer.Option(..., "--effective", metavar="DATE",
                                                   help="YYYY-MM-DD, a Monday"),
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


def describe_request(r: dict[str, Any], pounds: Any) -> str:
    """A request in words: what it does to which account(s)."""
    amount = r["amount_pence"]
    if r["type"] == "transfer":
        moves = r.get("moves") or ("debt" if amount > 0 else "credit")
        return f"transfer of {pounds(abs(amount))} of {moves} from {r['account_ref']} to {r['to_account_ref']}"
    if r["type"] == "adjustment":
        return f"{'debit' if amount > 0 else 'credit'} adjustment of {pounds(abs(amount))} on {r['account_ref']}"
    return f"{r['type'].replace('_', '-')} of {pounds(amount)} on {r['account_ref']}"


def amount_words(r: dict[str, Any], pounds: Any) -> str:
    """A request's amount as a person reads it: a transfer's with what it moves."""
    if r["type"] == "transfer":
        return f"{pounds(abs(r['amount_pence']))} {r.get('moves') or ('debt' if r['amount_pence'] > 0 else 'credit')}"
    return pounds(r["amount_pence"])
