"""Intake commands. Every side effect of a command is here: the rows it writes and the events it
enqueues in the same transaction (the outbox relay publishes them)."""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, BinaryIO, Callable, Iterator, Sequence

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from rentflow_common.db import UnitOfWork
from rentflow_common.logging import get_logger
from rentflow_common.outbox import OutboxRow, enqueue

from rentflow_payments.adapters import repository as repo
from rentflow_payments.domain import events
from rentflow_payments.domain.formats import FileFormat, Parsed
from rentflow_payments.domain.model import ONE, PaymentIn, field_errors

log = get_logger(__name__)

ACCEPTED = "accepted"
DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Outcome:
    provider_ref: str
    payment_id: str
    status: str  # accepted | duplicate


class IdempotencyKeyTaken(Exception):
    """Another request stored a response under the same Idempotency-Key first."""


async def register_provider(uow: UnitOfWork, provider_id: str, secret: str) -> bool:
    """False when a provider of that name exists (its secret is left alone)."""
    added = await repo.add_provider(uow.raw, provider_id, secret)
    if added:
        log.info("provider.registered", provider_id=provider_id)
    return added


async def take_in(uow: UnitOfWork, provider_id: str, payments: Sequence[PaymentIn], *, source: events.Source,
                  import_id: uuid.UUID | None, correlation_id: str, received_at: datetime) -> list[Outcome]:
    """Stores the payments this provider has not sent before and enqueues one PaymentReceived for
    each, in the caller's transaction. A provider_ref seen before (earlier, or earlier in the same
    request) is a duplicate: it answers with the first payment's id and emits nothing.
    Two statements whatever the number of payments: INSERT ... unnest, COPY into the outbox."""
    firsts: dict[str, PaymentIn] = {}
    for p in payments:
        firsts.setdefault(p.provider_ref, p)
    ordered = sorted(firsts.values(), key=lambda p: p.provider_ref)
    ids = {p.provider_ref: events.payment_id(provider_id, p.provider_ref) for p in ordered}
    rows = [repo.PaymentRow(ids[p.provider_ref], p.provider_ref, p.channel.value, p.amount_pence, p.currency,
                            p.paid_at, p.reference, p.payer_name) for p in ordered]
    new = await repo.insert_payments(uow.raw, rows, provider_id=provider_id, received_at=received_at,
                                     source=source, import_id=import_id, correlation_id=correlation_id)
    await enqueue(uow.raw, [
        events.received_row(p, pid=ids[p.provider_ref], provider_id=provider_id, received_at=received_at,
                            correlation_id=correlation_id, source=source, imp=import_id)
        for p in ordered if p.provider_ref in new])
    outcomes = []
    for p in payments:
        fresh = p.provider_ref in new
        new.discard(p.provider_ref)  # a repeat within the request is a duplicate of the first
        outcomes.append(Outcome(p.provider_ref, ids[p.provider_ref], ACCEPTED if fresh else DUPLICATE))
    return outcomes


@dataclass(frozen=True)
class IdempotencyClaim:
    key: str
    request_sha256: bytes
    path: str


async def push(engine: AsyncEngine, provider_id: str, payments: Sequence[PaymentIn], *, correlation_id: str,
               received_at: datetime, render: Callable[[list[Outcome]], bytes], status_code: int,
               idempotency: IdempotencyClaim | None = None) -> bytes:
    """A provider's push (one payment or a batch) in one transaction; returns the rendered answer,
    stored under the Idempotency-Key in the same transaction when one was given."""
    async with UnitOfWork(engine) as uow:
        outcomes = await take_in(uow, provider_id, payments, source="push", import_id=None,
                                 correlation_id=correlation_id, received_at=received_at)
        body = render(outcomes)
        if idempotency is not None and not await repo.claim_idempotency_key(
                uow.raw, provider_id, idempotency.key, idempotency.request_sha256, idempotency.path,
                status_code, body):
            raise IdempotencyKeyTaken(idempotency.key)
        await uow.commit()
    return body


# ---- file imports ----------------------------------------------------------------------------

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

    def as_dict(self) -> dict[str, Any]:
        return {"import_id": str(self.import_id), "format": self.format, "provider_id": self.provider_id,
                "accepted": self.accepted, "rejected": self.rejected, "duplicates": self.duplicates,
                "errors": self.errors, "errors_truncated": self.errors_truncated, "reimport": self.reimport}


