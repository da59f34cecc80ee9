"""What intake emits reads back exactly as the schema's own models would have written it, with
the ids derived from the input's identity."""
import datetime as dt
import uuid

from rentflow_common.events import encode
from rentflow_schemas import Envelope, new_envelope
from rentflow_schemas.payments import PaymentReceived, PaymentRejected

from rentflow_payments.domain import events
from rentflow_payments.domain.model import ONE

NOW = dt.datetime(2026, 4, 6, 9, 0, 1, 123456, tzinfo=dt.timezone.utc)


def test_received_row_decodes_to_the_model_envelope():
    p = ONE.validate_python({"provider_ref": "r-1", "channel": "standing_order", "amount_pence": 9000,
                             "paid_at": "2026-04-05T23:30:00+01:00", "reference": "REF 123", "payer_name": None})
    pid = events.payment_id("bank", "r-1")
    imp = uuid.uuid4()
    row = encode(events.received(p, pid=pid, provider_id="bank", received_at=NOW, source="file", imp=imp),
                 producer="payments", correlation_id="c-1", occurred_at=NOW)
    decoded = Envelope[PaymentReceived].model_validate_json(row.payload)
    expected = new_envelope(
        PaymentReceived(payment_id=pid, provider_id="bank", provider_ref="r-1", channel="standing_order",
                        amount_pence=9000, paid_at=p.paid_at, received_at=NOW, reference="REF 123",
                        source="file", import_id=imp),
        event_type="payments.received", event_id=events.received_event_id(pid), producer="payments",
        correlation_id="c-1", occurred_at=NOW)
    assert decoded == expected
    assert row.key == "bank:r-1" and row.topic == "payments.received.v1"
    assert row.headers == {"event_id": str(expected.event_id), "event_type": "payments.received",
                           "correlation_id": "c-1"}


def test_ids_are_derived_from_identity():
    assert events.payment_id("p", "r") == events.payment_id("p", "r")
    assert events.payment_id("p", "r") != events.payment_id("q", "r")
    assert events.import_id("p", "abc") == events.import_id("p", "abc")


def test_rejected_row_carries_where_and_why():
    imp = uuid.uuid4()
    event, identity = events.rejected(provider_id="p", imp=imp, kind="line", position=7,
                                      errors=[{"field": "amount_pence", "reason": "bad"}], provider_ref="r7",
                                      received_at=NOW)
    row = encode(event, producer="payments", correlation_id="c", identity=identity)
    env = Envelope[PaymentRejected].model_validate_json(row.payload)
    assert env.event_id == events.rejected_event_id(imp, "line", 7)
    assert env.data.errors[0].line == 7 and env.data.errors[0].field == "amount_pence"
    assert env.data.source == "file" and env.data.import_id == imp


def test_a_file_payment_carries_its_lump_kind_and_a_push_none():
    from rentflow_payments.domain.items import FILE_PAYMENT
    body = {"provider_ref": "camt053:X1", "channel": "bank_transfer", "amount_pence": 127412,
            "paid_at": "2026-10-05T00:00:00+01:00", "reference": "BACS DD COLLECTION"}
    for p, lump in ((FILE_PAYMENT.validate_python({**body, "lump": "dd_collection"}), "dd_collection"),
                    (ONE.validate_python(body), None)):
        row = encode(events.received(p, pid=events.payment_id("bank", "camt053:X1"), provider_id="bank",
                                     received_at=NOW, source="file", imp=None), producer="payments", correlation_id="c")
        assert Envelope[PaymentReceived].model_validate_json(row.payload).data.lump == lump


def test_a_card_payment_carries_the_payout_it_was_paid_out_in_and_an_old_event_without_one_still_reads():
    import orjson
    import pytest
    from pydantic import ValidationError
    body = {"provider_ref": "ch_3QA0001", "channel": "card", "amount_pence": 12050,
            "paid_at": "2026-10-06T08:12:45+00:00", "reference": "10000010", "payout_id": "po_1QRentPayout0001AbCd"}
    row = encode(events.received(ONE.validate_python(body), pid=events.payment_id("stripe", "ch_3QA0001"),
                                 provider_id="stripe", received_at=NOW, source="push", imp=None),
                 producer="payments", correlation_id="c")
    assert Envelope[PaymentReceived].model_validate_json(row.payload).data.payout_id == "po_1QRentPayout0001AbCd"
    old = orjson.loads(row.payload)
    del old["data"]["payout_id"]  # as written before the field existed
    assert Envelope[PaymentReceived].model_validate(old).data.payout_id is None
    with pytest.raises(ValidationError, match="payout_id"):
        ONE.validate_python({**body, "payout_id": "po 1; drop"})
    with pytest.raises(ValidationError, match="payout_id: only card payments are paid out in payouts"):
        ONE.validate_python({**body, "channel": "direct_debit"})


