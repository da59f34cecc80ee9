"""The push body's fast path (`fast_push`, msgspec) never decides on its own: what it takes, pydantic
(orjson, then PaymentIn, the push route's other path) takes with the same values, and whatever breaks
one of PaymentIn's checks it leaves to pydantic. Bodies are generated near every edge of PaymentIn."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import typing
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from pydantic import ValidationError

from rentflow_payments.domain import events
from rentflow_payments.domain.model import MANY, ONE, PaymentIn, PushedPayment, fast_push
from rentflow_schemas.common import Channel

GOOD = {"provider_ref": "r1", "channel": "card", "amount_pence": 12500, "currency": "GBP",
        "paid_at": "2026-04-06T09:30:00+01:00", "reference": "1234567890", "payer_name": "A Tenant"}

# text near the edges of no_nul and _not_blank: controls kept and refused, whitespace, C1, separators
ALPHABET = st.sampled_from(["a", "Z", "0", " ", "\t", "\n", "\r", "\x00", "\x01", "\x1f", "\x7f", "\x80", "\x85",
                            "\x9f", "\xa0", "é", "\u2028", "\u3000", "\ufeff", "🏠", "\\", '"', "\U000e0001"])
TEXT = st.text(ALPHABET, max_size=6) | st.text(ALPHABET, min_size=98, max_size=102) \
    | st.text(ALPHABET, min_size=138, max_size=142)
ODD: list[Any] = [None, True, False, 0, 1, -1, 1.0, 12.5, "1", "", " ", [], {}, 2**63, 2**64, 10**30]
ZONES = ["Z", "z", "+00:00", "-00:00", "+01:00", "-05:30", "+23:59", "+24:00", "+00:60", "-01:99", "+0100", "+01",
         "+01:00:30", ""]


@st.composite
def paid_at(draw: st.DrawFn) -> Any:
    year = draw(st.sampled_from([0, 1, 1899, 1900, 2026, 2100, 2101, 9999]))
    day = f"{year:04d}-{draw(st.sampled_from(['01', '02', '12', '13']))}-{draw(st.sampled_from(['01', '28', '29', '30', '31']))}"
    time = draw(st.sampled_from(["00:00:00", "09:30:00", "23:59:59", "23:59:60", "24:00:00", "10:00", "25:00:00"]))
    fraction = draw(st.sampled_from(["", ".", ".1", ".123456", ".1234567", ".9999995", ",5"]))
    text = day + draw(st.sampled_from(["T", " ", "t", "_"])) + time + fraction + draw(st.sampled_from(ZONES))
    return draw(st.just(text) | st.just(text.replace("2", "٢")) | st.sampled_from(ODD))


def odd_or(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy | st.sampled_from(ODD)


ITEM = st.fixed_dictionaries(
    {"provider_ref": odd_or(TEXT), "channel": odd_or(st.sampled_from([*Channel, "CARD", "cheque"])),
     "amount_pence": odd_or(st.sampled_from([0, 1, 12500, 10**12, 10**12 + 1])), "paid_at": paid_at()},
    optional={"currency": odd_or(st.sampled_from(["GBP", "gbp", "EUR"])), "reference": odd_or(TEXT),
              "payer_name": odd_or(TEXT), "fee_pence": odd_or(st.sampled_from([0, 1, 12500, 12501, 10**12 + 1])),
              "payout_id": odd_or(st.sampled_from(["po_1", "po 1", "po_1\n", "x" * 101, "ü"])),
              "surprise": st.sampled_from(ODD), "lump": st.just("dd_collection"), "match_ref": st.just("E2E")})


def pydantic_reads(body: bytes, many: bool) -> list[PaymentIn]:
    """The push route's other path: orjson, then PaymentIn."""
    data = orjson.loads(body)
    return MANY.validate_python(data) if many else [ONE.validate_python(data)]


