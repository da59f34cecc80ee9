"""The audit trail: every state change made by a person or a system (a consumer or a batch job
acting on its own is `system:<service>`; a job a person started names that person), append-only,
in the service that made it, written in the transaction of the change (`uow.audit(...)`, written at commit) and
published on audit.v1 through the outbox. The table refuses UPDATE, DELETE and TRUNCATE (a
trigger), and no route changes it: `GET /v1/audit` only reads."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from rentflow_schemas.identity import AuditEntry

UTC = dt.timezone.utc

AUDIT_DDL = [
    """create table if not exists audit_log (
        id bigserial primary key,
        audit_id uuid not null unique,
        at timestamptz not null default now(),
        actor text not null,
        role text,
        action text not null,
        subject text,
        account_ref text,
        correlation_id text not null,
        before jsonb,
        after jsonb,
        via text not null default 'token'
    )""",
    "create index if not exists audit_log_at on audit_log (at)",
    "create index if not exists audit_log_actor on audit_log (actor, at)",
    "create index if not exists audit_log_account on audit_log (account_ref, at)",
    """create or replace function audit_log_append_only() returns trigger language plpgsql as $$
       begin raise exception 'audit_log is append-only'; end $$""",
    "drop trigger if exists audit_log_append_only on audit_log",
    """create trigger audit_log_append_only before update or delete on audit_log
       for each row execute function audit_log_append_only()""",
    "drop trigger if exists audit_log_no_truncate on audit_log",
    """create trigger audit_log_no_truncate before truncate on audit_log
       for each statement execute function audit_log_append_only()""",
]


@dataclass(frozen=True)
class Audited:
    action: str
    subject: str | None
    account_ref: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def system_actor(service: str) -> str:
    """Who acts when no person did: the service itself, e.g. `system:ledger`."""
    return f"system:{service}"


def _json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, default=str)) if value is not None else None


async def write(uow: Any, items: list[Audited]) -> None:
    """Writes what `uow.audit()` collected (in its transaction) and emits each on audit.v1."""
    now = dt.datetime.now(UTC)
    rows = []
    for a in items:
        # a change no person asked for (a consumer, a scheduled job) names the service: system:<service>
        entry = AuditEntry(audit_id=uuid.uuid4(), service=uow.producer, actor=uow.actor or system_actor(uow.producer),
                           role=uow.role, action=a.action, subject=a.subject, account_ref=a.account_ref,
                           correlation_id=uow.correlation_id, at=now, before=_json(a.before), after=_json(a.after),
                           via="token" if uow.actor else "system")
        rows.append((entry.audit_id, entry.at, entry.actor, entry.role, entry.action, entry.subject,
                     entry.account_ref, entry.correlation_id,
                     orjson.dumps(entry.before).decode() if entry.before is not None else None,
                     orjson.dumps(entry.after).decode() if entry.after is not None else None, entry.via))
        uow.emit(entry)
    await uow.raw.executemany(
        "insert into audit_log (audit_id, at, actor, role, action, subject, account_ref, correlation_id, before, "
        "after, via) values ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11)", rows)


def _loaded(value: Any) -> Any:
    """jsonb as the connection gives it: decoded (SQLAlchemy's codec) or text (plain asyncpg)."""
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


async def query(raw: Any, *, since: dt.datetime | None, user: str | None, account: str | None,
                limit: int) -> list[dict[str, Any]]:
    rows = await raw.fetch(
        "select audit_id, at, actor, role, action, subject, account_ref, correlation_id, before, after, via "
        "from audit_log where ($1::timestamptz is null or at >= $1) and ($2::text is null or actor = $2) "
        "and ($3::text is null or account_ref = $3) order by at, id limit $4", since, user, account, limit)
    return [{"audit_id": str(r["audit_id"]), "at": r["at"].isoformat(), "user": r["actor"], "role": r["role"],
             "action": r["action"], "subject": r["subject"], "account_ref": r["account_ref"],
             "correlation_id": r["correlation_id"],
             "before": _loaded(r["before"]), "after": _loaded(r["after"]), "via": r["via"]}
            for r in rows]
