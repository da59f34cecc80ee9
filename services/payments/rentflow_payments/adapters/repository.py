"""SQL of the payments schema, on the asyncpg connection of a unit of work. Set-based: a request's
payments go in with one statement (a COPY, or INSERT ... SELECT FROM unnest(...)), whatever their number."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Sequence

import orjson

from rentflow_common.db import copy_new_rows
from rentflow_payments.domain import events


class PaymentRow(NamedTuple):  # a tuple: one per payment taken in, cheaper to make than a frozen dataclass
    payment_id: uuid.UUID
    provider_ref: str
    channel: str
    amount_pence: int
    currency: str
    paid_at: datetime
    reference: str
    payer_name: str | None
    match_ref: str | None = None


# ---- providers -------------------------------------------------------------------------------
# Secrets are stored only as Fernet tokens (adapters.secret_box); nothing here sees them in clear.

@dataclass(frozen=True, slots=True)
class ProviderRow:
    provider_id: str
    secret_enc: str
    previous_secret_enc: str | None
    previous_valid_until: datetime | None
    legacy_signature: bool
    created_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None


PROVIDER_COLUMNS = ("provider_id, secret_enc, previous_secret_enc, previous_valid_until, legacy_signature, "
                    "created_at, rotated_at, revoked_at")


def _provider(row: Any) -> ProviderRow | None:
    return None if row is None else ProviderRow(*row.values())


async def get_provider(raw: Any, provider_id: str, *, lock: bool = False) -> ProviderRow | None:
    return _provider(await raw.fetchrow(
        f"select {PROVIDER_COLUMNS} from providers where provider_id = $1" + (" for update" if lock else ""),
        provider_id))


async def list_providers(raw: Any) -> list[ProviderRow]:
    return [ProviderRow(*r.values()) for r in await raw.fetch(
        f"select {PROVIDER_COLUMNS} from providers order by provider_id")]


async def add_provider(raw: Any, provider_id: str, secret_enc: str, *, legacy_signature: bool = False) -> bool:
    """False when the provider exists already."""
    added = await raw.fetchval(
        "insert into providers (provider_id, secret_enc, legacy_signature) values ($1, $2, $3) "
        "on conflict do nothing returning true", provider_id, secret_enc, legacy_signature)
    return bool(added)


async def set_provider_secrets(raw: Any, provider_id: str, *, secret_enc: str, previous_secret_enc: str | None,
                               previous_valid_until: datetime | None, at: datetime) -> None:
    await raw.execute(
        "update providers set secret_enc = $2, previous_secret_enc = $3, previous_valid_until = $4, "
        "rotated_at = $5, revoked_at = null where provider_id = $1",
        provider_id, secret_enc, previous_secret_enc, previous_valid_until, at)


async def revoke_provider(raw: Any, provider_id: str, at: datetime) -> None:
    await raw.execute(
        "update providers set revoked_at = $2, previous_secret_enc = null, previous_valid_until = null "
        "where provider_id = $1", provider_id, at)


async def reseal_provider_secrets(raw: Any, reseal: Any) -> int:
    """Every stored secret re-encrypted by `reseal(token) -> token` (a change of RENTFLOW_SECRETS_KEY)."""
    rows = await raw.fetch("select provider_id, secret_enc, previous_secret_enc from providers for update")
    for r in rows:
        await raw.execute("update providers set secret_enc = $2, previous_secret_enc = $3 where provider_id = $1",
                          r["provider_id"], reseal(r["secret_enc"]),
                          reseal(r["previous_secret_enc"]) if r["previous_secret_enc"] else None)
    return len(rows)


# ---- payments --------------------------------------------------------------------------------

INSERT_PAYMENTS = """
insert into payments (payment_id, provider_id, provider_ref, channel, amount_pence, currency, paid_at,
                      received_at, reference, payer_name, source, import_id, correlation_id, match_ref)
select u.payment_id, $1, u.provider_ref, u.channel, u.amount_pence, u.currency, u.paid_at,
       $2, u.reference, u.payer_name, $3, $4, $5, u.match_ref