def same(fast: PushedPayment, slow: PaymentIn) -> None:
    """The same value of the same type in every field, written to JSON alike (the event's bytes)."""
    assert type(fast) is PushedPayment and fast.__struct_fields__ == tuple(PaymentIn.model_fields)
    for name in PaymentIn.model_fields:
        a, b = getattr(fast, name), getattr(slow, name)
        assert type(a) is type(b) and a == b and orjson.dumps(a) == orjson.dumps(b), name
        if isinstance(a, dt.datetime):
            assert a.utcoffset() == b.utcoffset(), name


def check(body: bytes, many: bool) -> list[PushedPayment] | None:
    fast = fast_push(body, many)
    if fast is not None:
        slow = pydantic_reads(body, many)  # raises if pydantic refuses what the fast path took
        assert len(fast) == len(slow)
        for a, b in zip(fast, slow):
            same(a, b)
    return fast


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(ITEM, min_size=1, max_size=3), ascii_only=st.booleans(), edit=st.sampled_from(
    ["none", "none", "duplicate", "surrogate", "nan", "bigint", "trailing"]))
def test_what_the_fast_path_takes_pydantic_takes_with_the_same_values(items, ascii_only, edit):
    text = json.dumps(items, ensure_ascii=ascii_only).encode()
    if edit == "duplicate":  # the same key twice: the later value counts
        text = text.replace(b'"amount_pence":', b'"amount_pence": 7, "amount_pence":', 1)
    elif edit == "surrogate":
        text = text.replace(b'"reference": "', b'"reference": "\\ud800', 1)
    elif edit in ("nan", "bigint"):
        text = text.replace(b'"amount_pence": ', b'"amount_pence": ' + (b"NaN" if edit == "nan" else b"1" * 30), 1)
    elif edit == "trailing":
        text += b" x"
    check(text, many=True)
    check(json.dumps(items[0], ensure_ascii=ascii_only).encode(), many=False)


PLAIN = st.fixed_dictionaries(
    {"provider_ref": st.text("abc-XYZ0189 é", min_size=1, max_size=100).filter(str.strip),
     "channel": st.sampled_from(list(Channel)), "amount_pence": st.integers(1, 10**12),
     "paid_at": st.datetimes(dt.datetime(1900, 1, 2), dt.datetime(2100, 12, 30), timezones=st.sampled_from(
         [dt.timezone.utc, dt.timezone(dt.timedelta(hours=1)), dt.timezone(dt.timedelta(hours=-5, minutes=-30))])
                            ).map(lambda d: d.isoformat().replace("+00:00", "Z"))},
    optional={"currency": st.just("GBP"), "reference": st.text("abc 0189/é", max_size=140),
              "payer_name": st.none() | st.text("abc Oé'-", max_size=140)})


@settings(max_examples=300, deadline=None)
@given(items=st.lists(PLAIN, min_size=1, max_size=5))
def test_a_plain_push_takes_the_fast_path(items):
    """What providers send (an ISO time with its offset, printable text) is read by msgspec alone."""
    assert check(orjson.dumps(items), many=True) is not None
    assert check(orjson.dumps(items[0]), many=False) is not None


@pytest.mark.parametrize("part", ["month", "day", "hour", "minute", "second", "fraction", "offset hours",
                                  "offset minutes"])
def test_every_value_of_each_part_of_paid_at(part):
    """Each two-digit part of paid_at through 00 to 99 (the offset's with either sign), and fractions of a
    second of one to eight digits, the other parts plain: the fast path takes some, never one pydantic
    refuses or reads otherwise."""
    forms = {"month": "2024-{}-29T10:20:30+01:00", "day": "2023-02-{}T10:20:30+01:00", "hour": "2026-10-07T{}:20:30Z",
             "minute": "2026-10-07T10:{}:30Z", "second": "2026-10-07T10:20:{}.5Z",
             "fraction": "2026-10-07T10:20:30.{}+01:00",
             "offset hours": "2026-10-07T10:20:30{}:00", "offset minutes": "2026-10-07T10:20:30{}"}
    values = [f"{n:02d}" for n in range(100)]
    if part == "fraction":  # one to eight digits
        values = [f"{n:0{k}d}"[:k] for k in range(1, 9) for n in (0, 1, 5, 10**k - 1, 10**(k - 1) * 5, 123456789)]
    if part.startswith("offset"):
        values = [sign + (v if part == "offset hours" else "01:" + v) for sign in "+-" for v in values]
    body = orjson.dumps([{**GOOD, "paid_at": forms[part].format(v)} for v in values])
    taken = [check(orjson.dumps({**GOOD, "paid_at": forms[part].format(v)}), many=False) for v in values]
    assert any(taken) and not all(taken)
    assert (check(body, many=True) is None) == (not all(taken))


