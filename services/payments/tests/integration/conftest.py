"""The payments service in process, on real PostgreSQL and the real broker."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import httpx

from rentflow_common.testing import grant
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from rentflow_common.kafka import ensure_topics
from rentflow_common.service import ServiceRuntime

from rentflow_payments.bootstrap import build_app
from rentflow_payments.domain.signature import sign

TOPICS = ["payments.received.v1", "payments.rejected.v1", "identity.users.v1", "dlq.payments.principals", "audit.v1"]
SECRET = "s3cret-of-acme-0001"


def pay_body(ref: str, amount: int = 12500, **kw: Any) -> dict[str, Any]:
    return {"provider_ref": ref, "channel": "card", "amount_pence": amount, "currency": "GBP",
            "paid_at": "2026-04-06T09:30:00Z", "reference": "RENT 1000000001", **kw}


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return False


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    bootstrap: str
    prefix: str

    async def provider(self, name: str = "acme", secret: str | None = SECRET, legacy: bool = False) -> str:
        r = await self.client.post("/v1/providers", json={"name": name, "secret": secret, "legacy_signature": legacy})
        assert r.status_code == 201, r.text
        return r.json()["secret"]

    async def push(self, path: str, body: Any, *, provider: str = "acme", secret: str = SECRET,
                   headers: dict[str, str] | None = None, t: int | None = None) -> httpx.Response:
        """A signed push, signed now (or at `t`: a resend is signed again, so with another t)."""
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        h = {"X-Provider-Id": provider, "X-Signature": sign(secret, raw, t), "Content-Type": "application/json",
             **(headers or {})}
        return await self.client.post(path, content=raw, headers=h)

    async def emitted(self) -> int:
        """Events this service emitted, pending or published, other than its audit trail's."""
        async with self.runtime.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            return await raw.fetchval("select (select count(*) from outbox where topic <> 'audit.v1') + "
                                      "(select count(*) from outbox_log where topic <> 'audit.v1')")

    async def drained(self) -> None:
        """Waits until the outbox relay has published everything committed so far."""
        async def empty() -> bool:
            return (await self.runtime.status())["outbox_backlog"] == 0
        assert await wait_for(empty), "outbox not drained"

    async def events(self, topic: str, expected: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Everything on `topic` from the start: waits for `expected` events, then reads on briefly
        so that an unexpected extra one would show."""
        await self.drained()
        consumer = AIOKafkaConsumer(self.prefix + topic, bootstrap_servers=self.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        out: list[dict[str, Any]] = []
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while len(out) < expected and asyncio.get_running_loop().time() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                out += [{"key": r.key.decode() if r.key else None, **orjson.loads(r.value)}
                        for rs in batch.values() for r in rs]
            batch = await consumer.getmany(timeout_ms=500)
            out += [{"key": r.key.decode() if r.key else None, **orjson.loads(r.value)}
                    for rs in batch.values() for r in rs]
        finally:
            await consumer.stop()
        return out


@pytest.fixture
async def svc(service_env, infra, topic_prefix):
    app = build_app()
    runtime = app.state.runtime
    await ensure_topics(infra.kafka_bootstrap_servers, 3, TOPICS, prefix=topic_prefix)
    await runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=await grant(app), base_url="http://t") as client:
            yield Service(app, client, runtime, infra.kafka_bootstrap_servers, topic_prefix)
    finally:
        await runtime.stop()
