"""What the ledger emits is valid by the one definition in rentflow_schemas, keyed and identified
as the registry says."""
from __future__ import annotations

import datetime as dt
import uuid

from pydantic import TypeAdapter

from rentflow_common.events import Cause, Emitter
from rentflow_ledger.domain.journal import receipt_lines
from rentflow_ledger.domain.posting import Book, Journal
from rentflow_ledger.service_layer import events
from rentflow_schemas import Envelope, topic_spec

NOW = dt.datetime(2026, 4, 6, 9, 30, tzinfo=dt.timezone.utc)


def _valid(row):
    spec = topic_spec(row.topic)
    env = TypeAdapter(Envelope[spec.model]).validate_json(row.payload)
    assert env.event_type == spec.event_type and row.headers["event_id"] == str(env.event_id)
    return env


def _emitted(emit, *args):
    uow = Emitter("ledger")
    emit(uow, *args)
    return uow.emitted[-1]


def test_transaction_journal_suspense_and_account_events_validate():
    pid = uuid.uuid4()
    t = Book({"R1": 100}).post("R1", "RCP", -60, transaction_id=uuid.uuid4(), business_date=dt.date(2026, 4, 6),
                               source_ref="p:1", channel="card", payment_id=pid, allocation_rule="exact_reference")
    env = _valid(_emitted(events.transaction_posted, t, NOW, Cause(uuid.uuid4(), "corr")))
    assert env.data.balance_after_pence == 40 and env.data.period == "2026-04" and env.data.type_code == "RCP"
    j = Journal(uuid.uuid4(), "receipt", dt.date(2026, 4, 6), "p:1", tuple(receipt_lines("R1", "card", 60)))
    row = _emitted(events.journal_posted, j, NOW, Cause(None, "corr"))
    assert row.key == "p:1" and len(_valid(row).data.lines) == 2
    row = _emitted(events.suspense, {
        "action": "opened", "payment_id": pid, "amount_pence": 60, "channel": "card", "reference": "X",
        "payer_name": None, "received_at": NOW, "reason": "no reference", "account_ref": None,
        "allocated_by": None, "note": None, "paid_at": NOW, "business_date": dt.date(2026, 4, 6)}, NOW,
        Cause(None, "corr"))
    assert _valid(row).data.reason == "no reference" and _valid(row).data.business_date == dt.date(2026, 4, 6)
    account = {"account_ref": "R1", "property": "1 St", "patch": "N", "officer": None,
               "tenancy_start": dt.date(2024, 4, 1), "tenancy_end": None, "weekly_rent_pence": 12500,
               "weekly_charges_pence": 0, "payment_method": "dd", "balance_pence": 0}
    row = _emitted(events.account_upserted, account, 1, "abc", NOW, Cause(None, "corr"))
    assert _valid(row).data.account_ref == "R1"
    # identity: same account version and content → same event id; a new version → a new id
    again = _emitted(events.account_upserted, account, 1, "abc", NOW, Cause(None, "c2"))
    newer = _emitted(events.account_upserted, account, 2, "abc", NOW, Cause(None, "c2"))
    assert again.headers["event_id"] == row.headers["event_id"] != newer.headers["event_id"]


def test_a_payment_after_the_tenancy_ended_validates_and_keeps_its_identity():
    from types import SimpleNamespace

    pid = uuid.uuid4()
    t = Book({"R1": 5000}).post("R1", "RCP", -1200, transaction_id=uuid.uuid4(), business_date=dt.date(2026, 10, 6),
                                source_ref="p:1", channel="card", payment_id=pid, allocation_rule="exact_reference")
    payment = SimpleNamespace(reference="R1", payer_name="A Former")
    row = _emitted(events.ended_tenancy_payment, t, payment, dt.date(2026, 5, 31), NOW, Cause(uuid.uuid4(), "corr"))
    data = _valid(row).data
    assert (data.account_ref, data.amount_pence, data.balance_after_pence, data.tenancy_end) == (
        "R1", 1200, 3800, dt.date(2026, 5, 31))
    assert row.key == "R1"
    again = _emitted(events.ended_tenancy_payment, t, payment, dt.date(2026, 5, 31), NOW, Cause(None, "other"))
    assert again.headers["event_id"] == row.headers["event_id"]  # a redelivered payment makes the same event


def test_paid_after_tenancy_end():
    from rentflow_ledger.domain.tenancy import paid_after_tenancy_end

    assert paid_after_tenancy_end(dt.date(2026, 6, 1), dt.date(2026, 5, 31))
    assert not paid_after_tenancy_end(dt.date(2026, 5, 31), dt.date(2026, 5, 31))  # paid on its last day
    assert not paid_after_tenancy_end(dt.date(2026, 6, 1), None)


