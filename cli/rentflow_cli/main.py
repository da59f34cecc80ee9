"""`rentflow`: runs the stack and the demo, and is the operator's and script's handle on it.

Every command exits non-zero with a one-line reason on stderr when it fails; `--json` prints
one JSON document on stdout and nothing else there."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import signal
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator, List, Optional
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import orjson
import typer

from rentflow_common.exports import csv_writer, safe_cell
from rentflow_common.settings import home_dir
from rentflow_cli import kpi_view
from rentflow_cli.client import Client, CommandError
from rentflow_cli.output import Col, ProgressLine, err, out, pounds, table, when
from rentflow_cli.stack import Stack, StackError

LONDON = ZoneInfo("Europe/London")

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="markdown",
                  pretty_exceptions_enable=False, help="rentflow: rent payments to posted rent accounts, GL journals, officer tasks and KPIs.")
accounts_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="rent accounts")
providers_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="payment providers of the push API")
officers_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="income officers and managers")
payments_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="payment intake")
ledger_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="the rent ledger")
suspense_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="unallocated payments")
tasks_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="officer tasks")
gl_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="the general ledger")
for sub, name in [(accounts_app, "accounts"), (providers_app, "providers"), (officers_app, "officers"),
                  (payments_app, "payments"), (ledger_app, "ledger"), (suspense_app, "suspense"),
                  (tasks_app, "tasks"), (gl_app, "gl")]:
    app.add_typer(sub, name=name)

JsonOpt = typer.Option(False, "--json", help="print one JSON document on stdout")


@app.callback()
def identity(token: Optional[str] = typer.Option(None, "--token", metavar="TOKEN", envvar="RENTFLOW_TOKEN",
                                                 show_envvar=True,
                                                 help="your API token (else $RENTFLOW_HOME/admin.token, which "
                                                      "`rentflow up` writes on the embedded default)")) -> None:
    """rentflow: rent payments to posted rent accounts, GL journals, officer tasks and KPIs."""
    if token:
        os.environ["RENTFLOW_TOKEN"] = token
IdsOpt = typer.Option(False, "--ids", help="print only the ids, one a line (e.g. for a shell variable)")
BY_HELP = ("no longer needed: who acts is the token's user (RENTFLOW_TOKEN or --token); naming anyone else "
           "is refused")


def client() -> Client:
    return Client(home_dir())


def emit_json(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


def emit_ids(ids: list[str]) -> None:
    sys.stdout.write("".join(f"{i}\n" for i in ids))


# ---------------------------------------------------------------- the stack

@app.command()
def up(auto_debits: bool = typer.Option(False, "--auto-debits", help="raise due debits each day on their own"),
       ) -> None:
    """Start broker, database and the four services; Ctrl-C, SIGTERM or SIGHUP (its terminal closed)
    stops everything, and so does the end of the process that started it (unless run under nohup)."""
    stack = Stack(home_dir(), say=lambda m: err.print(f"[dim]{m}[/dim]"))
    stop_on_sigterm()
    try:
        stack.start()
    except KeyboardInterrupt:
        err.print("stopped while starting")
        raise typer.Exit(130)
    except StackError as exc:
        raise CommandError(str(exc)) from None
    err.print(f"rentflow is up; runtime in {stack.home / 'runtime.json'}; Ctrl-C stops it", highlight=False)
    for s in stack.services.values():
        err.print(f"  {s.name:<14} {s.url}/docs", highlight=False)
    raise typer.Exit(supervise(stack, auto_debits=auto_debits))


def stop_on_sigterm() -> None:
    """SIGTERM, and SIGHUP unless ignored (nohup), stop the stack as Ctrl-C does: SIGHUP's default
    ended `rentflow up` at once, leaving its services (each in its own session) running."""
    def on_signal(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
        signal.signal(signal.SIGHUP, on_signal)


def supervise(stack: Stack, *, auto_debits: bool = False) -> int:
    """Keeps the stack running until Ctrl-C, SIGTERM or SIGHUP, or until the process that started it
    is gone: a service that dies, and the embedded broker and database, are started again (with
    backoff; each restart logged and counted in `status`)."""
    code = 0
    next_debits = 0.0
    orphan = False
    try:
        while True:
            if stack.orphaned():  # nobody is left to press Ctrl-C: stop rather than run on for ever
                stack.parent_gone()
                orphan, code = True, 1
                break
            stack.supervise_once()
            if auto_debits and time.monotonic() >= next_debits:
                today = dt.datetime.now(LONDON).date().isoformat()
                try:
                    result = Client(stack.home).post("ledger", "/v1/debits/run", json={"through": today})
                    if result.get("debits_raised"):
                        err.print(f"raised {result['debits_raised']} debits through {today}")
                except CommandError as exc:
                    err.print(f"[yellow]debit run failed: {exc}[/yellow]")
                next_debits = time.monotonic() + 3600
            time.sleep(0.5)
    except KeyboardInterrupt:
        err.print("stopping ...")
    finally:
        stack.stop()
    if not orphan:
        err.print("stopped")
    return code


@app.command()
def wait(timeout: float = typer.Option(300, "--timeout", metavar="SECONDS", help="give up after this long")) -> None:
    """Return once every consumer group has processed everything published so far; then fail
    (exit 1) when the control total does not balance (a payment intake accepted that the ledger
    has not posted or put in suspense, or has taken twice: `rentflow payments reconcile`)."""
    from rentflow_cli.cmd_ops import balances, control_total, describe_control

    c = client()
    c.wait_until_processed(timeout)
    result = control_total(c)
    if not balances(result):
        raise CommandError(f"everything published has been processed, but the control total does not balance: "
                           f"{describe_control(result, pounds)} (rentflow payments reconcile shows which)")
    err.print("everything published so far has been processed; the control total balances")


@app.command()
def status(json_out: bool = JsonOpt) -> None:
    """Stream health per service: consumer lag per group and topic (from the broker), throughput
    over the last minute, dead letters and outbox backlog. Exits 1 when a service does not answer."""
    c = client()
    doc: dict[str, Any] = {}
    down = []
    for svc in ("payments", "ledger", "notifications", "reporting"):
        try:
            doc[svc] = c.get(svc, "/v1/ops/status", params={"lag": "true"})
        except CommandError as exc:
            doc[svc] = {"service": svc, "reachable": False, "error": str(exc)}
            down.append(svc)
    try:
        supervisor = c.runtime.get("supervisor") or {}
    except CommandError:  # services named by RENTFLOW_<SERVICE>_URL, no stack of ours here
        supervisor = {}
    if json_out:
        emit_json({**doc, "supervisor": supervisor})
    else:
        rows = []
        for svc, st in doc.items():
            if st.get("reachable") is False:
                rows.append([svc, "not answering", "", "", "", ""])
                continue
            rows.append([svc, "outbox, to publish", st.get("outbox_backlog"), "", st.get("outbox_published_per_s", 0),
                         ""])
            for group, g in st.get("consumers", {}).items():
                rows.append(["", f"group {group}", "-" if g.get("lag") is None else g["lag"], g.get("messages"),
                             g.get("messages_per_s"), g.get("dead_letters")])
                for topic, lag in (g.get("lag_by_topic") or {}).items():
                    rows.append(["", f"  {topic}", lag, g.get("per_topic", {}).get(topic, 0), "", ""])
        table("stream health: what waits (consumer lag, outbox backlog), messages handled, messages/s over the "
              "last minute, dead letters (DLQ)",
              [Col("service"), Col("consumer group / topic"), Col("waiting", "right"), Col("messages", "right", drop=2),
               Col("msg/s", "right", drop=1), Col("DLQ", "right")], rows)
        restarts = {k: v for k, v in (supervisor.get("restarts") or {}).items() if v}
        out.print("restarts by `rentflow up`: " + (", ".join(f"{k} {v}" for k, v in sorted(restarts.items()))
                                                  if restarts else "none"), highlight=False)
    if down:
        raise CommandError(f"not answering: {', '.join(down)} ({doc[down[0]]['error']})")


# ---------------------------------------------------------------- accounts, providers, officers

@accounts_app.command("import")
def accounts_import(file: Path = typer.Argument(..., metavar="FILE.csv",
                                                help="rent accounts CSV (columns: docs/contract.md)"),
                    json_out: bool = JsonOpt) -> None:
    """Load or update rent accounts from CSV; every rejected row is named with its line and reason."""
    body = read_file(file)
    response = client().send("ledger", "POST", "/v1/accounts/import", content=body,
                              headers={"Content-Type": "text/csv"}, ok=(200, 201, 202, 422))
    result = response.json()
    if response.status_code == 422 and "errors" not in result:  # the file as a whole (header, encoding)
        raise CommandError(f"{file}: {result.get('detail')}")
    errors = result.get("errors") or []
    if json_out:
        emit_json(result)
    elif response.status_code != 422:
        out.print(f"created {result['created']:,}, updated {result['updated']:,}, "
                  f"unchanged {result.get('unchanged', 0):,}, rejected {len(errors):,}", highlight=False)
    for e in errors[:50]:
        where = f"{file}:{e.get('line')}" + (f": {e['field']}" if e.get("field") else "")
        err.print(f"{where}: {e.get('reason')}", highlight=False, markup=False)
    if len(errors) > 50:
        err.print(f"... and {len(errors) - 50} more (--json lists every one)")
    if response.status_code == 422:
        rows = len({e.get("line") for e in errors})
        raise CommandError(f"nothing imported: every row of {file} has errors ({len(errors)} errors in {rows} rows)")
    if errors:
        raise CommandError(f"{len(errors)} row(s) of {file} rejected; the other rows were imported")


@accounts_app.command("show")
def accounts_show(ref: str = typer.Argument(..., metavar="REF", help="the rent account reference"),
                  json_out: bool = JsonOpt) -> None:
    """Balance and transactions of one account."""
    acc = client().get("ledger", f"/v1/accounts/{ref}")
    if json_out:
        return emit_json(acc)
    ended = f", tenancy ended {acc['tenancy_end']}" if acc.get("tenancy_end") else ""
    out.print(f"[bold]{acc['account_ref']}[/bold] {acc.get('tenant_name', '')}, {acc.get('property', '')} "
              f"(patch {acc.get('patch')}{ended}) balance {pounds(acc['balance_pence'])}", highlight=False)
    table("transactions", [Col("date"), Col("type"), Col("amount", "right"), Col("balance after", "right"),
                           Col("posted", drop=1), Col("source", wrap=True, drop=2)],
          [[t.get("business_date", ""), t["type"], pounds(t["amount_pence"]), pounds(t["balance_after_pence"]),
            when(t["posted_at"]), t["source_ref"]] for t in acc["transactions"]])


ACCOUNTS_PAGE = 5000


@accounts_app.command("list")
def accounts_list(arrears: bool = typer.Option(False, "--arrears", help="only accounts that owe money"),
                  credit: bool = typer.Option(False, "--credit", help="only accounts in credit"),
                  current: bool = typer.Option(False, "--current", help="only tenancies that have not ended"),
                  limit: int = typer.Option(100, "--limit", metavar="N", min=1, help="at most N accounts"),
                  ids: bool = IdsOpt, json_out: bool = JsonOpt) -> None:
    """Accounts by reference with their balances."""
    if arrears and credit:
        raise CommandError("--arrears and --credit exclude each other: give one")
    c = client()
    today = dt.datetime.now(LONDON).date().isoformat()
    found: list[dict[str, Any]] = []
    after: dict[str, str] = {}  # pages by the last reference seen: an import meanwhile shifts no page
    while len(found) < limit:
        page = c.get("ledger", "/v1/accounts", params={"limit": ACCOUNTS_PAGE, **after})
        for a in page["accounts"]:
            if ((arrears and a["balance_pence"] <= 0) or (credit and a["balance_pence"] >= 0)
                    or (current and a.get("tenancy_end") and a["tenancy_end"] <= today)):
                continue
            found.append(a)
        if len(page["accounts"]) < ACCOUNTS_PAGE:
            break
        after = {"after": page["accounts"][-1]["account_ref"]}
    found = found[:limit]
    if ids:
        return emit_ids([a["account_ref"] for a in found])
    if json_out:
        return emit_json(found)
    table(f"accounts: {len(found)}", [Col("account"), Col("tenant", drop=4), Col("patch", drop=2),
                                      Col("method", drop=1), Col("tenancy end", drop=3), Col("balance", "right")],
          [[a["account_ref"], a.get("tenant_name"), a.get("patch"), a.get("payment_method"), a.get("tenancy_end"),
            pounds(a["balance_pence"])] for a in found])


@officers_app.command("add")
def officers_add(name: str = typer.Argument(..., metavar="NAME", help="the officer's or manager's name"),
                 patch: List[str] = typer.Option([], "--patch", metavar="PATCH",
                                                 help="a patch the officer covers (repeat for more)"),
                 role: str = typer.Option("officer", "--role", metavar="ROLE", help="officer or manager"),
                 token_only: bool = typer.Option(False, "--token-only",
                                                 help="print only a new user's token (e.g. for a shell variable)"),
                 json_out: bool = JsonOpt) -> None:
    """An income officer (tasks in their patches go to them) or a manager (who may approve): a user with that
    role (`users add` for more). A new user's API token is printed once (`token` with --json)."""
    if role not in ("officer", "manager"):
        raise CommandError(f"--role must be officer or manager, not {role!r}")
    result = client().post("notifications", "/v1/officers", json={"name": name, "patches": patch, "role": role})
    if token_only:
        if not result.get("token"):
            raise CommandError(f"{name} exists already: `rentflow users token {name}` gives them a new token")
        sys.stdout.write(result["token"] + "\n")
        return
    if json_out:
        return emit_json({**result, "user": result["name"]})
    out.print(f"{result['role']} {result['name']} patches {', '.join(result['patches']) or '-'}", highlight=False)
    if result.get("token"):
        out.print(f"token {result['token']}  (shown once: they set RENTFLOW_TOKEN to it)", highlight=False,
                  soft_wrap=True)


