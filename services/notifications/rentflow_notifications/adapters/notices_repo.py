"""SQL for notices, their deliveries and contact addresses. Set-based: a chunk of notices is a
handful of statements. `raw` is the asyncpg connection of the caller's unit of work."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Sequence

import orjson

NOTICE_COLUMNS = ("notice_id, kind, source_id, account_ref, status, run, input, letter_date, served_on, effective_on, "
                  "old_weekly_pence, new_weekly_pence, amount_pence, document, html_document, pages, reason, "
                  "correlation_id, causation_id, received_at, updated_at")
_N_COLUMNS = ", ".join("n." + c.strip() for c in NOTICE_COLUMNS.split(","))
_INSERT_COLS = ("notice_id", "kind", "source_id", "account_ref", "status", "run", "input", "letter_date", "served_on",
                "effective_on", "old_weekly_pence", "new_weekly_pence", "amount_pence", "reason", "correlation_id",
                "causation_id")
_INSERT_TYPES = ("uuid", "text", "uuid", "text", "text", "text", "jsonb", "date", "date", "date", "bigint", "bigint",
                 "bigint", "text", "text", "uuid")


def _row(r: Any) -> dict[str, Any]:
    out = dict(r)
    if isinstance(out.get("input"), str):
        out["input"] = orjson.loads(out["input"])
    return out


async def insert_notices(raw: Any, notices: Sequence[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    """Notices not seen before (one per source: a rent change, a DD failure); returns those inserted."""
    if not notices:
        return []
    cols = [[(orjson.dumps(n[c]).decode() if c == "input" else n.get(c)) for n in notices] for c in _INSERT_COLS]
    params = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_INSERT_TYPES))
    rows = await raw.fetch(
        f"""insert into notices ({", ".join(_INSERT_COLS)}, received_at, updated_at)
            select u.*, ${len(cols) + 1}, ${len(cols) + 1} from unnest({params}) as u
            on conflict (source_id) do nothing
            returning {NOTICE_COLUMNS}""", *cols, now)
    return [_row(r) for r in rows]


async def claim_pending(raw: Any, limit: int) -> list[dict[str, Any]]:
    """The oldest pending notices, locked for this transaction (another instance skips them)."""
    rows = await raw.fetch(
        f"""select {NOTICE_COLUMNS} from notices where status = 'pending'
            order by received_at, notice_id limit $1 for update skip locked""", limit)
    return [_row(r) for r in rows]


async def finish_notices(raw: Any, done: Sequence[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    """Rendered, refused or failed: status, dates, documents and reason, for a chunk."""
    if not done:
        return []
    keys = ("notice_id", "status", "letter_date", "served_on", "effective_on", "document", "html_document", "pages",
            "reason")
    rows = await raw.fetch(
        f"""update notices n set status = u.status, letter_date = u.letter_date, served_on = u.served_on,
                   effective_on = u.effective_on, document = u.document, html_document = u.html_document,
                   pages = u.pages, reason = u.reason, updated_at = $10
            from unnest($1::uuid[], $2::text[], $3::date[], $4::date[], $5::date[], $6::text[], $7::text[],
                        $8::int[], $9::text[])
                 as u(notice_id, status, letter_date, served_on, effective_on, document, html_document, pages, reason)
            where n.notice_id = u.notice_id
            returning {_N_COLUMNS}""", *([d.get(k) for d in done] for k in keys), now)
    return [_row(r) for r in rows]


async def list_notices(raw: Any, *, kind: str | None, status: str | None, account_ref: str | None,
                       run: str | None, limit: int, patches: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Notices, oldest first; with `patches` (an officer's), only those of accounts known to be in them."""
    rows = await raw.fetch(
        f"""select {NOTICE_COLUMNS}, count(*) over () as total,
                   (select coalesce(jsonb_agg(jsonb_build_object('channel', d.channel, 'status', d.status,
                           'address', d.address, 'attempts', d.attempts, 'detail', d.detail,
                           'print_file', d.print_file, 'sent_at', d.sent_at) order by d.channel), '[]'::jsonb)
                    from deliveries d where d.notice_id = notices.notice_id) as deliveries
            from notices
            where ($1::text is null or kind = $1) and ($2::text is null or status = $2)
              and ($3::text is null or account_ref = $3) and ($4::text is null or run = $4)
              and ($6::text[] is null or exists (select 1 from accounts a where a.account_ref = notices.account_ref
                                                   and a.patch = any($6)))
            order by received_at, account_ref, notice_id limit $5""", kind, status, account_ref, run, limit,
        None if patches is None else list(patches))
    out = []
    for r in rows:
        row = _row(r)
        if isinstance(row["deliveries"], str):
            row["deliveries"] = orjson.loads(row["deliveries"])
        out.append(row)
    return out


