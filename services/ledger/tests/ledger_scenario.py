"""A ledger scenario run through the real handlers, on any unit of work: in memory
(adapters/memory.py; tests/unit/test_invariants.py) or on PostgreSQL
(tests/integration/test_scenario_postgres.py, which compares the two).

An event is a tuple (event_id, kind, *args); `Scenario.apply` hands it to the handler or
service function the consumer or route would call, through a unit of work it opens and
commits, as the edge does. Inputs from the broker (payments, reversals, Direct Debit returns)
are idempotent by their own ids: a redelivery runs the handler again. Inputs from people are
what a person sending the same request again gets: allocating or closing again is refused
(AlreadyAllocated, AlreadyClosed); a debit run again raises nothing new; an adjustment sent
again approves the same request again (refused: already approved), or, if it was refused
the first time, gets the same answer without asking again."""
from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from rentflow_common.events import Cause
from rentflow_ledger.domain.accounts import AccountRecord
from rentflow_ledger.domain.adjustments import Refused
from rentflow_ledger.domain.codes import GL_CODES
from rentflow_ledger.domain.journal import Line
from rentflow_ledger.domain.posting import LONDON, period_of
from rentflow_ledger.service_layer import adjustments, periods, rents, suspense
from rentflow_ledger.service_layer.accounts import upsert_accounts
from rentflow_ledger.service_layer.commands import ChangeMandate, ReturnDirectDebit, ReversePayment, TakePayment
from rentflow_ledger.service_layer.debits import run_debits
from rentflow_ledger.service_layer.directdebit import handle_dd_returned, handle_mandate_instructions
from rentflow_ledger.service_layer.receipts import handle_payments_received
from rentflow_ledger.service_layer.reversals import apply_pending, handle_payments_reversed
from rentflow_ledger.service_layer.unit_of_work import LedgerUnitOfWork, ledger_uow
from rentflow_schemas import derive_event_id
from rentflow_schemas.directdebit import DirectDebitReturned, MandateInstruction
from rentflow_schemas.payments import PaymentReceived, PaymentReversed

UTC = dt.timezone.utc
REFS = ["10000001", "10000002", "10000003"]
DAYS = [dt.date(2026, 4, 6) + dt.timedelta(days=7 * i) for i in range(16)]
PAYMENT_REFERENCES = REFS + ["1000-0001", "RENT 10000002 THANKS", "10000030", "DD1", "junk", ""]
CHANNELS = ["card", "bank_transfer", "direct_debit", "cash"]
ADJUSTMENTS = ["adjustment", "refund", "write_off", "transfer"]
MANAGER = "Morgan Manager"
SEED, EVENTS = 20, 120  # the fixed scenario: random_events(SEED, EVENTS) takes every path checked in
                       # tests/unit/test_invariants.py::test_a_fixed_scenario_keeps_every_invariant


def dd_reference(ref: str) -> str:
    return f"DD{ref[-1]}"


def accounts() -> list[AccountRecord]:
    return [AccountRecord(ref, f"Tenant {n}", f"{n} Scenario Street", "North", dt.date(2026, 4, 6), None,
                          10_000 + 1_000 * n, 500 * n, "dd", dd_reference(ref), None, dt.date(2026, 4, 5),
                          2_500 * (n - 1)) for n, ref in enumerate(REFS, 1)]


def collected(reference: str, channel: str) -> str | None:
    """The account a Direct Debit payment of the scenario with this reference is collected for."""
    if channel != "direct_debit":
        return None
    return REFS[0] if reference in ("DD1", "1000-0001") else reference if reference in REFS else None


def payment_id(event_id: str) -> uuid.UUID:
    return derive_event_id("payment", "scenario", event_id)


def _at(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), UTC)


