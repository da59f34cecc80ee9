"""The ledger with its outbox relay in a child process of its own: what the consumer posts is
published by the child (woken by NOTIFY, nothing in this process), health and status read the
child's counters, and stopping the service ends the child."""
from __future__ import annotations

import asyncio

import psutil

from ledger_support import payment, poll, read_topic
from rentflow_common.kafka import ensure_topics
from rentflow_common.service import RelayProcess
from rentflow_ledger.bootstrap import build_runtime


async def test_a_relay_in_its_own_process_publishes_what_the_ledger_posts(service_env, infra, topic_prefix):
    await ensure_topics(infra.kafka_bootstrap_servers, 3, prefix=topic_prefix)
    runtime = build_runtime(relay_process=True)
    await runtime.start()
    relay = runtime.relay
    assert isinstance(relay, RelayProcess)
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    try:
        envelopes = [payment("NO SUCH ACCOUNT", 1000 + i) for i in range(5)]  # each to suspense: one event each
        for env in envelopes:
            await producer.send_and_wait(topic_prefix + "payments.received.v1", env.model_dump_json().encode(),
                                         key=b"k")
        events = await read_topic(infra.kafka_bootstrap_servers, topic_prefix + "ledger.suspense.v1", want=5,
                                  timeout=60)
        assert sorted(e["data"]["amount_pence"] for e in events) == [1000, 1001, 1002, 1003, 1004]
        async def caught_up():
            return relay.published >= 5 and relay.leader

        await poll(caught_up, timeout=10)
        health = await runtime.health()
        assert health["relay"]["leader"] is True and health["relay"]["last_error"] is None, health
        status = await runtime.status()
        assert status["outbox_published"] >= 5 and status["outbox"]["backlog"] == 0, status
        child = relay.pid
        assert child is not None and psutil.pid_exists(child)
    finally:
        await producer.stop()
        await runtime.stop()
    await asyncio.sleep(0.2)
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
