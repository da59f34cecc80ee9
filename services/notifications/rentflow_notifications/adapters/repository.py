"""SQL for the notifications schema. Every statement is set-based (unnest arrays), so a
consumer batch of thousands of events costs a handful of round trips. `raw` is the asyncpg
connection of the caller's unit of work."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Iterable, Sequence

from rentflow_notifications.domain.assignment import SHARED_QUEUE, Account, Officer

TASK_COLUMNS = ("task_id, kind, account_ref, assigned_to, status, due_on, reason, payment_id, created_at, "
                "updated_at, claimed_by, completed_by, completed_at, outcome, dedupe_key, occurrences, amount_pence, "
                "return_code, reference")
T_TASK_COLUMNS = ", ".join("t." + c.strip() for c in TASK_COLUMNS.split(","))


# --- officers -----------------------------------------------------------------------------

async def upsert_officer(raw: Any, officer_id: uuid.UUID, name: str, role: str,
                         patches: Sequence[str]) -> tuple[dict[str, Any], bool]:
    """Creates the officer, or replaces an existing one's role and patches. Returns (row, created)."""
    row = await raw.fetchrow(
        """insert into officers (officer_id, name, role) values ($1, $2, $3)
           on conflict (name) do update set role = excluded.role, updated_at = now()
           returning officer_id, name, role, created_at, (xmax = 0) as created""",
        officer_id, name, role)
    await raw.execute("delete from officer_patches where name = $1", name)
    if patches:
        await raw.execute(
            "insert into officer_patches (name, patch) select $1, p from unnest($2::text[]) p on conflict do nothing",
            name, list(patches))
    out = dict(row)
    created = out.pop("created")
    out["patches"] = sorted(set(patches))
    return out, created


async def list_officers(raw: Any) -> list[dict[str, Any]]:
    rows = await raw.fetch(
        """select o.officer_id, o.name, o.role, o.created_at,
                  coalesce(array_agg(p.patch order by p.patch) filter (where p.patch is not null), '{}') as patches
           from officers o left join officer_patches p on p.name = o.name
           group by o.officer_id order by o.name""")
    return [dict(r) for r in rows]


async def load_officers(raw: Any) -> list[Officer]:
    """The whole (small) officer directory, for assignment."""
    return [Officer(name=r["name"], role=r["role"], patches=frozenset(r["patches"])) for r in await list_officers(raw)]


# --- account directory (from ledger.accounts.v1) -------------------------------------------

async def upsert_accounts(raw: Any, accounts: Sequence[dict[str, Any]]) -> None:
    """Rows of account_ref, patch, officer, property, payment_method, tenancy_start, tenancy_end."""
    if not accounts:
        return
    cols = ("account_ref", "patch", "officer", "property", "payment_method", "tenancy_start", "tenancy_end")
    await raw.execute(
        """insert into accounts (account_ref, patch, officer, property, payment_method, tenancy_start, tenancy_end,
                                 updated_at)
           select *, now() from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[],
                                       $7::date[])
           on conflict (account_ref) do update
             set patch = excluded.patch, officer = excluded.officer, property = excluded.property,
                 payment_method = excluded.payment_method, tenancy_start = excluded.tenancy_start,
                 tenancy_end = excluded.tenancy_end, updated_at = now()""",
        *([a[c] for a in accounts] for c in cols))