def test_mandate_row_carries_a_lodgement_report():
    from rentflow_schemas.directdebit import MandateInstruction
    from rentflow_payments.domain.items import MANDATE
    m = MANDATE.validate_python({
        "identity": "auddis|1|AUDREJ|000028", "source": "auddis", "reference": "LODGEMENT 000028", "reason_code": "AUDREJ",
        "action": "lodgement_rejected", "description": "rejected", "effective_date": dt.date(2026, 5, 13),
        "advice_sequence": "1", "lodgement_serial": "000028", "lodgement_file_number": "028", "accepted_count": 0,
        "rejected_count": 3, "file_error_code": "30264"})
    row = encode(events.instruction(m, iid=events.instruction_id(m.identity), provider_id="bacs", imp=None,
                                    received_at=NOW), producer="payments", correlation_id="c")
    data = Envelope[MandateInstruction].model_validate_json(row.payload).data
    assert (data.action, data.lodgement_serial, data.rejected_count, data.file_error_code, row.key) == (
        "lodgement_rejected", "000028", 3, "30264", "LODGEMENT 000028")


def test_received_emitted_as_data_is_the_row_its_model_encodes_to():
    """take_in's hot path (`emit_data` of `received_data`) writes byte for byte the row `emit` of
    `received` writes: topic, key, payload, headers and event id."""
    from rentflow_common.events import Cause, Emitter

    cause = Cause(None, "c-1")
    for body, source, imp in (
            ({"provider_ref": "r-1", "channel": "card", "amount_pence": 9000, "paid_at": "2026-04-05T23:30:00+01:00",
              "reference": "REF 123", "payer_name": "A Payer"}, "push", None),
            ({"provider_ref": "r-2", "channel": "standing_order", "amount_pence": 1, "paid_at": "2026-04-05T10:00:00Z",
              "reference": "", "payer_name": None}, "file", uuid.uuid4())):
        p = ONE.validate_python(body)
        pid = events.payment_id("bank", p.provider_ref)
        slow, fast = Emitter("payments", "c-1"), Emitter("payments", "c-1")
        slow.emit(events.received(p, pid=pid, provider_id="bank", received_at=NOW, source=source, imp=imp),
                  cause=cause, occurred_at=NOW)
        fast.emit_data(PaymentReceived, events.received_data(p, pid=pid, provider_id="bank", received_at=NOW,
                                                             source=source, imp=imp),
                       identity=(pid,), key=events.received_key("bank", p.provider_ref), cause=cause, occurred_at=NOW)
        assert fast.emitted == slow.emitted


def test_one_requests_received_data_is_each_payments_own_in_the_models_order():
    """`received_data_of` (take_in's, once per request) gives each payment what `received` holds, in the
    model's field order, also for a file's lump with its payout and a card payment with a fee."""
    from rentflow_payments.domain.items import FILE_PAYMENT

    imp = uuid.uuid4()
    payments = [FILE_PAYMENT.validate_python({"provider_ref": "l-1", "channel": "bank_transfer", "amount_pence": 50000,
                                              "paid_at": "2026-04-06T00:00:00Z", "lump": "card_settlement",
                                              "payout_id": "po_1", "match_ref": "E2E-1"}),
                ONE.validate_python({"provider_ref": "c-1", "channel": "card", "amount_pence": 9000, "fee_pence": 190,
                                     "payout_id": "po_2", "paid_at": "2026-04-05T23:30:00+01:00",
                                     "payer_name": "A Payer"})]
    data = events.received_data_of(provider_id="bank", received_at=NOW, source="file", imp=imp)
    for p in payments:
        pid = events.payment_id("bank", p.provider_ref)
        got = data(p, pid)
        want = events.received(p, pid=pid, provider_id="bank", received_at=NOW, source="file", imp=imp)
        assert list(got) == list(PaymentReceived.model_fields)
        assert got == dict(want)


def test_take_ins_emitter_with_the_requests_instant_writes_the_models_row():
    """take_in emits through `emitter(PaymentReceived, once=True)` with received_at serialised once
    (`instant`, as occurred_at and in the data): the row `emit` of `received` writes, bar the event id
    column a `once` event leaves null."""
    from rentflow_common.events import Cause, Emitter, instant

    cause = Cause(None, "c-1")
    imp = uuid.uuid4()
    payments = [ONE.validate_python({"provider_ref": f"r-{i}", "channel": "card", "amount_pence": 900 + i,
                                     "paid_at": "2026-04-05T23:30:00+01:00", "reference": "REF 1"}) for i in range(3)]
    slow, fast = Emitter("payments", "c-1"), Emitter("payments", "c-1")
    emit, at = fast.emitter(PaymentReceived, once=True), instant(NOW)
    data = events.received_data_of(provider_id="bank", received_at=at, source="file", imp=imp)
    for p in payments:
        pid = events.payment_id("bank", p.provider_ref)
        key = events.received_key("bank", p.provider_ref)
        slow.emit(events.received(p, pid=pid, provider_id="bank", received_at=NOW, source="file", imp=imp),
                  cause=cause, occurred_at=NOW)
        emit(data(p, pid), (pid,), key, cause, at)
    assert fast.emitted == [row._replace(event_id=None) for row in slow.emitted]
