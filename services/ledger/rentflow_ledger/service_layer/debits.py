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
import uuid
from hashlib import sha1
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
from rentflow_schemas.registry import BY_MODEL, event_id_of
from rentflow_ledger.domain.posting import period_of
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
_NS = RENTFLOW_NAMESPACE.bytes
_TXN_ID_HEAD = _NS + b"txn\x1fdebit\x1f"  # derive_event_id("txn", "debit", ref, code, week)'s bytes before ref
_EVENT_ID_HEAD = _NS + _TXN.id_prefix + (16).to_bytes(4, "big")  # event_id_of(_TXN, transaction_id)'s, before its bytes
_row = tuple.__new__  # OutboxRow's own __new__, without its keyword handling


def _uuid(digest: bytes) -> tuple[bytes, str]:
    """The uuid5-shaped id of a sha1 digest (version and variant set, as derive_event_id makes it):
    its 16 bytes and its text."""
    b = bytearray(digest[:16])
    b[6] = (b[6] & 0x0F) | 0x50
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return bytes(b), f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _post_chunk(uow: LedgerUnitOfWork, accounts: Sequence[Any], through: dt.date, correlation_id: str,
                      result: DebitRunResult, calendar: PeriodCalendar, free: dict[int, set[int]]) -> None:
    """A chunk's debits straight into the rows written: transaction and journal-line records, and
    the TransactionPosted and JournalPosted outbox rows the ledger's unit of work would write (the same
    bytes: tests/integration/test_debit_run_events.py), their envelopes filled in from text made once per
    chunk, rent week and charge code. A posting's row is `once`, as every posting's is (its transactions
    row's keys make it unique): no event id for the outbox to index and the relay to probe. It is the
    run's hot path (one to three million debits a year per landlord): no object per debit but its rows."""
    now = dt.datetime.now(UTC)
    refs = [a["account_ref"] for a in accounts]
    firsts = [first_rent_week(a["tenancy_start"], a["balance_date"]) for a in accounts]
    history: dict[str, list[Rates]] = defaultdict(list)
    for r in await uow.rents.history(refs):
        history[r["account_ref"]].append(Rates(r["effective_date"], r["new_weekly_rent_pence"],
                                               r["new_weekly_charges_pence"]))
    raised = await uow.postings.raised_debits(refs, min(firsts))
    emitter = getattr(uow, "base", uow)  # the Emitter whose rows go to the outbox at commit
    cause = Cause(None, correlation_id)
    head = (f'","event_type":"{_TXN.event_type}","schema_version":1,"occurred_at":{_json(now)},'
            f'"correlation_id":{_json(cause.correlation_id)},"causation_id":null,"producer":{_json(emitter.producer)},'
            f'"data":{{"transaction_id":"')
    schedules: dict[tuple[dt.date, dt.date | None, dt.date], list[tuple[dt.date, int]]] = {}
    # per (week, code): its period, the period it is booked in when not the week's month, its source ref,
    # the transaction id's bytes after the account, and the envelope's text after the balance
    weeks: dict[tuple[dt.date, str], tuple[str, str | None, str, bytes, str]] = {}
    txn_rows: list[tuple[Any, ...]] = []
    emitted: list[OutboxRow] = []
    groups: dict[tuple[dt.date, str], list[tuple[str, str, int]]] = defaultdict(list)
    balances: dict[str, int] = {}
    total = 0
    event_type, cid = _TXN.event_type, cause.correlation_id
    topic = _TXN.name
    for a in accounts:
        ref = a["account_ref"]
        dates = (a["tenancy_start"], a["tenancy_end"], a["balance_date"])
        schedule = schedules.get(dates)
        if schedule is None:
            schedule = schedules[dates] = charged_weeks(*dates, through, free)
        balance = a["balance_pence"]
        ref_bytes = ref.encode()
        ref_text = f'","account_ref":{_json(ref)},"type_code":"'
        for week, code, amount in debits_of(schedule, a["weekly_rent_pence"], a["weekly_charges_pence"],
                                            history=history.get(ref, ()), rent_code=RENT_CODE,
                                            charges_code=CHARGES_CODE):
            if raised and (ref, code, week) in raised:
                continue
            w = weeks.get((week, code))
            if w is None:
                override = calendar.override(week)
                period, source_ref, day = override or period_of(week), f"debit-run:{code}:{week.isoformat()}", _json(week)
                w = weeks[(week, code)] = (period, override, source_ref, f"\x1f{code}\x1f{week.isoformat()}".encode(),
                                           f',"posted_at":{_json(now)},"business_date":{day},"period":{_json(period)},'
                                           f'"source_ref":{_json(source_ref)},"channel":null,"payment_id":null,'
                                           f'"allocation_rule":null,"week_start":{day}}}}}')
            period, _, source_ref, tail, text = w
            tid_bytes, tid = _uuid(sha1(_TXN_ID_HEAD + ref_bytes + tail).digest())
            _, eid = _uuid(sha1(_EVENT_ID_HEAD + tid_bytes).digest())
            balance += amount
            total += amount
            txn_rows.append((tid, ref, code, amount, balance, now, week, period, source_ref, None, None, None, week))
            emitted.append(_row(OutboxRow, (topic, ref, (
                f'{{"event_id":"{eid}{head}{tid}{ref_text}{code}","amount_pence":{amount},'
                f'"balance_after_pence":{balance}{text}').encode(),
                {"event_id": eid, "event_type": event_type, "correlation_id": cid}, None)))
            groups[(week, code)].append((tid, ref, amount))
            balances[ref] = balance
    if not txn_rows:
        return
    journal_rows: list[tuple[Any, ...]] = []
    control = GL_CODES["debtors_control"]
    for (week, code), debits in sorted(groups.items()):
        # Dr debtors control per account, Cr the charge's income code with the total; its id comes from the
        # transactions it carries, so it is the same whenever the same debits are raised
        period, _, source_ref, _, _ = weeks[(week, code)]
        journal_id = derive_event_id("journal", "debit", hashlib.sha256(
            "\x1f".join([tid for tid, _, _ in debits]).encode()).hexdigest())
        credit = sum(amount for _, _, amount in debits)
        lines = [(control, amount, 0, ref) for _, ref, amount in debits]
        lines.append((income_gl(code), 0, credit, None))
        journal_rows += [(journal_id, n, "debit", source_ref, gl, dr, cr, ref, week, period, now)
                         for n, (gl, dr, cr, ref) in enumerate(lines, 1)]
        event_id = event_id_of(_JOURNAL, journal_id)
        emitted.append(OutboxRow(_JOURNAL.name, source_ref, orjson.dumps({
            "event_id": event_id, "event_type": _JOURNAL.event_type, "schema_version": 1, "occurred_at": now,
            "correlation_id": cause.correlation_id, "causation_id": None, "producer": emitter.producer,
            "data": {"journal_id": journal_id, "business_date": week, "period": period, "posted_at": now,
                     "kind": "debit", "source_ref": source_ref,
                     "lines": [{"gl_code": gl, "debit_pence": dr, "credit_pence": cr, "account_ref": ref}
                               for gl, dr, cr, ref in lines]}}),
            {"event_id": str(event_id), "event_type": _JOURNAL.event_type, "correlation_id": cause.correlation_id},
            event_id))
        total -= credit  # what the postings did to the accounts, the journals do to debtors control
    if total:
        raise AssertionError(f"postings and the debtors control differ by {total}")

    await uow.postings.add_transaction_rows(txn_rows)
    await uow.postings.add_debit_journal_rows(journal_rows)
    await uow.accounts.update_balances(balances, balances, now)
    emitter.emitted += emitted
    result.debits_raised += len(txn_rows)
    result.amount_pence += sum(amount for _, _, _, amount, *_ in txn_rows)
    result.accounts += len(balances)