@dataclass
class _Chunk:
    good: list[PaymentIn]
    rejected: list[tuple[Parsed, list[dict[str, Any]], str | None]]  # (where, errors, provider_ref if known)
    done: bool


def _read_chunk(items: Iterator[Parsed], size: int) -> _Chunk:
    """Parses and validates up to `size` items (CPU only: run off the event loop)."""
    good: list[PaymentIn] = []
    rejected: list[tuple[Parsed, list[dict[str, Any]], str | None]] = []
    n = 0
    for parsed in islice(items, size):
        n += 1
        if parsed.error is not None:
            rejected.append((parsed, [{"field": None, "reason": parsed.error}], None))
            continue
        try:
            good.append(ONE.validate_python(parsed.value))
        except ValidationError as exc:
            ref = (parsed.value or {}).get("provider_ref")
            rejected.append((parsed, field_errors(exc), ref if isinstance(ref, str) and ref else None))
    return _Chunk(good, rejected, done=n < size)


async def import_file(engine: AsyncEngine, provider_id: str, fmt: FileFormat, fp: BinaryIO, *, sha256: str,
                      size: int, correlation_id: str | None, received_at: datetime, chunk_size: int = 2000,
                      max_errors: int = 1000) -> ImportSummary:
    """Takes in a file: every good item exactly like a push, every bad one rejected with where and
    why (payments.rejected.v1) without stopping the rest. Written chunk by chunk, one transaction
    per chunk. Raises `Unreadable` (from the parser, before anything is written) when the file as a
    whole cannot be read. The same file again is the same import_id: its payments come back as
    duplicates and its rejections are not emitted twice."""
    imp = events.import_id(provider_id, sha256)
    correlation_id = correlation_id or str(imp)
    items = iter(fmt.parse(fp))
    first = await asyncio.to_thread(_read_chunk, items, chunk_size)  # Unreadable surfaces here: nothing written
    summary = ImportSummary(imp, fmt.name, provider_id)
    async with UnitOfWork(engine) as uow:
        previous = await repo.start_import(uow.raw, imp, provider_id, fmt.name, sha256, size)
        await uow.commit()
    summary.reimport = previous is not None
    emit_rejections = previous != "completed"
    chunk = first
    while True:
        await _write_chunk(engine, summary, chunk, provider_id=provider_id, correlation_id=correlation_id,
                           received_at=received_at, emit_rejections=emit_rejections, max_errors=max_errors)
        if chunk.done:
            break
        chunk = await asyncio.to_thread(_read_chunk, items, chunk_size)
    async with UnitOfWork(engine) as uow:
        await repo.finish_import(uow.raw, imp, accepted=summary.accepted, rejected=summary.rejected,
                                 duplicates=summary.duplicates, errors=summary.errors)
        await uow.commit()
    log.info("import.completed", import_id=str(imp), provider_id=provider_id, format=fmt.name,
             accepted=summary.accepted, rejected=summary.rejected, duplicates=summary.duplicates)
    return summary


async def _write_chunk(engine: AsyncEngine, summary: ImportSummary, chunk: _Chunk, *, provider_id: str,
                       correlation_id: str, received_at: datetime, emit_rejections: bool, max_errors: int) -> None:
    rejections: list[OutboxRow] = []
    for parsed, errs, ref in chunk.rejected:
        if emit_rejections:
            rejections.append(events.rejected_row(
                provider_id=provider_id, imp=summary.import_id, kind=parsed.kind, position=parsed.position,
                errors=errs, provider_ref=ref, received_at=received_at, correlation_id=correlation_id))
        for e in errs:
            if len(summary.errors) < max_errors:
                summary.errors.append({parsed.kind: parsed.position, **e})
            else:
                summary.errors_truncated = True
    if not chunk.good and not rejections:
        summary.rejected += len(chunk.rejected)
        return
    async with UnitOfWork(engine) as uow:
        outcomes = await take_in(uow, provider_id, chunk.good, source="file", import_id=summary.import_id,
                                 correlation_id=correlation_id, received_at=received_at)
        await enqueue(uow.raw, rejections)
        await uow.commit()
    summary.rejected += len(chunk.rejected)
    for o in outcomes:
        if o.status == ACCEPTED:
            summary.accepted += 1
        else:
            summary.duplicates += 1
