"""The one way an event is written: a registered model, its envelope, its key and its derived
id, serialised once. Handlers call `uow.emit(event, cause=...)`; this module does the rest.

Messages reach handlers as `Msg(data, cause)`: the event's data (a validated model of its
topic) and what a handler needs to know of the event that carried it (its id and correlation
id), never the transport's topic, partition or offset."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from functools import partial
from typing import Any, Callable, Generic, Iterable, NamedTuple, TypeVar

import orjson
from pydantic import BaseModel

from rentflow_schemas import event_id_of, spec_of
from rentflow_schemas.envelope import derive_id_binary
from rentflow_schemas.registry import BY_MODEL

T = TypeVar("T")
UTC = dt.timezone.utc


class Cause(NamedTuple):
    """What caused a change: the event that carried it (None for a command from a person or a
    provider) and the correlation id of the request or file that started the chain. A tuple, like
    Msg: both are made per message consumed, and a frozen dataclass cost four times as much."""
    event_id: uuid.UUID | None
    correlation_id: str


class Msg(NamedTuple, Generic[T]):
    """An event as a handler receives it: its data, its cause and when it happened."""
    data: T
    cause: Cause
    occurred_at: dt.datetime


class OutboxRow(NamedTuple):  # a tuple: made once per event emitted, three times cheaper than a frozen dataclass
    topic: str
    key: str | None
    payload: bytes
    headers: dict[str, str]
    event_id: uuid.UUID | None = None


M = TypeVar("M", bound=BaseModel)
_new = object.__new__
_set = object.__setattr__
_row = tuple.__new__  # an OutboxRow without its __new__'s keyword handling (a Python call per event)


def trusted(model: type[M], **values: Any) -> M:
    """An event model from values that are already of its fields' types (a handler's own domain
    values: a posting it has just computed), built without validating them a second time — about
    a third of what emitting a posting cost. Every field is given; the unit tests validate what
    each such emit writes against the schema."""
    if len(values) != len(model.__pydantic_fields__):
        raise TypeError(f"{model.__name__}: every field is given to trusted(), got {sorted(values)}")
    m = _new(model)
    _set(m, "__dict__", values)
    _set(m, "__pydantic_fields_set__", set(values))
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m


def instant(at: dt.datetime) -> orjson.Fragment:
    """`at` as an event writes it, serialised once for the many events of a batch that carry it (a posting
    carries its time twice): orjson formats a datetime anew each time it meets one. The same bytes."""
    return orjson.Fragment(orjson.dumps(at))


def uuid_text(value: uuid.UUID) -> str:
    """str(value), written by orjson in C: a third of uuid.UUID.__str__'s cost, and an id's text is
    made per payment posted. (An emitted event's id header is cut from its payload: cheaper still.)"""
    return orjson.dumps(value)[1:-1].decode() if value.__class__ is uuid.UUID else str(value)


_EVENT_ID = slice(13, 49)  # an encoded envelope's event id text: its first field, b'{"event_id":"<36>"'


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):  # nested models (journal lines)
        return _fields(value)
    if isinstance(value, uuid.UUID):  # subclasses (asyncpg's) that orjson does not take as UUIDs
        return str(value)
    if isinstance(value, Decimal):  # a number that keeps its decimals: 12.30, not 12.3 or "12.30"
        if not value.is_finite():
            raise ValueError(f"cannot serialise {value} as a JSON number")
        return orjson.Fragment(format(value, "f"))
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _fields(model: BaseModel) -> dict[str, Any]:
    extra = model.__pydantic_extra__
    return {**model.__dict__, **extra} if extra else model.__dict__


