"""File imports: every item of a file taken in by its type, idempotently, each through the outbox
in the transaction that stores it.

- payments: stored once per provider_ref (payments.received.v1), exactly like a push;
- DD returns and mandate instructions: stored once per id derived from their identity
  (directdebit.returned.v1, directdebit.mandates.v1), whichever file or provider carries them;
- reversals: matched to the payment they take back (same provider), stored once per id derived
  from their identity, at most what is left of the payment (payments.reversed.v1); one that
  matches no payment is rejected;
- GOV.UK Pay card events: handled exactly like webhook deliveries (card_payments.py);
- skipped items and warnings are counted and listed; bad items are rejected with where and why
  (payments.rejected.v1) without stopping the rest.

A file is all or nothing as a whole: it is first staged, every item parsed (chunk by chunk, in a
thread) and copied into a temporary table of the import's own transaction, which is never committed
(so memory stays bounded by a chunk whatever the file's size, and a crash leaves nothing behind).
Only once the whole file has parsed are the staged items validated and posted, chunk by chunk, one
transaction per chunk (the next chunk read and validated while one is written); the import's counts
are updated in each, so GET /v1/imports/{id} shows progress. A file that turns out unreadable at any
point (`Unreadable` from the parser: malformed or too deeply nested XML, a missing trailer) posts
nothing, and its import ends `failed` with the reason. The same file again is the same import_id: what it carries is
counted as duplicates and its rejections are not emitted twice."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import pickle
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, BinaryIO, Callable, Iterator

from pydantic import TypeAdapter, ValidationError

from rentflow_common.db import UnitOfWork
from rentflow_common.events import Cause
from rentflow_common.logging import get_logger

from rentflow_payments.adapters import repository as repo
from rentflow_payments.domain import events
from rentflow_payments.domain.card_events import CARD_EVENT
from rentflow_payments.domain.formats import FileFormat, Options, Parsed, Unreadable
from rentflow_payments.domain.items import FILE_PAYMENT, MANDATE, RETURN, REVERSAL
from rentflow_payments.domain.model import field_errors
from rentflow_payments.service_layer import card_payments
from rentflow_payments.service_layer.handlers import ACCEPTED, take_in
from rentflow_schemas.payments import PaymentReversed

log = get_logger(__name__)

VALIDATORS: dict[str, TypeAdapter[Any]] = {"payment": FILE_PAYMENT, "return": RETURN, "mandate": MANDATE,
                                           "reversal": REVERSAL, "card_event": CARD_EVENT}
KINDS = ("payments", "returns", "mandates", "reversals", "card_events")


@dataclass
class ImportSummary:
    import_id: uuid.UUID
    format: str
    provider_id: str
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False
    reimport: bool = False
    skipped: int = 0
    skipped_items: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    warning_count: int = 0  # every warning, also those past the listed max_errors
    new: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))  # accepted, by kind

    @property
    def processed(self) -> int:
        return self.accepted + self.rejected + self.duplicates + self.skipped

    def details(self) -> dict[str, Any]:
        """The keys added to docs/contract.md's summary."""
        return {"processed": self.processed, "skipped": self.skipped, "skipped_items": self.skipped_items,
                "warning_count": self.warning_count, "warnings": self.warnings,
                **self.new, "errors_truncated": self.errors_truncated, "reimport": self.reimport}

    def as_dict(self) -> dict[str, Any]:
        return {"import_id": str(self.import_id), "format": self.format, "provider_id": self.provider_id,
                "accepted": self.accepted, "rejected": self.rejected, "duplicates": self.duplicates,
                "errors": self.errors, **self.details()}


@dataclass
class _Chunk:
    good: dict[str, list[tuple[Parsed, Any]]]
    rejected: list[tuple[Parsed, list[dict[str, Any]], str | None]]  # (where, errors, provider_ref if known)
    skipped: list[Parsed]
    warnings: list[Parsed]
    done: bool


def _read_chunk(items: Iterator[Parsed], size: int) -> _Chunk:
    """Parses and validates up to `size` items (CPU only: run off the event loop)."""
    chunk = _Chunk(defaultdict(list), [], [], [], done=False)
    n = 0
    for parsed in islice(items, size):
        n += 1
        if parsed.error is not None:
            chunk.rejected.append((parsed, [{"field": None, "reason": parsed.error}], None))
        elif parsed.type == "skipped":
            chunk.skipped.append(parsed)
        elif parsed.type == "warning":
            chunk.warnings.append(parsed)
        else:
            try:
                chunk.good[parsed.type].append((parsed, VALIDATORS[parsed.type].validate_python(parsed.value)))
            except ValidationError as exc:
                ref = (parsed.value or {}).get("provider_ref")
                chunk.rejected.append((parsed, field_errors(exc), ref if isinstance(ref, str) and ref else None))
    chunk.done = n < size
    return chunk


