"""The ledger's unit of work: the repositories handlers read and write through, and `emit` (the
one way an event leaves: rentflow_common.events). Handlers never commit; the route or the
consumer that opened the unit of work does.

`SqlLedgerUnitOfWork` puts the repositories of adapters/sql.py on a `rentflow_common.db.UnitOfWork`
(one PostgreSQL transaction; what was emitted goes to its outbox at its commit).
adapters/memory.py has the same repositories in memory, for the pure logic's tests."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Callable, Protocol

from pydantic import BaseModel

from rentflow_common.db import UnitOfWork
from rentflow_common.events import Cause, Deferred
from rentflow_schemas.ledger import TransactionPosted
from rentflow_ledger.adapters import reconciliation, sql
from rentflow_ledger.adapters.repositories import (Accounts, Adjustments, CashBook, Lumps, Mandates, Periods,
                                                   Postings, Rents, Reversals, Suspense, Unreconciled)
from rentflow_ledger.service_layer.events import Emitter


class LedgerUnitOfWork(Emitter, Protocol):
    """The repositories, and what `Emitter` emits with."""
    accounts: Accounts
    postings: Postings
    suspense: Suspense
    reversals: Reversals
    mandates: Mandates
    adjustments: Adjustments
    periods: Periods
    rents: Rents
    lumps: Lumps
    unreconciled: Unreconciled
    cashbook: CashBook

    @property
    def correlation_id(self) -> str: ...

    def audit(self, action: str, *, subject: object = None, account_ref: str | None = None,
              before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None: ...

    async def write_emitted(self) -> None: ...

    async def commit(self) -> None: ...


class SqlLedgerUnitOfWork:
    """The repositories on an open `UnitOfWork`'s transaction; `emit` and `commit` are its own."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.base = uow
        self.emit = uow.emit  # type: ignore[method-assign]  # the same, one call less per event
        self.complete = uow.complete  # type: ignore[method-assign]  # likewise, per posting
        raw = uow.raw
        self.accounts = sql.SqlAccounts(raw)
        self.postings = sql.SqlPostings(raw)
        self.suspense = sql.SqlSuspense(raw)
        self.reversals = sql.SqlReversals(raw)
        self.mandates = sql.SqlMandates(raw)
        self.adjustments = sql.SqlAdjustments(raw)
        self.periods = sql.SqlPeriods(raw)
        self.rents = sql.SqlRents(raw)
        self.lumps = reconciliation.SqlLumps(raw)
        self.unreconciled = reconciliation.SqlUnreconciled(raw)
        self.cashbook = reconciliation.SqlCashBook(raw)

    @property
    def correlation_id(self) -> str:
        return self.base.correlation_id

    def emit(self, event: BaseModel, *, cause: Cause | None = None, identity: tuple[object, ...] | None = None,
             key: str | None = None, occurred_at: dt.datetime | None = None) -> uuid.UUID:
        return self.base.emit(event, cause=cause, identity=identity, key=key, occurred_at=occurred_at)

    def emit_data(self, model: type[BaseModel], data: dict[str, Any], *, identity: tuple[object, ...], key: str,
                  cause: Cause | None, occurred_at: dt.datetime) -> uuid.UUID:
        # A posting is emitted only by the commit that inserts its transactions row, whose primary key is
        # the posting's identity: the outbox need not index its id to find it emitted twice (`once`)
        return self.base.emit_data(model, data, identity=identity, key=key, cause=cause, occurred_at=occurred_at,
                                   once=model is TransactionPosted)

    def deferred_many(self, model: type[BaseModel], field: str) -> Callable[..., list[Deferred]]:
        """Events whose `field` is known later, made a batch at a time (rentflow_common.events.Emitter.
        deferred_many), postings `once` as `emit_data` writes them; `complete` adds each row."""
        return self.base.deferred_many(model, field, once=model is TransactionPosted)

    def complete(self, deferred: Deferred, value: int) -> None:
        self.base.complete(deferred, value)

    def audit(self, action: str, *, subject: object = None, account_ref: str | None = None,
              before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
        self.base.audit(action, subject=subject, account_ref=account_ref, before=before, after=after)

    async def write_emitted(self) -> None:
        await self.base.write_emitted()

    async def commit(self) -> None:
        await self.base.commit()


def ledger_uow(uow: Any) -> LedgerUnitOfWork:
    """The ledger's unit of work of `uow`: itself when it is one already (SQL or in memory), else
    the repositories on a `rentflow_common.db.UnitOfWork` opened by the caller."""
    if isinstance(uow, UnitOfWork):
        return SqlLedgerUnitOfWork(uow)
    return uow  # type: ignore[no-any-return]
