"""`rentflow wait`'s lag check refuses to pass over a topic the broker lists with fewer partitions than
the stack publishes to (the embedded broker, restarted empty, can remake a topic a client asked for
first, with its own count): what lands in the others is read by no consumer and counted by no lag."""
from __future__ import annotations

import pytest
from rentflow_common.kafka import TopicsMisshapen, ensure_topics, partition_lag


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
