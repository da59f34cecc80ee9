"""Who the CLI is, and the first admin.

The CLI sends a bearer token: `--token`, else RENTFLOW_TOKEN, else `$RENTFLOW_HOME/admin.token`
(which `rentflow up` writes, mode 0600, on the embedded default). Nobody can call the users API
before an admin exists, so the first admin is made directly in notifications' database (whoever
holds DATABASE_URL holds everything anyway): by `rentflow up` on the embedded default (the local
operator `admin`, every role), or once by `rentflow users bootstrap-admin` on real
infrastructure. Either is emitted on identity.users.v1 like any other change."""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx

ADMIN_TOKEN_FILE = "admin.token"


def token_from(home: Path) -> str | None:
    token = os.environ.get("RENTFLOW_TOKEN", "").strip()
    if token:
        return token
    path = home / ADMIN_TOKEN_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def write_token(home: Path, token: str) -> Path:
    path = home / ADMIN_TOKEN_FILE
    home.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


async def _with_uow(database_url: str, fn: Any, actor: str) -> Any:
    from rentflow_common.db import UnitOfWork, make_engine

    engine = make_engine(database_url, schema="notifications", pool_size=1, application_name="rentflow-cli")
    try:
        async with engine.connect() as conn:
            exists = await conn.exec_driver_sql("select to_regclass('users') is not null and "
                                                "to_regclass('outbox') is not null")
            if not exists.scalar():
                raise RuntimeError("the notifications service has not started on this database yet (no users "
                                   "table): start the services, then run this again")
        async with UnitOfWork(engine, producer="notifications", actor=actor, role="admin",
                              correlation_id=f"cli:{actor}") as uow:
            result = await fn(uow)
            await uow.commit()
        return result
    finally:
        await engine.dispose()


def ensure_local_admin(database_url: str, home: Path) -> tuple[str, bool]:
    """The embedded default's local admin: (token, made now)."""
    from rentflow_notifications.service_layer.users import ensure_local_admin as ensure

    path = home / ADMIN_TOKEN_FILE
    current = path.read_text().strip() if path.exists() else None
    new = asyncio.run(_with_uow(database_url, lambda uow: ensure(uow, current), "rentflow up"))
    if new is None:
        assert current is not None
        return current, False
    write_token(home, new)
    return new, True


def bootstrap_admin(database_url: str, name: str, roles: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    from rentflow_notifications.service_layer.users import bootstrap_admin as boot

    return asyncio.run(_with_uow(database_url, lambda uow: boot(uow, name, roles), "bootstrap-admin"))


def wait_until_known(urls: dict[str, str], token: str, timeout: float = 60.0) -> None:
    """Returns once every service accepts the token (the users event taken in everywhere)."""
    deadline = time.monotonic() + timeout
    waiting = dict(urls)
    while waiting:
        for name, url in list(waiting.items()):
            try:
                r = httpx.get(url + "/v1/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=5)
                if r.status_code == 200:
                    del waiting[name]
            except httpx.HTTPError:
                pass
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{', '.join(waiting)} did not learn the admin user within {timeout:.0f} s "
                               "(identity.users.v1 not taken in)")
        time.sleep(0.05)