async def directory(raw: Any, refs: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Everything we know of these accounts (tenant_name from rent changes, the rest from accounts)."""
    refs = sorted(set(refs))
    if not refs:
        return {}
    rows = await raw.fetch("""select account_ref, patch, officer, property, payment_method, tenant_name
                              from accounts where account_ref = any($1::text[])""", refs)
    return {r["account_ref"]: dict(r) for r in rows}


async def remember_tenants(raw: Any, names: dict[str, str]) -> None:
    """Tenant names arrive on rent changes only (AccountUpserted has none)."""
    if names:
        await raw.execute("""update accounts a set tenant_name = u.name from unnest($1::text[], $2::text[]) u(ref, name)
                             where a.account_ref = u.ref""", list(names), list(names.values()))


async def accounts_by_ref(raw: Any, refs: Iterable[str]) -> dict[str, Account]:
    refs = sorted(set(refs))
    if not refs:
        return {}
    rows = await raw.fetch("select account_ref, patch, officer from accounts where account_ref = any($1::text[])", refs)
    return {r["account_ref"]: Account(r["account_ref"], r["patch"], r["officer"]) for r in rows}


# --- tasks ---------------------------------------------------------------------------------

async def insert_tasks(raw: Any, kind: str, tasks: Sequence[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    """Inserts the tasks that do not exist yet; returns only those (redelivery inserts nothing)."""
    if not tasks:
        return []
    rows = await raw.fetch(
        f"""insert into tasks (task_id, kind, account_ref, assigned_to, status, due_on, reason, payment_id,
                               created_at, updated_at)
            select t.task_id, $1, t.account_ref, t.assigned_to, 'open', t.due_on, t.reason, t.payment_id, $8, $8
            from unnest($2::uuid[], $3::text[], $4::text[], $5::date[], $6::text[], $7::uuid[])
                 as t(task_id, account_ref, assigned_to, due_on, reason, payment_id)
            on conflict (task_id) do nothing
            returning {TASK_COLUMNS}""",
        kind, [t["task_id"] for t in tasks], [t["account_ref"] for t in tasks], [t["assigned_to"] for t in tasks],
        [t["due_on"] for t in tasks], [t["reason"] for t in tasks], [t["payment_id"] for t in tasks], now)
    return [dict(r) for r in rows]


async def reword_tasks(raw: Any, rewordings: Sequence[tuple[uuid.UUID, str]], now: dt.datetime) -> list[dict[str, Any]]:
    """(task_id, reason) → the not-yet-done tasks whose reason this changes; returns those changed."""
    if not rewordings:
        return []
    rows = await raw.fetch(
        f"""update tasks t set reason = u.reason, updated_at = $3
            from unnest($1::uuid[], $2::text[]) as u(task_id, reason)
            where t.task_id = u.task_id and t.status <> 'done' and t.reason <> u.reason
            returning {T_TASK_COLUMNS}""",
        [r[0] for r in rewordings], [r[1] for r in rewordings], now)
    return [dict(r) for r in rows]


async def complete_tasks(raw: Any, completions: Sequence[tuple[uuid.UUID, str | None, str | None]],
                         now: dt.datetime) -> list[dict[str, Any]]:
    """(task_id, by, outcome) → marks the not-yet-done ones done; returns those changed."""
    if not completions:
        return []
    rows = await raw.fetch(
        f"""update tasks t set status = 'done', completed_by = u.by, outcome = u.outcome,
                   completed_at = $4, updated_at = $4
            from unnest($1::uuid[], $2::text[], $3::text[]) as u(task_id, by, outcome)
            where t.task_id = u.task_id and t.status <> 'done'
            returning {T_TASK_COLUMNS}""",
        [c[0] for c in completions], [c[1] for c in completions], [c[2] for c in completions], now)
    return [dict(r) for r in rows]


async def queued_tasks(raw: Any, *, account_refs: Sequence[str] | None = None,
                       patches: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Open tasks still in the shared queue whose account is known, for the given accounts or
    for accounts in the given patches, with the account's patch and named officer."""
    rows = await raw.fetch(
        """select t.task_id, a.account_ref, a.patch, a.officer
           from tasks t join accounts a on a.account_ref = t.account_ref
           where t.status = 'open' and t.assigned_to = $1
             and ($2::text[] is null or a.account_ref = any($2::text[]))
             and ($3::text[] is null or a.patch = any($3::text[]))
           for update of t""",
        SHARED_QUEUE, list(account_refs) if account_refs is not None else None,
        list(patches) if patches is not None else None)
    return [dict(r) for r in rows]


async def reassign_from_queue(raw: Any, moves: Sequence[tuple[uuid.UUID, str]], now: dt.datetime) -> list[dict[str, Any]]:
    if not moves:
        return []
    rows = await raw.fetch(
        f"""update tasks t set assigned_to = u.assigned_to, updated_at = $3
            from unnest($1::uuid[], $2::text[]) as u(task_id, assigned_to)
            where t.task_id = u.task_id and t.status = 'open' and t.assigned_to = '{SHARED_QUEUE}'
            returning {T_TASK_COLUMNS}""",
        [m[0] for m in moves], [m[1] for m in moves], now)
    return [dict(r) for r in rows]


async def get_task(raw: Any, task_id: uuid.UUID, *, for_update: bool = False) -> dict[str, Any] | None:
    row = await raw.fetchrow(f"select {TASK_COLUMNS} from tasks where task_id = $1"
                             + (" for update" if for_update else ""), task_id)
    return dict(row) if row else None


async def update_task(raw: Any, task_id: uuid.UUID, *, status: str, assigned_to: str, now: dt.datetime,
                      claimed_by: str | None = None, completed_by: str | None = None,
                      outcome: str | None = None) -> dict[str, Any]:
    row = await raw.fetchrow(
        f"""update tasks set status = $2, assigned_to = $3, updated_at = $4,
                   claimed_by = coalesce($5, claimed_by),
                   completed_by = coalesce($6, completed_by),
                   completed_at = case when $2 = 'done' then $4 else completed_at end,
                   outcome = coalesce($7, outcome)
            where task_id = $1 returning {TASK_COLUMNS}""",
        task_id, status, assigned_to, now, claimed_by, completed_by, outcome)
    return dict(row)


async def list_tasks(raw: Any, *, status: str | None, kind: str | None, assigned_to: str | None,
                     account_ref: str | None, limit: int, patches: Sequence[str] | None = None,
                     me: str | None = None) -> list[dict[str, Any]]:
    """Tasks, soonest due first. With `patches` (an officer's), only tasks on accounts in them, tasks
    given to `me`, and the shared queue's tasks on no known account."""
    rows = await raw.fetch(
        f"""select {T_TASK_COLUMNS}, count(*) over () as total from tasks t
            left join accounts a on a.account_ref = t.account_ref
            where ($1::text is null or t.status = $1) and ($2::text is null or t.kind = $2)
              and ($3::text is null or t.assigned_to = $3) and ($4::text is null or t.account_ref = $4)
              and ($6::text[] is null or a.patch is null or a.patch = any($6) or t.assigned_to = $7)
            order by t.due_on, t.created_at, t.task_id
            limit $5""",
        status, kind, assigned_to, account_ref, limit, None if patches is None else list(patches), me)
    return [dict(r) for r in rows]


async def task_patch(raw: Any, task_id: uuid.UUID) -> tuple[str | None, str | None, str | None] | None:
    """(account_ref, its patch when known, assigned_to) of a task; None for an unknown task."""
    row = await raw.fetchrow("""select t.account_ref, a.patch, t.assigned_to from tasks t
                                left join accounts a on a.account_ref = t.account_ref where t.task_id = $1""", task_id)
    return (row["account_ref"], row["patch"], row["assigned_to"]) if row else None


async def account_patch(raw: Any, account_ref: str) -> str | None:
    return await raw.fetchval("select patch from accounts where account_ref = $1", account_ref)


# --- deduplicated tasks (DD failures, mandate changes) ---------------------------------------

async def counted_sources(raw: Any, source_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    if not source_ids:
        return set()
    rows = await raw.fetch("select source_id from task_sources where source_id = any($1::uuid[])", list(source_ids))
    return {r["source_id"] for r in rows}


async def open_tasks_by_key(raw: Any, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not keys:
        return {}
    rows = await raw.fetch(f"""select {TASK_COLUMNS} from tasks where dedupe_key = any($1::text[]) and status <> 'done'
                               for update""", list(keys))
    return {r["dedupe_key"]: dict(r) for r in rows}


async def open_load(raw: Any) -> dict[str, int]:
    """Open (not done) tasks per assignee."""
    rows = await raw.fetch("select assigned_to, count(*) as n from tasks where status <> 'done' group by assigned_to")
    return {r["assigned_to"]: r["n"] for r in rows}


_STATE_COLS = ("task_id", "kind", "dedupe_key", "account_ref", "reference", "assigned_to", "due_on", "reason",
               "occurrences", "amount_pence", "return_code")
_STATE_TYPES = ("uuid", "text", "text", "text", "text", "text", "date", "text", "int", "bigint", "text")


def _columns(states: Sequence[Any]) -> list[list[Any]]:
    return [[getattr(s, c) for s in states] for c in _STATE_COLS]


async def insert_open_tasks(raw: Any, states: Sequence[Any], now: dt.datetime) -> list[dict[str, Any]]:
    """New deduplicated tasks (domain TaskState); the partial unique index keeps one open per key."""
    if not states:
        return []
    params = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_STATE_TYPES))
    rows = await raw.fetch(
        f"""insert into tasks (task_id, kind, dedupe_key, account_ref, reference, assigned_to, due_on, reason,
                               occurrences, amount_pence, return_code, status, created_at, updated_at)
            select u.*, 'open', ${len(_STATE_COLS) + 1}, ${len(_STATE_COLS) + 1}
            from unnest({params}) as u
            returning {TASK_COLUMNS}""", *_columns(states), now)
    return [dict(r) for r in rows]


async def update_counted_tasks(raw: Any, states: Sequence[Any], now: dt.datetime) -> list[dict[str, Any]]:
    """Repeats folded into open tasks: count, latest amount and code, reason, due date."""
    if not states:
        return []
    rows = await raw.fetch(
        f"""update tasks t set occurrences = u.occurrences, amount_pence = u.amount_pence,
                   return_code = u.return_code, reason = u.reason, due_on = u.due_on, updated_at = $7
            from unnest($1::uuid[], $2::int[], $3::bigint[], $4::text[], $5::text[], $6::date[])
                 as u(task_id, occurrences, amount_pence, return_code, reason, due_on)
            where t.task_id = u.task_id
            returning {T_TASK_COLUMNS}""",
        [s.task_id for s in states], [s.occurrences for s in states], [s.amount_pence for s in states],
        [s.return_code for s in states], [s.reason for s in states], [s.due_on for s in states], now)
    return [dict(r) for r in rows]


async def record_sources(raw: Any, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]], now: dt.datetime) -> None:
    if pairs:
        await raw.execute("""insert into task_sources (source_id, task_id, counted_at)
                             select s, t, $3 from unnest($1::uuid[], $2::uuid[]) as u(s, t)""",
                          [p[0] for p in pairs], [p[1] for p in pairs], now)
