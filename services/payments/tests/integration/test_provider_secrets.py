"""Provider secrets at rest: the migration encrypts plaintext secrets of an older database, the service
refuses to start with a key that cannot open them, and a changed RENTFLOW_SECRETS_KEY re-encrypts."""
from __future__ import annotations

import asyncio

import asyncpg
import orjson
import pytest
from alembic import command
from cryptography.fernet import Fernet

from rentflow_common.db import plain_url
from rentflow_common.migrations import alembic_config
from rentflow_common.testing import grant

from rentflow_payments.adapters.secret_box import SecretBox, SecretKeyMismatch
from rentflow_payments.bootstrap import MIGRATIONS, build_app
from rentflow_payments.domain import signature

from .conftest import pay_body


async def migrate(database_url: str, revision: str, key: str | None = None) -> None:
    cfg = alembic_config(MIGRATIONS, database_url, "payments", {"secrets_key": key} if key else None)
    await asyncio.to_thread(command.upgrade, cfg, revision)


async def fetch(database_url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def test_the_migration_encrypts_plaintext_secrets_and_keeps_their_providers_working(
        service_env, database_url, monkeypatch):
    await migrate(database_url, "0003")
    conn = await asyncpg.connect(plain_url(database_url))
    await conn.execute("insert into payments.providers (provider_id, secret) values ('old-bank', 'the-old-plain-secret')")
    await conn.close()

    app = build_app()
    await app.state.runtime.start()  # migrates to head with RENTFLOW_SECRETS_KEY
    try:
        (row,) = await fetch(database_url, "select * from payments.providers")
        assert "secret" not in dict(row) and b"the-old-plain-secret" not in str(dict(row)).encode()
        assert SecretBox(service_env_key(monkeypatch)).open(row["secret_enc"]) == "the-old-plain-secret"
        assert row["legacy_signature"] is True  # it signed sha256=<hex> until now: it still may
        import httpx
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            body = orjson.dumps(pay_body("M-1"))
            r = await client.post("/v1/payments", content=body, headers={
                "X-Provider-Id": "old-bank", "X-Signature": signature.sign_legacy("the-old-plain-secret", body)})
            assert r.status_code == 202, r.text
    finally:
        await app.state.runtime.stop()


def service_env_key(monkeypatch) -> str:
    import os
    return os.environ["RENTFLOW_SECRETS_KEY"]


async def test_a_database_with_secrets_needs_the_key_to_migrate(database_url):
    await migrate(database_url, "0003")
    conn = await asyncpg.connect(plain_url(database_url))
    await conn.execute("insert into payments.providers (provider_id, secret) values ('p', 'plain-secret-0001')")
    await conn.close()
    with pytest.raises(RuntimeError, match="RENTFLOW_SECRETS_KEY"):
        await migrate(database_url, "head")
    assert [r["secret"] for r in await fetch(database_url, "select secret from payments.providers")] == [
        "plain-secret-0001"]  # nothing half-done


async def test_a_wrong_key_stops_the_start_and_a_new_first_key_re_encrypts(service_env, database_url, monkeypatch):
    import os
    old_key = os.environ["RENTFLOW_SECRETS_KEY"]
    app = build_app()
    await app.state.runtime.start()
    try:
        import httpx
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                     headers=await grant(app, "admin", ["admin"])) as client:
            r = await client.post("/v1/providers", json={"name": "acme", "secret": "acme-secret-0123456789"})
            assert r.status_code == 201
    finally:
        await app.state.runtime.stop()

    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("RENTFLOW_SECRETS_KEY", new_key)
    app = build_app()
    with pytest.raises(SecretKeyMismatch, match="RENTFLOW_SECRETS_KEY"):
        await app.state.runtime.start()
    await app.state.runtime.stop()

    monkeypatch.setenv("RENTFLOW_SECRETS_KEY", f"{new_key},{old_key}")  # the new key first, the old one to read
    app = build_app()
    await app.state.runtime.start()
    await app.state.runtime.stop()
    (row,) = await fetch(database_url, "select secret_enc from payments.providers")
    assert SecretBox(new_key).open(row["secret_enc"]) == "acme-secret-0123456789"  # the old key is no longer needed
