"""Helpers for the ledger's in-process integration tests: a running ledger app, payments and
Direct Debit events to publish, polling with a deadline, reading what the ledger emitted."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from typing import Any, AsyncIterator

import httpx

from rentflow_common.testing import grant
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from rentflow_common.testing import poll as shared_poll
from rentflow_common.kafka import ensure_topics
from rentflow_ledger.bootstrap import build_app
from rentflow_schemas import derive_event_id, new_envelope
from rentflow_schemas.payments import PaymentReceived

UTC = dt.timezone.utc
CSV = {"Content-Type": "text/csv"}


def payment(ref: str, amount: int, channel: str = "card", provider_ref: str | None = None, *,
            paid: dt.datetime | None = None) -> Any:
    provider_ref = provider_ref or uuid.uuid4().hex[:12]
    paid = paid or dt.datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    data = PaymentReceived(payment_id=derive_event_id("payment", "prov", provider_ref), provider_id="prov",
                           provider_ref=provider_ref, channel=channel, amount_pence=amount, paid_at=paid,
                           received_at=paid, reference=ref, payer_name="Payer")
    return new_envelope(data, event_type="payments.received", producer="payments", correlation_id="test",
                        event_id=derive_event_id("payments.received", data.payment_id))


async def poll(predicate: Any, timeout: float = 30.0) -> Any:
    return await shared_poll(predicate, timeout)


async def read_topic(bootstrap: str, topic: str, want: int | None = None, timeout: float = 20.0,
                     until=None) -> list[dict]:
    """Events of a topic from the start (no group: no rebalance wait), until `want` of them (or
    `until(events)` holds) or the timeout."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    got: list[dict] = []
    done = until or (lambda events: len(events) >= want)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not done(got) and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            got += [orjson.loads(r.value) for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    return got


class Ledger:
    def __init__(self, http: httpx.AsyncClient, producer: AIOKafkaProducer, prefix: str, bootstrap: str,
                 engine: Any = None, app: Any = None) -> None:
        self.http, self.producer, self.prefix, self.bootstrap = http, producer, prefix, bootstrap
        self.engine = engine
        self.app = app

    async def user(self, name: str, *roles: str, limits: dict[str, int] | None = None,
                   patches: tuple[str, ...] = ()) -> dict[str, str]:
        """The Authorization header of a user the ledger knows, with these roles (an officer works only
        accounts in `patches`)."""
        return await grant(self.app, name, roles, limits=limits, patches=patches)

    async def publish(self, topic: str, *envelopes: Any, key: str = "k") -> None:
        for env in envelopes:
            await self.producer.send_and_wait(self.prefix + topic, env.model_dump_json().encode(), key=key.encode())

    async def account(self, ref: str) -> dict:
        r = await self.http.get(f"/v1/accounts/{ref}")
        assert r.status_code == 200, r.text
        return r.json()

    async def read(self, topic: str, want: int) -> list[dict]:
        return await read_topic(self.bootstrap, self.prefix + topic, want)


@contextlib.asynccontextmanager
async def running_ledger(infra: Any, topic_prefix: str, *, consumers: bool = True,
                         settings: Any = None) -> AsyncIterator[Ledger]:
    """`consumers=False`: HTTP and outbox relay only (no consumer group to join: seconds faster).
    `settings`: another database / topic prefix than the test's environment."""
    await ensure_topics(infra.kafka_bootstrap_servers, 3, prefix=topic_prefix)
    app = build_app(settings)
    runtime = app.state.runtime
    if not consumers:
        runtime.consumers.clear()
    await runtime.start()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=await grant(app), base_url="http://t") as http:
            yield Ledger(http, producer, topic_prefix, infra.kafka_bootstrap_servers, runtime.engine, app)
    finally:
        await producer.stop()
        await runtime.stop()