async def progress(raw: Any) -> list[dict[str, Any]]:
    """Per run: notices by status and email deliveries by status."""
    rows = await raw.fetch(
        """select n.run, n.kind, count(*) as received,
                  count(*) filter (where n.status = 'pending') as pending,
                  count(*) filter (where n.status = 'produced') as produced,
                  count(*) filter (where n.status = 'refused') as refused,
                  count(*) filter (where n.status = 'failed') as failed,
                  coalesce(sum(n.pages) filter (where n.status = 'produced'), 0) as pages,
                  min(n.received_at) as first_received_at, max(n.updated_at) as last_change_at,
                  (select count(*) from deliveries d join notices m using (notice_id)
                   where m.run = n.run and d.channel = 'email' and d.status in ('pending', 'sending')) as email_pending,
                  (select count(*) from deliveries d join notices m using (notice_id)
                   where m.run = n.run and d.channel = 'email' and d.status = 'sent') as email_sent,
                  (select count(*) from deliveries d join notices m using (notice_id)
                   where m.run = n.run and d.channel = 'email' and d.status = 'failed') as email_failed
           from notices n group by n.run, n.kind order by min(n.received_at), n.run""")
    return [dict(r) for r in rows]


async def pending_work(raw: Any) -> int:
    """Notices still to render and emails still to send (for `rentflow wait`)."""
    return int(await raw.fetchval(
        """select (select count(*) from notices where status = 'pending')
                + (select count(*) from deliveries where status in ('pending', 'sending'))"""))


# --- contacts ------------------------------------------------------------------------------

async def set_contact(raw: Any, account_ref: str, email: str | None, now: dt.datetime) -> dict[str, Any]:
    row = await raw.fetchrow(
        """insert into contacts (account_ref, email, updated_at) values ($1, $2, $3)
           on conflict (account_ref) do update set email = excluded.email, updated_at = excluded.updated_at
           returning account_ref, email, updated_at""", account_ref, email, now)
    return dict(row)


async def emails_by_ref(raw: Any, refs: Sequence[str]) -> dict[str, str]:
    if not refs:
        return {}
    rows = await raw.fetch("select account_ref, email from contacts where account_ref = any($1::text[]) "
                           "and email is not null", sorted(set(refs)))
    return {r["account_ref"]: r["email"] for r in rows}


# --- deliveries ----------------------------------------------------------------------------

async def insert_deliveries(raw: Any, rows: Sequence[dict[str, Any]], now: dt.datetime) -> None:
    """One delivery per notice and channel; the unique (notice_id, channel) is the idempotency key."""
    if not rows:
        return
    keys = ("delivery_id", "notice_id", "channel", "address", "status", "detail")
    await raw.execute(
        """insert into deliveries (delivery_id, notice_id, channel, address, status, detail, next_attempt_at,
                                   updated_at)
           select u.*, case when u.status = 'pending' then $7::timestamptz end, $7
           from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[])
                as u(delivery_id, notice_id, channel, address, status, detail)
           on conflict (notice_id, channel) do nothing""", *([r[k] for r in rows] for k in keys), now)