UowFactory = Callable[[], UnitOfWork]


async def import_file(new_uow: UowFactory, provider_id: str, fmt: FileFormat, fp: BinaryIO, *, sha256: str,
                      size: int, correlation_id: str | None, received_at: datetime, options: Options | None = None,
                      chunk_size: int = 2000, max_errors: int = 1000) -> ImportSummary:
    imp = events.import_id(provider_id, sha256)
    correlation_id = correlation_id or str(imp)
    summary = ImportSummary(imp, fmt.name, provider_id)
    async with new_uow() as uow:
        previous = await repo.start_import(uow.raw, imp, provider_id, fmt.name, sha256, size)
        await uow.commit()
    summary.reimport = previous is not None
    ctx = _Context(summary, provider_id, correlation_id, received_at, previous != "completed", max_errors)
    async with new_uow() as staging:  # never committed: the staged items go with its transaction
        try:
            staged = await _stage(staging.raw, lambda: iter(fmt.parse(fp, options or {})), chunk_size)
        except BaseException as exc:
            reason = str(exc) if isinstance(exc, Unreadable) else f"the file could not be read: {type(exc).__name__}"
            await asyncio.shield(_fail(new_uow, imp, reason))
            log.warning("import.failed", import_id=str(imp), provider_id=provider_id, format=fmt.name, reason=reason)
            raise
        await _post(new_uow, ctx, staging.raw, staged, chunk_size)
    async with new_uow() as uow:
        await repo.finish_import(uow.raw, imp, accepted=summary.accepted, rejected=summary.rejected,
                                 duplicates=summary.duplicates, errors=summary.errors, skipped=summary.skipped,
                                 processed=summary.processed, details=summary.details())
        await uow.commit()
    log.info("import.completed", import_id=str(imp), provider_id=provider_id, format=fmt.name,
             accepted=summary.accepted, rejected=summary.rejected, duplicates=summary.duplicates,
             skipped=summary.skipped, warnings=len(summary.warnings))
    return summary


def _pickled(items: Iterator[Parsed], start: int, size: int) -> list[tuple[int, bytes]]:
    """Up to `size` parsed items as staging rows (CPU only: run off the event loop). Pickle keeps
    each item exactly as the parser made it; the rows live only in this import's own temporary
    table, written and read back by this same call, so nothing else can put a row there."""
    return [(start + n, pickle.dumps(p, pickle.HIGHEST_PROTOCOL)) for n, p in enumerate(islice(items, size))]


async def _stage(raw: Any, open_items: Callable[[], Iterator[Parsed]], chunk_size: int) -> int:
    """Parses the whole file into a temporary table (the next chunk parsed while one is copied);
    returns how many items it holds. `Unreadable` surfaces here, before anything is posted.
    The parser is made and runs on one thread of its own: lxml's parsers may not move between
    threads."""
    await raw.execute("create temporary table import_items (seq int primary key, item bytea not null) "
                      "on commit drop")
    loop = asyncio.get_running_loop()
    parser_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-parser")
    items: list[Iterator[Parsed]] = []

    def parse_chunk(start: int) -> list[tuple[int, bytes]]:
        if not items:
            items.append(open_items())
        return _pickled(items[0], start, chunk_size)

    def parse(start: int) -> "asyncio.Future[list[tuple[int, bytes]]]":
        return loop.run_in_executor(parser_thread, parse_chunk, start)

    try:
        rows = await parse(0)
        staged = 0
        while rows:
            staged += len(rows)
            upcoming = parse(staged) if len(rows) == chunk_size else None
            try:
                await raw.copy_records_to_table("import_items", records=rows, columns=["seq", "item"])
            except BaseException:
                if upcoming is not None:
                    await asyncio.gather(upcoming, return_exceptions=True)  # never leave the parser running
                raise
            rows = await upcoming if upcoming is not None else []
    finally:
        parser_thread.shutdown(wait=False)
    return staged


def _unpickled_chunk(rows: list[Any], size: int) -> _Chunk:
    return _read_chunk((pickle.loads(r["item"]) for r in rows), size)