from unnest($6::uuid[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::timestamptz[], $12::text[],
            $13::text[], $14::text[])
     as u(payment_id, provider_ref, channel, amount_pence, currency, paid_at, reference, payer_name, match_ref)
on conflict (payment_id) do nothing
returning provider_ref
"""
# The conflict is on the primary key, payment_id: derived from (provider_id, provider_ref), it says
# "this provider sent this payment before".
OPTIONAL_COLUMNS = (PaymentRow._fields.index("payer_name"), PaymentRow._fields.index("match_ref"))
PKEY = "payments_pkey"
# Fewer payments than this go straight in by ON CONFLICT: the savepoint's two round trips cost more than
# the COPY saves, and a transaction that inserts payments one at a time (a file's card events) would
# otherwise open a subtransaction per payment (past 64 in one transaction, PostgreSQL's snapshots of
# every session slow down).
COPY_ROWS = 64
# COPY's columns: a PaymentRow's, then the request's constants (insert_payments' keyword arguments)
COPY_COLUMNS = [*PaymentRow._fields, "provider_id", "received_at", "source", "import_id", "correlation_id"]


async def insert_payments(raw: Any, rows: Sequence[PaymentRow], *, provider_id: str, received_at: datetime,
                          source: str, import_id: uuid.UUID | None, correlation_id: str) -> set[str]:
    """Inserts the payments not yet known (by provider_ref); returns the provider_refs that are new.

    Most requests carry only new payments: a request's (COPY_ROWS or more) go in by a COPY in a
    savepoint (`copy_new_rows`: cheaper here and in PostgreSQL than INSERT ... ON CONFLICT DO NOTHING
    RETURNING over unnest arrays); when one is known already, the request's payments go in by that
    statement instead.

    Callers pass rows sorted by provider_ref with no repeats: concurrent requests then take row
    locks in the same order and cannot deadlock."""
    if not rows:
        return set()
    if len(rows) >= COPY_ROWS:
        constants = (provider_id, received_at, source, import_id, correlation_id)
        if await copy_new_rows(raw, "payments", [r + constants for r in rows], COPY_COLUMNS, primary_key=PKEY):
            return {r.provider_ref for r in rows}
    columns = [list(c) for c in zip(*rows)]  # a column per PaymentRow field, in order
    for i in OPTIONAL_COLUMNS:
        if columns[i].count(None) == len(rows):
            columns[i] = None  # unnest pads a null array with nulls: 500 nulls not encoded one by one
    return {r[0] for r in await raw.fetch(INSERT_PAYMENTS, provider_id, received_at, source, import_id,
                                          correlation_id, *columns)}


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
           on conflict (import_id) do update set attempts = imports.attempts + 1,
               status = case when imports.status = 'completed' then 'completed' else 'running' end""",
        import_id, provider_id, fmt, sha256, size)
    return previous


async def import_progress(raw: Any, import_id: uuid.UUID, *, processed: int, accepted: int, rejected: int,
                          duplicates: int, skipped: int) -> None:
    """Counts so far of a running import (GET /v1/imports/{id} shows them; the CLI polls it)."""
    await raw.execute(
        "update imports set processed = $2, accepted = $3, rejected = $4, duplicates = $5, skipped = $6 "
        "where import_id = $1", import_id, processed, accepted, rejected, duplicates, skipped)


async def finish_import(raw: Any, import_id: uuid.UUID, *, accepted: int, rejected: int, duplicates: int,
                        errors: list[dict[str, Any]], skipped: int = 0, processed: int = 0,
                        details: dict[str, Any] | None = None) -> None:
    await raw.execute(
        """update imports set status = 'completed', accepted = $2, rejected = $3, duplicates = $4,
                              errors = $5::jsonb, completed_at = now(), skipped = $6, processed = $7,
                              details = $8::jsonb
           where import_id = $1""",
        import_id, accepted, rejected, duplicates, orjson.dumps(errors).decode(), skipped, processed,
        orjson.dumps(details or {}).decode())


async def fail_import(raw: Any, import_id: uuid.UUID, reason: str) -> None:
    """The file could not be read as a whole: nothing of it was posted."""
    await raw.execute(
        """update imports set status = 'failed', errors = $2::jsonb, completed_at = now()
           where import_id = $1 and status <> 'completed'""",
        import_id, orjson.dumps([{"field": None, "reason": reason}]).decode())


async def get_import(raw: Any, import_id: uuid.UUID) -> dict[str, Any] | None:
    row = await raw.fetchrow(
        """select import_id, provider_id, format, sha256, size_bytes, status, attempts, accepted, rejected,
                  duplicates, skipped, processed, errors, details, created_at, completed_at
           from imports where import_id = $1""", import_id)
    return _import(row) if row else None


