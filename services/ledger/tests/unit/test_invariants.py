"""Ledger invariants under random sequences of operations (hypothesis stateful testing), on an
in-memory ledger built only from the domain rules the service uses: allocation, postings and
running balances, journals, DD returns, maker-checker plans, period calendar.

After every step: the sum of account balances equals the debtors control account; every
journal balances; no posting was booked in a period closed when it was posted; redelivering
an input changes nothing; replaying every input into an empty ledger gives the same balances."""
from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from rentflow_ledger.domain.adjustments import Refused, check_balance, plan
from rentflow_ledger.domain.allocation import ReferenceIndex, allocate
from rentflow_ledger.domain.codes import CHARGES_CODE, DD_UNPAID_CODE, GL_CODES, RENT_CODE, receipt_code
from rentflow_ledger.domain.journal import (control_movement, dd_unpaid_lines, debit_lines, is_balanced,
                                            receipt_lines, suspense_allocated_lines, unidentified_lines)
from rentflow_ledger.domain.periods import PeriodCalendar
from rentflow_ledger.domain.posting import Book, Journal, Transaction, check_control, period_of

REFS = ["10000001", "10000002", "10000003"]
DAYS = [dt.date(2026, 4, 6) + dt.timedelta(days=7 * i) for i in range(16)]


class Ledger:
    """What the service does, without the database: an inbox of input ids, a book of balances,
    transactions, journals, suspense and the closed periods."""

    def __init__(self) -> None:
        self.book = Book({r: 0 for r in REFS})
        self.index = ReferenceIndex.build([(r, f"DD{r[-1]}", None) for r in REFS])
        self.inbox: set[str] = set()
        self.transactions: list[Transaction] = []
        self.journals: list[Journal] = []
        self.suspense: dict[str, int] = {}
        self.closed: set[str] = set()
        self.violations: list[str] = []

    def _post(self, txns: list[Transaction], journals: list[Journal]) -> None:
        check_control(txns, journals)
        for x in txns + journals:
            if x.period in self.closed:
                self.violations.append(f"{x} booked in closed {x.period}")
        self.transactions += txns
        self.journals += journals

    def apply(self, event: tuple) -> None:
        event_id, kind, *args = event
        if event_id in self.inbox:
            return
        self.inbox.add(event_id)
        getattr(self, kind)(event_id, *args)

    def payment(self, eid: str, reference: str, channel: str, amount: int, day: dt.date) -> None:
        cal = PeriodCalendar(frozenset(self.closed))
        booked = cal.override(day)
        a = allocate(reference, channel, self.index.accounts, self.index.dd, index=self.index)
        if a.account_ref is None:
            self.suspense[eid] = amount
            self._post([], [Journal(uuid.uuid4(), "unidentified_receipt", day, eid,
                                    tuple(unidentified_lines(channel, amount)), booked)])
            return
        t = self.book.post(a.account_ref, receipt_code(channel), -amount, transaction_id=uuid.uuid4(),
                           business_date=day, source_ref=eid, posting_period=booked)
        self._post([t], [Journal(uuid.uuid4(), "receipt", day, eid,
                                 tuple(receipt_lines(a.account_ref, channel, amount)), booked)])

    def debit(self, eid: str, ref: str, code: str, amount: int, day: dt.date) -> None:
        booked = PeriodCalendar(frozenset(self.closed)).override(day)
        t = self.book.post(ref, code, amount, transaction_id=uuid.uuid4(), business_date=day, source_ref=eid,
                           posting_period=booked)
        self._post([t], [Journal(uuid.uuid4(), "debit", day, eid, tuple(debit_lines(ref, code, amount)), booked)])

    def dd_return(self, eid: str, ref: str, amount: int, day: dt.date) -> None:
        booked = PeriodCalendar(frozenset(self.closed)).override(day)
        t = self.book.post(ref, DD_UNPAID_CODE, amount, transaction_id=uuid.uuid4(), business_date=day,
                           source_ref=eid, posting_period=booked)
        self._post([t], [Journal(uuid.uuid4(), "reversal", day, eid, tuple(dd_unpaid_lines(ref, amount)), booked)])

    def allocate_suspense(self, eid: str, ref: str, day: dt.date) -> None:
        if not self.suspense:
            return
        pid, amount = sorted(self.suspense.items())[0]
        del self.suspense[pid]
        booked = PeriodCalendar(frozenset(self.closed)).override(day)
        t = self.book.post(ref, "RBP", -amount, transaction_id=uuid.uuid4(), business_date=day, source_ref=pid,
                           posting_period=booked)
        self._post([t], [Journal(uuid.uuid4(), "suspense_allocated", day, pid,
                                 tuple(suspense_allocated_lines(ref, amount)), booked)])

    def adjustment(self, eid: str, type_: str, amount: int, ref: str, to_ref: str | None, day: dt.date) -> None:
        try:
            check_balance(type_, amount, self.book.balances[ref])
        except Refused:
            return  # refused: nothing posted, and a redelivery is refused the same way
        booked = PeriodCalendar(frozenset(self.closed)).override(day)
        legs, lines = plan(type_, amount, ref, to_ref)
        txns = [self.book.post(leg.account_ref, leg.code, leg.amount, transaction_id=uuid.uuid4(), business_date=day,
                               source_ref=eid, posting_period=booked) for leg in legs]
        self._post(txns, [Journal(uuid.uuid4(), "adjustment", day, eid, tuple(lines), booked)])

    def close(self, eid: str, period: str) -> None:
        self.closed.add(period)

    def control(self) -> int:
        code = GL_CODES["debtors_control"]
        return sum(x.debit_pence - x.credit_pence for j in self.journals for x in j.lines if x.gl_code == code)


