"""`rentflow demo`: the whole flow on a sample landlord, on the embedded default unless configured."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rentflow_cli import sample
from rentflow_cli.client import Client, CommandError, describe_error, dumps, signed_headers
from rentflow_cli.stack import Stack

BATCH = 500


def run_demo(home: Path, *, accounts: int, seed: int, out: Console, err: Console,
             print_kpi: Callable[[dict[str, Any]], None],
             print_reconciliation: Callable[[dict[str, Any]], None]) -> None:
    started = time.monotonic()

    def step(message: str) -> None:
        err.print(f"[bold cyan]{time.monotonic() - started:6.1f}s[/bold cyan] {message}")

    step(f"starting rentflow in {home} (broker, database, four services)")
    with Stack(home, database="rentflow_demo", fresh_database=True, say=lambda m: err.print(f"        [dim]{m}[/dim]")):
        c = Client(home)
        accs = sample.accounts(accounts, seed)
        step(f"importing {len(accs):,} rent accounts")
        result = c.post("ledger", "/v1/accounts/import", content=sample.accounts_csv(accs).encode(),
                        headers={"Content-Type": "text/csv"})
        if result["errors"]:
            raise CommandError(f"sample accounts rejected: {result['errors'][:3]}")
        for name, patch in sample.OFFICERS:
            c.post("notifications", "/v1/officers", json={"name": name, "patches": [patch], "role": "officer"})
        c.post("notifications", "/v1/officers", json={"name": sample.MANAGER, "patches": [], "role": "manager"})
        step(f"{len(sample.OFFICERS)} officers and a manager added; raising weekly debits through "
             f"{sample.MONTH_END}")
        debits = c.post("ledger", "/v1/debits/run", json={"through": sample.MONTH_END.isoformat()})
        step(f"raised {debits['debits_raised']:,} debits (£{debits['amount_pence'] // 100:,})")
        secrets = {p: c.post("payments", "/v1/providers", json={"name": p, "secret": None})["secret"]
                   for p in sample.PROVIDERS}
        payments, files = sample.october_files(sample.october_payments(accs, seed), seed)
        step(f"pushing {len(payments):,} October card, Housing Benefit and Universal Credit payments through the "
             f"push API")
        push_all(c.url("payments"), payments, secrets, err)
        for f in [f for f in files if f.format != "arudd"] + [None] + [f for f in files if f.format == "arudd"]:
            if f is None:  # unpaid Direct Debits come back after their collections
                c.wait_until_processed(timeout=300)
                continue
            summary = c.post("payments", "/v1/imports", params={"format": f.format, "provider": f.provider},
                             content=f.content)
            step(f"imported {f.label}: {summary['accepted']:,} accepted, {summary['rejected']} rejected, "
                 f"{summary['duplicates']} duplicates")
        step("waiting until the ledger, notifications and reporting have processed everything")
        c.wait_until_processed(timeout=300)
        kpi = c.get("reporting", "/v1/kpi", params={"period": "month", "as_of": sample.MONTH_END.isoformat()})
        recon = c.get("ledger", "/v1/gl/reconcile", params={"period": "2026-10"})
        suspense = c.get("ledger", "/v1/suspense")
        unmatched = c.get("notifications", "/v1/tasks", params={"kind": "unmatched_payment", "limit": 1})
        dd_tasks = c.get("notifications", "/v1/tasks", params={"kind": "dd_failure", "limit": 1})
        step("done")
        print_kpi(kpi)
        print_reconciliation(recon)
        out.print(f"suspense: {suspense['count']} payments (£{suspense['total_pence'] / 100:,.2f}) waiting for an "
                  f"officer; {unmatched['count']} unmatched-payment tasks opened")
        out.print(f"Direct Debit: {kpi.get('dd_failures', 0)} unpaid collections reversed; {dd_tasks['count']} "
                  f"dd_failure tasks with letters to the payers (rentflow tasks list --kind dd_failure, "
                  f"rentflow notices list)")
        step("stopping")
    err.print(f"demo finished in {time.monotonic() - started:.0f} s")
    if not recon["balanced"]:
        raise CommandError("the GL reconciliation does not balance")


def push_all(base_url: str, payments: list[sample.Payment], secrets: dict[str, str], err: Console,
             workers: int = 4) -> None:
    """Pushes in signed batches per provider, a few requests in flight, with progress."""
    batches: list[tuple[str, list[dict[str, Any]]]] = []
    current: dict[str, list[dict[str, Any]]] = {}
    for p in payments:
        items = current.setdefault(p.provider, [])
        items.append(p.body)
        if len(items) == BATCH:
            batches.append((p.provider, items))
            current[p.provider] = []
    batches += [(provider, items) for provider, items in current.items() if items]

    with httpx.Client(base_url=base_url, timeout=60) as http, \
            Progress(TextColumn("        pushing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                     console=err, transient=False) as progress, ThreadPoolExecutor(workers) as pool:
        bar = progress.add_task("push", total=len(payments))

        def send(batch: tuple[str, list[dict[str, Any]]]) -> None:
            provider, items = batch
            body = dumps(items)
            response = http.post("/v1/payments/batch", content=body, headers=signed_headers(provider, secrets[provider], body))
            if response.status_code != 202:
                raise CommandError(f"push refused ({response.status_code}): {describe_error(response)}")
            progress.advance(bar, len(items))

        for _ in pool.map(send, batches):
            pass
