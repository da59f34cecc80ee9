"""Postings kept for rent statements, tenant details on account_state, and the record of the
period-end snapshots the scheduler has taken.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DDL = [
    # Every posting from ledger.transactions.v1, once per transaction id: what a statement lists.
    # From this revision on it is also the dedupe on transaction id (seen_transactions holds the
    # ids counted before it and is no longer written).
    """
    create table postings (
        transaction_id uuid primary key,
        account_ref text not null,
        business_date date not null,
        posted_at timestamptz not null,
        type_code text not null,
        amount_pence bigint not null,
        source_ref text not null,
        channel text
    )
    """,
    "create index postings_account_date on postings (account_ref, business_date, posted_at)",
    "alter table account_state add column tenant_name text, add column property text",
    # One row per period the scheduler snapshotted at its end (so a restart does not take it again).
    """
    create table period_end_snapshots (
        period text not null,
        period_start date not null,
        snapshot_id uuid not null,
        taken_at timestamptz not null,
        primary key (period, period_start)
    )
    """,
]


def upgrade() -> None:
    for statement in DDL:
        op.execute(statement)


def downgrade() -> None:
    op.execute("drop table if exists period_end_snapshots")
    op.execute("alter table account_state drop column if exists tenant_name, drop column if exists property")
    op.execute("drop table if exists postings")