async def claim_emails(raw: Any, now: dt.datetime, lease: dt.timedelta, limit: int,
                       claimant: str | None = None) -> list[dict[str, Any]]:
    """Email deliveries due (pending, or `sending` whose lease ran out: the process that held it
    died, maybe after the SMTP server took the message), marked `sending` until now + lease by
    `claimant` (the claiming process's reaper.process_key)."""
    rows = await raw.fetch(
        """update deliveries d set status = 'sending', attempts = d.attempts + 1, next_attempt_at = $2,
                   updated_at = $1, claimed_by = $4
            from (select delivery_id from deliveries
                  where status in ('pending', 'sending') and channel = 'email' and next_attempt_at <= $1
                  order by next_attempt_at, delivery_id limit $3 for update skip locked) due,
                 notices n
            where d.delivery_id = due.delivery_id and n.notice_id = d.notice_id
            returning d.delivery_id, d.channel, d.address, d.attempts, n.notice_id, n.kind, n.account_ref,
                      n.letter_date, n.served_on, n.effective_on, n.old_weekly_pence, n.new_weekly_pence,
                      n.amount_pence, n.document, n.html_document, n.correlation_id, n.causation_id""",
        now, now + lease, limit, claimant)
    return [_row(r) for r in rows]


async def held_emails(raw: Any, now: dt.datetime) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """(delivery_id, notice_id, claimed_by) of the emails being sent under a lease still running."""
    rows = await raw.fetch(
        """select delivery_id, notice_id, claimed_by from deliveries
           where status = 'sending' and channel = 'email' and next_attempt_at > $1 and claimed_by is not null""", now)
    return [tuple(r) for r in rows]


async def end_leases(raw: Any, held: Sequence[tuple[uuid.UUID, str]], now: dt.datetime) -> int:
    """Makes each (delivery_id, claimed_by) email due now, if that claim still holds it."""
    if not held:
        return 0
    result = await raw.execute(
        """update deliveries d set next_attempt_at = $3, updated_at = $3
           from unnest($1::uuid[], $2::text[]) as h(delivery_id, claimed_by)
           where d.delivery_id = h.delivery_id and d.claimed_by = h.claimed_by and d.status = 'sending'""",
        [d for d, _ in held], [c for _, c in held], now)
    return int(result.split()[-1])


async def finish_delivery(raw: Any, delivery_id: uuid.UUID, *, status: str, now: dt.datetime,
                          detail: str | None = None, message_id: str | None = None,
                          next_attempt_at: dt.datetime | None = None) -> None:
    await raw.execute(
        """update deliveries set status = $2, detail = $3, message_id = coalesce($4, message_id),
                  next_attempt_at = $5, sent_at = case when $2 = 'sent' then $6 else sent_at end, updated_at = $6
           where delivery_id = $1""", delivery_id, status, detail, message_id, next_attempt_at, now)


async def printable(raw: Any, kind: str, run: str, patches: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Produced letters of a run, in print order (patch, then account); only `patches`' when given."""
    rows = await raw.fetch(
        """select n.notice_id, n.account_ref, n.document from notices n
           left join accounts a on a.account_ref = n.account_ref
           where n.kind = $1 and n.run = $2 and n.status = 'produced' and n.document is not null
             and ($3::text[] is null or a.patch = any($3))
           order by a.patch nulls last, n.account_ref, n.notice_id""", kind, run,
        None if patches is None else list(patches))
    return [dict(r) for r in rows]


async def mark_printed(raw: Any, notice_ids: Sequence[uuid.UUID], print_file: str, now: dt.datetime) -> None:
    await raw.execute(
        """update deliveries set status = 'printed', print_file = $2, updated_at = $3
           where channel = 'letter' and notice_id = any($1::uuid[])""", list(notice_ids), print_file, now)
