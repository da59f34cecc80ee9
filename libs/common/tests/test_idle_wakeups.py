"""An idle service wakes seldom and still answers at once: an idle consumer's long wait for records ends
when records come, and the HTTP server's once-a-second tick does not delay a stop."""
from __future__ import annotations

import asyncio
import logging
import signal

import httpx
import uvicorn
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from sqlalchemy import text

from rentflow_common import service
from rentflow_common.consumer import BatchConsumer
from rentflow_common.db import UnitOfWork
from rentflow_common.infra import free_port
from rentflow_common.outbox import enqueue
from rentflow_common.testing import drain, envelope_row, payment_envelope

TOPIC = "payments.received.v1"


async def _until(predicate, timeout: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.02)
    return False


async def _counting_consumer(infra, topic_prefix, rig):
    """A rig, a broker and a BatchConsumer (group g, busy fetch wait 25 ms) that records each event
    it takes in svc.seen, and `seen()`: how many it took."""
    r = await rig([TOPIC, "dlq.g"], tables=("create table seen (event_id uuid not null)",))

    async def handle(uow, msgs):
        await uow.raw.executemany("insert into seen values ($1)", [(m.cause.event_id,) for m in msgs])

    async def seen() -> int:
        async with r.engine.connect() as c:
            return (await c.execute(text("select count(*) from svc.seen"))).scalar_one()

    broker = KafkaBroker(infra.kafka_bootstrap_servers, enable_idempotence=False, log_level=logging.DEBUG)
    consumer = BatchConsumer(broker, r.engine, group_id="g", handlers={TOPIC: handle}, topic_prefix=topic_prefix,
                             fetch_max_wait_ms=25)
    return r, broker, consumer, seen


async def test_an_idle_consumer_takes_a_message_when_it_comes_not_at_its_idle_timeout(
        infra, database_url, topic_prefix, rig, monkeypatch):
    monkeypatch.setattr(service, "IDLE_AFTER_S", 0.5)
    r, broker, consumer, seen = await _counting_consumer(infra, topic_prefix, rig)
    service._watch_fetches(consumer, 25, 25)
    state = consumer.fetch_state  # type: ignore[attr-defined]
    await broker.start()
    try:
        # joined and quiet: the consumer waits for records with its idle timeout (5 s)
        assert await _until(lambda: _value(state.idle), 120), "the consumer never went idle"
        await asyncio.sleep(0.5)  # an idle wait is under way
        envelope = payment_envelope(1)
        async with UnitOfWork(r.engine) as uow:
            await enqueue(uow.raw, [envelope_row(TOPIC, envelope.data.provider_ref, envelope)])
            await uow.commit()
        await drain(r.relay())
        published = asyncio.get_running_loop().time()
        assert await _until(lambda: _equal(seen(), 1), 30)
        took = asyncio.get_running_loop().time() - published
        assert took < service.IDLE_GETMANY_TIMEOUT_MS / 1000 / 2, took
        assert not state.idle  # back to the busy wait with the first message
    finally:
        await broker.stop()
        await consumer.close()


async def test_a_quiet_consumer_fetches_with_its_quiet_wait_and_is_busy_again_with_the_first_message(
        infra, database_url, topic_prefix, rig, monkeypatch):
    monkeypatch.setattr(service, "IDLE_AFTER_S", 0.3)
    monkeypatch.setattr(service, "QUIET_AFTER_S", 1.5)
    monkeypatch.setattr(service, "IDLE_GETMANY_TIMEOUT_MS", 200)  # an idle consumer looks at its state this often
    r, broker, consumer, seen = await _counting_consumer(infra, topic_prefix, rig)
    service._watch_fetches(consumer, 25, 50, 100)
    state = consumer.fetch_state  # type: ignore[attr-defined]
    relay = r.relay()

    async def send(n: int) -> None:
        envelope = payment_envelope(n)
        async with UnitOfWork(r.engine) as uow:
            await enqueue(uow.raw, [envelope_row(TOPIC, envelope.data.provider_ref, envelope)])
            await uow.commit()
        await drain(relay)

    await broker.start()
    try:
        await send(1)
        assert await _until(lambda: _equal(seen(), 1), 120)
        waits = [state.wait_ms]

        async def quiet() -> bool:
            if state.wait_ms != waits[-1]:
                waits.append(state.wait_ms)
            return state.wait_ms == 100

        assert await _until(quiet, 30), f"the consumer never went quiet: {waits}"
        assert waits == [25, 50, 100]  # after its last message: busy, idle, then quiet
        await send(2)
        assert await _until(lambda: _equal(seen(), 2), 30)
        assert state.wait_ms == 25 and not state.idle  # the busy wait again with the first message
    finally:
        await broker.stop()
        await consumer.close()


async def test_the_server_stops_at_once_though_its_tick_is_long(monkeypatch):
    monkeypatch.setattr(service, "SERVER_TICK_S", 60.0)
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    port = free_port()
    server = service._Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        assert await _until(lambda: _value(server.started), 30)
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{port}/ping")
        assert answer.json() == {"ok": True} and "date" in answer.headers  # the first tick set the Date header
        await asyncio.sleep(0.2)  # the main loop waits in its (60 s) tick
        loop = asyncio.get_running_loop()
        asked = loop.time()
        server.handle_exit(signal.SIGTERM, None)  # as the signal handler calls it
        server._captured_signals.clear()  # not raised again at the end: this is the test's own process
        await asyncio.wait_for(serving, 30)
        assert loop.time() - asked < 5
    finally:
        if not serving.done():
            server.should_exit = server.force_exit = True
            await asyncio.wait_for(serving, 30)


async def _value(value):
    return value


async def _equal(awaitable, want):
    return (await awaitable) == want
