"""`rentflow`: runs the stack and the demo, and is the operator's and script's handle on it.

Every command exits non-zero with a one-line reason on stderr when it fails; `--json` prints
one JSON document on stdout and nothing else there."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import signal
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator, List, Optional
from urllib.parse import urlencode

import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table

from rentflow_common.settings import home_dir
from rentflow_cli.client import Client, CommandError
from rentflow_cli.stack import Stack, StackError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="rentflow: rent payments to posted rent accounts, GL journals, officer tasks and KPIs.")
accounts_app = typer.Typer(no_args_is_help=True, help="rent accounts")
providers_app = typer.Typer(no_args_is_help=True, help="payment providers of the push API")
officers_app = typer.Typer(no_args_is_help=True, help="income officers and managers")
payments_app = typer.Typer(no_args_is_help=True, help="payment intake")
ledger_app = typer.Typer(no_args_is_help=True, help="the rent ledger")
suspense_app = typer.Typer(no_args_is_help=True, help="unallocated payments")
tasks_app = typer.Typer(no_args_is_help=True, help="officer tasks")
gl_app = typer.Typer(no_args_is_help=True, help="the general ledger")
for sub, name in [(accounts_app, "accounts"), (providers_app, "providers"), (officers_app, "officers"),
                  (payments_app, "payments"), (ledger_app, "ledger"), (suspense_app, "suspense"),
                  (tasks_app, "tasks"), (gl_app, "gl")]:
    app.add_typer(sub, name=name)

out = Console()
err = Console(stderr=True)
JsonOpt = typer.Option(False, "--json", help="print one JSON document on stdout")


def client() -> Client:
    return Client(home_dir())


def emit_json(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


def pounds(pence: int | None) -> str:
    if pence is None:
        return "-"
    sign = "-" if pence < 0 else ""
    return f"{sign}£{abs(pence) // 100:,}.{abs(pence) % 100:02d}"


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    out.print(t)


# ---------------------------------------------------------------- the stack

@app.command()
def up(auto_debits: bool = typer.Option(False, "--auto-debits", help="raise due debits each day on their own"),
       ) -> None:
    """Start broker, database and the four services; Ctrl-C or SIGTERM stops everything."""
    stopping = {"signal": None}

    def on_signal(signum: int, _frame: Any) -> None:
        stopping["signal"] = signum
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    stack = Stack(home_dir(), say=lambda m: err.print(f"[dim]{m}[/dim]"))
    try:
        stack.start()
    except KeyboardInterrupt:
        err.print("stopped while starting")
        raise typer.Exit(130)
    except StackError as exc:
        raise CommandError(str(exc)) from None
    err.print(f"rentflow is up; runtime in {stack.home / 'runtime.json'}; Ctrl-C stops it")
    for s in stack.services.values():
        err.print(f"  {s.name:<14} {s.url}/docs")
    code = 0
    next_debits = 0.0
    try:
        while True:
            dead = stack.exited()
            if dead:
                for name, rc in dead:
                    err.print(f"[red]{name} exited with code {rc}; see {stack.services[name].log_path}. "
                              "Stopping everything (nothing is restarted silently).[/red]")
                code = 1
                break
            if auto_debits and time.monotonic() >= next_debits:
                today = dt.datetime.now(LONDON).date().isoformat()
                try:
                    result = client().post("ledger", "/v1/debits/run", json={"through": today})
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
    err.print("stopped")
    raise typer.Exit(code)


@app.command()
def wait(timeout: float = typer.Option(300, "--timeout", help="seconds")) -> None:
    """Return once every consumer group has processed everything published so far."""
    c = client()
    c.wait_until_processed(timeout)
    err.print("everything published so far has been processed")


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
    if json_out:
        emit_json(doc)
    else:
        rows = []
        for svc, st in doc.items():
            if st.get("reachable") is False:
                rows.append([svc, "unreachable", "", "", "", "", "", ""])
                continue
            rows.append([svc, "", "", "", "", "", "", f"{st.get('outbox_backlog')} "
                         f"({st.get('outbox_published_per_s', 0)}/s out)"])
            for group, g in st.get("consumers", {}).items():
                by_topic = g.get("lag_by_topic") or {}
                rows.append(["", group, "all", "-" if g.get("lag") is None else g["lag"], g.get("messages"),
                             g.get("messages_per_s"), g.get("dead_letters"), ""])
                for topic, lag in by_topic.items():
                    rows.append(["", "", topic, lag, g.get("per_topic", {}).get(topic, 0), "", "", ""])
        table("stream health (throughput: messages/s over the last minute)",
              ["service", "consumer group", "topic", "lag", "messages", "msg/s", "dead letters", "outbox backlog"],
              rows)
    if down:
        raise CommandError(f"not answering: {', '.join(down)} ({doc[down[0]]['error']})")


# ---------------------------------------------------------------- accounts, providers, officers

@accounts_app.command("import")
def accounts_import(file: Path = typer.Argument(..., help="rent accounts CSV (CONTRACT.md columns)"),
                    json_out: bool = JsonOpt) -> None:
    """Load or update rent accounts from CSV."""
    body = read_file(file)
    result = client().post("ledger", "/v1/accounts/import", content=body, headers={"Content-Type": "text/csv"})
    if json_out:
        emit_json(result)
    else:
        out.print(f"created {result['created']}, updated {result['updated']}, "
                  f"unchanged {result.get('unchanged', 0)}, rejected {len(result['errors'])}")
        for e in result["errors"][:50]:
            err.print(f"line {e.get('line')}: {e.get('field') or ''} {e.get('reason')}")
    if result["errors"]:
        raise CommandError(f"{len(result['errors'])} row(s) of {file} rejected; the other rows were imported")


@accounts_app.command("show")
def accounts_show(ref: str, json_out: bool = JsonOpt) -> None:
    """Balance and transactions of one account."""
    acc = client().get("ledger", f"/v1/accounts/{ref}")
    if json_out:
        return emit_json(acc)
    out.print(f"[bold]{acc['account_ref']}[/bold] {acc.get('tenant_name', '')}, {acc.get('property', '')} "
              f"(patch {acc.get('patch')}) balance {pounds(acc['balance_pence'])}")
    table("transactions", ["posted_at", "type", "amount", "balance after", "source_ref"],
          [[t["posted_at"], t["type"], pounds(t["amount_pence"]), pounds(t["balance_after_pence"]), t["source_ref"]]
           for t in acc["transactions"]])


@providers_app.command("add")
def providers_add(name: str, secret: Optional[str] = typer.Option(None, "--secret"), json_out: bool = JsonOpt) -> None:
    """Register a payment provider and print its signing secret."""
    result = client().post("payments", "/v1/providers", json={"name": name, "secret": secret})
    if json_out:
        return emit_json(result)
    out.print(f"provider {result['provider_id']}\nsecret {result['secret']}")


@officers_app.command("add")
def officers_add(name: str, patch: List[str] = typer.Option([], "--patch", help="patch the officer covers (repeat)"),
                 role: str = typer.Option("officer", "--role", help="officer or manager"),
                 json_out: bool = JsonOpt) -> None:
    """An income officer (tasks in their patches go to them) or a manager."""
    if role not in ("officer", "manager"):
        raise CommandError(f"--role must be officer or manager, not {role!r}")
    result = client().post("notifications", "/v1/officers", json={"name": name, "patches": patch, "role": role})
    # The ledger keeps its own list of who may approve adjustments (no service reads another's
    # tables); both calls are upserts, so running the command again repairs a half-done one.
    client().post("ledger", "/v1/approvers", json={"name": name, "role": role})
    if json_out:
        return emit_json(result)
    out.print(f"{result['role']} {result['name']} patches {', '.join(result['patches']) or '-'}")


# ---------------------------------------------------------------- payments and ledger

@payments_app.command("import")
def payments_import(file: Path,
                    format: str = typer.Option("auto", "--format", "-f",
                                               help="auto, camt053, bacs18, arudd, addacs, govuk-pay, json, csv "
                                                    "(also auddis, ddica, bank-csv)"),
                    provider: Optional[str] = typer.Option(None, "--provider",
                                                           help="who the file came from (default file-import; "
                                                                "govuk-pay for GOV.UK Pay replays)"),
                    option: List[str] = typer.Option([], "--option", "-o",
                                                     help="a format option KEY=VALUE, e.g. processing_date=2026-05-01, "
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
    upload = Upload(file, size, quiet=json_out)
    c = client()
    watcher = None if json_out else ImportWatcher(c, upload)
    try:
        result = c.post("payments", "/v1/imports?" + urlencode(params), content=upload.chunks(),
                        headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
    finally:
        if watcher:
            watcher.stop()
    if json_out:
        return emit_json(result)
    extra = ", ".join(f"{k} {result[k]}" for k in ("skipped", "returns", "mandates", "reversals") if result.get(k))
    out.print(f"import {result['import_id']} ({result.get('format', format)}): accepted {result['accepted']}, "
              f"rejected {result['rejected']}, duplicates {result['duplicates']}" + (f"; {extra}" if extra else ""))
    for e in result["errors"][:50]:
        where = f"line {e['line']}" if e.get("line") is not None else f"item {e.get('item')}"
        out.print(f"  {where}: {e['reason']}")
    if len(result["errors"]) > 50:
        out.print(f"  ... and {len(result['errors']) - 50} more (use --json)")
    for w in result.get("warnings", [])[:20]:
        where = f"line {w['line']}" if w.get("line") is not None else f"item {w.get('item')}"
        out.print(f"  warning, {where}: {w['reason']}")


class Upload:
    """The file in 1 MB chunks, with upload progress on stderr; its sha256 once sent (the import's
    identity, used to follow the import's progress)."""

    def __init__(self, file: Path, size: int, quiet: bool) -> None:
        self.file, self.size, self.quiet = file, size, quiet
        self.sha256: str | None = None
        self.sent = threading.Event()

    def chunks(self) -> Iterator[bytes]:
        digest = hashlib.sha256()
        done, last = 0, 0.0
        with self.file.open("rb") as f:
            while chunk := f.read(1 << 20):
                done += len(chunk)
                digest.update(chunk)
                if not self.quiet and time.monotonic() - last > 0.5:
                    err.print(f"sending {self.file.name}: {done * 100 // max(self.size, 1)}% of {self.size:,} bytes",
                              end="\r")
                    last = time.monotonic()
                yield chunk
        self.sha256 = digest.hexdigest()
        self.sent.set()
        if not self.quiet and self.size > 1 << 20:
            err.print(f"sent {self.file.name}: {self.size:,} bytes; importing")


class ImportWatcher:
    """Once the file is sent, shows the running import's counts (GET /v1/imports?sha256=) every second."""

    def __init__(self, c: Client, upload: Upload) -> None:
        self.c, self.upload = c, upload
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
                        err.print(f"importing {self.upload.file.name}: {imp['processed']:,} items (accepted "
                                  f"{imp['accepted']:,}, rejected {imp['rejected']:,}, duplicates "
                                  f"{imp['duplicates']:,})", end="\r")

    def stop(self) -> None:
        self.done.set()
        self.upload.sent.set()
        self.thread.join(timeout=5)


@ledger_app.command("run-debits")
def ledger_run_debits(through: str = typer.Option(..., "--through", help="raise debits for rent weeks up to DATE"),
                      json_out: bool = JsonOpt) -> None:
    """Raise every weekly rent and charge debit due up to DATE not yet raised."""
    parse_date(through, "--through")
    result = client().post("ledger", "/v1/debits/run", json={"through": through})
    if json_out:
        return emit_json(result)
    out.print(f"raised {result['debits_raised']} debits, {pounds(result['amount_pence'])}, "
              f"on {result['accounts']} accounts through {result['through']}")


@suspense_app.command("list")
def suspense_list(json_out: bool = JsonOpt) -> None:
    """Unallocated payments."""
    result = client().get("ledger", "/v1/suspense")
    if json_out:
        return emit_json(result["items"])
    table(f"suspense: {result['count']} items, {pounds(result['total_pence'])}",
          ["payment_id", "amount", "channel", "reference", "payer", "received_at", "age (days)", "reason"],
          [[i["payment_id"], pounds(i["amount_pence"]), i["channel"], i["reference"], i.get("payer_name"),
            i["received_at"], i.get("age_days"), i["reason"]] for i in result["items"]])


@suspense_app.command("allocate")
def suspense_allocate(payment_id: str, ref: str, by: str = typer.Option(..., "--by"),
                      note: str = typer.Option(..., "--note"), json_out: bool = JsonOpt) -> None:
    """Allocate a suspense item to an account by hand, recording who and why."""
    result = client().post("ledger", f"/v1/suspense/{payment_id}/allocate",
                           json={"account_ref": ref, "by": by, "note": note})
    if json_out:
        return emit_json(result)
    out.print(f"allocated {payment_id} to {result['account_ref']}; balance now {pounds(result['balance_pence'])}")


@gl_app.command("reconcile")
def gl_reconcile(period: str = typer.Option(..., "--period", help="YYYY-MM"), json_out: bool = JsonOpt) -> None:
    """Rent accounts against the GL journals for a month."""
    result = client().get("ledger", "/v1/gl/reconcile", params={"period": period})
    if json_out:
        return emit_json(result)
    print_reconciliation(result)
    if not result["balanced"]:
        raise CommandError(f"period {period} does not reconcile: {len(result['differences'])} difference(s)")


def print_reconciliation(result: dict[str, Any]) -> None:
    state = "[green]balanced[/green]" if result["balanced"] else "[red]NOT balanced[/red]"
    out.print(f"GL reconciliation {result['period']}: {state}; rent accounts {pounds(result['accounts_total_pence'])}, "
              f"debtors control {pounds(result['control_account_pence'])}")
    for d in result.get("differences", []):
        out.print(f"  {d}")


# ---------------------------------------------------------------- tasks and KPIs

@tasks_app.command("list")
def tasks_list(status: Optional[str] = typer.Option(None, "--status"), kind: Optional[str] = typer.Option(None, "--kind"),
               assigned_to: Optional[str] = typer.Option(None, "--assigned-to"),
               limit: int = typer.Option(1000, "--limit"), json_out: bool = JsonOpt) -> None:
    """Officer tasks."""
    params = {k: v for k, v in {"status": status, "kind": kind, "assigned_to": assigned_to, "limit": limit}.items()
              if v is not None}
    result = client().get("notifications", "/v1/tasks", params=params)
    if json_out:
        return emit_json(result["tasks"])
    table(f"tasks: {result['count']}", ["task_id", "kind", "account", "assigned_to", "status", "due_on", "reason"],
          [[t["task_id"], t["kind"], t.get("account_ref"), t["assigned_to"], t["status"], t["due_on"], t["reason"]]
           for t in result["tasks"]])


PCT_KEYS_LAST = ("definitions",)


@app.command()
def kpi(period: str = typer.Option("month", "--period", help="week, month, quarter or year"),
        as_of: Optional[str] = typer.Option(None, "--as-of", help="DATE (default today)"),
        format: str = typer.Option("table", "--format", help="table, json, csv or xlsx"),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="file for xlsx (default kpi-PERIOD.xlsx)"),
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
        w = csv.writer(buf)
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
    rows = []
    for key, value, _definition in kpi_rows(snap):
        money = key.endswith("_pence") or key.startswith("collected_by_channel.") or key.endswith(".pence")
        if money and isinstance(value, int):
            value = pounds(value)
        elif key.endswith("_pct") and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = f"{value:.2f}"  # CONTRACT.md: percentages with two decimals
        rows.append([key, value])
    table(f"KPI {snap['period']} {snap['period_start']} to {snap['period_end']}", ["kpi", "value"], rows)


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
            ws.append([key, float(value), definition])
            ws.cell(row=ws.max_row, column=2).number_format = "0.00"
        elif isinstance(value, (int, str, bool)) or value is None:
            ws.append([key, value, definition])
        else:
            ws.append([key, str(value), definition])
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["B"].width = 16
    ws.column_dimensions["C"].width = 100
    try:
        wb.save(path)
    except OSError as exc:
        raise CommandError(f"{path}: cannot write: {exc.strerror}") from None


# ---------------------------------------------------------------- demo

@app.command()
def demo(accounts: int = typer.Option(5000, "--accounts", help="homes in the sample landlord"),
         seed: int = typer.Option(2026, "--seed")) -> None:
    """Run the stack, load a sample landlord, push a month of payments, print KPIs and the GL reconciliation."""
    from rentflow_cli.demo import run_demo

    run_demo(home_dir() / "demo", accounts=accounts, seed=seed, out=out, err=err,
             print_kpi=print_kpi, print_reconciliation=print_reconciliation)


# ---------------------------------------------------------------- helpers

from zoneinfo import ZoneInfo  # noqa: E402

LONDON = ZoneInfo("Europe/London")


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

    ctx = {"client": client, "emit_json": emit_json, "table": table, "pounds": pounds, "out": out, "err": err,
           "CommandError": CommandError, "parse_date": parse_date, "read_file": read_file, "typer_apps": {
               "accounts": accounts_app, "providers": providers_app, "officers": officers_app,
               "payments": payments_app, "ledger": ledger_app, "suspense": suspense_app, "tasks": tasks_app,
               "gl": gl_app}}
    for module in sorted(m.name for m in pkgutil.iter_modules(rentflow_cli.__path__) if m.name.startswith("cmd_")):
        importlib.import_module(f"rentflow_cli.{module}").register(app, ctx)


register_command_modules()


def json_format_alias(argv: list[str]) -> list[str]:
    """`--format json` means `--json` (CONTRACT.md), except where --format is the command's own option
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
    except Exception as exc:  # click usage errors and the unexpected: still one line
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        err.print(f"rentflow: {type(exc).__name__}: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
