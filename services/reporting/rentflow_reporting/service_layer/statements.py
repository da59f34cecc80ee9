"""Quarterly rent statement runs: every account's statement for a quarter written as PDF and CSV
into a folder of the service's own (RENTFLOW_STATEMENTS_DIR/<run_id>: a caller never names where the
service writes; the files are downloaded through the API), a chunk of accounts at a time (bounded memory: one chunk in hand, the next
being read), rendered in a worker thread so the event loop keeps serving. Runs live in the
process: a restart forgets their progress (their files stay downloadable; run again: the files are
written the same)."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from rentflow_common.db import UnitOfWork, as_of_one_moment
from rentflow_common.logging import get_logger

from rentflow_reporting.adapters import repository as repo
from rentflow_reporting.adapters import statement_files as files
from rentflow_reporting.domain.periods import Period
from rentflow_reporting.domain.statements import PostingRow, Statement, build_statement, needs_statement, parse_quarter

log = get_logger(__name__)
UTC = dt.timezone.utc


class BadOutput(ValueError):
    pass


class NotReady(Exception):
    """The run has not finished: its files are not all there yet."""


@dataclass
class StatementRun:
    run_id: uuid.UUID
    quarter: str
    period: Period
    output_dir: Path
    status: str = "running"  # running | done | failed
    total: int = 0           # accounts known when the run started
    done: int = 0            # accounts looked at so far
    written: int = 0         # statements written
    skipped: int = 0         # no tenancy in the quarter, no balance, no movement
    pdf_pages: int = 0
    mismatches: list[str] = field(default_factory=list)
    mismatch_count: int = 0
    error: str | None = None
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(UTC))
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "quarter": self.quarter, "period_start": self.period.start,
                "period_end": self.period.end, "status": self.status,
                "files": f"/v1/statements/runs/{self.run_id}/files",
                "archive": f"/v1/statements/runs/{self.run_id}/archive",
                "total": self.total, "done": self.done, "written": self.written, "skipped": self.skipped,
                "pdf_pages": self.pdf_pages, "closing_mismatches": self.mismatch_count,
                "closing_mismatch_accounts": self.mismatches, "error": self.error, "started_at": self.started_at,
                "elapsed_s": round(self.elapsed_s, 1)}


@dataclass
class Chunk:
    statements: list[Statement]
    looked_at: int
    last_ref: str | None
    mismatches: list[str]


async def load_chunk(engine: AsyncEngine, period: Period, after: str, limit: int, only: str | None = None) -> Chunk:
    """The statements of the next `limit` accounts; mismatches name accounts whose statement
    closes on a different balance than the aggregates hold (postings missing from `postings`). The
    balances and the postings are read as of one moment: read committed, a batch committed between them
    gave a statement whose lines do not add up to its closing balance, named a mismatch."""
    async with UnitOfWork(engine) as uow:
        await as_of_one_moment(uow.raw)
        accounts = await repo.statement_accounts(uow.raw, period.start, period.end, after, limit, only)
        rows = await repo.statement_postings(uow.raw, [a["account_ref"] for a in accounts], period.start,
                                             period.end) if accounts else []
    by_account: dict[str, list[PostingRow]] = {}
    for r in rows:
        by_account.setdefault(r["account_ref"], []).append(
            PostingRow(r["transaction_id"], r["business_date"], r["posted_at"], r["type_code"], r["amount_pence"],
                       r["source_ref"]))
    statements, mismatches = [], []
    for a in accounts:
        postings = by_account.get(a["account_ref"], [])
        if not needs_statement(a["opening"], postings, a["tenancy_start"], a["tenancy_end"], period):
            continue
        s = build_statement(a["account_ref"], a["tenant_name"], a["property"], period, a["opening"], postings)
        if s.closing_pence != a["closing"]:
            mismatches.append(a["account_ref"])
        statements.append(s)
    return Chunk(statements, len(accounts), accounts[-1]["account_ref"] if accounts else None, mismatches)


async def account_statement(engine: AsyncEngine, period: Period, account_ref: str) -> Statement | None:
    chunk = await load_chunk(engine, period, "", 1, only=account_ref)
    return chunk.statements[0] if chunk.statements else None


class StatementRuns:
    def __init__(self, engine: AsyncEngine, folder: Path, *, chunk_size: int = 250, landlord: str | None = None
                 ) -> None:
        self._engine = engine
        self.folder = folder
        self.chunk_size = chunk_size
        self.landlord = landlord or "Rent Accounts Team"
        self.runs: dict[uuid.UUID, StatementRun] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, quarter: str, audit_as: Callable[[], UnitOfWork] | None = None) -> StatementRun:
        """Raises BadQuarter (domain.statements) or BadOutput before anything is written. `audit_as`
        makes units of work acting for whoever started the run: its start and its end are audited
        in their name (without it, as the service: system:reporting)."""
        period = parse_quarter(quarter)
        run_id = uuid.uuid4()
        directory = self.folder / str(run_id)
        try:
            await asyncio.to_thread(files.start_index, directory)
        except OSError as exc:
            log.error("statements.folder_unwritable", folder=str(self.folder), error=str(exc))
            raise BadOutput(f"the statements folder cannot be written ({exc.strerror or exc}): "
                            "see RENTFLOW_STATEMENTS_DIR") from None
        run = StatementRun(run_id, quarter.strip(), period, directory)
        async with UnitOfWork(self._engine) as uow:
            run.total = await repo.count_accounts(uow.raw)
        trail = audit_as or (lambda: UnitOfWork(self._engine, producer="reporting"))
        async with trail() as uow:
            uow.audit("statements.run_started", subject=run_id, after={"quarter": run.quarter, "accounts": run.total})
            await uow.commit()
        self.runs[run.run_id] = run
        task = asyncio.create_task(self._run(run, trail), name=f"statements-{run.quarter}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    async def _run(self, run: StatementRun, trail: Callable[[], UnitOfWork]) -> None:
        started = time.monotonic()
        log.info("statements.run_started", run_id=str(run.run_id), quarter=run.quarter, accounts=run.total)
        pending = asyncio.create_task(load_chunk(self._engine, run.period, "", self.chunk_size))
        outcome = "failed"
        try:
            while True:
                chunk = await pending
                if chunk.last_ref is None:
                    break
                pending = asyncio.create_task(load_chunk(self._engine, run.period, chunk.last_ref, self.chunk_size))
                run.pdf_pages += await asyncio.to_thread(files.write_chunk, chunk.statements, run.output_dir,
                                                         self.landlord)
                run.written += len(chunk.statements)
                run.skipped += chunk.looked_at - len(chunk.statements)
                run.done += chunk.looked_at
                run.mismatch_count += len(chunk.mismatches)
                run.mismatches = (run.mismatches + chunk.mismatches)[:20]
                run.elapsed_s = time.monotonic() - started
            outcome = "done"
        except asyncio.CancelledError:
            outcome, run.error = "failed", "the service stopped during the run"
            raise
        except Exception as exc:
            outcome, run.error = "failed", f"{type(exc).__name__}: {exc}"
            log.error("statements.run_failed", run_id=str(run.run_id), error=run.error)
        finally:
            if not pending.done():
                pending.cancel()
            run.total = max(run.total, run.done)
            run.elapsed_s = time.monotonic() - started
            await self._audit_end(run, outcome, trail)
            run.status = outcome  # shown once the trail has it
        log.info("statements.run_done", run_id=str(run.run_id), written=run.written, pages=run.pdf_pages,
                 elapsed_s=round(run.elapsed_s, 1), closing_mismatches=run.mismatch_count)

    @staticmethod
    async def _audit_end(run: StatementRun, outcome: str, trail: Callable[[], UnitOfWork]) -> None:
        try:
            async with trail() as uow:
                uow.audit("statements.run_finished", subject=run.run_id,
                          after={"quarter": run.quarter, "status": outcome, "written": run.written,
                                 "skipped": run.skipped, "pages": run.pdf_pages, "error": run.error})
                await uow.commit()
        except Exception as exc:  # the run's outcome stands; the log says the trail missed it
            log.error("statements.audit_failed", run_id=str(run.run_id), error=f"{type(exc).__name__}: {exc}")

    def folder_of(self, run_id: uuid.UUID) -> tuple[Path, str] | None:
        """(the run's folder, its quarter) once it is done, also for a run of before a restart; None
        when there is no such run; NotReady while it runs or when it failed."""
        run = self.runs.get(run_id)
        if run is not None:
            if run.status != "done":
                raise NotReady(f"statement run {run_id} is {run.status}")
            return run.output_dir, run.quarter
        directory = self.folder / str(run_id)
        if not (directory / "index.csv").is_file():
            return None
        return directory, str(run_id)

    async def archive(self, run_id: uuid.UUID) -> Path | None:
        found = self.folder_of(run_id)
        return None if found is None else await asyncio.to_thread(files.archive, *found)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