def _import(row: Any) -> dict[str, Any]:
    out = dict(row)
    for key in ("errors", "details"):
        if isinstance(out[key], (str, bytes)):  # the engine's connections decode jsonb already
            out[key] = orjson.loads(out[key])
    details = out.pop("details") or {}
    return {**details, **out}


async def imports_of_file(raw: Any, sha256: str) -> list[dict[str, Any]]:
    rows = await raw.fetch(
        """select import_id, provider_id, format, sha256, size_bytes, status, attempts, accepted, rejected,
                  duplicates, skipped, processed, '[]'::jsonb as errors, '{}'::jsonb as details, created_at,
                  completed_at
           from imports where sha256 = $1 order by created_at""", sha256)
    return [_import(r) for r in rows]


# ---- Direct Debit returns, mandate instructions, reversals -----------------------------------

async def insert_returns(raw: Any, rows: Sequence[tuple[Any, ...]]) -> set[uuid.UUID]:
    """(return_id, provider_id, import_id, source, reference, amount, code, original date, reported on,
    received_at) rows; returns the ids that are new."""
    if not rows:
        return set()
    cols = [list(c) for c in zip(*rows)]
    records = await raw.fetch(
        """insert into dd_returns (return_id, provider_id, import_id, source, reference, amount_pence, return_code,
                                   original_processing_date, reported_on, received_at)
           select * from unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::bigint[],
                                $7::text[], $8::date[], $9::date[], $10::timestamptz[])
           on conflict (return_id) do nothing returning return_id""", *cols)
    return {r[0] for r in records}


async def insert_instructions(raw: Any, rows: Sequence[tuple[Any, ...]]) -> set[uuid.UUID]:
    """(instruction_id, provider_id, import_id, source, reference, reason_code, action, effective_date,
    received_at) rows; returns the ids that are new."""
    if not rows:
        return set()
    cols = [list(c) for c in zip(*rows)]
    records = await raw.fetch(
        """insert into mandate_instructions (instruction_id, provider_id, import_id, source, reference, reason_code,
                                             action, effective_date, received_at)
           select * from unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[],
                                $8::date[], $9::timestamptz[])
           on conflict (instruction_id) do nothing returning instruction_id""", *cols)
    return {r[0] for r in records}