amounts = st.integers(1, 50_000)
days = st.sampled_from(DAYS)
refs = st.sampled_from(REFS)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger()
        self.events: list[tuple] = []
        self.n = 0

    def _do(self, kind: str, *args: object) -> None:
        self.n += 1
        event = (f"e{self.n}", kind, *args)
        self.events.append(event)
        self.ledger.apply(event)

    @rule(ref=st.sampled_from(REFS + ["1000-0001", "RENT 10000002 THANKS", "10000030", "DD1", "junk", ""]),
          channel=st.sampled_from(["card", "bank_transfer", "direct_debit", "cash"]), amount=amounts, day=days)
    def payment(self, ref, channel, amount, day):
        self._do("payment", ref, channel, amount, day)

    @rule(ref=refs, code=st.sampled_from([RENT_CODE, CHARGES_CODE]), amount=amounts, day=days)
    def debit(self, ref, code, amount, day):
        self._do("debit", ref, code, amount, day)

    @rule(ref=refs, amount=amounts, day=days)
    def dd_return(self, ref, amount, day):
        self._do("dd_return", ref, amount, day)

    @rule(ref=refs, day=days)
    def allocate_suspense(self, ref, day):
        self._do("allocate_suspense", ref, day)

    @rule(type_=st.sampled_from(["adjustment", "refund", "write_off", "transfer"]), amount=amounts,
          ref=refs, to=refs, day=days, credit=st.booleans())
    def adjustment(self, type_, amount, ref, to, day, credit):
        if type_ == "transfer" and to == ref:
            return
        if type_ == "adjustment" and credit:
            amount = -amount
        self._do("adjustment", type_, amount, ref, to if type_ == "transfer" else None, day)

    @rule(day=days)
    def close(self, day):
        self._do("close", period_of(day))

    @rule(data=st.data())
    def redeliver(self, data):
        if not self.events:
            return
        event = data.draw(st.sampled_from(self.events))
        before = (dict(self.ledger.book.balances), len(self.ledger.journals), dict(self.ledger.suspense))
        self.ledger.apply(event)
        assert (dict(self.ledger.book.balances), len(self.ledger.journals), dict(self.ledger.suspense)) == before

    @invariant()
    def balances_equal_control(self):
        assert sum(self.ledger.book.balances.values()) == self.ledger.control()

    @invariant()
    def journals_balance(self):
        assert all(is_balanced(j.lines) for j in self.ledger.journals)
        assert sum(control_movement(j.lines) for j in self.ledger.journals) == sum(
            t.amount_pence for t in self.ledger.transactions)

    @invariant()
    def nothing_in_closed_periods(self):
        assert self.ledger.violations == []

    @invariant()
    def replay_gives_the_same_balances(self):
        fresh = Ledger()
        for event in self.events:
            fresh.apply(event)
        assert fresh.book.balances == self.ledger.book.balances
        assert fresh.suspense == self.ledger.suspense
        assert sorted(t.period for t in fresh.transactions) == sorted(t.period for t in self.ledger.transactions)


LedgerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestLedgerInvariants = LedgerMachine.TestCase