async def _post(new_uow: UowFactory, ctx: "_Context", raw: Any, staged: int, chunk_size: int) -> None:
    """Validates and writes the staged items chunk by chunk (the next chunk read and validated
    while one is written)."""
    async def load(start: int) -> _Chunk:
        rows = await raw.fetch("select item from import_items where seq >= $1 and seq < $2 order by seq",
                               start, start + chunk_size)
        return await asyncio.to_thread(_unpickled_chunk, rows, chunk_size)

    if staged == 0:
        return
    chunk = await load(0)
    for start in range(chunk_size, staged + chunk_size, chunk_size):
        upcoming = asyncio.ensure_future(load(start)) if start < staged else None
        try:
            await _write_chunk(new_uow, ctx, chunk)
        except BaseException:
            if upcoming is not None:
                await asyncio.gather(upcoming, return_exceptions=True)
            raise
        if upcoming is None:
            break
        chunk = await upcoming


async def _fail(new_uow: UowFactory, imp: uuid.UUID, reason: str) -> None:
    try:
        async with new_uow() as uow:
            await repo.fail_import(uow.raw, imp, reason)
            await uow.commit()
    except Exception as exc:  # the database away: the import stays `running` until the file is sent again
        log.warning("import.fail_not_recorded", import_id=str(imp), error=f"{type(exc).__name__}: {exc}"[:200])


@dataclass
class _Context:
    summary: ImportSummary
    provider_id: str
    correlation_id: str
    received_at: datetime
    emit_rejections: bool
    max_errors: int

    def listed(self, into: list[dict[str, Any]], parsed: Parsed, entry: dict[str, Any]) -> None:
        if len(into) < self.max_errors:
            into.append({parsed.kind: parsed.position, **entry})
        else:
            self.summary.errors_truncated = True

    @property
    def cause(self) -> Cause:
        return Cause(None, self.correlation_id)

    def count(self, kind: str, fresh: bool) -> None:
        if fresh:
            self.summary.accepted += 1
            self.summary.new[kind] += 1
        else:
            self.summary.duplicates += 1


async def _write_chunk(new_uow: UowFactory, ctx: _Context, chunk: _Chunk) -> None:
    s, imp = ctx.summary, ctx.summary.import_id
    for p in chunk.skipped:
        s.skipped += 1
        ctx.listed(s.skipped_items, p, {"reason": p.note})
    for p in chunk.warnings:
        s.warning_count += 1
        ctx.listed(s.warnings, p, {"reason": p.note})
    async with new_uow() as uow:
        raw = uow.raw
        payments = [v for _, v in chunk.good["payment"]]
        for o in await take_in(uow, ctx.provider_id, payments, source="file", import_id=imp,
                               correlation_id=ctx.correlation_id, received_at=ctx.received_at):
            ctx.count("payments", o.status == ACCEPTED)
        await _returns(uow, ctx, [v for _, v in chunk.good["return"]])
        await _instructions(uow, ctx, [v for _, v in chunk.good["mandate"]])
        await _reversals(uow, ctx, chunk.good["reversal"], chunk.rejected)
        for parsed, ev in chunk.good["card_event"]:
            outcome, _ = await card_payments.apply(uow, ctx.provider_id, ev, source="file", import_id=imp,
                                                   correlation_id=ctx.correlation_id, received_at=ctx.received_at)
            if outcome in (card_payments.RECORDED, card_payments.IGNORED):
                s.skipped += 1
                ctx.listed(s.skipped_items, parsed, {"reason": f"{ev.event_type}: {outcome}, nothing posted"})
            else:
                ctx.count("card_events", outcome == card_payments.ACCEPTED_OUTCOME)
        for parsed, errs, ref in chunk.rejected:
            if ctx.emit_rejections:
                event, identity = events.rejected(provider_id=ctx.provider_id, imp=imp, kind=parsed.kind,
                                                  position=parsed.position, errors=errs, provider_ref=ref,
                                                  received_at=ctx.received_at)
                uow.emit(event, identity=identity, cause=ctx.cause, occurred_at=ctx.received_at)
            for e in errs:
                ctx.listed(s.errors, parsed, e)
        s.rejected += len(chunk.rejected)
        await repo.import_progress(raw, imp, processed=s.processed, accepted=s.accepted, rejected=s.rejected,
                                   duplicates=s.duplicates, skipped=s.skipped)
        await uow.commit()


async def _returns(uow: UnitOfWork, ctx: _Context, returns: list[Any]) -> None:
    ids = [events.return_id(r.identity) for r in returns]
    new = await repo.insert_returns(uow.raw, [
        (rid, ctx.provider_id, ctx.summary.import_id, r.source, r.reference, r.amount_pence, r.return_code,
         r.original_processing_date, r.reported_on, ctx.received_at) for rid, r in zip(ids, returns)])
    for rid, r in zip(ids, returns):
        ctx.count("returns", rid in new)
        if rid in new:
            new.discard(rid)  # a repeat within the chunk is a duplicate
            uow.emit(events.returned(r, rid=rid, provider_id=ctx.provider_id, imp=ctx.summary.import_id,
                                     received_at=ctx.received_at), cause=ctx.cause, occurred_at=ctx.received_at)


