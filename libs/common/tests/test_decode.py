"""What `BatchConsumer.decode` makes of fetched records: records built by the real emit path
(Emitter.emit_data) with the relay's headers, decoded without a broker or a database."""
from __future__ import annotations

import datetime as dt
import logging
import uuid

import orjson
from aiokafka.structs import ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker

from rentflow_common.consumer import BatchConsumer, _sequence, envelope_reader
from rentflow_common.events import Cause, Emitter
from rentflow_common.progress import SeqSet, StreamKey
from rentflow_schemas import Envelope
from rentflow_schemas.ledger import TransactionPosted

UTC = dt.timezone.utc
TOPIC = "ledger.transactions.v1"
EPOCH = b"6d1c3f0e-5b7a-4c2e-9a51-2f0e8c1d7b44"


def postings(n: int, start: int = 0) -> list[bytes]:
    e = Emitter("ledger")
    for i in range(start, start + n):
        tid = uuid.uuid5(uuid.NAMESPACE_OID, str(i))
        at = dt.datetime(2026, 10, 7, 10, i % 60, tzinfo=UTC)
        e.emit_data(TransactionPosted, {
            "transaction_id": tid, "account_ref": f"ACC{i:04d}", "type_code": "RCP", "amount_pence": -1000 - i,
            "balance_after_pence": 500 - i, "posted_at": at, "business_date": dt.date(2026, 10, 7),
            "period": "2026-10", "source_ref": f"p:{i}", "channel": "card", "payment_id": None,
            "allocation_rule": "exact_reference", "week_start": None},
            identity=(tid,), key=f"ACC{i:04d}", cause=Cause(None, f"corr-{i}"), occurred_at=at)
    return [row.payload for row in e.emitted]


def record(value: bytes, offset: int, *, partition: int = 0, stream: bytes = b"3", seq: int | None = None,
           prefix: str = "", headers: tuple | None = None) -> ConsumerRecord:
    if headers is None:
        headers = (("event_type", b"ledger.transactions"), ("rf-epoch", EPOCH), ("rf-stream", stream),
                   ("rf-seq", b"%d" % (offset if seq is None else seq)))
    return ConsumerRecord(prefix + TOPIC, partition, offset, 0, 0, b"ACC", value, None, 3, len(value), headers)


def consumer(prefix: str = "") -> BatchConsumer:
    async def handle(uow, msgs):  # pragma: no cover - never called
        pass

    return BatchConsumer(KafkaBroker("localhost:1", log_level=logging.WARNING), None,  # type: ignore[arg-type]
                         group_id="g", handlers={TOPIC: handle}, topic_prefix=prefix)


