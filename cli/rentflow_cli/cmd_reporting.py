"""Reporting commands: annual returns (LAHS rent arrears, benchmarking) and quarterly rent
statements. Each calls the reporting service's HTTP API (services/reporting)."""
from __future__ import annotations

import io
import json
import re
import shutil
import sys
import tempfile
import time
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional

import typer

from rentflow_common.exports import csv_writer

from rentflow_cli.output import Col, ProgressLine

FORMATS = ("table", "json", "csv")
AS_OF = typer.Option(None, "--as-of", metavar="DATE", help="DATE: figures as known then (default today); the year is complete "
                                           "after its 31 March")


def register(app: typer.Typer, ctx: dict[str, Any]) -> None:
    client, err, pounds = ctx["client"], ctx["err"], ctx["pounds"]
    CommandError = ctx["CommandError"]
    returns_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="annual returns: LAHS rent arrears, benchmarking")
    statements_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", help="quarterly rent statements (PDF and CSV)")
    app.add_typer(returns_app, name="returns")
    app.add_typer(statements_app, name="statements")

    def show_return(kind: str, year: int, as_of: str | None, format: str, json_out: bool) -> None:
        if format not in FORMATS:
            raise CommandError(f"--format must be one of {', '.join(FORMATS)}, not {format!r}")
        params: dict[str, Any] = {"year": year}
        if as_of:
            ctx["parse_date"](as_of, "--as-of")
            params["as_of"] = as_of
        raw = client().get_raw("reporting", f"/v1/returns/{kind}", params=params)
        if json_out or format == "json":
            sys.stdout.write(raw.decode() + "\n")
            return
        doc = json.loads(raw, parse_float=Decimal)
        if format == "csv":
            buf = io.StringIO()
            w = csv_writer(buf)
            w.writerow(["item", "label", "value", "unit", "definition"])
            w.writerows([i["item"], i["label"], i["value"], i["unit"], i["definition"]] for i in doc["items"])
            sys.stdout.write(buf.getvalue())
            return
        state = "complete" if doc["complete"] else f"to date: through {doc['through']}"
        ctx["table"](f"{doc['return']} {doc['year']} ({doc['period_start']} to {doc['period_end']}, {state})",
                     [Col("item", wrap=True), Col("figure", "right"), Col("definition", wrap=True, drop=1)],
                     [[i["label"], display(i, pounds), i["definition"]] for i in doc["items"]])

    @returns_app.command("lahs")
    def returns_lahs(year: int = typer.Option(..., "--year", metavar="YYYY",
                                              help="the financial year by its April: 2026 = 2026/27"),
                     as_of: Optional[str] = AS_OF,
                     format: str = typer.Option("table", "--format", metavar="FORMAT", help="table, json or csv"),
                     json_out: bool = typer.Option(False, "--json", help="print one JSON document")) -> None:
        """The rent arrears figures of the LAHS return for a financial year, definitions beside them."""
        show_return("lahs", year, as_of, format, json_out)

    @returns_app.command("benchmark")
    def returns_benchmark(year: int = typer.Option(..., "--year", metavar="YYYY",
                                                   help="the financial year by its April: 2026 = 2026/27"),
                          as_of: Optional[str] = AS_OF,
                          format: str = typer.Option("table", "--format", metavar="FORMAT",
                                                     help="table, json or csv"),
                          json_out: bool = typer.Option(False, "--json", help="print one JSON document")) -> None:
        """Benchmarking measures (HouseMark style) for a financial year, definitions beside them."""
        show_return("benchmark", year, as_of, format, json_out)

    @statements_app.command("run")
    def statements_run(quarter: str = typer.Option(..., "--quarter", metavar="YYYY-Qn",
                                                   help="YYYY-Qn: financial-year quarter, Q1 = April–June of YYYY, "
                                                        "Q4 = January–March of YYYY+1"),
                       output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="DIR",
                                                             help="directory (default ./statements-QUARTER)"),
                       json_out: bool = typer.Option(False, "--json", help="print the run's summary as JSON")) -> None:
        """Render every account's rent statement for a quarter as PDF and CSV, with progress on stderr."""
        directory = (output or Path(f"statements-{quarter}")).resolve()
        c = client()
        run = c.post("reporting", "/v1/statements/runs", json={"quarter": quarter})
        progress = ProgressLine()
        while run["status"] == "running":
            time.sleep(0.5)
            run = c.get("reporting", f"/v1/statements/runs/{run['run_id']}")
            if not json_out:
                progress.update(f"statements {quarter}: {run['done']:,} of {run['total']:,}")
        progress.done()
        if run["status"] != "done":
            raise CommandError(f"statement run {run['run_id']} failed: {run.get('error') or run['status']}")
        download(c, run, directory)
        run["output_dir"] = str(directory)
        if json_out:
            ctx["emit_json"](run)
            return
        err.print(f"wrote {run['done']:,} statements ({run['pdf_pages']:,} PDF pages) for {run['period_start']} to "
                  f"{run['period_end']} in {run['elapsed_s']} s to {run['output_dir']}", highlight=False)


RUN_FILE = re.compile(r"^statements-[^/]+/(index\.csv|pdf/[A-Za-z0-9_-]{1,200}\.pdf|csv/[A-Za-z0-9_-]{1,200}\.csv)$")


def download(c: Any, run: dict[str, Any], directory: Path) -> None:
    """The run's files (one zip from the reporting service) into `directory`: index.csv, pdf/, csv/.
    Only names of that form are written, and only inside `directory`."""
    with tempfile.TemporaryFile() as tmp:
        tmp.write(c.send("reporting", "GET", run["archive"]).content)
        tmp.seek(0)
        with zipfile.ZipFile(tmp) as z:
            for info in z.infolist():
                m = RUN_FILE.match(info.filename)
                if m is None:
                    continue
                target = directory / m.group(1)
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)


def display(item: dict[str, Any], pounds: Any) -> str:
    value, unit = item["value"], item["unit"]
    if value is None:
        return "-"
    if unit == "pence":
        return pounds(value)
    if unit == "percent":
        return f"{value}%"
    return f"{value:,}" if isinstance(value, int) else str(value)