class Scenario:
    """Applies events through units of work from `new_uow()` (an async context manager giving a
    LedgerUnitOfWork or a rentflow_common UnitOfWork)."""

    def __init__(self, new_uow: Callable[[], Any]) -> None:
        self.new_uow = new_uow
        self.requests: dict[str, uuid.UUID | None] = {}  # adjustment event → its request (None: refused)
        # an officer's move or allocation refused because the receipt or item was not there yet: asked
        # again later, it is a new request that may act (not a redelivery that must change nothing)
        self.refused_not_there: set[str] = set()

    async def _run(self, work: Callable[[LedgerUnitOfWork], Awaitable[Any]]) -> Any:
        async with self.new_uow() as opened:
            uow = ledger_uow(opened)
            result = await work(uow)
            await uow.commit()
        return result

    async def setup(self) -> None:
        async def load(uow: LedgerUnitOfWork) -> None:
            await upsert_accounts(uow, accounts(), "scenario:accounts")
            await adjustments.upsert_approver(uow, MANAGER, "manager")
        await self._run(load)

    async def apply(self, event: tuple[Any, ...]) -> None:
        event_id, kind, *args = event
        await getattr(self, kind)(event_id, *args)

    @staticmethod
    def _cause(event_id: str) -> Cause:
        return Cause(derive_event_id("scenario-event", event_id), f"scenario:{event_id}")

    async def payment(self, eid: str, reference: str, channel: str, amount: int, day: dt.date) -> None:
        data = PaymentReceived(payment_id=payment_id(eid), provider_id="scenario", provider_ref=eid, channel=channel,
                               amount_pence=amount, paid_at=_at(day), received_at=_at(day, 10), reference=reference,
                               payer_name="A Payer")

        async def take(uow: LedgerUnitOfWork) -> None:  # as entrypoints/consumers.py does
            await handle_payments_received(uow, [TakePayment(data, self._cause(eid))])
            await apply_pending(uow, [data.payment_id])
        await self._run(take)

    async def reversal(self, eid: str, payment_event: str, kind: str, amount: int, day: dt.date) -> None:
        data = PaymentReversed(reversal_id=derive_event_id("reversal", "scenario", eid),
                               payment_id=payment_id(payment_event), provider_id="scenario",
                               provider_ref=payment_event, kind=kind, amount_pence=amount, reversed_at=_at(day, 11),
                               reason=f"{kind} in the scenario", received_at=_at(day, 12))
        await self._run(lambda uow: handle_payments_reversed(uow, [ReversePayment(data, self._cause(eid))]))

    async def dd_return(self, eid: str, ref: str, amount: int, day: dt.date, code: str) -> None:
        data = DirectDebitReturned(return_id=derive_event_id("dd-return", "scenario", eid), provider_id="bank",
                                   reference=dd_reference(ref), payer_name="A Payer", amount_pence=amount,
                                   return_code=code, return_code_raw=code, original_processing_date=day,
                                   reported_on=day + dt.timedelta(days=3), received_at=_at(day + dt.timedelta(days=3)))
        await self._run(lambda uow: handle_dd_returned(uow, [ReturnDirectDebit(data, self._cause(eid))]))

    async def mandate(self, eid: str, ref: str, action: str) -> None:
        data = MandateInstruction(instruction_id=derive_event_id("mandate", "scenario", eid), provider_id="bank",
                                  source="addacs", reference=dd_reference(ref), reason_code="0", action=action,
                                  description=f"{action} in the scenario", received_at=_at(DAYS[0]))
        await self._run(lambda uow: handle_mandate_instructions(uow, [ChangeMandate(data, self._cause(eid))]))

    async def move(self, eid: str, payment_event: str, to_ref: str) -> None:
        """The receipt of a payment (posted at once or from suspense) moved to another account."""
        receipt = derive_event_id("txn", str(payment_id(payment_event)))
        try:
            await self._run(lambda uow: suspense.move_receipt(uow, receipt, to_ref, "An Officer", f"scenario {eid}"))
        except suspense.NotFound:
            self.refused_not_there.add(eid)
        except (suspense.NotAReceipt, suspense.AlreadyAllocated):
            pass

    async def uprate(self, eid: str, percent: str) -> None:
        """The year-end uprating, from the first Monday it may take effect (it depends on today)."""
        try:
            await self._run(lambda uow: rents.uprate(uow, percent, uprating_day()))
        except Refused:
            pass

    async def debit_run(self, eid: str, through: dt.date | None) -> None:
        """`through` None: two weeks past the uprating (see `uprate`)."""
        through = through or uprating_day() + dt.timedelta(days=14)
        await run_debits(self.new_uow, through, chunk=2, correlation_id=f"scenario:{eid}")

    async def allocate_suspense(self, eid: str, payment_event: str, ref: str) -> None:
        try:
            await self._run(lambda uow: suspense.allocate_suspense(uow, payment_id(payment_event), ref, "An Officer",
                                                                   f"scenario {eid}"))
        except suspense.NotFound:  # nothing changed: the unit of work was not committed
            self.refused_not_there.add(eid)
        except suspense.AlreadyAllocated:
            pass  # nothing changed

    async def adjustment(self, eid: str, type_: str, amount: int, ref: str, to_ref: str | None) -> None:
        if eid in self.requests:
            request_id = self.requests[eid]
            if request_id is not None:
                try:
                    await self._run(lambda uow: adjustments.approve_adjustment(uow, request_id, MANAGER))
                except Refused:
                    pass
            return
        try:
            out = await self._run(lambda uow: adjustments.request_adjustment(
                uow, ref, type_, amount, to_ref, f"scenario {eid}", "An Officer"))
        except Refused:
            self.requests[eid] = None
            return
        self.requests[eid] = request_id = uuid.UUID(out["request_id"])
        try:
            await self._run(lambda uow: adjustments.approve_adjustment(uow, request_id, MANAGER))
        except Refused:
            pass  # the balance no longer allows it: the request stays pending

    async def close(self, eid: str, period: str) -> None:
        try:
            await self._run(lambda uow: periods.close_period(uow, period, "Finance"))
        except periods.AlreadyClosed:
            pass


