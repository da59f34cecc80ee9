"""Officer tasks and tenants' notices (services/notifications over HTTP):
`tasks list/claim/complete`, `notices list/progress/print`, `contacts set`."""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Optional

import typer

from rentflow_common.kafka import CONSUMER_GROUPS, group_lag

JSON = typer.Option(False, "--json", help="print one JSON document on stdout")
TASK_STATUSES = ("open", "in_progress", "done")
NOTICE_STATUSES = ("pending", "produced", "refused", "failed")


def register(app: typer.Typer, ctx: dict[str, Any]) -> None:
    client, emit_json, out, err, pounds = ctx["client"], ctx["emit_json"], ctx["out"], ctx["err"], ctx["pounds"]
    CommandError, table = ctx["CommandError"], ctx["table"]
    tasks_app = ctx["typer_apps"]["tasks"]
    notices_app = typer.Typer(no_args_is_help=True, help="letters to tenants: rent review notices, DD failure letters")
    contacts_app = typer.Typer(no_args_is_help=True, help="where tenants' letters are also emailed")
    app.add_typer(notices_app, name="notices")
    app.add_typer(contacts_app, name="contacts")

    def task_id_arg(value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise CommandError(f"TASK_ID must be a task id (a UUID from `rentflow tasks list`), not {value!r}") from None

    # `tasks list` is defined in main.py without --account; this one replaces it (same options and output, plus
    # --account), so main.py stays untouched.
    tasks_app.registered_commands[:] = [c for c in tasks_app.registered_commands if c.name != "list"]

    @tasks_app.command("list")
    def tasks_list(status: Optional[str] = typer.Option(None, "--status", help="open, in_progress or done"),
                   kind: Optional[str] = typer.Option(None, "--kind", help="dd_failure, unmatched_payment, "
                                                                            "mandate_change, ..."),
                   assigned_to: Optional[str] = typer.Option(None, "--assigned-to"),
                   account: Optional[str] = typer.Option(None, "--account", help="rent account reference"),
                   limit: int = typer.Option(1000, "--limit"), json_out: bool = JSON) -> None:
        """Officer tasks, soonest due first."""
        if status is not None and status not in TASK_STATUSES:
            raise CommandError(f"--status must be one of {', '.join(TASK_STATUSES)}, not {status!r}")
        params = {k: v for k, v in {"status": status, "kind": kind, "assigned_to": assigned_to,
                                    "account_ref": account, "limit": limit}.items() if v is not None}
        result = client().get("notifications", "/v1/tasks", params=params)
        if json_out:
            return emit_json(result["tasks"])
        table(f"tasks: {result['count']}", ["task_id", "kind", "account", "assigned_to", "status", "due_on", "n",
                                            "reason"],
              [[t["task_id"], t["kind"], t.get("account_ref"), t["assigned_to"], t["status"], t["due_on"],
                t.get("occurrences", 1), t["reason"]] for t in result["tasks"]])

    @tasks_app.command("claim")
    def tasks_claim(task_id: str = typer.Argument(..., metavar="TASK_ID"),
                    by: str = typer.Option(..., "--by", help="who takes it"), json_out: bool = JSON) -> None:
        """Take a task into your hands (refused when done or claimed by someone else)."""
        task = client().post("notifications", f"/v1/tasks/{task_id_arg(task_id)}/claim", json={"by": by})
        if json_out:
            return emit_json(task)
        out.print(f"{task['task_id']} {task['status']}, assigned to {task['assigned_to']}")

    @tasks_app.command("complete")
    def tasks_complete(task_id: str = typer.Argument(..., metavar="TASK_ID"),
                       by: str = typer.Option(..., "--by", help="who finished it"),
                       outcome: str = typer.Option(..., "--outcome", help="what was done"),
                       json_out: bool = JSON) -> None:
        """Mark a task done with its outcome (refused when it is already done)."""
        if not outcome.strip():
            raise CommandError("--outcome must say what was done")
        task = client().post("notifications", f"/v1/tasks/{task_id_arg(task_id)}/complete",
                             json={"by": by, "outcome": outcome})
        if json_out:
            return emit_json(task)
        out.print(f"{task['task_id']} done by {task['completed_by']}: {task['outcome']}")

    @notices_app.command("list")
    def notices_list(kind: Optional[str] = typer.Option(None, "--kind", help="rent_review or dd_failure"),
                     status: Optional[str] = typer.Option(None, "--status", help=", ".join(NOTICE_STATUSES)),
                     account: Optional[str] = typer.Option(None, "--account"),
                     run: Optional[str] = typer.Option(None, "--run", help="e.g. rent_review:2027-04-05"),
                     limit: int = typer.Option(1000, "--limit"), json_out: bool = JSON) -> None:
        """Notices: produced (with the letter's path), refused (with why), pending or failed."""
        if status is not None and status not in NOTICE_STATUSES:
            raise CommandError(f"--status must be one of {', '.join(NOTICE_STATUSES)}, not {status!r}")
        params = {k: v for k, v in {"kind": kind, "status": status, "account_ref": account, "run": run,
                                    "limit": limit}.items() if v is not None}
        result = client().get("notifications", "/v1/notices", params=params)
        if json_out:
            return emit_json(result["notices"])
        table(f"notices: {result['count']}", ["notice_id", "kind", "account", "status", "served_on", "effective_on",
                                              "old a week", "new a week", "document / reason"],
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
        lag = asyncio.run(group_lag(kafka["bootstrap_servers"], {"notifications": CONSUMER_GROUPS["notifications"]},
                                    prefix=kafka.get("topic_prefix", "")))
        return body, lag.get("notifications", 0)

    @notices_app.command("progress")
    def notices_progress(wait: bool = typer.Option(False, "--wait", help="until nothing is left to take in, "
                                                                         "render or email"),
                         timeout: float = typer.Option(1800, "--timeout", help="seconds, with --wait"),
                         json_out: bool = JSON) -> None:
        """Each run's notices by status (a bulk rent review: received, rendered, refused) and the events not
        yet taken in. With --wait, shows progress on stderr until everything is done."""
        deadline = time.monotonic() + timeout
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
                err.print(f"{lag} events to take in; {line or 'rendering'}", end="\r")
            time.sleep(1.0)
        if json_out:
            return emit_json({"runs": runs, "events_not_taken_in": lag})
        if wait:
            err.print("")
        table(f"notice runs ({lag} events not yet taken in)",
              ["run", "received", "pending", "produced", "refused", "failed", "pages", "emails sent", "emails failed"],
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
    def contacts_set(account_ref: str = typer.Argument(..., metavar="REF"),
                     email: Optional[str] = typer.Option(None, "--email", help="omit to remove the address"),
                     json_out: bool = JSON) -> None:
        """Email this account's letters too (they are always written for post)."""
        result = client().request("notifications", "PUT", f"/v1/contacts/{account_ref}", json={"email": email})
        if json_out:
            return emit_json(result)
        out.print(f"{result['account_ref']}: {result['email'] or 'no email'}")