# ---------------------------------------------------------------- payments and ledger

@payments_app.command("import")
def payments_import(file: Path = typer.Argument(..., metavar="FILE", help="a statement, report or payments file"),
                    format: str = typer.Option("auto", "--format", "-f", metavar="FORMAT",
                                               help="auto, camt053, bacs18, arudd, addacs, govuk-pay, json, csv "
                                                    "(also auddis, ddica, bank-csv, hb-schedule, uc-schedule, "
                                                    "stripe-payouts)"),
                    provider: Optional[str] = typer.Option(None, "--provider", metavar="NAME",
                                                           help="who the file came from (default file-import; "
                                                                "govuk-pay for GOV.UK Pay replays)"),
                    option: List[str] = typer.Option([], "--option", "-o", metavar="KEY=VALUE",
                                                     help="a format option, e.g. processing_date=2026-05-01, "
                                                          "columns=transaction_id=TxnRef,..., card_ref=9:10, skip=REGEX"),
                    json_out: bool = JsonOpt) -> None:
    """Send a file through the intake service and print its summary."""
    if not file.is_file():
        raise CommandError(f"{file}: no such file")
    params = {"format": format, **({"provider": provider} if provider else {})}
    for o in option:
        key, sep, value = o.partition("=")
        if not sep or not key or key in params:
            raise CommandError(f"--option {o!r}: expected KEY=VALUE (KEY not format or provider)")
        params[key] = value
    size = file.stat().st_size
    progress = ProgressLine()
    upload = Upload(file, size, progress=None if json_out else progress)
    c = client()
    watcher = None if json_out else ImportWatcher(c, upload, progress)
    try:
        result = c.post("payments", "/v1/imports?" + urlencode(params), content=upload.chunks(),
                        headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
    finally:
        if watcher:
            watcher.stop()
        progress.done()
    if json_out:
        return emit_json(result)
    extra = ", ".join(f"{k} {result[k]}" for k in ("skipped", "returns", "mandates", "reversals") if result.get(k))
    out.print(f"import {result['import_id']} ({result.get('format', format)}): accepted {result['accepted']}, "
              f"rejected {result['rejected']}, duplicates {result['duplicates']}" + (f"; {extra}" if extra else ""),
              highlight=False)
    for e in result["errors"][:50]:
        where = f"line {e['line']}" if e.get("line") is not None else f"item {e.get('item')}"
        out.print(f"  {where}: {e['reason']}", highlight=False, markup=False)
    if len(result["errors"]) > 50:
        out.print(f"  ... and {len(result['errors']) - 50} more (use --json)")
    for w in result.get("warnings", [])[:20]:
        where = f"line {w['line']}" if w.get("line") is not None else f"item {w.get('item')}"
        out.print(f"  warning, {where}: {w['reason']}", highlight=False, markup=False)


class Upload:
    """The file in 1 MB chunks, with upload progress; its sha256 once sent (the import's identity,
    used to follow the import's progress)."""

    def __init__(self, file: Path, size: int, progress: ProgressLine | None) -> None:
        self.file, self.size, self.progress = file, size, progress
        self.sha256: str | None = None
        self.sent = threading.Event()

    def chunks(self) -> Iterator[bytes]:
        digest = hashlib.sha256()
        done = 0
        with self.file.open("rb") as f:
            while chunk := f.read(1 << 20):
                done += len(chunk)
                digest.update(chunk)
                if self.progress and self.size > 1 << 20:
                    self.progress.update(f"sending {self.file.name}: {done * 100 // max(self.size, 1)}% of "
                                         f"{self.size:,} bytes")
                yield chunk
        self.sha256 = digest.hexdigest()
        self.sent.set()
        if self.progress and self.size > 1 << 20:
            self.progress.update(f"sent {self.file.name}: {self.size:,} bytes; importing")


class ImportWatcher:
    """Once the file is sent, shows the running import's counts (GET /v1/imports?sha256=) every second."""

    def __init__(self, c: Client, upload: Upload, progress: ProgressLine) -> None:
        self.c, self.upload, self.progress = c, upload, progress
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.upload.sent.wait()
        url = self.c.url("payments")
        with httpx.Client(timeout=10) as http:
            while not self.done.wait(1.0):
                try:
                    found = http.get(f"{url}/v1/imports", params={"sha256": self.upload.sha256}).json()["imports"]
                except (httpx.HTTPError, ValueError, KeyError):
                    continue
                for imp in found:
                    if imp["status"] == "running":
                        self.progress.update(f"importing {self.upload.file.name}: {imp['processed']:,} items "
                                             f"(accepted {imp['accepted']:,}, rejected {imp['rejected']:,}, "
                                             f"duplicates {imp['duplicates']:,})")

    def stop(self) -> None:
        self.done.set()
        self.upload.sent.set()
        self.thread.join(timeout=5)


@ledger_app.command("run-debits")
def ledger_run_debits(through: str = typer.Option(..., "--through", metavar="DATE",
                                                  help="raise debits for rent weeks whose Monday is on or before "
                                                       "DATE (YYYY-MM-DD)"),
                      json_out: bool = JsonOpt) -> None:
    """Raise every weekly rent and charge debit due up to DATE not yet raised."""
    parse_date(through, "--through")
    result = client().post("ledger", "/v1/debits/run", json={"through": through})
    if json_out:
        return emit_json(result)
    out.print(f"raised {result['debits_raised']:,} debits, {pounds(result['amount_pence'])}, "
              f"on {result['accounts']:,} accounts through {result['through']}", highlight=False)


@suspense_app.command("list")
def suspense_list(limit: Optional[int] = typer.Option(None, "--limit", metavar="N", min=1,
                                                      help="only the N oldest items"),
                  ids: bool = IdsOpt, json_out: bool = JsonOpt) -> None:
    """Unallocated payments, oldest first."""
    result = client().get("ledger", "/v1/suspense")
    items = result["items"][:limit] if limit else result["items"]
    if ids:
        return emit_ids([i["payment_id"] for i in items])
    if json_out:
        return emit_json(items)
    table(f"suspense: {result['count']:,} items, {pounds(result['total_pence'])}",
          [Col("payment_id"), Col("amount", "right"), Col("channel", drop=3), Col("reference", wrap=True),
           Col("payer", drop=2), Col("received", drop=1), Col("age (days)", "right", drop=4),
           Col("reason", wrap=True, drop=5)],
          [[i["payment_id"], pounds(i["amount_pence"]), i["channel"], i["reference"], i.get("payer_name"),
            when(i["received_at"]), i.get("age_days"), i["reason"]] for i in items])


@suspense_app.command("allocate")
def suspense_allocate(payment_id: str = typer.Argument(..., metavar="PAYMENT_ID",
                                                       help="the suspense item (from `rentflow suspense list`)"),
                      ref: str = typer.Argument(..., metavar="REF", help="the rent account it belongs to"),
                      by: Optional[str] = typer.Option(None, "--by", metavar="NAME", help=BY_HELP),
                      note: str = typer.Option(..., "--note", metavar="TEXT", help="why it belongs to REF"),
                      json_out: bool = JsonOpt) -> None:
    """Allocate a suspense item to an account by hand, recording who and why."""
    result = client().post("ledger", f"/v1/suspense/{payment_id}/allocate",
                           json={"account_ref": ref, "note": note, **({"by": by} if by else {})})
    if json_out:
        return emit_json(result)
    out.print(f"allocated {payment_id} to {result['account_ref']}; balance now {pounds(result['balance_pence'])}",
              highlight=False)


@gl_app.command("reconcile")
def gl_reconcile(period: str = typer.Option(..., "--period", metavar="YYYY-MM", help="the month"),
                 json_out: bool = JsonOpt) -> None:
    """Rent accounts against the GL journals for a month."""
    result = client().get("ledger", "/v1/gl/reconcile", params={"period": period})
    if json_out:
        return emit_json(result)
    print_reconciliation(result)
    if not result["balanced"]:
        raise CommandError(f"period {period} does not reconcile: {len(result['differences'])} difference(s)")


def print_reconciliation(result: dict[str, Any]) -> None:
    state = "[green]balanced[/green]" if result["balanced"] else "[red]NOT balanced[/red]"
    out.print(f"GL reconciliation {result['period']}: {state}; rent accounts {pounds(result['accounts_total_pence'])}"
              f" (net of credit balances), debtors control {pounds(result['control_account_pence'])}",
              highlight=False)
    for d in result.get("differences", []):
        out.print(f"  {d}", highlight=False, markup=False)


# ---------------------------------------------------------------- KPIs

@app.command()
def kpi(period: str = typer.Option("month", "--period", metavar="PERIOD", help="week, month, quarter or year"),
        as_of: Optional[str] = typer.Option(None, "--as-of", metavar="DATE",
                                            help="the period ending on or before DATE (default today)"),
        format: str = typer.Option("table", "--format", metavar="FORMAT", help="table, json, csv or xlsx"),
        output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE",
                                              help="where xlsx goes (default kpi-PERIOD-START.xlsx)"),
        json_out: bool = JsonOpt) -> None:
    """The KPI snapshot for the period ending on or before DATE."""
    if period not in ("week", "month", "quarter", "year"):
        raise CommandError(f"--period must be week, month, quarter or year, not {period!r}")
    if format not in ("table", "json", "csv", "xlsx"):
        raise CommandError(f"--format must be table, json, csv or xlsx, not {format!r}")
    params = {"period": period}
    if as_of:
        parse_date(as_of, "--as-of")
        params["as_of"] = as_of
    raw = client().get_raw("reporting", "/v1/kpi", params=params)
    if json_out or format == "json":  # as the service wrote it: percentages keep their two decimals
        sys.stdout.write(raw.decode() + "\n")
        return
    snap = json.loads(raw, parse_float=Decimal)
    rows = kpi_rows(snap)
    if format == "csv":
        buf = io.StringIO()
        w = csv_writer(buf)  # formula-looking cells neutralised (rentflow_common.exports)
        w.writerow(["kpi", "value", "definition"])
        w.writerows(rows)
        sys.stdout.write(buf.getvalue())
    elif format == "xlsx":
        path = output or Path(f"kpi-{period}-{snap['period_start']}.xlsx")
        write_xlsx(path, rows, title=f"KPI {snap['period']} {snap['period_start']} to {snap['period_end']}")
        err.print(f"wrote {path.resolve()}", highlight=False)
    else:
        print_kpi(snap)


