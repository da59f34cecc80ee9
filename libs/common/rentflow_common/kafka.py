"""Topic administration and consumer-group progress, the way `rentflow up` and `wait` need them."""
from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

import cramjam
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.codec import zstd_decode as _aiokafka_zstd_decode
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.group import LeaveGroupRequest

from rentflow_schemas import TOPICS

# Who consumes what: consumer group → topics.
CONSUMER_GROUPS: dict[str, list[str]] = {
    "ledger": ["payments.received.v1", "directdebit.returned.v1", "directdebit.mandates.v1", "payments.reversed.v1",
               "identity.users.v1"],
    "notifications": ["ledger.suspense.v1", "ledger.accounts.v1", "ledger.dd-failures.v1", "ledger.mandates.v1",
                      "ledger.rent-changes.v1", "ledger.ended-tenancy-payments.v1", "ledger.unreconciled.v1"],
    "reporting": ["ledger.transactions.v1", "ledger.suspense.v1", "ledger.accounts.v1"],
    # users, replicated into each service's principals (rentflow_common.auth); notifications owns them. The
    # ledger takes them in its own group (identity.users.v1 above), the others in a group of their own
    "payments.principals": ["identity.users.v1"],
    "reporting.principals": ["identity.users.v1"],
}


# How often clients ask the broker for its topics (Kafka's default: 5 minutes). A group rebalances when a
# topic's partition count changes, which it can on the embedded broker's restart (reshape_topics).
METADATA_MAX_AGE_MS = 15_000


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


async def reshape_topics(bootstrap_servers: str, partitions: int, names: Iterable[str] | None = None,
                         prefix: str = "") -> dict[str, int]:
    """Deletes and makes again, with `partitions`, each topic (names without the prefix) the broker
    lists with fewer. For the embedded broker only, restarted empty, where a topic can come back
    with another count than the stack's (a real cluster's topics are the operator's, and Kafka
    cannot take partitions away). The caller has the outboxes publish again what the topics held;
    their committed offsets go with them, so consumers read them from the start. Returns the topics
    remade, with the count each had."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="rentflow-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        asked = [prefix + n for n in (names or all_topics()) if prefix + n in existing]
        # only those that exist are described: the embedded broker makes a topic it is asked about
        listed = {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(asked)} if asked else {}
        short = {t: n for t, n in listed.items() if n < partitions}
        if short:
            await admin.delete_topics(list(short))
            try:
                await admin.create_topics([NewTopic(t, partitions, 1) for t in short])
            except TopicAlreadyExistsError:  # a client's metadata request made it first, with more: kept
                pass
    finally:
        await admin.close()
    return {t[len(prefix):]: n for t, n in short.items()}


class StaleAssignmentCheck:
    """The embedded broker answers a sole member's rejoin with the generation it had and that
    generation's assignment, not the one its leader has just sent: a member rejoining because a topic
    came back with more partitions (reshape_topics) keeps the old ones alone, and the others are read
    by no one. The leader's own share, as it computed it, is compared with what the coordinator gives
    it; on a difference it leaves the group and joins as a new member, which gets a new generation and
    the leader's assignment. (Kafka always gives the leader's assignment: the check never fires there.)"""

    def __init__(self) -> None:
        self._computed: dict[str, Any] | None = None
        self._watched: Any = None

    def watch(self, coordinator: Any) -> None:
        """Keeps the assignment the member computes when it leads (aiokafka's coordinator keeps none)."""
        if self._watched is coordinator:
            return
        self._watched = coordinator
        perform = coordinator._perform_assignment

        async def performed(response: Any) -> Any:
            self._computed = await perform(response)
            return self._computed

        coordinator._perform_assignment = performed

    async def rejoined(self, coordinator: Any, assigned: set[TopicPartition]) -> bool:
        """True when the coordinator gave this member other than its own computed share: it has left
        the group and will join afresh (aiokafka rejoins on its next poll)."""
        computed, self._computed = self._computed, None
        mine = computed.get(coordinator.member_id) if computed else None
        if mine is None or set(mine.partitions()) == assigned:
            return False
        try:
            await coordinator._send_req(LeaveGroupRequest(coordinator.group_id, coordinator.member_id))
        except KafkaError:
            pass  # joining as a new member is what matters; the old one times out
        coordinator.reset_generation()
        return True


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    end_offset: int
    committed: int | None  # None: the group has committed nothing there yet

    @property
    def lag(self) -> int:
        """Messages not yet committed; a group offset past the log's end (a commit of the embedded
        broker's log before its restart, taken by the new one) counts by how far it is past: what is
        below it in the new log has not been read either."""
        return abs(self.end_offset - (self.committed or 0))


class TopicsMisshapen(RuntimeError):
    """Topics the broker lists with fewer partitions than the stack publishes to: what lands in the
    others is read by no consumer, and no lag counts it."""


async def group_lag(bootstrap_servers: str, groups: dict[str, list[str]] | None = None,
                    prefix: str = "", partitions: int | None = None) -> dict[str, int]:
    """Messages published but not yet committed by each group."""
    lag = {g: 0 for g in (groups or CONSUMER_GROUPS)}
    for row in await partition_lag(bootstrap_servers, groups, prefix=prefix, partitions=partitions):
        lag[row.group] += row.lag
    return lag


async def partition_lag(bootstrap_servers: str, groups: dict[str, list[str]] | None = None,
                        prefix: str = "", partitions: int | None = None) -> list[PartitionLag]:
    """Per group, topic and partition: the log end offset and the group's committed offset
    (names without the prefix). With `partitions` (the stack's count), a topic listed with fewer
    raises TopicsMisshapen: the embedded broker, restarted empty, can list a topic a client asked
    for before it was made again with fewer partitions than the outboxes publish to.

    The end of a partition is found by reading past the reported end offset: the embedded
    broker reports the first offset of its last record batch, not the high watermark. The
    committed offsets come from a consumer that has the group id but never joins the group
    (OffsetFetch), which the embedded broker answers; its admin API has no group listing."""
    groups = {prefix + g: [prefix + t for t in ts] for g, ts in (groups or CONSUMER_GROUPS).items()}
    rows: list[PartitionLag] = []
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
    if partitions is not None:
        listed = Counter(tp.topic for tp in tps)
        short = sorted({t for ts in groups.values() for t in ts if listed[t] < partitions})
        if short:
            raise TopicsMisshapen(f"the broker lists fewer partitions than the stack's {partitions} for "
                                  + ", ".join(f"{t[len(prefix):]} ({listed[t]})" for t in short)
                                  + ": events published to the others are read by no one (restart the stack: "
                                    "the outboxes publish them again)")
    cut = len(prefix)
    for group, topics in groups.items():
        member = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False,
                                  client_id="rentflow-wait")
        await member.start()
        try:
            for tp in tps:
                if tp.topic in topics:
                    rows.append(PartitionLag(group[cut:], tp.topic[cut:], tp.partition, ends[tp],
                                             await member.committed(tp)))
        finally:
            await member.stop()
    return rows