# Each of PaymentIn's checks broken alone: the fast path leaves the body to pydantic, which refuses it
# (or, last group, takes it in a way the fast path does not mirror).
REFUSED = {
    "blank provider_ref": {"provider_ref": " \t "},
    "empty provider_ref": {"provider_ref": ""},
    "long provider_ref": {"provider_ref": "x" * 101},
    "long provider_ref of characters outside the BMP": {"provider_ref": "🏠" * 101},
    "NUL in provider_ref": {"provider_ref": "r\x001"},
    "control in reference": {"reference": "ref\x1b[31m"},
    "C1 control in payer_name": {"payer_name": "A\x85Tenant"},
    "DEL in payer_name": {"payer_name": "A\x7fTenant"},
    "long reference": {"reference": "r" * 141},
    "long payer_name": {"payer_name": "n" * 141},
    "unknown channel": {"channel": "cheque"},
    "zero amount": {"amount_pence": 0},
    "huge amount": {"amount_pence": 10**12 + 1},
    "fractional amount": {"amount_pence": 12.5},
    "amount as text": {"amount_pence": "12500"},
    "amount as bool": {"amount_pence": True},
    "other currency": {"currency": "EUR"},
    "naive paid_at": {"paid_at": "2026-04-06T09:30:00"},
    "paid_at a date": {"paid_at": "2026-04-06"},
    "paid_at in seconds": {"paid_at": 1775467800},
    "paid_at before 1900": {"paid_at": "1899-12-31T23:59:59Z"},
    "paid_at after 2100": {"paid_at": "2101-01-01T00:00:00+01:00"},
    "no such day": {"paid_at": "2026-02-30T09:30:00Z"},
    "no such hour": {"paid_at": "2026-04-06T25:30:00Z"},
    "lowercase t": {"paid_at": "2026-04-06t09:30:00Z"},
    "offset minutes past 59": {"paid_at": "2026-04-06T09:30:00+00:60"},
    "payout of a bank transfer": {"channel": "bank_transfer", "payout_id": "po_1"},
    "bad payout_id": {"payout_id": "po 1"},
    "payout_id with a final newline": {"payout_id": "po_1\n"},
    "fee of a bank transfer": {"channel": "bank_transfer", "fee_pence": 0},
    "fee over the amount": {"fee_pence": 12501},
    "negative fee": {"fee_pence": -1},
}
LEFT_TO_PYDANTIC = {  # accepted by PaymentIn, read by pydantic
    "unknown field": {"surprise": 1},
    "null reference": {"reference": None},
    "seven digits of a second": {"paid_at": "2026-04-06T09:30:00.1234567Z"},
    "offset without colon": {"paid_at": "2026-04-06T09:30:00+0100"},
    "no seconds": {"paid_at": "2026-04-06T09:30+01:00"},
}


@pytest.mark.parametrize("change", REFUSED.values(), ids=REFUSED.keys())
def test_each_check_broken_alone_is_left_to_pydantic_which_refuses_it(change):
    body = orjson.dumps([GOOD, {**GOOD, **change}])
    assert fast_push(body, many=True) is None
    with pytest.raises(ValidationError):
        pydantic_reads(body, many=True)
    assert fast_push(orjson.dumps({**GOOD, **change}), many=False) is None