async def known_reversals(raw: Any, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    return {r[0] for r in await raw.fetch("select reversal_id from reversals where reversal_id = any($1::uuid[])",
                                          list(ids))}


# One branch per kind of hint, each with its own conditions, so that each can use an index: the
# primary key for a provider_ref (by the payment_id derived from it), payments_match_ref (partial: only payments with a match_ref) for
# an EndToEndId; amount, reference and payer only by the provider's payments (no index for those).
_ORIGINAL = """
select h.n, c.payment_id, c.provider_ref, c.left_pence
from h cross join lateral (
    select c.payment_id, c.provider_ref, c.left_pence
    from (select p.payment_id, p.provider_ref, p.paid_at,
                 p.amount_pence - coalesce((select sum(r.amount_pence) from reversals r
                                            where r.payment_id = p.payment_id), 0) as left_pence
          from payments p
          where p.provider_id = $1 and {match}) c
    order by c.left_pence >= h.amount desc, c.paid_at desc, c.provider_ref
    limit 1) c
where {branch}
"""
FIND_ORIGINALS = (
    "with h as (select * from unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], "
    "$8::timestamptz[], $9::uuid[]) as h(n, provider_ref, match_ref, reference, payer_name, amount, reversed_at, "
    "payment_id))"
    + _ORIGINAL.format(branch="h.provider_ref is not null", match="p.payment_id = h.payment_id")
    + "union all" + _ORIGINAL.format(
        branch="h.provider_ref is null and h.match_ref is not null",
        match="p.match_ref is not null and p.match_ref = h.match_ref and p.amount_pence >= h.amount "
              "and p.paid_at <= h.reversed_at")
    + "union all" + _ORIGINAL.format(
        branch="h.provider_ref is null and h.match_ref is null",
        match="p.amount_pence = h.amount and p.reference = h.reference "
              "and p.payer_name is not distinct from h.payer_name and p.paid_at <= h.reversed_at"))


async def find_originals(raw: Any, provider_id: str, hints: Sequence[tuple[Any, ...]]) -> dict[int, tuple[uuid.UUID, str, int]]:
    """For (n, provider_ref, match_ref, reference, payer_name, amount, reversed_at) hints: n → (payment_id,
    provider_ref, pence not yet reversed) of the payment each reverses (the latest that fits, preferring
    one with enough left)."""
    if not hints:
        return {}
    cols = [list(c) for c in zip(*hints)]
    pids = [None if ref is None else events.payment_id(provider_id, ref) for ref in cols[1]]
    rows = await raw.fetch(FIND_ORIGINALS, provider_id, *cols, pids)
    return {r["n"]: (r["payment_id"], r["provider_ref"], r["left_pence"]) for r in rows}


async def insert_reversals(raw: Any, rows: Sequence[tuple[Any, ...]]) -> set[uuid.UUID]:
    """(reversal_id, provider_id, payment_id, kind, amount, reversed_at, reason, source, import_id,
    received_at) rows; returns the ids that are new."""
    if not rows:
        return set()
    cols = [list(c) for c in zip(*rows)]
    records = await raw.fetch(
        """insert into reversals (reversal_id, provider_id, payment_id, kind, amount_pence, reversed_at, reason,
                                  source, import_id, received_at)
           select * from unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::bigint[], $6::timestamptz[],
                                $7::text[], $8::text[], $9::uuid[], $10::timestamptz[])
           on conflict (reversal_id) do nothing returning reversal_id""", *cols)
    return {r[0] for r in records}


# ---- GOV.UK Pay ------------------------------------------------------------------------------

async def claim_webhook_message(raw: Any, message_id: str, resource_id: str, event_type: str,
                                received_at: Any) -> bool:
    """False when this delivery was handled before."""
    return bool(await raw.fetchval(
        "insert into webhook_messages values ($1, $2, $3, $4) on conflict do nothing returning true",
        message_id, resource_id, event_type, received_at))


async def lock_card_payment(raw: Any, resource_id: str, provider_id: str, at: Any) -> Any:
    """The card payment's row, created as 'started' when first heard of, locked until commit (its
    events are then handled one after another whatever order they arrive in)."""
    await raw.execute("insert into card_payments (resource_id, provider_id, state, updated_at) "
                      "values ($1, $2, 'started', $3) on conflict do nothing", resource_id, provider_id, at)
    return await raw.fetchrow("select * from card_payments where resource_id = $1 for update", resource_id)


async def update_card_payment(raw: Any, resource_id: str, *, state: str, amount: int | None, refunded: int,
                              at: Any) -> None:
    await raw.execute("update card_payments set state = $2, amount_pence = coalesce($3, amount_pence), "
                      "refunded_pence = $4, updated_at = $5 where resource_id = $1",
                      resource_id, state, amount, refunded, at)


# --- signatures seen (replay protection inside the signature's time window) ------------------

SIGNATURES_DDL = [
    """create table if not exists signatures_seen (
        provider_id text not null,
        t bigint not null,
        body_sha256 bytea not null,
        seen_at timestamptz not null default now(),
        expires_at timestamptz not null,
        primary key (provider_id, t, body_sha256)
    )""",
    "create index if not exists signatures_seen_expiry on signatures_seen (expires_at)",
]


async def signature_seen_at(raw: Any, provider_id: str, t: int, body_sha256: bytes) -> datetime | None:
    return await raw.fetchval("select seen_at from signatures_seen where provider_id = $1 and t = $2 "
                              "and body_sha256 = $3", provider_id, t, body_sha256)


async def note_signature(raw: Any, provider_id: str, t: int, body_sha256: bytes, keep_seconds: int) -> bool:
    """Records a signed request (provider, t, body digest) until its time window has passed: False when
    it was recorded before (a replay). In the caller's transaction, so a request that fails leaves
    nothing and may be sent again as it was."""
    row = await raw.fetchval(
        "insert into signatures_seen (provider_id, t, body_sha256, expires_at) "
        "values ($1, $2, $3, to_timestamp($2 + $4::bigint)) on conflict do nothing returning true",
        provider_id, t, body_sha256, keep_seconds)
    return bool(row)


async def forget_expired_signatures(raw: Any) -> int:
    done = await raw.execute("delete from signatures_seen where expires_at < now()")
    return int(done.split()[-1])
