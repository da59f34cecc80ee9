"""payments: providers, payments taken in, idempotency keys, file imports, outbox/inbox.

Revision ID: 0001
Revises:
"""
from alembic import op

from rentflow_common.outbox import INBOX_DDL, OUTBOX_DDL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(OUTBOX_DDL)
    op.execute(INBOX_DDL)
    op.execute("""
        create table providers (
            provider_id text primary key,
            secret text not null,            -- HMAC key: kept as given, needed to verify signatures
            created_at timestamptz not null default now()
        )""")
    op.execute("""
        create table payments (
            provider_id text not null,
            provider_ref text not null,
            payment_id uuid not null,        -- derive_event_id("payment", provider_id, provider_ref)
            channel text not null,
            amount_pence bigint not null check (amount_pence > 0),
            currency text not null,
            paid_at timestamptz not null,
            received_at timestamptz not null,
            reference text not null default '',
            payer_name text,
            source text not null,            -- push | file | webhook
            import_id uuid,
            correlation_id text not null,
            primary key (provider_id, provider_ref)
        )""")
    op.execute("create unique index payments_payment_id on payments (payment_id)")
    op.execute("""
        create table idempotency_keys (
            provider_id text not null,
            idempotency_key text not null,
            request_sha256 bytea not null,
            path text not null,
            status_code int not null,
            response bytea not null,
            created_at timestamptz not null default now(),
            primary key (provider_id, idempotency_key)
        )""")
    op.execute("""
        create table imports (
            import_id uuid primary key,      -- derive_event_id("import", provider_id, sha256 of the file)
            provider_id text not null,
            format text not null,
            sha256 text not null,
            size_bytes bigint not null,
            status text not null,            -- running | completed
            attempts int not null default 1,
            accepted int not null default 0,
            rejected int not null default 0,
            duplicates int not null default 0,
            errors jsonb not null default '[]',
            created_at timestamptz not null default now(),
            completed_at timestamptz
        )""")


def downgrade() -> None:
    for table in ("imports", "idempotency_keys", "payments", "providers", "inbox", "outbox"):
        op.execute(f"drop table if exists {table}")