def kpi_rows(snap: dict[str, Any]) -> list[list[Any]]:
    """(key, value, definition) per figure; nested figures (collected_by_channel.card,
    suspense_age_bands.0_7_days.count) get dotted keys and their parent's definition."""
    definitions = snap.get("definitions", {})
    rows: list[list[Any]] = []

    def add(key: str, value: Any, definition: str) -> None:
        if isinstance(value, dict):
            for sub, v in value.items():
                add(f"{key}.{sub}", v, definition)
        else:
            rows.append([key, value, definition])

    for key, value in snap.items():
        if key != "definitions":
            add(key, value, definitions.get(key, ""))
    return rows


def print_kpi(snap: dict[str, Any]) -> None:
    """The snapshot for people: named figures in £ and %, breakdowns under their totals."""
    table(kpi_view.title(snap), [Col("figure"), Col("value", "right")], kpi_view.lines(snap))
    out.print(kpi_view.footnote(snap), style="dim", highlight=False)


def write_xlsx(path: Path, rows: list[list[Any]], title: str = "KPI") -> None:
    """One sheet: kpi, value, definition. Percentages are numbers shown with two decimals;
    money stays integer pence, as its key says."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "KPI"
    ws.append([title])
    ws.append(["kpi", "value", "definition"])
    for key, value, definition in rows:
        if isinstance(value, Decimal):
            ws.append([safe_cell(key), float(value), safe_cell(definition)])
            ws.cell(row=ws.max_row, column=2).number_format = "0.00"
        elif isinstance(value, (int, str, bool)) or value is None:
            ws.append([safe_cell(key), safe_cell(value), safe_cell(definition)])
        else:
            ws.append([safe_cell(key), safe_cell(str(value)), safe_cell(definition)])
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["B"].width = 16
    ws.column_dimensions["C"].width = 100
    try:
        wb.save(path)
    except OSError as exc:
        raise CommandError(f"{path}: cannot write: {exc.strerror}") from None


# ---------------------------------------------------------------- the demo and its sample landlord

@app.command()
def demo(accounts: int = typer.Option(5000, "--accounts", metavar="N", min=10, help="homes in the sample landlord"),
         seed: int = typer.Option(2026, "--seed", metavar="N", help="the sample's random seed (same seed, same data)"),
         keep: bool = typer.Option(False, "--keep", help="leave the stack running afterwards (Ctrl-C stops it), "
                                                         "to look around with the other commands")) -> None:
    """Run the stack, load a sample landlord, push a month of payments, print KPIs and the GL reconciliation."""
    from rentflow_cli.demo import run_demo

    if keep:
        stop_on_sigterm()
    run_demo(home_dir() / "demo", accounts=accounts, seed=seed, out=out, err=err, keep=keep,
             print_kpi=print_kpi, print_reconciliation=print_reconciliation, supervise=supervise)


@app.command("sample")
def sample_files(output: Path = typer.Option(..., "--output", "-o", metavar="DIR",
                                             help="folder to write into (created if missing)"),
                 accounts: int = typer.Option(5000, "--accounts", metavar="N", min=10,
                                              help="homes in the sample landlord"),
                 seed: int = typer.Option(2026, "--seed", metavar="N", help="the sample's random seed")) -> None:
    """Write the demo landlord's accounts CSV and a month of payment files of every channel."""
    from rentflow_cli.sample_files import write_sample

    try:
        written = write_sample(output, accounts=accounts, seed=seed)
    except OSError as exc:
        raise CommandError(f"{output}: cannot write: {exc.strerror or exc}") from None
    for path, what in written:
        out.print(f"{path}  {what}", highlight=False)
    err.print(f"wrote {len(written)} files to {output.resolve()}; import accounts.csv first, then payments/, "
              f"`rentflow wait`, then returns/ (unpaid Direct Debits follow their collections)", highlight=False)