def uprating_day() -> dt.date:
    """The first Monday an uprating may take effect from today (28 days' notice, 7 to serve it)."""
    day = dt.datetime.now(LONDON).date() + dt.timedelta(days=35)
    return day + dt.timedelta(days=-day.weekday() % 7)


def random_events(seed: int, n: int) -> list[tuple[Any, ...]]:
    """A fixed mix of every kind of event (the same list for the same seed), ending with an
    uprating and a debit run past it."""
    rnd = random.Random(seed)
    events: list[tuple[Any, ...]] = []
    payments: list[str] = []
    paid: dict[str, int] = {}
    collections: list[tuple[str, int, dt.date]] = []  # Direct Debits collected: (account, amount, day)
    for i in range(1, n + 1):
        eid = f"e{i}"
        kind = rnd.choices(["payment", "debit_run", "dd_return", "allocate_suspense", "adjustment", "close",
                            "reversal", "mandate", "move"], weights=[8, 2, 2, 2, 3, 1, 2, 1, 1])[0]
        day = rnd.choice(DAYS)
        if kind == "payment":
            payments.append(eid)
            reference, channel, amount = rnd.choice(PAYMENT_REFERENCES), rnd.choice(CHANNELS), rnd.randint(1, 50_000)
            if (account := collected(reference, channel)) is not None:
                collections.append((account, amount, day))
            paid[eid] = amount
            events.append((eid, kind, reference, channel, amount, day))
        elif kind == "debit_run":
            events.append((eid, kind, day))
        elif kind == "dd_return":  # of a collection (linked to it), or of one the ledger never saw
            ref, amount, day = (rnd.choice(collections) if collections and rnd.random() < 0.6
                                else (rnd.choice(REFS), rnd.randint(1, 50_000), day))
            events.append((eid, kind, ref, amount, day, rnd.choice(["0", "1", "6"])))
        elif kind == "allocate_suspense":
            events.append((eid, kind, rnd.choice(payments or ["none"]), rnd.choice(REFS)))
        elif kind == "adjustment":
            type_, ref, to = rnd.choice(ADJUSTMENTS), rnd.choice(REFS), rnd.choice(REFS)
            amount = rnd.randint(1, 50_000) * (-1 if type_ == "adjustment" and rnd.random() < 0.5 else 1)
            if type_ == "transfer" and to == ref:
                continue
            events.append((eid, kind, type_, amount, ref, to if type_ == "transfer" else None))
        elif kind == "close":
            events.append((eid, kind, period_of(day)))
        elif kind == "mandate":
            events.append((eid, kind, rnd.choice(REFS), rnd.choice(["new", "cancelled", "disputed", "reinstated"])))
        elif kind == "move":
            events.append((eid, kind, rnd.choice(payments or ["none"]), rnd.choice(REFS)))
        else:
            target = rnd.choice(payments + [f"later{i}"])  # one not here (yet): kept pending
            amount = paid[target] if target in paid and rnd.random() < 0.5 else rnd.randint(1, 20_000)  # all or part
            events.append((eid, kind, target, rnd.choice(["returned", "refund"]), amount, day))
        if rnd.random() < 0.1 and events:  # a redelivery
            events.append(rnd.choice(events))
    return events + [(f"e{n + 1}", "uprate", "3.7"), (f"e{n + 2}", "debit_run", None)]