def test_a_posting_built_without_validation_is_the_event_validation_would_build():
    from rentflow_schemas.ledger import TransactionPosted

    t = Book({"R1": 0}).post("R1", "RCP", -60, transaction_id=uuid.uuid4(), business_date=dt.date(2026, 4, 6),
                             source_ref="p:1", channel="card", payment_id=uuid.uuid4(), allocation_rule="exact")
    uow = Emitter("ledger")
    events.transaction_posted(uow, t, NOW, None)
    row = uow.emitted[-1]
    env = _valid(row)
    assert env.data == TransactionPosted.model_validate(env.data.model_dump())
    assert (env.data.transaction_id, env.data.amount_pence, env.data.balance_after_pence) == (t.transaction_id, -60, -60)


def test_a_posting_and_a_journal_emitted_as_data_are_the_rows_their_models_encode_to():
    """`emit_data` (the hot path: a plain dict, no model) writes byte for byte the row `emit` of the
    model writes: topic, key, payload, headers and event id."""
    from rentflow_common.events import trusted
    from rentflow_schemas.ledger import JournalLine, JournalPosted, TransactionPosted

    cause = Cause(uuid.uuid4(), "corr")
    for posting_period, week_start in ((None, None), ("2026-05", dt.date(2026, 4, 6))):
        t = Book({"R1": 10}).post("R1", "RCP", -60, transaction_id=uuid.uuid4(), business_date=dt.date(2026, 4, 30),
                                  source_ref="p:1", channel="card", payment_id=uuid.uuid4(),
                                  allocation_rule="exact_reference", week_start=week_start,
                                  posting_period=posting_period)
        fast = _emitted(events.transaction_posted, t, NOW, cause)
        uow = Emitter("ledger", "corr")
        uow.emit(trusted(TransactionPosted, transaction_id=t.transaction_id, account_ref=t.account_ref,
                         type_code=t.type_code, amount_pence=t.amount_pence, balance_after_pence=t.balance_after_pence,
                         posted_at=NOW, business_date=t.business_date, period=t.period, source_ref=t.source_ref,
                         channel=t.channel, payment_id=t.payment_id, allocation_rule=t.allocation_rule,
                         week_start=t.week_start), cause=cause, occurred_at=NOW)
        assert fast == uow.emitted[-1]
        assert _valid(fast).data.period == (posting_period or "2026-04")
    j = Journal(uuid.uuid4(), "receipt", dt.date(2026, 4, 6), "p:1", tuple(receipt_lines("R1", "card", 60)))
    fast = _emitted(events.journal_posted, j, NOW, None)
    uow = Emitter("ledger", fast.headers["correlation_id"])
    uow.emit(trusted(JournalPosted, journal_id=j.journal_id, business_date=j.business_date, period=j.period,
                     posted_at=NOW, kind=j.kind, source_ref=j.source_ref,
                     lines=[trusted(JournalLine, gl_code=x.gl_code, debit_pence=x.debit_pence,
                                    credit_pence=x.credit_pence, account_ref=x.account_ref) for x in j.lines]),
             occurred_at=NOW)
    assert fast == uow.emitted[-1]
    assert len(_valid(fast).data.lines) == 2


