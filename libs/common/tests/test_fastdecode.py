"""The msgspec fast path never decides on its own: over every topic, what it accepts pydantic accepts
with the same values and types, and what pydantic rejects the consumer rejects with pydantic's reason.
Events are generated from the models (valid ones, then mutated) and decoded by two consumers of the
topic: one with the fast path, one with pydantic alone."""
from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import types
import typing
import uuid
from functools import cache
from typing import Any, Literal, Union

import pytest
from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker
from hypothesis import HealthCheck, find, given, settings, strategies as st
from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from rentflow_common.consumer import BatchConsumer, envelope_model, envelope_reader
from rentflow_common.fastdecode import fast_decoder, model_of, struct_of, why_not
from rentflow_schemas.registry import TOPICS

UNCONVERTED = {"gl.journals.v1": "model_validators", "reporting.kpi-snapshots.v1": "extra='allow'",
               "audit.v1": "typing.Any"}

# Values pydantic or msgspec might read differently: each is tried in place of a field's own.
ODD: list[Any] = [
    None, True, False, 0, -1, 1.0, 1.5, "1", "", " ", "true", [], {}, [1], {"a": 1},
    2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -2**63 - 1, 10**30,
    "2026-10", "2026-10\n", "\n2026-10", "٢٠٢٦-١٠", "2026-1", "20261-10",
    "2026-10-07", "2026-10-07T10:00:00", "2026-10-07T10:00:00Z", "2026-10-07T10:00:00+01:00",
    "2026-10-07 10:00:00Z", "2026-10-07t10:00:00z", "2026-10-07T10:00:00.1234567Z", "2026-10-07T10:00:00.123Z",
    "2026-10-07T10:00:00.123456789+01:00", "2026-10-07T10:00:00.9999995Z", "2026-10-07T10:00:00,123Z",
    "2026-10-07T10:00:00.Z", "+02026-10-07", "2026-10-07T10:00:00+01:00:30", "\u0000", "a\u2028b", "\ufeff1",
    "2026-10-07T23:59:60Z", "2026-10-07T10:00Z", "2026-10-07T10:00:00-00:00", "2026-10-07T10:00:00+24:00",
    "2026-10-07T10:00:00+01", "2026-10-07T10:00:00+0100", "2026-02-30", "0000-01-01", "2026-10-07Z", 1760000000,
    "d0a7d40f-a027-569a-b7b8-fff31f24d93f", "D0A7D40F-A027-569A-B7B8-FFF31F24D93F", "d0a7d40fa027569ab7b8fff31f24d93f",
    "{d0a7d40f-a027-569a-b7b8-fff31f24d93f}", "urn:uuid:d0a7d40f-a027-569a-b7b8-fff31f24d93f", "abcdefghijklmnop",
    "card", "CARD", "card ", "GBP", "gbp", "RCP", "opened", "zzz", "x" * 100, "x" * 101, "🏠" * 100, "🏠" * 101,
]


# ---------------------------------------------------------------- valid events from the models

