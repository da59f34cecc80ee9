"""SQL of the payments schema, on the asyncpg connection of a unit of work. Set-based: a request's
payments go in with one INSERT ... SELECT FROM unnest(...), whatever their number."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import orjson


@dataclass(frozen=True, slots=True)
class PaymentRow:
    payment_id: str
    provider_ref: str
    channel: str
    amount_pence: int
    currency: str
    paid_at: datetime
    reference: str
    payer_name: str | None


# ---- providers -------------------------------------------------------------------------------

async def provider_secret(raw: Any, provider_id: str) -> str | None:
    return await raw.fetchval("select secret from providers where provider_id = $1", provider_id)


async def add_provider(raw: Any, provider_id: str, secret: str) -> bool:
    """False when the provider exists already."""
    added = await raw.fetchval(
        "insert into providers (provider_id, secret) values ($1, $2) on conflict do nothing returning true",
        provider_id, secret)
    return bool(added)


# ---- payments --------------------------------------------------------------------------------

INSERT_PAYMENTS = """
insert into payments (payment_id, provider_id, provider_ref, channel, amount_pence, currency, paid_at,
                      received_at, reference, payer_name, source, import_id, correlation_id)
select u.payment_id, $1, u.provider_ref, u.channel, u.amount_pence, u.currency, u.paid_at,
       $2, u.reference, u.payer_name, $3, $4, $5
from unnest($6::uuid[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::timestamptz[], $12::text[],
            $13::text[])
     as u(payment_id, provider_ref, channel, amount_pence, currency, paid_at, reference, payer_name)
on conflict (provider_id, provider_ref) do nothing
returning provider_ref
"""


async def insert_payments(raw: Any, rows: Sequence[PaymentRow], *, provider_id: str, received_at: datetime,
                          source: str, import_id: uuid.UUID | None, correlation_id: str) -> set[str]:
    """Inserts the payments not yet known (by provider_ref); returns the provider_refs that are new.

    Callers pass rows sorted by provider_ref with no repeats: concurrent requests then take row
    locks in the same order and cannot deadlock."""
    if not rows:
        return set()
    records = await raw.fetch(
        INSERT_PAYMENTS, provider_id, received_at, source, import_id, correlation_id,
        [r.payment_id for r in rows], [r.provider_ref for r in rows], [r.channel for r in rows],
        [r.amount_pence for r in rows], [r.currency for r in rows], [r.paid_at for r in rows],
        [r.reference for r in rows], [r.payer_name for r in rows])
    return {r[0] for r in records}


async def get_payment(raw: Any, payment_id: uuid.UUID) -> dict[str, Any] | None:
    row = await raw.fetchrow(
        """select payment_id, provider_id, provider_ref, channel, amount_pence, currency, paid_at, received_at,
                  reference, payer_name, source, import_id, correlation_id
           from payments where payment_id = $1""", payment_id)
    return dict(row) if row else None


# ---- idempotency keys ------------------------------------------------------------------------

async def idempotent_response(raw: Any, provider_id: str, key: str) -> tuple[bytes, str, int, bytes] | None:
    """(request sha256, path, status code, response body) stored for the key, if any."""
    row = await raw.fetchrow(
        "select request_sha256, path, status_code, response from idempotency_keys"
        " where provider_id = $1 and idempotency_key = $2", provider_id, key)
    return (bytes(row[0]), row[1], row[2], bytes(row[3])) if row else None


async def claim_idempotency_key(raw: Any, provider_id: str, key: str, request_sha256: bytes, path: str,
                                status_code: int, response: bytes) -> bool:
    """Stores the response under the key; False if another request holds the key already."""
    stored = await raw.fetchval(
        """insert into idempotency_keys (provider_id, idempotency_key, request_sha256, path, status_code, response)
           values ($1, $2, $3, $4, $5, $6) on conflict do nothing returning true""",
        provider_id, key, request_sha256, path, status_code, response)
    return bool(stored)


# ---- file imports ----------------------------------------------------------------------------

async def start_import(raw: Any, import_id: uuid.UUID, provider_id: str, fmt: str, sha256: str,
                       size: int) -> str | None:
    """Records an import attempt; returns the status of an earlier attempt of the same file, if any."""
    previous = await raw.fetchval("select status from imports where import_id = $1", import_id)
    await raw.execute(
        """insert into imports (import_id, provider_id, format, sha256, size_bytes, status)
           values ($1, $2, $3, $4, $5, 'running')
           on conflict (import_id) do update set attempts = imports.attempts + 1""",
        import_id, provider_id, fmt, sha256, size)
    return previous


async def finish_import(raw: Any, import_id: uuid.UUID, *, accepted: int, rejected: int, duplicates: int,
                        errors: list[dict[str, Any]]) -> None:
    await raw.execute(
        """update imports set status = 'completed', accepted = $2, rejected = $3, duplicates = $4,
                              errors = $5::jsonb, completed_at = now()
           where import_id = $1""",
        import_id, accepted, rejected, duplicates, orjson.dumps(errors).decode())


async def get_import(raw: Any, import_id: uuid.UUID) -> dict[str, Any] | None:
    row = await raw.fetchrow(
        """select import_id, provider_id, format, sha256, size_bytes, status, attempts, accepted, rejected,
                  duplicates, errors, created_at, completed_at from imports where import_id = $1""", import_id)
    if not row:
        return None
    out = dict(row)
    if isinstance(out["errors"], (str, bytes)):  # the engine's connections decode jsonb already
        out["errors"] = orjson.loads(out["errors"])
    return out
