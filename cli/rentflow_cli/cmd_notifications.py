"""Officer tasks and tenants' notices (services/notifications over HTTP):
`tasks list/claim/complete`, `notices list/progress/print`, `contacts set`."""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Optional

import typer

from rentflow_schemas.notifications import TASK_KINDS
from rentflow_cli.output import Col, ProgressLine

BY_OPTIONAL = ("no longer needed: who acts is the token's user (RENTFLOW_TOKEN or --token); "
               "naming anyone else is refused")
JSON = typer.Option(False, "--json", help="print one JSON document on stdout")
IDS = typer.Option(False, "--ids", help="print only the task ids, one a line (e.g. for a shell variable)")
TASK_STATUSES = ("open", "in_progress", "done")
NOTICE_STATUSES = ("pending", "produced", "refused", "failed")


def register(app: typer.Typer, ctx: dict[str, Any]) -> None:
    client, emit_json, out, err, pounds = ctx["client"], ctx["emit_json"], ctx["out"], ctx["err"], ctx["pounds"]
    CommandError, table = ctx["CommandError"], ctx["table"]
    tasks_app = ctx["typer_apps"]["tasks"]
    notices_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="letters to tenants: rent review notices, DD failure letters")
    contacts_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="where tenants' letters are also emailed")
    app.add_typer(notices_app, name="notices")
    app.add_typer(contacts_app, name="contacts")

    def task_id_arg(value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise CommandError(f"TASK_ID must be a task id (a UUID from `rentflow tasks list`), not {value!r}") from None

    @tasks_app.command("list")
    def tasks_list(status: Optional[str] = typer.Option(None, "--status", metavar="STATUS",
                                                        help="open, in_progress or done"),
                   kind: Optional[str] = typer.Option(None, "--kind", metavar="KIND",
                                                      help=f"{', '.join(TASK_KINDS)}"),
                   assigned_to: Optional[str] = typer.Option(None, "--assigned-to", metavar="NAME",
                                                             help="an officer, or the shared queue"),
                   account: Optional[str] = typer.Option(None, "--account", metavar="REF",
                                                         help="rent account reference"),
                   limit: int = typer.Option(1000, "--limit", metavar="N", min=1, max=10000,
                                             help="at most N tasks"),
                   ids: bool = IDS, json_out: bool = JSON) -> None:
        """Officer tasks, soonest due first."""
        if status is not None and status not in TASK_STATUSES:
            raise CommandError(f"--status must be one of {', '.join(TASK_STATUSES)}, not {status!r}")
        if kind is not None and kind not in TASK_KINDS:
            raise CommandError(f"--kind must be one of {', '.join(TASK_KINDS)}, not {kind!r}")
        params = {k: v for k, v in {"status": status, "kind": kind, "assigned_to": assigned_to,
                                    "account_ref": account, "limit": limit}.items() if v is not None}
        result = client().get("notifications", "/v1/tasks", params=params)
        if ids:
            return ctx["emit_ids"]([t["task_id"] for t in result["tasks"]])
        if json_out:
            return emit_json(result["tasks"])
        table(f"tasks: {result['count']:,}",
              [Col("task_id"), Col("kind", drop=5), Col("account"), Col("assigned_to", drop=2),
               Col("status", drop=3), Col("due_on"), Col("n", "right", drop=1), Col("reason", wrap=True, drop=4)],
              [[t["task_id"], t["kind"], t.get("account_ref"), t["assigned_to"], t["status"], t["due_on"],
                t.get("occurrences", 1), t["reason"]] for t in result["tasks"]])

    @tasks_app.command("claim")
    def tasks_claim(task_id: str = typer.Argument(..., metavar="TASK_ID", help="from `rentflow tasks list`"),
                    by: Optional[str] = typer.Option(None, "--by", metavar="NAME", help=BY_OPTIONAL),
                    json_out: bool = JSON) -> None:
        """Take a task into your hands (refused when done or claimed by someone else)."""
        task = client().post("notifications", f"/v1/tasks/{task_id_arg(task_id)}/claim", json={"by": by} if by else {})
        if json_out:
            return emit_json(task)
        out.print(f"{task['task_id']} {task['status']}, assigned to {task['assigned_to']}")

    @tasks_app.command("complete")
    def tasks_complete(task_id: str = typer.Argument(..., metavar="TASK_ID", help="from `rentflow tasks list`"),
                       by: Optional[str] = typer.Option(None, "--by", metavar="NAME", help=BY_OPTIONAL),
                       outcome: str = typer.Option(..., "--outcome", metavar="TEXT", help="what was done"),
                       json_out: bool = JSON) -> None:
        """Mark a task done with its outcome (refused when it is already done)."""
        if not outcome.strip():
            raise CommandError("--outcome must say what was done")
        task = client().post("notifications", f"/v1/tasks/{task_id_arg(task_id)}/complete",
                             json={"outcome": outcome, **({"by": by} if by else {})})
        if json_out:
            return emit_json(task)
        out.print(f"{task['task_id']} done by {task['completed_by']}: {task['outcome']}")

    @notices_app.command("list")
    def notices_list(kind: Optional[str] = typer.Option(None, "--kind", metavar="KIND",
                                                        help="rent_review or dd_failure"),
                     status: Optional[str] = typer.Option(None, "--status", metavar="STATUS",
                                                          help=", ".join(NOTICE_STATUSES)),
                     account: Optional[str] = typer.Option(None, "--account", metavar="REF",
                                                           help="rent account reference"),
                     run: Optional[str] = typer.Option(None, "--run", metavar="RUN",
                                                       help="e.g. rent_review:2027-04-05"),
                     limit: int = typer.Option(1000, "--limit", metavar="N", min=1, max=20000,
                                               help="at most N notices"),
                     json_out: bool = JSON) -> None:
        """Notices: produced (with the letter's path), refused (with why), pending or failed."""
        if status is not None and status not in NOTICE_STATUSES:
            raise CommandError(f"--status must be one of {', '.join(NOTICE_STATUSES)}, not {status!r}")
        params = {k: v for k, v in {"kind": kind, "status": status, "account_ref": account, "run": run,
                                    "limit": limit}.items() if v is not None}
        result = client().get("notifications", "/v1/notices", params=params)
        if json_out:
            return emit_json(result["notices"])
        table(f"notices: {result['count']:,}",
              [Col("notice_id"), Col("kind", drop=6), Col("account"), Col("status", drop=7),
               Col("served_on", drop=3), Col("effective_on", drop=4), Col("old a week", "right", drop=1),
               Col("new a week", "right", drop=2), Col("document / reason", wrap=True, drop=5)],
              [[n["notice_id"], n["kind"], n["account_ref"], n["status"], n["served_on"], n["effective_on"],
                pounds(n["old_weekly_pence"]) if n["old_weekly_pence"] is not None else "",
                pounds(n["new_weekly_pence"]) if n["new_weekly_pence"] is not None else "",
                n["document"] or n["reason"] or ""] for n in result["notices"]])

    def _progress() -> tuple[dict[str, Any], int]:
        """The runs, and the events the notifications group has not taken in yet (0 when no runtime.json
        names the broker, e.g. with only RENTFLOW_NOTIFICATIONS_URL set)."""
        c = client()
        body = c.get("notifications", "/v1/notices/progress")
        try:
            kafka = c.runtime["kafka"]
        except CommandError:
            return body, 0
        from rentflow_common.kafka import CONSUMER_GROUPS, group_lag  # slow to import: only when needed

        lag = asyncio.run(group_lag(kafka["bootstrap_servers"], {"notifications": CONSUMER_GROUPS["notifications"]},
                                    prefix=kafka.get("topic_prefix", "")))
        return body, lag.get("notifications", 0)

    @notices_app.command("progress")
    def notices_progress(wait: bool = typer.Option(False, "--wait", help="until nothing is left to take in, "
                                                                         "render or email"),
                         timeout: float = typer.Option(1800, "--timeout", metavar="SECONDS",
                                                       help="give up after this long, with --wait"),
                         json_out: bool = JSON) -> None:
        """Each run's notices by status (a bulk rent review: received, rendered, refused) and the events not
        yet taken in. With --wait, shows progress on stderr until everything is done."""
        deadline = time.monotonic() + timeout
        progress = ProgressLine()
        while True:
            body, lag = _progress()
            runs = body["runs"]
            busy = lag + sum(r["pending"] + r["email_pending"] for r in runs)
            if not wait or busy == 0:
                break
            if time.monotonic() > deadline:
                raise CommandError(f"notices not done within {timeout:.0f} s: {lag} events not taken in, "
                                   f"{sum(r['pending'] for r in runs)} letters to render")
            if not json_out:
                line = "; ".join(f"{r['run']}: {r['produced'] + r['refused'] + r['failed']}/{r['received']} done"
                                 for r in runs if r["pending"] or r["email_pending"])
                progress.update(f"{lag} events to take in; {line or 'rendering'}")
            time.sleep(1.0)
        progress.done()
        if json_out:
            return emit_json({"runs": runs, "events_not_taken_in": lag})
        table(f"notice runs ({lag} events not yet taken in)",
              [Col("run"), Col("received", "right"), Col("pending", "right"), Col("produced", "right"),
               Col("refused", "right"), Col("failed", "right", drop=3), Col("pages", "right", drop=4),
               Col("emails sent", "right", drop=2), Col("emails failed", "right", drop=1)],
              [[r["run"], r["received"], r["pending"], r["produced"], r["refused"], r["failed"], r["pages"],
                r["email_sent"], r["email_failed"]] for r in runs])
        refused = sum(r["refused"] for r in runs)
        if refused:
            err.print(f"{refused} notice(s) refused as too late to serve: `rentflow notices list --status refused`")

    @notices_app.command("print")
    def notices_print(run: str = typer.Argument(..., metavar="RUN", help="e.g. rent_review:2027-04-05"),
                      json_out: bool = JSON) -> None:
        """Merge a run's produced letters into one print file (by patch, then account)."""
        result = client().post("notifications", "/v1/notices/print", json={"run": run})
        if json_out:
            return emit_json(result)
        out.print(f"{result['path']}: {result['notices']} letters, {result['pages']} pages")

    @contacts_app.command("set")
    def contacts_set(account_ref: str = typer.Argument(..., metavar="REF", help="rent account reference"),
                     email: Optional[str] = typer.Option(None, "--email", metavar="ADDRESS",
                                                         help="omit to remove the address"),
                     json_out: bool = JSON) -> None:
        """Email this account's letters too (they are always written for post)."""
        result = client().request("notifications", "PUT", f"/v1/contacts/{account_ref}", json={"email": email})
        if json_out:
            return emit_json(result)
        out.print(f"{result['account_ref']}: {result['email'] or 'no email'}")