async def true_end_offsets(bootstrap_servers: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """Where each partition ends, read past the end the broker reports (see partition_lag)."""
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, client_id="rentflow-ends")
    await probe.start()
    try:
        return await _true_end_offsets(probe, tps)
    finally:
        await probe.stop()


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


# --- reading zstd record batches ----------------------------------------------------------------

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# A declared size above this is not trusted to allocate up front (a corrupt header could ask for any):
# such a batch is decompressed as aiokafka does, growing its output as it goes.
_ZSTD_PRESIZE_UP_TO = 64 << 20


def zstd_content_size(frame: bytes) -> int | None:
    """The decompressed size a zstd frame's header declares (RFC 8878 §3.1.1.1: Frame_Content_Size),
    or None when it has none (or is not a zstd frame)."""
    if len(frame) < 6 or frame[:4] != _ZSTD_MAGIC:
        return None
    descriptor = frame[4]
    single_segment = descriptor & 0x20
    at = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3]  # window descriptor, dictionary id
    width = (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
    if width == 0 or len(frame) < at + width:
        return None
    size = int.from_bytes(frame[at:at + width], "little")
    return size + 256 if width == 2 else size


def zstd_decode(payload: bytes) -> bytes | bytearray:
    """aiokafka's zstd_decode, decompressed into a buffer of the size the frame declares. aiokafka's lets
    cramjam grow its output (and then copies it into bytes): on the relays' record batches of ~1 MB,
    ~550 page faults a batch in the reporting consumer, 0.99 µs of CPU a record where this takes 0.59.
    Anything else (no declared size, several frames, a size the content does not fill) is decompressed
    as aiokafka does: zstd does not always check the declared size, so the count written is checked."""
    size = zstd_content_size(payload)
    if not size or size > _ZSTD_PRESIZE_UP_TO:
        return _aiokafka_zstd_decode(payload)
    out = bytearray(size)
    try:
        written = cramjam.zstd.decompress_into(payload, out)
    except cramjam.DecompressionError:  # more than declared (several frames), or not zstd: aiokafka's decides
        return _aiokafka_zstd_decode(payload)
    return out if written == size else _aiokafka_zstd_decode(payload)


def use_in_record_batches(name: str, codec: Any) -> None:
    """aiokafka's record batch modules (its C extension's and its Python ones) call their module's
    codec functions (`zstd_encode`, `zstd_decode`) by name: `codec` replaces the one named (aiokafka
    has no setting for either)."""
    import aiokafka.record.default_records as python_records

    setattr(python_records, name, codec)
    try:
        import aiokafka.record._crecords.default_records as c_records
    except ImportError:  # aiokafka without its C extensions
        return
    setattr(c_records, name, codec)


# they read what it returns as a buffer (tests/test_zstd_decode.py checks they use it)
use_in_record_batches("zstd_decode", zstd_decode)