def test_records_decode_to_the_topics_model_with_their_stream_number_and_cause():
    values = postings(4)
    recs = [record(v, 10 + i, partition=i // 2, seq=100 + i, prefix="pfx.") for i, v in enumerate(values)]
    d = consumer("pfx.").decode(recs)
    assert not d.bad and d.skipped == 0
    assert [(i.topic, i.partition, i.offset, i.key, i.seq) for i in d.good] == [
        (TOPIC, 0, 10, "ACC", 100), (TOPIC, 0, 11, "ACC", 101), (TOPIC, 1, 12, "ACC", 102), (TOPIC, 1, 13, "ACC", 103)]
    assert {i.stream for i in d.good} == {StreamKey(TOPIC, EPOCH.decode(), 3)}
    assert d.next_offsets == {TopicPartition("pfx." + TOPIC, 0): 12, TopicPartition("pfx." + TOPIC, 1): 14}
    for item, value in zip(d.good, values):
        env = Envelope[TransactionPosted].model_validate_json(value)
        assert type(item.msg.data) is TransactionPosted and item.msg.data == env.data
        assert item.event_id == env.event_id and item.msg.cause == Cause(env.event_id, env.correlation_id)
        assert item.msg.occurred_at == env.occurred_at


def test_a_stream_number_already_seen_is_skipped_undecoded_and_other_streams_are_not():
    c = consumer()
    key = StreamKey(TOPIC, EPOCH.decode(), 3)
    c._seen[key] = SeqSet([0, 2, 5, 6])  # 0, 1 and 5 seen
    values = postings(7)
    recs = [record(v, i) for i, v in enumerate(values)] + [record(values[0], 7, stream=b"4", seq=0)]
    d = c.decode(recs)
    assert [(i.stream.stream, i.seq) for i in d.good] == [(3, 2), (3, 3), (3, 4), (3, 6), (4, 0)]
    assert d.skipped == 3 and d.next_offsets == {TopicPartition(TOPIC, 0): 8}


def test_records_without_the_relays_headers_decode_without_a_stream():
    values = postings(3)
    recs = [record(values[0], 0, headers=()), record(values[1], 1, headers=(("rf-seq", b"1"),)),
            record(values[2], 2, headers=(("rf-seq", b"x"), ("rf-epoch", EPOCH), ("rf-stream", b"3")))]
    d = consumer().decode(recs)
    assert [(i.stream, i.seq) for i in d.good] == [(None, 0), (None, 0), (None, 0)] and not d.bad


def test_envelope_fields_no_handler_reads_are_not_checked_but_those_read_and_the_data_are():
    value = orjson.loads(postings(1)[0])
    unread = {**value, "producer": 7, "schema_version": 0, "causation_id": "not an id", "event_type": None}
    unknown = {**value, "someday": "a field added later"}
    bad = {2: ({k: v for k, v in value.items() if k != "occurred_at"}, "occurred_at: Field required"),
           3: ({**value, "event_id": "nope"}, "event_id: Input should be a valid UUID"),
           4: ({**value, "data": {**value["data"], "period": "2026-1"}}, "data.period: String should match pattern"),
           5: ({**value, "data": {**value["data"], "surprise": 1}}, "data.surprise: Extra inputs are not permitted")}
    d = consumer().decode([record(orjson.dumps(v), i) for i, v in
                           enumerate([unread, unknown] + [v for v, _ in bad.values()])])
    assert [i.offset for i in d.good] == [0, 1]
    reasons = {r.offset: reason for r, reason in d.bad}
    assert sorted(reasons) == sorted(bad)
    for offset, (_, named) in bad.items():  # the dead letter's reason names the field
        assert reasons[offset].startswith(f"undecodable {TOPIC} message: ValidationError: ")
        assert named in reasons[offset]
    not_json = consumer().decode([record(b"{not json", 0)])
    assert not not_json.good and "undecodable" in not_json.bad[0][1] and "Invalid JSON" in not_json.bad[0][1]


def test_the_reader_is_the_envelope_with_only_the_fields_a_consumer_hands_on():
    reader = envelope_reader(TransactionPosted).core_schema
    envelope = Envelope[TransactionPosted]
    model = reader["cls"] if reader["type"] == "model" else reader["schema"]["cls"]
    assert set(model.model_fields) == {"event_id", "occurred_at", "correlation_id", "data"}
    for name, field in model.model_fields.items():
        assert field.annotation == envelope.model_fields[name].annotation
    assert model.model_config["frozen"] and model.model_config["extra"] == "ignore"


def test_each_record_gets_its_own_stream_whatever_came_before_it_in_the_run():
    """Records matching the last stream's headers take its key unparsed: a record between them of
    another stream, in another header order, or with a garbled number must not lend them its own."""
    values = postings(7)
    relay = lambda stream, seq: (("rf-epoch", EPOCH), ("rf-stream", stream), ("rf-seq", seq))  # noqa: E731
    headers = [relay(b"3", b"1"), relay(b"3", b"2"), tuple(reversed(relay(b"4", b"1"))), relay(b"3", b"3"),
               relay(b"3", b"x"), relay(b"3", b"-4"), relay(b"3", b"5")]
    c = consumer()
    c._seen[StreamKey(TOPIC, EPOCH.decode(), 3)] = SeqSet([1, 2])
    d = c.decode([record(v, i, headers=h) for i, (v, h) in enumerate(zip(values, headers))])
    assert [(i.offset, i.stream.stream if i.stream else None, i.seq) for i in d.good] == [
        (1, 3, 2), (2, 4, 1), (3, 3, 3), (4, None, 0), (5, 3, -4), (6, 3, 5)]
    assert d.skipped == 1
    for i in d.good:  # as the headers alone say
        assert (i.stream, i.seq) == _sequence(TOPIC, i.record.headers)


def test_a_key_that_is_not_utf8_decodes_with_replacement_characters_instead_of_failing_the_fetch():
    value = postings(1)[0]
    good = record(value, 0)
    bad_key = ConsumerRecord(TOPIC, 0, 1, 0, 0, b"\xffACC", value, None, 4, len(value), record(value, 1).headers)
    d = consumer().decode([good, bad_key])
    assert [i.key for i in d.good] == ["ACC", "\ufffdACC"] and not d.bad
