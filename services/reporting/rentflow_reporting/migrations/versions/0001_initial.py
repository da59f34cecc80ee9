"""Reporting aggregates: daily totals, account state and day-end balances, suspense items,
KPI snapshots; outbox and inbox.

Revision ID: 0001
Revises:
"""
from alembic import op

from rentflow_common.outbox import INBOX_DDL, OUTBOX_DDL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DDL = [
    # Flows per business date, added to by every batch (see domain/aggregation.py for the metrics).
    """
    create table daily_totals (
        business_date date not null,
        metric text not null,
        key text not null default '',
        amount_pence bigint not null default 0,
        count bigint not null default 0,
        primary key (business_date, metric, key)
    )
    """,
    # Postings already counted, by the ledger's transaction id: a posting re-emitted under a
    # new event id is still counted once.
    """
    create table seen_transactions (
        transaction_id uuid primary key,
        account_ref text not null,
        business_date date not null
    )
    """,
    # One row per account: profile from AccountUpserted, balance from the latest posting.
    """
    create table account_state (
        account_ref text primary key,
        balance_pence bigint not null default 0,
        last_posted_at timestamptz,
        last_transaction_id uuid,
        tenancy_start date,
        tenancy_end date,
        weekly_rent_pence bigint not null default 0,
        weekly_charges_pence bigint not null default 0,
        payment_method text,
        patch text,
        profile_seen boolean not null default false
    )
    """,
    # Day-end balance per account for every business date with a posting: the balance at any
    # date D is the row with the greatest business_date <= D (an index lookup per account).
    # Kept from the signed amounts, not from balance_after, so a back-dated posting (a later
    # correction keeping its value date) moves that day and every later day.
    """
    create table account_balance_daily (
        account_ref text not null,
        business_date date not null,
        balance_pence bigint not null,
        primary key (account_ref, business_date)
    )
    """,
    # Unidentified receipts: in suspense at D when opened on or before D and not allocated by then.
    """
    create table suspense_items (
        payment_id uuid primary key,
        amount_pence bigint not null,
        channel text,
        opened_at timestamptz,
        opened_date date,
        allocated_at timestamptz,
        allocated_date date,
        allocated_account text
    )
    """,
    "create index suspense_items_open on suspense_items (opened_date) where allocated_date is null",
    """
    create table kpi_snapshots (
        snapshot_id uuid primary key,
        period text not null,
        period_start date not null,
        period_end date not null,
        through date not null,
        complete boolean not null,
        content_hash text not null,
        taken_at timestamptz not null,
        body jsonb not null
    )
    """,
    "create index kpi_snapshots_period on kpi_snapshots (period, period_start, taken_at desc)",
]


def upgrade() -> None:
    op.execute(OUTBOX_DDL)
    op.execute(INBOX_DDL)
    for statement in DDL:
        op.execute(statement)


def downgrade() -> None:
    for table in ("kpi_snapshots", "suspense_items", "account_balance_daily", "account_state",
                  "seen_transactions", "daily_totals"):
        op.execute(f"drop table if exists {table}")
