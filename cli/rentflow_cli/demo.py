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
from rentflow_cli.output import pounds
from rentflow_cli.stack import Stack

BATCH = 500


def run_demo(home: Path, *, accounts: int, seed: int, out: Console, err: Console, keep: bool,
             print_kpi: Callable[[dict[str, Any]], None],
             print_reconciliation: Callable[[dict[str, Any]], None],
             supervise: Callable[[Stack], int]) -> None:
    started = time.monotonic()

    def step(message: str) -> None:
        err.print(f"[bold cyan]{time.monotonic() - started:6.1f}s[/bold cyan] {message}", highlight=False)

    step(f"starting rentflow in {home} (broker, database, four services)")
    stack = Stack(home, database="rentflow_demo", fresh_database=True, local_admin=True,
                  say=lambda m: err.print(f"        [dim]{m}[/dim]", highlight=False))
    stack.start()
    try:
        c = Client(home)
        accs = sample.accounts(accounts, seed)
        step(f"importing {len(accs):,} rent accounts (balances as at {sample.BALANCE_DATE:%-d %B %Y})")
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
        step(f"raised {debits['debits_raised']:,} debits ({pounds(debits['amount_pence'])}): the rent weeks of "
             f"{sample.RENT_WEEKS[0]:%-d %B} to {sample.RENT_WEEKS[-1]:%-d %B}")
        secrets = {p: c.post("payments", "/v1/providers", json={"name": p, "secret": None})["secret"]
                   for p in sample.PROVIDERS}
        payments, files = sample.october_files(sample.october_payments(accs, seed), seed)
        step(f"pushing {len(payments):,} card, Housing Benefit and Universal Credit payments through the push API")
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
        tasks = {kind: c.get("notifications", "/v1/tasks", params={"kind": kind, "limit": 1})["count"]
                 for kind in ("unmatched_payment", "dd_failure", "ended_tenancy_payment")}
        step("done")
        print_kpi(kpi)
        print_reconciliation(recon)
        out.print(f"Suspense: {suspense['count']:,} payments ({pounds(suspense['total_pence'])}) waiting for an "
                  f"officer, {tasks['unmatched_payment']:,} unmatched-payment tasks opened. Direct Debit: "
                  f"{kpi.get('dd_failures', 0):,} unpaid collections reversed, {tasks['dd_failure']:,} dd_failure "
                  f"tasks with letters to the payers. {tasks['ended_tenancy_payment']:,} payments from former "
                  f"tenants posted, each with a task to check it.", highlight=False)
        if keep:
            prefix = f"RENTFLOW_HOME={home} "
            out.print(f"\nThe demo's stack is still running; in another terminal look around with\n"
                      f"  {prefix}rentflow tasks list --kind dd_failure\n"
                      f"  {prefix}rentflow suspense list\n"
                      f"  {prefix}rentflow notices list\n"
                      f"  {prefix}rentflow kpi --period month --as-of {sample.MONTH_END}\n"
                      f"Ctrl-C here stops it.", highlight=False)
        else:
            out.print("\nThe demo's stack is stopped. To look around afterwards (tasks, suspense, letters), run "
                      "`rentflow demo --keep`: it leaves the stack running until Ctrl-C.", highlight=False)
    except BaseException:
        stack.stop()
        raise
    if keep:
        err.print(f"demo finished in {time.monotonic() - started:.0f} s; the stack keeps running")
        if not recon["balanced"]:
            err.print("[red]the GL reconciliation does not balance[/red]")
        supervise(stack)  # until Ctrl-C; stops the stack
    else:
        step("stopping")
        stack.stop()
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
