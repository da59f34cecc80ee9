"""Debit control: raise every weekly rent and charge debit due up to a date, once.

Which weeks are due and for how much (rent weeks, part weeks by days, rent-free weeks, the
rent history) is domain/rent_weeks.py. Accounts are taken in chunks (reference order); each
chunk is one transaction: read the ledger state (closed periods) FOR SHARE, lock the chunk's
accounts (one select), read their rent history and the debits already raised (one select
each), compute the due debits in Python minus those already raised (the unique index on
account, code and week makes that exact and backs it up), post them with running balances,
then COPY transactions and journal lines, UPDATE balances FROM unnest, and emit. A run
interrupted between chunks is completed by running it again; a chunk never half-posts.

Journals are summarised per chunk, rent week and charge code: one Cr to the income code,
one Dr to debtors control per account, as finance posts a debit run."""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from hashlib import sha1
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import orjson

from rentflow_common.events import Cause, OutboxRow
from rentflow_ledger.domain.periods import PeriodCalendar
from rentflow_ledger.domain.rent_weeks import Rates, charged_weeks, debits_of, first_rent_week
from rentflow_ledger.domain.codes import CHARGES_CODE, GL_CODES, RENT_CODE, income_gl
from rentflow_schemas import derive_event_id
from rentflow_schemas.envelope import RENTFLOW_NAMESPACE
from rentflow_schemas.ledger import JournalPosted, TransactionPosted
from rentflow_schemas.registry import BY_MODEL
from rentflow_ledger.domain.journal import Line, control_movement
from rentflow_ledger.domain.posting import Journal, period_of
from rentflow_ledger.service_layer import events
from rentflow_ledger.service_layer.unit_of_work import LedgerUnitOfWork, ledger_uow

UTC = dt.timezone.utc

@dataclass
class DebitRunResult:
    through: dt.date
    debits_raised: int = 0
    amount_pence: int = 0
    accounts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"through": self.through.isoformat(), "debits_raised": self.debits_raised,
                "amount_pence": self.amount_pence, "accounts": self.accounts}


def debit_transaction_id(account_ref: str, code: str, week_start: dt.date) -> uuid.UUID:
    return derive_event_id("txn", "debit", account_ref, code, week_start.isoformat())


async def rent_free_weeks(uow: LedgerUnitOfWork, configured: dict[int, set[int]]) -> dict[int, set[int]]:
    """The table (POST /v1/rent-free-weeks) wins for a year it names; the configured weeks
    (RENTFLOW_RENT_FREE_WEEKS, '2026:1,38,39,52;2027:…') fill the others."""
    free = {year: set(weeks) for year, weeks in configured.items()}
    free.update(await uow.rents.rent_free_weeks())
    return free


async def run_debits(new_uow: Callable[[], Any], through: dt.date, *, chunk: int = 1000,
                     correlation_id: str | None = None,
                     rent_free: dict[int, set[int]] | None = None, in_flight: int = 1) -> DebitRunResult:
    """Chunk by chunk, a transaction each (a long run: what it raised stays raised if it stops).
    `new_uow()` opens a unit of work (`async with`): a LedgerUnitOfWork, or a
    rentflow_common.db.UnitOfWork the ledger's repositories are put on.

    `in_flight` chunks at a time (units of work of their own, on PostgreSQL: the in-memory unit of
    work copies the tables, so 1 there): the next chunk's accounts are locked, and its debits
    computed, while the last one's rows are written and committed. Chunks hold disjoint accounts
    (reference order), so they never wait on each other; each still commits whole or not at all."""
    result = DebitRunResult(through)
    async with new_uow() as opened:
        free = await rent_free_weeks(ledger_uow(opened), rent_free or {})
    correlation_id = correlation_id or f"debit-run:{through}:{uuid.uuid4()}"

    async def one(after: str, locked: asyncio.Future[str | None]) -> None:
        try:
            async with new_uow() as opened:
                uow = ledger_uow(opened)
                calendar = (await uow.periods.state()).calendar  # before the account locks
                accounts = await uow.accounts.lock_chunk(after, chunk)
                # the next chunk starts after this one's last account (none: this was the last)
                locked.set_result(accounts[-1]["account_ref"] if len(accounts) == chunk else None)
                if not accounts:
                    return
                await _post_chunk(uow, accounts, through, correlation_id, result, calendar, free)
                await uow.commit()
        finally:
            if not locked.done():
                locked.set_result(None)

    running: list[asyncio.Task[None]] = []
    after: str | None = ""
    try:
        while after is not None:
            locked: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
            running.append(asyncio.create_task(one(after, locked)))
            after = await locked
            while running and (len(running) >= max(1, in_flight) or after is None):
                await running.pop(0)  # in order: a failed chunk stops the run (what committed stays)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    return result


_TXN = BY_MODEL[TransactionPosted]
_JOURNAL = BY_MODEL[JournalPosted]
_TXN_ID_HEAD = RENTFLOW_NAMESPACE.bytes + b"txn\x1fdebit\x1f"  # derive_event_id("txn", "debit", ...)'s text before the parts
_EVENT_ID_HEAD = RENTFLOW_NAMESPACE.bytes + _TXN.id_prefix + (16).to_bytes(4, "big")  # event_id_of(_TXN, transaction_id)'s
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_SET = (0x5000 << 64) | (0x8000 << 48)
_new = object.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown


def _uuid(digest: bytes) -> uuid.UUID:
    u = _new(uuid.UUID)
    _set(u, "int", (int.from_bytes(digest[:16], "big") & _CLEAR) | _SET)
    _set(u, "is_safe", _UNKNOWN)
    return u