async def _instructions(uow: UnitOfWork, ctx: _Context, instructions: list[Any]) -> None:
    ids = [events.instruction_id(m.identity) for m in instructions]
    new = await repo.insert_instructions(uow.raw, [
        (iid, ctx.provider_id, ctx.summary.import_id, m.source, m.reference, m.reason_code, m.action,
         m.effective_date, ctx.received_at) for iid, m in zip(ids, instructions)])
    for iid, m in zip(ids, instructions):
        ctx.count("mandates", iid in new)
        if iid in new:
            new.discard(iid)
            uow.emit(events.instruction(m, iid=iid, provider_id=ctx.provider_id, imp=ctx.summary.import_id,
                                        received_at=ctx.received_at), cause=ctx.cause, occurred_at=ctx.received_at)


# reversals of nothing intake took in: money paid out that came back; an overpaid benefit recovered
UNTAKEN_REVERSALS = ("outgoing_returned", "benefit_recovered")


async def _reversals(uow: UnitOfWork, ctx: _Context, reversals: list[tuple[Parsed, Any]],
                     rejected: list[tuple[Parsed, list[dict[str, Any]], str | None]]) -> None:
    """Runs after the chunk's payments are stored, so a credit and its reversal in one file pair up.
    A returned outgoing payment reverses nothing intake took in: it names the outgoing payment."""
    raw = uow.raw
    ids = [events.reversal_id(ctx.provider_id, r.identity) for _, r in reversals]
    known = await repo.known_reversals(raw, ids)
    todo = [(n, rid, parsed, r) for n, (rid, (parsed, r)) in enumerate(zip(ids, reversals)) if rid not in known]
    for rid in ids:
        if rid in known:
            ctx.count("reversals", False)
    originals = await repo.find_originals(raw, ctx.provider_id, [
        (n, r.original.provider_ref, r.original.match_ref, r.original.reference, r.original.payer_name,
         r.amount_pence, r.reversed_at) for n, _, _, r in todo if r.kind not in UNTAKEN_REVERSALS])
    taken: dict[uuid.UUID, int] = defaultdict(int)
    rows, out = [], []
    for n, rid, parsed, r in todo:
        if r.kind == "outgoing_returned":  # nothing intake took in is reversed: no amount left to check
            provider_ref = ("outgoing:" + (r.original.match_ref or r.identity))[:400]
            pid = events.outgoing_payment_id(ctx.provider_id, provider_ref)
        elif r.kind == "benefit_recovered":  # an overpaid rebate taken back off the rent account it names
            provider_ref = r.identity[:400]
            pid = events.outgoing_payment_id(ctx.provider_id, provider_ref)
        else:
            found = originals.get(n)
            if found is None or found[2] - taken[found[0]] < r.amount_pence:
                hint = r.original
                what = (f"EndToEndId {hint.match_ref!r}" if hint.match_ref else
                        f"reference {hint.reference!r}, payer {hint.payer_name!r}")
                reason = (f"no payment of this provider to reverse: none with {what} and {r.amount_pence} pence left"
                          if found is None else f"payment {found[1]} has only {found[2] - taken[found[0]]} pence "
                                                f"left to reverse, not {r.amount_pence}")
                rejected.append((parsed, [{"field": None, "reason": reason}], None))
                continue
            pid, provider_ref, _ = found
            taken[pid] += r.amount_pence
        rows.append((rid, ctx.provider_id, pid, r.kind, r.amount_pence, r.reversed_at, r.reason, "file",
                     ctx.summary.import_id, ctx.received_at))
        outgoing = r.kind in UNTAKEN_REVERSALS
        out.append(PaymentReversed(
            reversal_id=rid, payment_id=pid, provider_id=ctx.provider_id, provider_ref=provider_ref, kind=r.kind,
            amount_pence=r.amount_pence, reversed_at=r.reversed_at, reason=r.reason, source="file",
            import_id=ctx.summary.import_id, received_at=ctx.received_at,
            payout_id=r.payout_id, fee_pence=r.fee_pence,
            original_end_to_end_id=r.original.match_ref if outgoing else None,
            original_reference=(r.original.reference or None) if outgoing else None))
    new = await repo.insert_reversals(raw, rows)
    for event in out:
        ctx.count("reversals", event.reversal_id in new)
        if event.reversal_id in new:
            uow.emit(event, cause=ctx.cause, occurred_at=ctx.received_at)
