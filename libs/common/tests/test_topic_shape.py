"""`rentflow wait`'s lag check refuses to pass over a topic the broker lists with fewer partitions than
the stack publishes to (the embedded broker, restarted empty, can remake a topic a client asked for
first, with its own count): what lands in the others is read by no consumer and counted by no lag.
`rentflow up` makes such a topic again (reshape_topics)."""
from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata
from rentflow_common.kafka import TopicsMisshapen, ensure_topics, partition_lag, reshape_topics


async def test_a_topic_with_fewer_partitions_than_the_stack_is_named(infra, topic_prefix):
    bootstrap = infra.kafka_bootstrap_servers
    await ensure_topics(bootstrap, 1, ["ledger.transactions.v1"], prefix=topic_prefix)
    await ensure_topics(bootstrap, 3, ["ledger.suspense.v1"], prefix=topic_prefix)
    groups = {"reporting": ["ledger.transactions.v1", "ledger.suspense.v1"]}

    with pytest.raises(TopicsMisshapen) as raised:
        await partition_lag(bootstrap, groups, prefix=topic_prefix, partitions=3)
    assert "ledger.transactions.v1 (1)" in str(raised.value)
    assert "suspense" not in str(raised.value)

    rows = await partition_lag(bootstrap, groups, prefix=topic_prefix)  # not asked: as before
    assert sorted((r.topic, r.partition) for r in rows) == [
        ("ledger.suspense.v1", 0), ("ledger.suspense.v1", 1), ("ledger.suspense.v1", 2), ("ledger.transactions.v1", 0)]


async def test_topics_listed_with_fewer_partitions_are_made_again_with_the_stacks_count(infra, topic_prefix):
    """After the embedded broker's restart, `rentflow up` makes a short topic again (its committed
    offsets go with it, so its consumers read it again from the start); others are left as they are."""
    bootstrap = infra.kafka_bootstrap_servers
    await ensure_topics(bootstrap, 1, ["ledger.transactions.v1"], prefix=topic_prefix)
    await ensure_topics(bootstrap, 3, ["ledger.suspense.v1"], prefix=topic_prefix)
    await ensure_topics(bootstrap, 4, ["ledger.accounts.v1"], prefix=topic_prefix)
    short = TopicPartition(topic_prefix + "ledger.transactions.v1", 0)
    await _commit(bootstrap, topic_prefix + "reporting", short, 7)
    names = ["ledger.transactions.v1", "ledger.suspense.v1", "ledger.accounts.v1", "ledger.mandates.v1"]

    assert await reshape_topics(bootstrap, 3, names, prefix=topic_prefix) == {"ledger.transactions.v1": 1}

    groups = {"reporting": names[:3]}
    rows = await partition_lag(bootstrap, groups, prefix=topic_prefix, partitions=3)  # no longer short
    listed: dict[str, int] = {}
    for row in rows:
        listed[row.topic] = listed.get(row.topic, 0) + 1
    assert listed == {"ledger.transactions.v1": 3, "ledger.suspense.v1": 3, "ledger.accounts.v1": 4}
    assert all(row.committed is None for row in rows)  # the offset committed on the old topic went with it
    assert await reshape_topics(bootstrap, 3, names, prefix=topic_prefix) == {}  # nothing more to do
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        assert topic_prefix + "ledger.mandates.v1" not in await admin.list_topics()  # not made by looking
    finally:
        await admin.close()


async def test_a_group_offset_past_the_logs_end_counts_as_lag(infra, topic_prefix):
    """The embedded broker takes an offset commit from before its restart: the group's offset is then
    past the end of the new log, and what the log holds below it has not been read."""
    bootstrap = infra.kafka_bootstrap_servers
    await ensure_topics(bootstrap, 1, ["ledger.accounts.v1"], prefix=topic_prefix)
    tp = TopicPartition(topic_prefix + "ledger.accounts.v1", 0)
    await _commit(bootstrap, topic_prefix + "reporting", tp, 7)
    rows = await partition_lag(bootstrap, {"reporting": ["ledger.accounts.v1"]}, prefix=topic_prefix)
    assert [(r.end_offset, r.committed, r.lag) for r in rows] == [(0, 7, 7)]


async def _commit(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    """`group`'s offset on `tp`, committed by a client that never joins the group."""
    member = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await member.start()
    try:
        member.assign([tp])
        await member.commit({tp: OffsetAndMetadata(offset, "")})
    finally:
        await member.stop()
