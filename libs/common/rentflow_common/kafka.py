"""Topic administration and consumer-group progress, the way `rentflow up` and `wait` need them."""
from __future__ import annotations

import asyncio
from typing import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from rentflow_schemas import TOPICS

# Who consumes what: consumer group → topics.
CONSUMER_GROUPS: dict[str, list[str]] = {
    "ledger": ["payments.received.v1", "directdebit.returned.v1", "directdebit.mandates.v1", "payments.reversed.v1"],
    "notifications": ["ledger.suspense.v1", "ledger.accounts.v1", "ledger.dd-failures.v1", "ledger.mandates.v1",
                      "ledger.rent-changes.v1"],
    "reporting": ["ledger.transactions.v1", "ledger.suspense.v1", "ledger.accounts.v1"],
}


def all_topics() -> list[str]:
    return sorted(set(TOPICS) | {f"dlq.{g}" for g in CONSUMER_GROUPS})


async def ensure_topics(bootstrap_servers: str, partitions: int, names: Iterable[str] | None = None,
                        prefix: str = "") -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="rentflow-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(prefix + n, partitions, 1) for n in (names or all_topics()) if prefix + n not in existing]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


async def group_lag(bootstrap_servers: str, groups: dict[str, list[str]] | None = None,
                    prefix: str = "") -> dict[str, int]:
    """Messages published but not yet committed by each group.

    The end of a partition is found by reading past the reported end offset: the embedded
    broker reports the first offset of its last record batch, not the high watermark."""
    groups = {prefix + g: [prefix + t for t in ts] for g, ts in (groups or CONSUMER_GROUPS).items()}
    lag: dict[str, int] = {}
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                             auto_offset_reset="earliest", client_id="rentflow-wait")
    await probe.start()
    try:
        tps = []
        for topic in sorted({t for ts in groups.values() for t in ts}):
            parts = probe.partitions_for_topic(topic)
            if parts is None:
                await probe._client.force_metadata_update()
                parts = probe.partitions_for_topic(topic) or set()
            tps += [TopicPartition(topic, p) for p in sorted(parts)]
        ends = await _true_end_offsets(probe, tps)
    finally:
        await probe.stop()
    for group, topics in groups.items():
        member = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False,
                                  client_id="rentflow-wait")
        await member.start()
        try:
            total = 0
            for tp in tps:
                if tp.topic in topics:
                    committed = await member.committed(tp) or 0
                    total += max(0, ends[tp] - committed)
            lag[group[len(prefix):]] = total
        finally:
            await member.stop()
    return lag


async def _true_end_offsets(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    if not tps:
        return {}
    reported = await consumer.end_offsets(tps)
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, reported[tp])
    ends = dict(reported)
    pending = set(tps)
    deadline = asyncio.get_running_loop().time() + 2.0
    while pending and asyncio.get_running_loop().time() < deadline:
        batch = await consumer.getmany(*pending, timeout_ms=200, max_records=10000)
        if not batch:
            break
        for tp, records in batch.items():
            if records:
                ends[tp] = max(ends[tp], records[-1].offset + 1)
    return ends