# ---------------------------------------------------------------- helpers

def parse_date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} must be a date as YYYY-MM-DD, not {value!r}") from None


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except OSError as exc:
        raise CommandError(f"{path}: cannot read: {exc.strerror}") from None


def register_command_modules() -> None:
    """Each `rentflow_cli/cmd_*.py` module adds its commands: `def register(app, ctx): ...`."""
    import importlib
    import pkgutil

    import rentflow_cli

    ctx = {"client": client, "emit_json": emit_json, "emit_ids": emit_ids, "table": table, "pounds": pounds,
           "out": out, "err": err, "CommandError": CommandError, "parse_date": parse_date, "read_file": read_file,
           "typer_apps": {"accounts": accounts_app, "providers": providers_app, "officers": officers_app,
                          "payments": payments_app, "ledger": ledger_app, "suspense": suspense_app,
                          "tasks": tasks_app, "gl": gl_app}}
    for module in sorted(m.name for m in pkgutil.iter_modules(rentflow_cli.__path__) if m.name.startswith("cmd_")):
        importlib.import_module(f"rentflow_cli.{module}").register(app, ctx)


register_command_modules()


def _help_shows_metavars() -> None:
    """--help shows each option's METAVAR (flags nothing) instead of typer's `<str>`, `<bool>`,
    `<list[str]>` type placeholders; an argument's name is already its metavar.
    tests: cli/tests/test_help.py renders every command's help and fails on a placeholder."""
    from typer import core

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if isinstance(self, core.TyperArgument) or getattr(self, "is_flag", False):
            return None
        return self.metavar

    core._TyperParameter.display_type_rich = display_type_rich  # type: ignore[method-assign]
    core.TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_help_shows_metavars()


def json_format_alias(argv: list[str]) -> list[str]:
    """`--format json` means `--json` (docs/contract.md), except where --format is the command's own option
    (`kpi` output formats; `payments import` file formats)."""
    if argv[:1] == ["kpi"] or argv[:2] == ["payments", "import"]:
        return argv
    out_args, i = [], 0
    while i < len(argv):
        if argv[i] == "--format" and i + 1 < len(argv) and argv[i + 1] == "json":
            out_args.append("--json")
            i += 2
        elif argv[i] == "--format=json":
            out_args.append("--json")
            i += 1
        else:
            out_args.append(argv[i])
            i += 1
    return out_args


def main() -> None:
    try:
        code = app(args=json_format_alias(sys.argv[1:]), standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except CommandError as exc:
        err.print(f"rentflow: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    except StackError as exc:
        err.print(f"rentflow: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("rentflow: interrupted")
        sys.exit(130)
    except Exception as exc:  # usage errors (typer's own click) and the unexpected: still one line
        if isinstance(exc, typer.TyperException) and hasattr(exc, "show"):
            exc.show()
            sys.exit(getattr(exc, "exit_code", 2))
        err.print(f"rentflow: {type(exc).__name__}: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
