"""DD failure and mandate tasks (one open per account and kind, repeats counted), the fuller
account directory, tenant notices, their deliveries and contact addresses

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        alter table accounts
            add column property text,
            add column payment_method text,
            add column tenancy_start date,
            add column tenancy_end date,
            add column tenant_name text""")
    op.execute("""
        alter table tasks
            add column dedupe_key text,
            add column occurrences int not null default 1,
            add column amount_pence bigint,
            add column return_code text,
            add column reference text""")
    # One open (not done) task per key: DD failures and mandate changes per account or DD reference.
    op.execute("create unique index tasks_one_open on tasks (dedupe_key) where status <> 'done' and dedupe_key is not null")
    # Every input counted on a task, once: a re-sent DD failure under another event id counts nothing.
    op.execute("""
        create table task_sources (
            source_id uuid primary key,
            task_id uuid not null references tasks(task_id),
            counted_at timestamptz not null
        )""")
    op.execute("""
        create table notices (
            notice_id uuid primary key,
            kind text not null,
            source_id uuid not null unique,
            account_ref text not null,
            status text not null check (status in ('pending', 'produced', 'refused', 'failed')),
            run text not null,
            input jsonb not null,
            letter_date date,
            served_on date,
            effective_on date,
            old_weekly_pence bigint,
            new_weekly_pence bigint,
            amount_pence bigint,
            document text,
            html_document text,
            pages int,
            reason text,
            correlation_id text not null,
            causation_id uuid,
            received_at timestamptz not null,
            updated_at timestamptz not null
        )""")
    op.execute("create index notices_pending on notices (received_at, notice_id) where status = 'pending'")
    op.execute("create index notices_run on notices (run, status)")
    op.execute("create index notices_account on notices (account_ref)")
    op.execute("""
        create table contacts (
            account_ref text primary key,
            email text,
            updated_at timestamptz not null
        )""")
    op.execute("""
        create table deliveries (
            delivery_id uuid primary key,
            notice_id uuid not null references notices(notice_id),
            channel text not null check (channel in ('letter', 'email')),
            address text not null,
            status text not null check (status in ('written', 'printed', 'pending', 'sending', 'sent', 'failed',
                                                   'skipped')),
            attempts int not null default 0,
            next_attempt_at timestamptz,  -- pending: when to try; sending: when the lease runs out
            message_id text,
            detail text,
            print_file text,
            sent_at timestamptz,
            updated_at timestamptz not null,
            unique (notice_id, channel)
        )""")
    op.execute("create index deliveries_due on deliveries (next_attempt_at) where status in ('pending', 'sending')")


def downgrade() -> None:
    for table in ("deliveries", "contacts", "notices", "task_sources"):
        op.execute(f"drop table if exists {table}")
    op.execute("drop index if exists tasks_one_open")
    op.execute("alter table tasks drop column dedupe_key, drop column occurrences, drop column amount_pence, "
               "drop column return_code, drop column reference")
    op.execute("alter table accounts drop column property, drop column payment_method, drop column tenancy_start, "
               "drop column tenancy_end, drop column tenant_name")