def encode(event: BaseModel, *, producer: str, correlation_id: str, causation_id: uuid.UUID | None = None,
           identity: tuple[object, ...] | None = None, key: str | None = None,
           occurred_at: dt.datetime | None = None) -> OutboxRow:
    """The outbox row of an event: topic, key and id from the registry (`identity` when the
    topic's spec does not say what makes its events the same), the envelope around the data.

    The data was validated when the model was built; it is serialised from its fields with orjson
    (pydantic's serialiser costs about four times as much, and the unit tests check both give
    JSON that decodes to the same event)."""
    spec = BY_MODEL.get(type(event)) or spec_of(event)
    if identity is None:
        if spec.identity_of is None:
            raise TypeError(f"{spec.name} events need an identity: pass identity=(...) to emit()")
        identity = spec.identity_of(event)
    event_id = event_id_of(spec, *identity)
    envelope = {
        "event_id": event_id, "event_type": spec.event_type, "schema_version": 1,
        "occurred_at": occurred_at or dt.datetime.now(UTC), "correlation_id": correlation_id,
        "causation_id": causation_id, "producer": producer, "data": _fields(event),
    }
    payload = orjson.dumps(envelope, default=_default)
    return OutboxRow(spec.name, key if key is not None else spec.key_of(event), payload,
                     {"event_id": payload[_EVENT_ID].decode(), "event_type": spec.event_type,
                      "correlation_id": correlation_id}, event_id)


class Emitter:
    """What every unit of work shares, in memory or on PostgreSQL: `emit()` and the rows emitted
    so far in this unit of work (written to the outbox at commit)."""

    producer: str
    correlation_id: str

    def __init__(self, producer: str, correlation_id: str | None = None) -> None:
        self.producer = producer
        self.correlation_id = correlation_id or str(uuid.uuid4())
        self.emitted: list[OutboxRow] = []

    def emit(self, event: BaseModel, *, cause: Cause | None = None, identity: tuple[object, ...] | None = None,
             key: str | None = None, occurred_at: dt.datetime | None = None) -> uuid.UUID:
        """Adds the event to what this unit of work publishes when it commits; returns its id."""
        row = encode(event, producer=self.producer,
                     correlation_id=cause.correlation_id if cause else self.correlation_id,
                     causation_id=cause.event_id if cause else None, identity=identity, key=key,
                     occurred_at=occurred_at)
        self.emitted.append(row)
        return row.event_id  # type: ignore[return-value]

    def emit_data(self, model: type[BaseModel], data: dict[str, Any], *, identity: tuple[object, ...], key: str,
                  cause: Cause | None, occurred_at: dt.datetime, once: bool = False) -> uuid.UUID:
        """`emit` for the hot path (what a handler emits per posting or payment): the event's data as
        a plain dict (every field of `model`, in its order, each value already of its field's type: a
        posting the handler has just computed), its identity and key given by the caller, so no model
        is built and read back (a third of the cost), and the row made here, not by a further call.
        The row is byte for byte the one `emit(trusted(model, **data))` writes (unit-tested, with
        the payload validated by the schema).

        `once`: the caller's own state makes this event unique — it is emitted only in the transaction
        that first records what it is about (intake's PaymentReceived with its payments row, the ledger's
        TransactionPosted with its transactions row) — so
        the row leaves outbox_events.event_id null: the relay's duplicate check neither indexes nor
        probes it (an index entry and a probe per event). The id is still in the envelope and headers."""
        spec = BY_MODEL[model]
        return _emit(self, spec.name, spec.event_type, spec.id_prefix, once, data, identity, key, cause, occurred_at)

    def emitter(self, model: type[BaseModel], *, once: bool = False) -> Callable[
            [dict[str, Any], tuple[object, ...], str, Cause | None, Any], uuid.UUID]:
        """`emit_data` for `model` as a function of (data, identity, key, cause, occurred_at), for a handler
        emitting many events of one topic (a batch's postings): the topic's spec, id prefix and event type
        looked up once, and the arguments positional. A time many events share can be given as its
        `instant`, serialised once."""
        spec = BY_MODEL[model]
        return partial(_emit, self, spec.name, spec.event_type, spec.id_prefix, once)


    def deferred_many(self, model: type[BaseModel], field: str, *, once: bool = False) -> Callable[
            [Iterable[tuple[dict[str, Any], tuple[object, ...], str, Cause | None]], Any], "list[Deferred]"]:
        """`emitter` for a batch of events whose one integer `field` is known only later (postings' balances,
        known once their accounts are locked): a function of (items, occurred_at), each item (data,
        identity, key, cause), returning each event's Deferred in order, made in one loop — id, envelope,
        headers, all but the value — for `complete` to add its row with the value (`data[field]` is
        overwritten meanwhile). The same rows `emitter` makes, byte for byte (unit-tested)."""
        spec = BY_MODEL[model]
        return partial(_defer_many, self, spec.name, spec.event_type, spec.id_prefix, once, field)

    def complete(self, deferred: "Deferred", value: int) -> None:
        """Adds the row of a `deferred` event, its field's value now given, to what was emitted."""
        topic, key, head, tail, headers, event_id = deferred
        self.emitted.append(_row(OutboxRow, (topic, key, b"%b%d%b" % (head, value, tail), headers, event_id)))


