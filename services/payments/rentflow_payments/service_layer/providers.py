"""Payment providers: registering, rotating and revoking their signing secrets, and the secrets a
request is checked against. Secrets are kept only encrypted (adapters.secret_box); they are
answered once, when made, and never listed.

Rotation: the new secret is valid at once and the previous one stays valid for the rollover window
(RENTFLOW_SECRET_ROLLOVER_HOURS), so a provider can switch without refused requests. Revocation:
no secret of the provider is valid any more (a later rotation issues a fresh one and reinstates it).
Who does it: the caller's identity comes with the route (the unit of work's `actor`)."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from rentflow_common.db import UnitOfWork
from rentflow_common.logging import get_logger

from rentflow_payments.adapters import repository as repo
from rentflow_payments.adapters.secret_box import SecretBox

log = get_logger(__name__)

MAX_CACHED = 10_000


class ProviderExists(Exception):
    pass


class UnknownProvider(Exception):
    pass


def new_secret() -> str:
    return secrets.token_hex(32)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request of the provider may be signed with, as of `now`."""
    current: str
    previous: str | None
    previous_until: datetime | None
    legacy_signature: bool

    def valid(self, now: datetime) -> tuple[str, ...]:
        if self.previous is not None and self.previous_until is not None and now < self.previous_until:
            return (self.current, self.previous)
        return (self.current,)


def view(row: repo.ProviderRow, now: datetime) -> dict[str, Any]:
    """A provider as `providers list` shows it: never a secret."""
    rolling = row.previous_secret_enc is not None and row.previous_valid_until is not None \
        and now < row.previous_valid_until
    return {"provider_id": row.provider_id, "name": row.provider_id,
            "status": "revoked" if row.revoked_at else "active",
            "legacy_signature": row.legacy_signature, "created_at": row.created_at, "rotated_at": row.rotated_at,
            "revoked_at": row.revoked_at, "previous_secret_valid_until": row.previous_valid_until if rolling else None}


async def register(uow: UnitOfWork, box: SecretBox, provider_id: str, secret: str | None, *,
                   legacy_signature: bool = False) -> str:
    """The provider's secret (generated when None); ProviderExists when the name is taken."""
    secret = secret if secret is not None else new_secret()
    if not await repo.add_provider(uow.raw, provider_id, box.seal(secret), legacy_signature=legacy_signature):
        raise ProviderExists(provider_id)
    log.info("provider.registered", provider_id=provider_id, legacy_signature=legacy_signature, actor=uow.actor)
    return secret


async def ensure(uow: UnitOfWork, box: SecretBox, provider_id: str) -> None:
    """Registers the provider (with a secret nobody is told) unless it exists: operator imports name
    a provider only to record where a file came from."""
    if await repo.add_provider(uow.raw, provider_id, box.seal(new_secret())):
        log.info("provider.registered", provider_id=provider_id, by="import", actor=uow.actor)


async def rotate(uow: UnitOfWork, box: SecretBox, provider_id: str, secret: str | None, *, now: datetime,
                 rollover: timedelta) -> tuple[str, datetime | None]:
    """(new secret, until when the previous one is still valid: None when it is not, as after a revocation)."""
    row = await repo.get_provider(uow.raw, provider_id, lock=True)
    if row is None:
        raise UnknownProvider(provider_id)
    secret = secret if secret is not None else new_secret()
    keep_previous = row.revoked_at is None and rollover > timedelta(0)
    until = now + rollover if keep_previous else None
    await repo.set_provider_secrets(uow.raw, provider_id, secret_enc=box.seal(secret),
                                    previous_secret_enc=row.secret_enc if keep_previous else None,
                                    previous_valid_until=until, at=now)
    log.info("provider.rotated", provider_id=provider_id, previous_valid_until=until, actor=uow.actor)
    return secret, until


async def revoke(uow: UnitOfWork, provider_id: str, *, now: datetime) -> None:
    row = await repo.get_provider(uow.raw, provider_id, lock=True)
    if row is None:
        raise UnknownProvider(provider_id)
    await repo.revoke_provider(uow.raw, provider_id, now)
    log.info("provider.revoked", provider_id=provider_id, actor=uow.actor)


def credentials(row: repo.ProviderRow | None, box: SecretBox) -> Credentials | None:
    if row is None or row.revoked_at is not None:
        return None
    return Credentials(box.open(row.secret_enc), box.open(row.previous_secret_enc) if row.previous_secret_enc else None,
                       row.previous_valid_until, row.legacy_signature)


class ProviderKeys:
    """Providers' credentials by provider_id, kept in memory for `ttl` seconds (a found provider and a
    missing one alike, so that answering for an unknown name takes as long as for a known one).
    This process forgets a provider at once when it changes it; another replica within `ttl`."""

    def __init__(self, engine: Any, box: SecretBox, ttl: float) -> None:
        self._engine, self._box, self._ttl = engine, box, ttl
        self._known: dict[str, tuple[float, Credentials | None]] = {}

    async def get(self, provider_id: str) -> Credentials | None:
        hit = self._known.get(provider_id)
        clock = time.monotonic()
        if hit is not None and clock - hit[0] < self._ttl:
            return hit[1]
        async with self._engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            found = credentials(await repo.get_provider(raw, provider_id), self._box)
        if len(self._known) >= MAX_CACHED:
            self._known.clear()
        self._known[provider_id] = (clock, found)
        return found

    def forget(self, provider_id: str) -> None:
        self._known.pop(provider_id, None)


async def check_key(uow: Callable[[], UnitOfWork], box: SecretBox) -> None:
    """At start: every stored secret opens with the configured key (SecretKeyMismatch otherwise), and is
    re-encrypted under the first key when RENTFLOW_SECRETS_KEY lists a new one first (all in one transaction)."""
    async with uow() as u:
        rows = await repo.list_providers(u.raw)
        for row in rows:
            box.open(row.secret_enc)
            if row.previous_secret_enc:
                box.open(row.previous_secret_enc)
        if rows and box.several_keys:
            await repo.reseal_provider_secrets(u.raw, box.rotate)
        await u.commit()
