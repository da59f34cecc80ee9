"""What every service process shares: migrations at start, the database engine, the Kafka
broker with its batch consumers, the outbox relay, `/health` and `/v1/ops/status`, and a
clean stop on SIGTERM/SIGINT (uvicorn's)."""
from __future__ import annotations

import asyncio
import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Response
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from rentflow_common.consumer import BatchConsumer, Handler
from rentflow_common.db import make_engine, ping
from rentflow_common.logging import configure_logging, get_logger
from rentflow_common.migrations import upgrade_async
from rentflow_common.outbox import OutboxRelay, backlog, make_producer
from rentflow_common.settings import Settings

log = get_logger(__name__)


class ServiceRuntime:
    """Composition of one service's infrastructure; the service adds consumers and routes."""

    def __init__(self, name: str, migrations_dir: Path, settings: Settings | None = None, *,
                 pool_size: int = 8) -> None:
        self.name = name
        self.settings = settings or Settings.from_env()
        self.migrations_dir = migrations_dir
        self.engine: AsyncEngine = make_engine(self.settings.database_url, schema=name, pool_size=pool_size,
                                               application_name=f"rentflow-{name}")
        self.broker = KafkaBroker(self.settings.kafka_bootstrap_servers, client_id=f"rentflow-{name}",
                                  acks="all", enable_idempotence=False, log_level=logging.DEBUG,
                                  graceful_timeout=30.0)
        self.producer: AIOKafkaProducer | None = None  # made in start(): aiokafka needs the running loop
        self.relay: OutboxRelay | None = None
        self.consumers: list[BatchConsumer] = []
        self._relay_task: asyncio.Task[None] | None = None
        self.ready = False

    def consume(self, group_id: str, topics: Sequence[str], handle: Handler, **kw: Any) -> BatchConsumer:
        consumer = BatchConsumer(self.broker, self.engine, group_id=group_id, topics=topics, handle=handle,
                                 topic_prefix=self.settings.topic_prefix, **kw)
        self.consumers.append(consumer)
        return consumer

    async def start(self) -> None:
        await upgrade_async(self.migrations_dir, self.settings.database_url, self.name)
        self.producer = make_producer(self.settings.kafka_bootstrap_servers, f"rentflow-{self.name}-relay")
        self.relay = OutboxRelay(self.engine, self.producer, topic_prefix=self.settings.topic_prefix)
        await self.producer.start()
        self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.name}-outbox-relay")
        if self.consumers:
            await self.broker.start()
        self.ready = True
        log.info("service.started", consumers=[c.group_id for c in self.consumers])

    async def stop(self) -> None:
        self.ready = False
        if self.consumers:
            for c in self.consumers:
                await c.drain()  # the batches in hand written and committed
            await self.broker.stop()
            for c in self.consumers:
                await c.close()
        if self.relay:
            self.relay.stop()
        if self._relay_task:
            try:
                await asyncio.wait_for(self._relay_task, timeout=10)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._relay_task.cancel()
        if self.producer:
            await self.producer.stop()
        await self.engine.dispose()
        log.info("service.stopped")

    async def status(self) -> dict[str, Any]:
        return {
            "service": self.name,
            "ready": self.ready,
            "outbox_backlog": await backlog(self.engine),
            "outbox_published": self.relay.published if self.relay else 0,
            "consumers": {c.group_id: {"topics": c.topics, **_stats(c)} for c in self.consumers},
        }


def _stats(c: BatchConsumer) -> dict[str, Any]:
    s = c.stats
    return {"batches": s.batches, "messages": s.messages, "duplicates": s.duplicates,
            "dead_letters": s.dead_letters, "per_topic": s.per_topic,
            "last_batch_at": s.last_batch_at.isoformat() if s.last_batch_at else None}


def create_app(runtime: ServiceRuntime, *, title: str, description: str = "") -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, lifespan=lifespan, version="1.0.0")
    app.state.runtime = runtime

    @app.get("/health", tags=["ops"], summary="200 once connected to broker and database, else 503")
    async def health(response: Response) -> dict[str, Any]:
        db_ok = await ping(runtime.engine)
        ok = runtime.ready and db_ok
        response.status_code = 200 if ok else 503
        return {"status": "ok" if ok else "unavailable", "database": db_ok, "ready": runtime.ready}

    @app.get("/v1/ops/status", tags=["ops"], summary="outbox backlog and consumer progress")
    async def status() -> dict[str, Any]:
        return await runtime.status()

    return app


def serve(app: FastAPI, service: str) -> None:
    """Runs the service on RENTFLOW_PORT (set by `rentflow up`)."""
    settings = Settings.from_env()
    configure_logging(service, settings.log_format)
    port = int(os.environ.get("RENTFLOW_PORT", "8000"))
    host = os.environ.get("RENTFLOW_HOST", "127.0.0.1")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                timeout_graceful_shutdown=30)
