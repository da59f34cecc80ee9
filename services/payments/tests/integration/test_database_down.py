"""While intake cannot store (the database is away) it answers 503 with Retry-After, never 500,
and takes payments again once the database is back.

The service reaches the real PostgreSQL through a TCP relay the test can cut: cutting it closes
every open connection and refuses new ones, as a database that died would."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import orjson
import pytest

from rentflow_common.kafka import ensure_topics
from rentflow_common.testing import grant

from rentflow_payments.bootstrap import build_app
from rentflow_payments.domain.signature import sign

TOPICS = ["payments.received.v1", "payments.rejected.v1", "identity.users.v1", "audit.v1", "dlq.payments.principals"]


class Cuttable:
    """A TCP relay 127.0.0.1:port → the database; `cut()` drops it all, `restore()` listens again."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        socket_dir = parse_qs(parts.query).get("host", [parts.hostname or ""])[0]
        if socket_dir.startswith("/"):  # the embedded database listens on a unix socket only
            port = parse_qs(parts.query).get("port", [parts.port or ""])[0]
            found = sorted(Path(socket_dir).glob(f".s.PGSQL.{port or '*'}"))
            found = [f for f in found if not f.name.endswith(".lock")]
            assert found, f"no PostgreSQL socket in {socket_dir}"
            self.connect = lambda: asyncio.open_unix_connection(str(found[0]))
        else:
            self.connect = lambda: asyncio.open_connection(parts.hostname, parts.port or 5432)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await self.connect()
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()

    async def restore(self) -> None:
        await self.start()


def pay(ref: str) -> dict:
    return {"provider_ref": ref, "channel": "card", "amount_pence": 1250, "currency": "GBP",
            "paid_at": "2026-04-06T09:30:00Z", "reference": "RENT 1000000001"}


@pytest.fixture
async def relayed(service_env, infra, topic_prefix, monkeypatch):
    real = urlsplit(service_env["database_url"])
    relay = Cuttable(service_env["database_url"])
    await relay.start()
    netloc = real.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{relay.port}"
    query = urlencode([(k, v) for k, vs in parse_qs(real.query).items() for v in vs if k not in ("host", "port")])
    monkeypatch.setenv("DATABASE_URL", urlunsplit((real.scheme, f"{netloc[0]}@{host}" if len(netloc) == 2 else host,
                                                   real.path, query, real.fragment)))
    app = build_app()
    await ensure_topics(infra.kafka_bootstrap_servers, 3, TOPICS, prefix=topic_prefix)
    await app.state.runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                     headers=await grant(app)) as client:
            yield client, relay
    finally:
        if relay.server is None or not relay.server.is_serving():
            await relay.restore()
        await app.state.runtime.stop()
        await relay.cut()


async def push(client: httpx.AsyncClient, path: str, body: object, t: int | None = None) -> httpx.Response:
    raw = orjson.dumps(body)
    return await client.post(path, content=raw, headers={"X-Provider-Id": "acme", "X-Signature": sign("s3cret-of-acme-0001", raw, t),
                                                         "Content-Type": "application/json"})


async def test_intake_answers_503_with_retry_after_while_the_database_is_away(relayed):
    client, relay = relayed
    assert (await client.post("/v1/providers", json={"name": "acme", "secret": "s3cret-of-acme-0001"})).status_code == 201
    assert (await push(client, "/v1/payments", pay("before"))).status_code == 202

    await relay.cut()
    for path, body in (("/v1/payments", pay("during-1")), ("/v1/payments/batch", [pay("during-2"), pay("during-3")])):
        r = await push(client, path, body)
        assert r.status_code == 503, (path, r.status_code, r.text)
        assert r.headers["retry-after"].isdigit() and int(r.headers["retry-after"]) > 0
        assert "database" in r.json()["detail"]
    r = await client.post("/v1/imports?provider=ops",
                          content=b"provider_ref,channel,amount_pence,paid_at,reference\n")
    assert r.status_code == 503 and "retry-after" in r.headers, r.text
    r = await client.get("/v1/payments/00000000-0000-0000-0000-000000000001")
    assert r.status_code == 503, r.text
    assert (await client.get("/health")).status_code == 503

    await relay.restore()
    r = await push(client, "/v1/payments", pay("during-1"))  # the caller's retry is taken once the database is back
    assert r.status_code == 202 and r.json()["status"] == "accepted", r.text
    r = await push(client, "/v1/payments", pay("before"), t=int(time.time()) + 1)  # a resend, signed again
    assert r.status_code == 202 and r.json()["status"] == "duplicate"


async def test_a_bug_is_still_a_500_not_a_503(relayed):
    """Only the database being away is a 503: any other error stays a 500 (a bug to fix)."""
    from rentflow_common.service import database_unavailable
    import sqlalchemy.exc

    assert database_unavailable(ConnectionRefusedError(111, "refused"))
    assert not database_unavailable(FileNotFoundError("x"))
    assert not database_unavailable(sqlalchemy.exc.ProgrammingError("select", {}, Exception("syntax error")))