class Deferred(NamedTuple):
    """A `deferred` event's row but for one integer: its payload on either side of the value."""
    topic: str
    key: str
    head: bytes
    tail: bytes
    headers: dict[str, str]
    event_id: uuid.UUID | None


_HOLE = -7_777_777_777_777_777_777  # in place of a deferred value while the payload is serialised
_HOLE_TEXT = b"%d" % _HOLE
_HOLE_DIGITS = len(_HOLE_TEXT)


def _defer_many(emitter: Emitter, topic: str, event_type: str, id_prefix: bytes, once: bool, field: str,
                items: Iterable[tuple[dict[str, Any], tuple[object, ...], str, Cause | None]],
                occurred_at: Any) -> list[Deferred]:
    """Each item's Deferred, in one loop: what the events share (producer, event type, the field's
    place holder) looked up once."""
    hole_at = b'"%b":%b' % (field.encode(), _HOLE_TEXT)
    label = hole_at[:-_HOLE_DIGITS]
    own_correlation, producer, dumps, derive = emitter.correlation_id, emitter.producer, orjson.dumps, derive_id_binary
    made = []
    for data, identity, key, cause in items:
        event_id = derive(id_prefix, identity)
        correlation_id = cause.correlation_id if cause else own_correlation
        data[field] = _HOLE
        payload = dumps({
            "event_id": event_id, "event_type": event_type, "schema_version": 1, "occurred_at": occurred_at,
            "correlation_id": correlation_id, "causation_id": cause.event_id if cause else None,
            "producer": producer, "data": data,
        }, default=_default)
        head, hole, tail = payload.partition(hole_at)
        if not hole:
            raise ValueError(f"{field} is not a field of the event's data")
        made.append(_row(Deferred, (topic, key, head + label, tail, {
            "event_id": payload[_EVENT_ID].decode(), "event_type": event_type, "correlation_id": correlation_id,
        }, None if once else event_id)))
    return made



def _emit(emitter: Emitter, topic: str, event_type: str, id_prefix: bytes, once: bool, data: dict[str, Any],
          identity: tuple[object, ...], key: str, cause: Cause | None, occurred_at: Any) -> uuid.UUID:
    """`Emitter.emit_data`'s row (its id `event_id_of`'s), added to what `emitter` emitted; returns the id."""
    event_id = derive_id_binary(id_prefix, identity)
    correlation_id = cause.correlation_id if cause else emitter.correlation_id
    payload = orjson.dumps({
        "event_id": event_id, "event_type": event_type, "schema_version": 1, "occurred_at": occurred_at,
        "correlation_id": correlation_id, "causation_id": cause.event_id if cause else None,
        "producer": emitter.producer, "data": data,
    }, default=_default)
    emitter.emitted.append(_row(OutboxRow, (topic, key, payload, {
        "event_id": payload[_EVENT_ID].decode(), "event_type": event_type, "correlation_id": correlation_id,
    }, None if once else event_id)))
    return event_id