@dataclass
class Snapshot:
    """What the ledger holds, in terms both stores give: balances; each account's postings in
    order; journal lines; the suspense queue; closed periods; events emitted per topic."""
    balances: dict[str, int]
    postings: dict[str, list[tuple[Any, ...]]]  # account → (code, amount, balance after, date, period, rule, source)
    transaction_ids: set[uuid.UUID]  # but adjustments' (derived from a request id drawn at random)
    journals: dict[uuid.UUID, list[Line]]
    journal_lines: list[tuple[Any, ...]]  # sorted (kind, gl_code, debit, credit, account, date, period)
    suspense: dict[uuid.UUID, int]  # open items: payment → amount
    closed: set[str]
    emitted: Counter[str]
    mandates: dict[str, str]  # DD reference → state

    def control(self) -> int:
        code = GL_CODES["debtors_control"]
        return sum(x.debit_pence - x.credit_pence for lines in self.journals.values() for x in lines
                   if x.gl_code == code)

    def comparable(self) -> dict[str, Any]:
        """Everything but the ids drawn at random (an adjustment request's, and what derives from it)."""
        return {"balances": self.balances, "postings": self.postings, "transaction_ids": self.transaction_ids,
                "journal_lines": self.journal_lines,
                "suspense": self.suspense, "closed": self.closed, "emitted": self.emitted, "mandates": self.mandates}


def _source(source_ref: str) -> str:
    """An adjustment's source names its request (an id drawn at random): kept to its type."""
    return ":".join(source_ref.split(":")[:2]) if source_ref.startswith("adjustment:") else source_ref


def snapshot(transactions: list[Any], lines: list[Any], accounts_: list[Any], open_items: list[Any],
             closed: list[str], topics: list[str], mandates: list[Any]) -> Snapshot:
    """From rows read by column name (transactions in posting order)."""
    postings: dict[str, list[tuple[Any, ...]]] = {}
    for t in transactions:
        postings.setdefault(t["account_ref"], []).append(
            (t["type_code"], t["amount_pence"], t["balance_after_pence"], t["business_date"], t["period"],
             t["allocation_rule"], _source(t["source_ref"])))
    journals: dict[uuid.UUID, list[Line]] = {}
    for x in lines:
        journals.setdefault(x["journal_id"], []).append(
            Line(x["gl_code"], x["debit_pence"], x["credit_pence"], x["account_ref"]))
    return Snapshot(
        balances={a["account_ref"]: a["balance_pence"] for a in accounts_}, postings=postings,
        transaction_ids={t["transaction_id"] for t in transactions if not t["source_ref"].startswith("adjustment:")},
        journals=journals,
        journal_lines=sorted((x["kind"], x["gl_code"], x["debit_pence"], x["credit_pence"], x["account_ref"] or "",
                              x["business_date"], x["period"]) for x in lines),
        suspense={s["payment_id"]: s["amount_pence"] for s in open_items}, closed=set(closed),
        emitted=Counter(topics), mandates={m["reference"]: m["state"] for m in mandates})


def memory_snapshot(ledger: Any) -> Snapshot:
    t = ledger.tables
    return snapshot(list(t.transactions.values()), t.journal_lines, list(t.accounts.values()),
                    [s for s in t.suspense.values() if s["allocated_at"] is None], t.closed_periods,
                    [row.topic for row in ledger.outbox], list(t.mandates.values()))


async def sql_snapshot(raw: Any) -> Snapshot:
    return snapshot(
        await raw.fetch("select * from transactions order by seq"),
        await raw.fetch("select * from journal_lines order by journal_id, line_no"),
        await raw.fetch("select account_ref, balance_pence from accounts order by account_ref"),
        await raw.fetch("select payment_id, amount_pence from suspense where allocated_at is null"),
        list((await raw.fetchrow("select closed_periods from ledger_state"))["closed_periods"]),
        [r["topic"] for r in await raw.fetch("select topic from outbox where topic <> 'audit.v1'")],  # the
        # audit trail is in memory's `audit`, not its outbox: compared on its own
        await raw.fetch("select reference, state from mandates"))
