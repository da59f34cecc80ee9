"""A backlog of payments taken by the ledger in batches that overlap (each worked while the one before
commits: BatchConsumer `overlap`, the ledger's consumers.OVERLAP), on real PostgreSQL and the broker:
every payment posted once, each account's running balances built on the batch before, the books balanced."""
from __future__ import annotations

import uuid
from collections import defaultdict

from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from ledger_support import CSV, payment, poll, running_ledger
from rentflow_common.consumer import OVERLAP_MIN

REFS = [f"8{n:07d}" for n in range(1, 41)]
ACCOUNTS = "account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence\n" + \
    "".join(f"{r},T{n},{n} D St,N,2026-04-06,9000,0\n" for n, r in enumerate(REFS, 1))
PAYMENTS = 6 * OVERLAP_MIN


async def test_a_backlog_taken_in_overlapping_batches_posts_each_payment_once_on_running_balances(
        infra, service_env, topic_prefix):
    async with running_ledger(infra, topic_prefix, consumers=False) as ledger:
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200

    # published as intake's relay publishes them (one stream, numbered in order) before the ledger consumes:
    # its fetches queue up behind its first batch and are taken a backlog's worth at a time
    amounts = {n: 100 + n % 97 for n in range(PAYMENTS)}
    epoch = str(uuid.uuid4()).encode()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    try:
        for n in range(PAYMENTS):
            env = payment(REFS[n % len(REFS)], amounts[n], provider_ref=f"overlap-{n}")
            await producer.send(topic_prefix + "payments.received.v1", env.model_dump_json().encode(), key=b"k",
                                headers=[("rf-epoch", epoch), ("rf-stream", b"0"), ("rf-seq", b"%d" % (n + 1))])
        await producer.flush()
    finally:
        await producer.stop()

    async with running_ledger(infra, topic_prefix) as ledger:
        consumer = ledger.app.state.runtime.consumer("ledger")

        async def all_posted():
            return consumer.stats.messages >= PAYMENTS
        await poll(all_posted, timeout=120)
        invariants = (await ledger.http.get("/v1/invariants")).json()
        async with ledger.engine.connect() as c:
            rows = (await c.execute(text(
                "select account_ref, amount_pence, balance_after_pence from transactions "
                "where payment_id is not null order by account_ref, seq"))).all()
            balances = dict((await c.execute(text("select account_ref, balance_pence from accounts"))).all())

    assert consumer.stats.overlapped >= 1, consumer.stats
    assert len(rows) == PAYMENTS  # each once: none twice, none lost to a batch given up
    running: dict[str, int] = defaultdict(int)
    for ref, amount, after in rows:  # in posting order, each balance the one before plus its amount
        running[ref] += amount
        assert after == running[ref], (ref, amount, after, running[ref])
    expected = defaultdict(int)
    for n, amount in amounts.items():
        expected[REFS[n % len(REFS)]] -= amount
    assert {r: balances[r] for r in REFS} == dict(expected)
    assert invariants["balanced"], invariants