def test_a_batch_of_postings_made_before_their_balances_is_the_rows_transaction_posted_writes():
    """`postings_deferred_many` (the receipts' batch, in one loop) then `complete` writes byte for byte
    the rows `transaction_posted` writes, on the PostgreSQL unit of work (postings `once`, by its
    own `complete`) and in memory: each posting's own id, key, cause (or the unit of work's
    correlation id) and balance, in order."""
    from rentflow_ledger.service_layer.unit_of_work import SqlLedgerUnitOfWork

    book = Book({"R1": 10, "R2": 0, "R3": 2**40})
    posted = [(book.post(ref, "RCP", amount, transaction_id=uuid.uuid4(), business_date=dt.date(2026, 4, 30),
                         source_ref=f"p:{n}", channel=channel, payment_id=uuid.uuid4(), allocation_rule=rule,
                         posting_period=period), cause)
              for n, (ref, amount, period, channel, rule, cause) in enumerate([
                  ("R1", -60, None, "card", "exact_reference", Cause(uuid.uuid4(), "corr")),
                  ("R2", -777, "2026-05", None, None, None),
                  ("R1", 50, None, "direct_debit", "dd_reference", Cause(None, 'c"2')),
                  ("R3", -1, None, "cash", "exact_reference", Cause(uuid.uuid4(), "c3"))])]
    for sql in (True, False):
        rows = []
        for many in (True, False):
            base = Emitter("ledger", "own")
            uow = SqlLedgerUnitOfWork(_FakeUnitOfWork(base)) if sql else base
            if many:
                made = events.postings_deferred_many(uow, NOW, [
                    (t.transaction_id, t.account_ref, t.type_code, t.amount_pence, t.business_date, t.period,
                     t.source_ref, t.channel, t.payment_id, t.allocation_rule, cause) for t, cause in posted])
                assert base.emitted == []  # nothing emitted until completed
                for d, (t, _) in zip(made, posted):
                    uow.complete(d, t.balance_after_pence)
            else:
                for t, cause in posted:
                    events.transaction_posted(uow, t, NOW, cause)
            rows.append(base.emitted)
        assert rows[0] == rows[1] and len(rows[0]) == 4
        assert all(r.event_id is None for r in rows[0]) == sql
        assert [_valid(r).data.balance_after_pence for r in rows[0]] == [-50, -777, 0, 2**40 - 1]
        assert [_valid(r).correlation_id for r in rows[0]] == ["corr", "own", 'c"2', "c3"]


class _FakeUnitOfWork:
    """What SqlLedgerUnitOfWork takes from rentflow_common.db.UnitOfWork, emitting into `emitter`."""

    def __init__(self, emitter: Emitter) -> None:
        self.emit, self.emit_data, self.complete = emitter.emit, emitter.emit_data, emitter.complete
        self.deferred_many = emitter.deferred_many
        self.raw = None


def test_a_payment_after_the_tenancy_ended_emitted_as_data_is_the_row_its_model_encodes_to():
    from types import SimpleNamespace

    from rentflow_common.events import trusted
    from rentflow_schemas.ledger import EndedTenancyPayment

    t = Book({"R1": 5000}).post("R1", "RCP", -1200, transaction_id=uuid.uuid4(), business_date=dt.date(2026, 10, 6),
                                source_ref="p:1", channel="card", payment_id=uuid.uuid4(), allocation_rule="exact")
    cause = Cause(uuid.uuid4(), "corr")
    for payer in ("A Former", None):
        payment = SimpleNamespace(reference="R1 rent", payer_name=payer)
        fast = _emitted(events.ended_tenancy_payment, t, payment, dt.date(2026, 5, 31), NOW, cause)
        uow = Emitter("ledger", "corr")
        uow.emit(trusted(EndedTenancyPayment, transaction_id=t.transaction_id, payment_id=t.payment_id,
                         account_ref="R1", amount_pence=1200, channel="card", reference="R1 rent", payer_name=payer,
                         business_date=t.business_date, tenancy_end=dt.date(2026, 5, 31), balance_after_pence=3800,
                         posted_at=NOW), cause=cause, occurred_at=NOW)
        assert fast == uow.emitted[-1]
        assert _valid(fast).data.payer_name == payer


def test_a_suspense_item_opened_as_data_is_the_row_its_model_encodes_to():
    """`suspense_opened` (a payment put in suspense, without a model) writes byte for byte the row
    `suspense` writes, and the event validates."""
    from rentflow_schemas.payments import PaymentReceived

    p = PaymentReceived(payment_id=uuid.uuid4(), provider_id="bank", provider_ref="r1", channel="bank_transfer",
                        amount_pence=1250, paid_at=NOW, received_at=NOW, reference="FLAT 9", payer_name=None)
    cause = Cause(uuid.uuid4(), "corr")
    fast = _emitted(events.suspense_opened, p, dt.date(2026, 4, 6), "2026-05", "no account matches", NOW, cause)
    slow = _emitted(events.suspense, {
        "action": "opened", "payment_id": p.payment_id, "amount_pence": 1250, "channel": "bank_transfer",
        "reference": "FLAT 9", "payer_name": None, "received_at": NOW, "reason": "no account matches",
        "account_ref": None, "allocated_by": None, "note": None, "paid_at": NOW,
        "business_date": dt.date(2026, 4, 6), "period": "2026-05"}, NOW, cause)
    assert fast == slow
    assert _valid(fast).data.period == "2026-05" and fast.key == str(p.payment_id)


def test_uuid_text_is_str():
    from rentflow_common.events import uuid_text

    for u in [uuid.uuid4() for _ in range(100)] + [uuid.UUID(int=0), uuid.UUID(int=(1 << 128) - 1)]:
        assert uuid_text(u) == str(u)