def _constraints(metadata: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in metadata:
        if isinstance(c, FieldInfo):
            out.update(_constraints(c.metadata))
        for key in ("gt", "ge", "lt", "le", "min_length", "max_length", "pattern"):
            if hasattr(c, key) and not isinstance(c, FieldInfo):
                out[key] = getattr(c, key)
    return out


def values(annotation: Any, metadata: list[Any] = (), valid: bool = False) -> st.SearchStrategy[Any]:
    """JSON values for the annotation: `valid`, only what pydantic accepts as it is (what producers
    send); otherwise also some it refuses (naive times, huge numbers, digits of other scripts, a
    final newline after a pattern)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return values(base, [*extra, *metadata], valid)
    if origin in (Union, types.UnionType):
        return st.one_of(*[st.none() if a is type(None) else values(a, metadata, valid)
                            for a in typing.get_args(annotation)])
    c = _constraints(list(metadata))
    if annotation is str:
        if "pattern" in c:
            if valid:
                return st.from_regex(c["pattern"].lstrip("^").rstrip("$"), fullmatch=True, alphabet="0123456789-")
            return st.from_regex(c["pattern"])
        return st.text(min_size=c.get("min_length", 0), max_size=c.get("max_length", 30))
    if annotation is int:
        lo = c["gt"] + 1 if "gt" in c else c.get("ge")
        hi = c["lt"] - 1 if "lt" in c else c.get("le")
        if valid:
            return st.integers(-2**62 if lo is None else lo, 2**62 if hi is None else hi)
        return st.integers(lo, hi) | st.sampled_from([v for v in (2**63, 2**64, 10**30) if lo is None or v >= lo])
    if annotation is bool:
        return st.booleans()
    if annotation is uuid.UUID:
        return st.uuids().map(str) | st.uuids().map(lambda u: u.hex.upper())
    if annotation is AwareDatetime or annotation is dt.datetime:
        zones = st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=1)),
                                 dt.timezone(dt.timedelta(hours=-5, minutes=-30))])
        aware = st.datetimes(timezones=zones).map(lambda d: d.isoformat())
        aware = aware | aware.map(lambda s: s.replace("+00:00", "Z"))
        if valid:
            return aware
        long_fraction = st.tuples(st.datetimes(timezones=zones), st.text("0123456789", min_size=7, max_size=10)).map(
            lambda t: t[0].replace(microsecond=0).isoformat().replace("+", f".{t[1]}+"))
        return aware | long_fraction | st.datetimes().map(lambda d: d.isoformat())
    if annotation is dt.date:
        return st.dates().map(lambda d: d.isoformat())
    if origin is Literal:
        return st.sampled_from(typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from([m.value for m in annotation])
    if origin is list:
        (item,) = typing.get_args(annotation)
        least = c.get("min_length", 0)
        return st.lists(values(item, valid=valid), min_size=least, max_size=max(least, 3))
    if origin is dict:
        _, value = typing.get_args(annotation)
        return st.dictionaries(st.text(max_size=5), values(value, valid=valid), max_size=3)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return objects(annotation, valid)
    if annotation is Any:
        return st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                            lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner,
                                                                                          max_size=2), max_leaves=4)
    return st.just(None)  # a type the generator does not know: pydantic mostly refuses it, which is tested too


@cache
def objects(model: type[BaseModel], valid: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    required, optional = {}, {}
    for name, f in model.model_fields.items():
        strategy = values(f.annotation, f.metadata, valid)
        if f.default is PydanticUndefined and f.default_factory is None:
            required[name] = strategy
        else:
            optional[name] = strategy
    return st.fixed_dictionaries(required, optional=optional)


def envelopes(model: type[BaseModel], valid: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "event_id": values(uuid.UUID), "event_type": st.just("x.y"), "schema_version": st.just(1),
        "occurred_at": values(AwareDatetime, valid=valid), "correlation_id": st.text(max_size=10),
        "causation_id": st.none() | values(uuid.UUID), "producer": st.just("p"), "data": objects(model, valid)})


@st.composite
def mutated(draw: st.DrawFn, model: type[BaseModel]) -> bytes:
    """A valid envelope with one thing changed (or none): a field's value replaced, a field removed or
    added, in the envelope or its data; or the JSON text itself changed."""
    env = draw(envelopes(model))
    target = draw(st.sampled_from([env, env["data"]]))
    how = draw(st.sampled_from(["none", "replace", "replace", "replace", "drop", "add", "text"]))
    name = draw(st.sampled_from(sorted(target)))
    if how == "replace":
        target[name] = draw(st.sampled_from(ODD) | st.integers() | st.text(max_size=8) | st.floats())
    elif how == "drop":
        del target[name]
    elif how == "add":
        target[draw(st.sampled_from(["surprise", name + "_"]))] = draw(st.sampled_from(ODD))
    text = json.dumps(env, ensure_ascii=draw(st.booleans())).encode()  # huge ints and NaN too
    if how == "text":
        edit = draw(st.sampled_from(["duplicate", "surrogate", "control", "trailing", "nan", "bigexp"]))
        key = f'"{name}":'.encode()
        at_key = text.find(key)
        if edit == "duplicate" and at_key >= 0:  # the same key twice: the later value counts
            text = text[:at_key] + key + b'"dup",' + text[at_key:]
        elif edit == "surrogate" and at_key >= 0:
            text = text[:at_key] + key + b'"\\ud800",' + text[at_key:]
        elif edit == "control" and at_key >= 0:
            text = text[:at_key] + key + b'"a\nb",' + text[at_key:]
        elif edit == "trailing":
            text += draw(st.sampled_from([b"\n", b" x", b"{}", b"\x00"]))
        elif edit in ("nan", "bigexp") and at_key >= 0:
            text = text[:at_key] + key + (b"NaN," if edit == "nan" else b"1e400,") + text[at_key:]
    return text


# ---------------------------------------------------------------- the two decode paths

def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


@cache
def consumers(topic: str) -> tuple[BatchConsumer, BatchConsumer]:
    async def handle(uow, msgs):  # pragma: no cover - never called
        pass

    def make(fast: tuple[str, ...]) -> BatchConsumer:
        return BatchConsumer(KafkaBroker("localhost:1", log_level=logging.WARNING), None,  # type: ignore[arg-type]
                             group_id="g", handlers={topic: handle}, fast=fast)
    return make((topic,)), make(())


def same(fast: Any, slow: Any, where: str = "") -> None:
    """Equal values of the same types, a Struct field by field against its model."""
    if isinstance(slow, BaseModel) and isinstance(fast, BaseModel):  # a topic left on pydantic
        assert type(fast) is type(slow) and fast == slow, where
    elif isinstance(slow, BaseModel):
        assert model_of(type(fast)) is type(slow), where
        assert fast.__struct_fields__ == tuple(type(slow).model_fields), where
        for name in type(slow).model_fields:
            same(getattr(fast, name), getattr(slow, name), f"{where}.{name}")
    elif isinstance(slow, list):
        assert type(fast) is list and len(fast) == len(slow), where
        for i, (a, b) in enumerate(zip(fast, slow)):
            same(a, b, f"{where}[{i}]")
    elif isinstance(slow, dict):
        assert type(fast) is dict and list(fast) == list(slow), where
        for k in slow:
            same(fast[k], slow[k], f"{where}[{k!r}]")
    else:
        assert type(fast) is type(slow) and fast == slow, (where, fast, slow)
        if isinstance(slow, dt.datetime):
            assert fast.utcoffset() == slow.utcoffset() and fast.isoformat() == slow.isoformat(), where


def record(value: bytes, topic: str) -> ConsumerRecord:
    return ConsumerRecord(topic, 0, 0, 0, 0, b"k", value, None, 1, len(value), ())


def check(topic: str, value: bytes) -> str:
    """Both paths on one message: what the fast path decides, pydantic would have."""
    fast, slow = consumers(topic)
    direct = fast_decoder(envelope_model(TOPICS[topic].model))
    try:
        accepted = direct(value)
    except Exception:  # noqa: BLE001
        accepted = None
    a, b = fast.decode([record(value, topic)]), slow.decode([record(value, topic)])
    assert [reason for _, reason in a.bad] == [reason for _, reason in b.bad]  # pydantic's reason, unchanged
    assert len(a.good) == len(b.good)
    if accepted is not None:
        assert b.good, f"fast path accepted what pydantic rejects: {value!r}: {b.bad}"
        same(accepted, envelope_reader(TOPICS[topic].model).validate_json(value), "envelope")
    if a.good:
        x, y = a.good[0], b.good[0]
        assert (x.event_id, x.msg.cause, x.msg.occurred_at) == (y.event_id, y.msg.cause, y.msg.occurred_at)
        same(x.msg.data, y.msg.data, "data")
    return "fast" if accepted is not None else ("pydantic" if b.good else "rejected")


# ---------------------------------------------------------------- tests

def test_which_topics_convert_and_why_the_others_do_not():
    for topic, spec in TOPICS.items():
        reason = why_not(spec.model)
        if topic in UNCONVERTED:
            assert reason is not None and UNCONVERTED[topic] in reason, (topic, reason)
            assert fast_decoder(envelope_model(spec.model)) is None
            assert consumers(topic)[0].fast_topics == frozenset()
        else:
            assert reason is None and struct_of(spec.model) is not None, (topic, reason)
            assert consumers(topic)[0].fast_topics == {topic}
        assert consumers(topic)[1].fast_topics == frozenset()


@pytest.mark.parametrize("topic", sorted(TOPICS))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_valid_events_of_each_convertible_topic_are_decoded_by_the_fast_path(topic, data):
    value = dumps(data.draw(envelopes(TOPICS[topic].model, valid=True)))
    outcome = check(topic, value)
    assert outcome != "fast" if topic in UNCONVERTED else outcome == "fast"  # (a journal may not balance)


@pytest.mark.parametrize("topic", sorted(TOPICS))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_fast_path_accepts_only_what_pydantic_accepts_and_as_pydantic_reads_it(topic, data):
    check(topic, data.draw(mutated(TOPICS[topic].model)))


@cache
def smallest(topic: str) -> bytes:
    return dumps(find(envelopes(TOPICS[topic].model, valid=True), lambda e: True))


@pytest.mark.parametrize("value", ODD, ids=repr)
def test_each_odd_value_in_each_field_of_each_topic(value):
    """Every odd value in every field (envelope and data) of a minimal valid event of each topic."""
    for topic, spec in TOPICS.items():
        env = json.loads(smallest(topic))
        for target in (env, env["data"]):
            for name in list(spec.model.model_fields) if target is env["data"] else list(env):
                original = target.get(name, PydanticUndefined)
                target[name] = value
                check(topic, dumps(env))
                if original is PydanticUndefined:
                    del target[name]
                else:
                    target[name] = original