@pytest.mark.parametrize("change", LEFT_TO_PYDANTIC.values(), ids=LEFT_TO_PYDANTIC.keys())
def test_what_the_fast_path_does_not_mirror_is_left_to_pydantic(change):
    body = orjson.dumps([GOOD, {**GOOD, **change}])
    assert fast_push(body, many=True) is None
    assert len(pydantic_reads(body, many=True)) == 2


def test_the_fast_path_takes_a_card_payments_payout_and_fee_and_every_edge_value():
    edges = [{**GOOD, "payout_id": "po_1-A", "fee_pence": 12500}, {**GOOD, "amount_pence": 10**12, "fee_pence": 0},
             {**GOOD, "provider_ref": " x ", "reference": "", "payer_name": None},
             {**GOOD, "paid_at": "1900-01-01 00:00:00.5+01:00"}, {**GOOD, "paid_at": "2100-12-31T23:59:59-05:30"},
             {**GOOD, "reference": "\ttabbed\r\n", "payer_name": "Zoë  🏠"},
             {**GOOD, "provider_ref": "🏠" * 100, "reference": "é" * 140, "payer_name": "\U000e0001" * 140}]
    fast = check(orjson.dumps(edges), many=True)
    assert fast is not None and fast[0].payout_id == "po_1-A" and fast[0].fee_pence == 12500


def test_a_fast_payment_makes_the_same_event_data_and_row_as_its_paymentin():
    body = orjson.dumps([{**GOOD, "payout_id": "po_1", "fee_pence": 10, "paid_at": "2026-04-06T09:30:00.25Z"}])
    [fast], [slow] = fast_push(body, many=True), pydantic_reads(body, many=True)
    pid, now = uuid.uuid4(), dt.datetime(2026, 4, 6, 9, 0, 1, tzinfo=dt.timezone.utc)
    data = [events.received_data(p, pid=pid, provider_id="bank", received_at=now, source="push", imp=None)
            for p in (fast, slow)]
    assert orjson.dumps(data[0]) == orjson.dumps(data[1]) and list(data[0]) == list(data[1])
    assert events.optional_field(fast, "lump") is None and events.optional_field(fast, "match_ref") is None


def _validators(node: Any) -> list[str]:
    """The validator functions and own schema classes in an annotation or field, however deep, by name."""
    found = []
    for part in [*getattr(node, "metadata", ()), *typing.get_args(getattr(node, "annotation", node))]:
        func = getattr(part, "func", None)
        if func is not None:
            found.append(f"{type(part).__name__}:{func.__name__}")
        elif hasattr(part, "__get_pydantic_core_schema__") and not isinstance(part, type):
            found.append(type(part).__name__)
        else:
            found += _validators(part)
    return found


def test_paymentin_is_what_fast_push_mirrors():
    """PaymentIn changed (a field, a constraint, a validator): mirror it in fast_push, then update this."""
    assert {name: _validators(f) for name, f in PaymentIn.model_fields.items()} == {
        "provider_ref": ["AfterValidator:_not_blank", "AfterValidator:no_nul"], "channel": [], "amount_pence": [],
        "currency": [], "paid_at": ["_IsoDatetimeForm", "AfterValidator:in_years"],
        "reference": ["BeforeValidator:<lambda>", "AfterValidator:no_nul"], "payer_name": ["AfterValidator:no_nul"],
        "payout_id": [], "fee_pence": []}
    decorators = PaymentIn.__pydantic_decorators__
    assert list(decorators.model_validators) == ["_payout_of_card_money"]
    assert not (decorators.validators or decorators.field_validators or decorators.root_validators)
    # types, constraints, patterns and defaults (descriptions and titles aside), by their digest
    assert hashlib.sha256(orjson.dumps(_bare(PaymentIn.model_json_schema()), option=orjson.OPT_SORT_KEYS)).hexdigest(
    ) == "98d7edf5ae74ab123732b84dedc4e81516ea0b059c749dcaf0e47fc58260e1b6"


def _bare(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _bare(v) for k, v in schema.items() if k not in ("description", "title")}
    return [_bare(v) for v in schema] if isinstance(schema, list) else schema
