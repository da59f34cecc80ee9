import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from rentflow_schemas import Envelope, derive_event_id, new_envelope
from rentflow_schemas.ledger import JournalLine, JournalPosted
from rentflow_schemas.payments import PaymentReceived

UTC = dt.timezone.utc


def _payment(**over):
    base = dict(payment_id=uuid.uuid4(), provider_id="p", provider_ref="r1", channel="card", amount_pence=12300,
                paid_at=dt.datetime(2026, 4, 6, 9, tzinfo=UTC), received_at=dt.datetime(2026, 4, 6, 9, tzinfo=UTC))
    base.update(over)
    return PaymentReceived(**base)


def test_derived_ids_are_stable_and_distinct():
    assert derive_event_id("a", 1) == derive_event_id("a", 1)
    assert derive_event_id("a", 1) != derive_event_id("a", 2)
    assert derive_event_id("ab", "c") != derive_event_id("a", "bc")


def test_envelope_round_trips_through_json():
    env = new_envelope(_payment(), event_type="payments.received", event_id=uuid.uuid4(), producer="payments",
                       correlation_id="c1")
    again = Envelope[PaymentReceived].model_validate_json(env.model_dump_json())
    assert again == env


@pytest.mark.parametrize("amount", [0, -1])
def test_amount_must_be_positive(amount):
    with pytest.raises(ValidationError, match="amount_pence"):
        _payment(amount_pence=amount)


def test_naive_times_are_refused():
    with pytest.raises(ValidationError, match="paid_at"):
        _payment(paid_at=dt.datetime(2026, 4, 6, 9))


def test_unbalanced_journal_is_refused():
    with pytest.raises(ValidationError, match="does not balance"):
        JournalPosted(journal_id=uuid.uuid4(), business_date=dt.date(2026, 4, 6), period="2026-04",
                      posted_at=dt.datetime.now(UTC), kind="receipt", source_ref="x",
                      lines=[JournalLine(gl_code="A", debit_pence=10), JournalLine(gl_code="B", credit_pence=9)])


@given(st.lists(st.one_of(st.text(), st.integers(), st.uuids()), min_size=1, max_size=4))
def test_fast_ids_equal_uuid5(parts):
    from rentflow_schemas.envelope import RENTFLOW_NAMESPACE

    assert derive_event_id(*parts) == uuid.uuid5(RENTFLOW_NAMESPACE, "\x1f".join(str(p) for p in parts))


@given(st.lists(st.one_of(st.text(), st.integers(), st.uuids()), min_size=1, max_size=3), st.binary(max_size=20))
def test_binary_ids_are_uuid5_shaped_over_length_prefixed_parts(parts, prefix):
    """derive_id_binary, whichever way it goes (one UUID part has its own path), is the sha1 of the
    namespace, the prefix and each part length-prefixed (UUIDs as their 16 bytes), shaped as uuid5."""
    from hashlib import sha1

    from rentflow_schemas.envelope import RENTFLOW_NAMESPACE, derive_id_binary

    data = RENTFLOW_NAMESPACE.bytes + prefix
    for p in parts:
        b = p.bytes if isinstance(p, uuid.UUID) else str(p).encode()
        data += len(b).to_bytes(4, "big") + b
    expected = uuid.UUID(bytes=sha1(data).digest()[:16], version=5)
    assert derive_id_binary(prefix, tuple(parts)) == expected
    assert derive_id_binary(prefix, tuple(parts)).variant == uuid.RFC_4122


@given(st.lists(st.text(), max_size=3), st.lists(st.text(), max_size=5))
def test_ids_derived_together_equal_each_derived_alone(parts, last):
    from rentflow_schemas.envelope import derive_event_ids

    assert derive_event_ids(*parts, last=last) == [derive_event_id(*parts, x) for x in last]
    long = ["r" * 60, "r"]  # past one SHA-1 block, and within it
    assert derive_event_ids("payment", *parts, last=long) == [derive_event_id("payment", *parts, x) for x in long]
