"""After the embedded broker's restart, `rentflow up` makes again any topic it lists with fewer partitions
than the stack's, and has every service publish its outbox again (what the topic held went with it)."""
from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient
from rentflow_cli.stack import Stack
from rentflow_common.kafka import ensure_topics


def _partitions(bootstrap: str, topic: str) -> int:
    async def count() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return len((await admin.describe_topics([topic]))[0]["partitions"])
        finally:
            await admin.close()
    return asyncio.run(count())


def test_a_short_topic_is_made_again_and_everything_published_again(infra, topic_prefix, tmp_path):
    bootstrap = infra.kafka_bootstrap_servers
    asyncio.run(ensure_topics(bootstrap, 3, prefix=topic_prefix))
    (tmp_path / "logs").mkdir()
    stack = Stack(home=tmp_path, partitions=3, topic_prefix=topic_prefix, infra=infra)
    stack.services = dict.fromkeys(("payments", "ledger"))  # type: ignore[arg-type]  # only their names are used

    stack._reshape_topics()
    assert stack.republish == set()  # every topic as the stack made it: nothing to do

    async def remake_short() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([topic_prefix + "ledger.transactions.v1"])
        finally:
            await admin.close()
        await ensure_topics(bootstrap, 1, ["ledger.transactions.v1"], prefix=topic_prefix)
    asyncio.run(remake_short())

    stack._reshape_topics()
    assert _partitions(bootstrap, topic_prefix + "ledger.transactions.v1") == 3
    assert stack.republish == {"payments", "ledger"}
    log = (tmp_path / "logs" / "supervisor.log").read_text()
    assert "made again with 3 partitions: ledger.transactions.v1 (had 1)" in log
