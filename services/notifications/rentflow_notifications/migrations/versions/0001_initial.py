"""officers, local account directory, tasks, outbox and inbox

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
        create table officers (
            officer_id uuid primary key,
            name text not null unique,
            role text not null check (role in ('officer', 'manager')),
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now()
        )""")
    op.execute("""
        create table officer_patches (
            name text not null references officers(name) on delete cascade on update cascade,
            patch text not null,
            primary key (name, patch)
        )""")
    op.execute("create index officer_patches_patch on officer_patches (patch)")
    # What we know of each rent account, from ledger.accounts.v1 (we never read the ledger's tables).
    op.execute("""
        create table accounts (
            account_ref text primary key,
            patch text not null,
            officer text,
            updated_at timestamptz not null default now()
        )""")
    op.execute("create index accounts_patch on accounts (patch)")
    op.execute("""
        create table tasks (
            task_id uuid primary key,
            kind text not null,
            account_ref text,
            assigned_to text not null,
            status text not null check (status in ('open', 'in_progress', 'done')),
            due_on date not null,
            reason text not null,
            payment_id uuid,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            claimed_by text,
            completed_by text,
            completed_at timestamptz,
            outcome text
        )""")
    op.execute("create index tasks_status_due on tasks (status, due_on)")
    op.execute("create index tasks_assigned on tasks (assigned_to, status)")
    op.execute("create index tasks_account on tasks (account_ref)")
    op.execute("create index tasks_payment on tasks (payment_id)")


def downgrade() -> None:
    for table in ("tasks", "accounts", "officer_patches", "officers", "inbox", "outbox"):
        op.execute(f"drop table if exists {table}")