async def _post_chunk(uow: LedgerUnitOfWork, accounts: Sequence[Any], through: dt.date, correlation_id: str,
                      result: DebitRunResult, calendar: PeriodCalendar, free: dict[int, set[int]]) -> None:
    """A chunk's debits straight into the rows written: transaction and journal-line records,
    TransactionPosted and JournalPosted outbox rows (the envelopes `uow.emit` would write, built
    here as plain dicts and encoded once: about 60 a second per account-year, the run's hot path;
    the tests check them byte for byte against `emit`)."""
    now = dt.datetime.now(UTC)
    refs = [a["account_ref"] for a in accounts]
    firsts = [first_rent_week(a["tenancy_start"], a["balance_date"]) for a in accounts]
    history: dict[str, list[Rates]] = defaultdict(list)
    for r in await uow.rents.history(refs):
        history[r["account_ref"]].append(Rates(r["effective_date"], r["new_weekly_rent_pence"],
                                               r["new_weekly_charges_pence"]))
    raised = await uow.postings.raised_debits(refs, min(firsts))
    schedules: dict[tuple[dt.date, dt.date | None, dt.date], list[tuple[dt.date, int]]] = {}
    # per (week, code): the period it is booked in, its source ref and the transaction ids' text before the account
    weeks: dict[tuple[dt.date, str], tuple[str, str | None, str, bytes]] = {}
    emitter = getattr(uow, "base", uow)  # the Emitter whose rows go to the outbox at commit
    cid = Cause(None, correlation_id).correlation_id
    producer = emitter.producer
    txn_rows: list[tuple[Any, ...]] = []
    emitted: list[OutboxRow] = []
    groups: dict[tuple[dt.date, str], list[tuple[uuid.UUID, str, int]]] = defaultdict(list)
    balances: dict[str, int] = {}
    total = 0
    for a in accounts:
        ref = a["account_ref"]
        dates = (a["tenancy_start"], a["tenancy_end"], a["balance_date"])
        schedule = schedules.get(dates)
        if schedule is None:
            schedule = schedules[dates] = charged_weeks(*dates, through, free)
        balance = a["balance_pence"]
        ref_bytes = ref.encode()
        for week, code, amount in debits_of(schedule, a["weekly_rent_pence"], a["weekly_charges_pence"],
                                            history=history.get(ref, ()), rent_code=RENT_CODE,
                                            charges_code=CHARGES_CODE):
            if raised and (ref, code, week) in raised:
                continue
            w = weeks.get((week, code))
            if w is None:
                override = calendar.override(week)
                w = weeks[(week, code)] = (override or period_of(week), override,
                                           f"debit-run:{code}:{week.isoformat()}",
                                           f"\x1f{code}\x1f{week.isoformat()}".encode())
            period, _, source_ref, tail = w
            digest = sha1(_TXN_ID_HEAD + ref_bytes + tail).digest()
            transaction_id = _uuid(digest)
            event_id = _uuid(sha1(_EVENT_ID_HEAD + transaction_id.int.to_bytes(16, "big")).digest())
            balance += amount
            total += amount
            txn_rows.append((transaction_id, ref, code, amount, balance, now, week, period, source_ref, None, None,
                             None, week))
            emitted.append(OutboxRow(_TXN.name, ref, orjson.dumps({
                "event_id": event_id, "event_type": _TXN.event_type, "schema_version": 1, "occurred_at": now,
                "correlation_id": cid, "causation_id": None, "producer": producer,
                "data": {"transaction_id": transaction_id, "account_ref": ref, "type_code": code,
                         "amount_pence": amount, "balance_after_pence": balance, "posted_at": now,
                         "business_date": week, "period": period, "source_ref": source_ref, "channel": None,
                         "payment_id": None, "allocation_rule": None, "week_start": week}}),
                {"event_id": str(event_id), "event_type": _TXN.event_type, "correlation_id": cid}, event_id))
            groups[(week, code)].append((transaction_id, ref, amount))
            balances[ref] = balance
    if not txn_rows:
        return
    journals = [_debit_journal(week, code, weeks[(week, code)][1], debits)
                for (week, code), debits in sorted(groups.items())]
    if total != sum(control_movement(j.lines) for j in journals):  # check_control's invariant, on these rows
        raise AssertionError(f"postings move accounts by {total} but the debtors control by "
                             f"{sum(control_movement(j.lines) for j in journals)}")

    await uow.postings.add_debit_rows(txn_rows)
    await uow.postings.add_journals(journals, now)
    await uow.accounts.update_balances(balances, balances, now)
    emitter.emitted += emitted
    for j in journals:
        events.journal_posted(uow, j, now, Cause(None, correlation_id))
    result.debits_raised += len(txn_rows)
    result.amount_pence += total
    result.accounts += len(balances)


def _debit_journal(week: dt.date, code: str, booked: str | None, debits: list[tuple[uuid.UUID, str, int]]) -> Journal:
    """Dr debtors control per account, Cr the charge's income code with the total. Its id comes
    from the transactions it carries, so it is the same whenever the same debits are raised."""
    digest = hashlib.sha256("\x1f".join([str(t) for t, _, _ in debits]).encode()).hexdigest()
    control = GL_CODES["debtors_control"]
    lines = [Line(control, amount, 0, ref) for _, ref, amount in debits]
    lines.append(Line(income_gl(code), 0, sum(amount for _, _, amount in debits), None))
    return Journal(derive_event_id("journal", "debit", digest), "debit", week,
                   f"debit-run:{code}:{week.isoformat()}", tuple(lines), booked)
