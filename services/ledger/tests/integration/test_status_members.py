"""Two members of the "ledger" group in one process (RENTFLOW_LEDGER_CONSUMERS=2), on real PostgreSQL
and the real broker: /v1/ops/status, /health and /metrics show the group once, its members' counters
summed. Keyed by group alone, the second member's figures replaced the first's, and whatever waited
for the payments to be counted (bench/e2e.py, `rentflow wait`) waited for ever."""
from __future__ import annotations

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from ledger_support import payment, poll, running_ledger

PAYMENTS = 30
TOPIC = "payments.received.v1"


async def test_two_members_of_the_ledger_group_are_one_entry_with_their_counts_summed(
        infra, service_env, topic_prefix, monkeypatch):
    monkeypatch.setenv("RENTFLOW_LEDGER_CONSUMERS", "2")
    async with running_ledger(infra, topic_prefix) as ledger:
        runtime = ledger.app.state.runtime
        members = [c for c in runtime.consumers if c.group_id == "ledger"]
        assert len(members) == 2

        def partitions(c) -> set[int]:
            kafka_consumer = c.subscriber.consumer
            return {tp.partition for tp in kafka_consumer.assignment() if tp.topic == topic_prefix + TOPIC} \
                if kafka_consumer is not None else set()

        async def both_assigned() -> bool:  # each member holds some of the topic's 3 partitions
            held = [partitions(c) for c in members]
            return all(held) and set().union(*held) == {0, 1, 2}

        await poll(both_assigned, 60)
        for n in range(PAYMENTS):  # spread over every partition, so both members take some
            env = payment(f"9{n:07d}", 1000 + n)
            await ledger.producer.send_and_wait(topic_prefix + TOPIC, env.model_dump_json().encode(),
                                                key=f"k{n}".encode(), partition=n % 3)

        async def all_taken() -> bool:
            return sum(c.stats.per_topic.get(TOPIC, 0) for c in members) >= PAYMENTS

        await poll(all_taken, 60)
        taken = [c.stats.per_topic.get(TOPIC, 0) for c in members]
        assert all(taken) and sum(taken) == PAYMENTS, taken  # both members took some: the case under test

        r = await ledger.http.get("/v1/ops/status")
        assert r.status_code == 200, r.text
        group = r.json()["consumers"]["ledger"]
        assert group["per_topic"][TOPIC] == PAYMENTS
        assert group["members"] == 2
        assert group["messages"] == sum(c.stats.messages for c in members) >= PAYMENTS
        assert group["batches"] == sum(c.stats.batches for c in members) >= 2
        assert group["open_dead_letters"] == 0 and group["missing"] == 0  # the group's, counted once
        # where each partition is read, whichever member holds it: all 3 of the topic, read to their end
        reading = {tp: r for tp, r in group["reading"].items() if tp.startswith(topic_prefix + TOPIC + "[")}
        assert sorted(reading) == [f"{topic_prefix}{TOPIC}[{p}]" for p in range(3)], group["reading"]
        assert sum(r["position"] for r in reading.values()) == PAYMENTS, reading
        # what bench/e2e.py counts
        assert sum(g["per_topic"].get(t, 0) for g in r.json()["consumers"].values() for t in g["topics"]
                   if t.endswith(TOPIC)) == PAYMENTS

        r = await ledger.http.get("/health")
        health = r.json()["consumers"]["ledger"]
        assert health["members"] == 2 and health["ok"] is True, health
        assert health["messages"] == group["messages"]

        r = await ledger.http.get("/metrics")
        assert r.status_code == 200, r.text
        samples = [(s.name, tuple(sorted(s.labels.items())), s.value)
                   for family in text_string_to_metric_families(r.text) for s in family.samples]
        repeated = [k for k, n in Counter((name, labels) for name, labels, _ in samples).items() if n > 1]
        assert not repeated, repeated  # Prometheus rejects a scrape with the same series twice
        value = {(name, labels): v for name, labels, v in samples}
        assert value[("rentflow_consumer_messages_total",
                      (("group", "ledger"), ("service", "ledger"), ("topic", TOPIC)))] == PAYMENTS
