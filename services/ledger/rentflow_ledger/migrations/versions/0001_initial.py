"""ledger: rent accounts, transactions, journal lines, suspense, outbox and inbox.

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
    create table accounts (
        account_ref text primary key,
        tenant_name text not null,
        property text not null,
        patch text not null,
        tenancy_start date not null,
        tenancy_end date,
        weekly_rent_pence bigint not null check (weekly_rent_pence >= 0),
        weekly_charges_pence bigint not null default 0 check (weekly_charges_pence >= 0),
        payment_method text check (payment_method in ('dd', 'so', 'card', 'cash', 'hb', 'uc')),
        dd_reference text,
        officer text,
        balance_date date not null,
        opening_balance_pence bigint not null default 0,
        balance_pence bigint not null default 0,
        content_hash text not null,
        version int not null default 1,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
    ) with (fillfactor = 50)""")  # balance updates stay HOT: room on the page, no index touched
    op.execute("create index accounts_dd_reference on accounts (dd_reference) where dd_reference is not null")
    op.execute("""
    create table transactions (
        seq bigserial not null,
        transaction_id uuid primary key,
        account_ref text not null,
        type_code text not null,
        amount_pence bigint not null,
        balance_after_pence bigint not null,
        posted_at timestamptz not null,
        business_date date not null,
        period text not null,
        source_ref text not null,
        channel text,
        payment_id uuid,
        allocation_rule text,
        week_start date
    )""")
    op.execute("create index transactions_account on transactions (account_ref, seq)")
    # one debit per account, code and rent week: what makes the debit run idempotent
    op.execute("create unique index transactions_week on transactions (account_ref, type_code, week_start) "
               "where week_start is not null")
    # a payment is posted to an account at most once
    op.execute("create unique index transactions_payment on transactions (payment_id) where payment_id is not null")
    op.execute("""
    create table journal_lines (
        journal_id uuid not null,
        line_no int not null,
        kind text not null,
        source_ref text not null,
        gl_code text not null,
        debit_pence bigint not null check (debit_pence >= 0),
        credit_pence bigint not null check (credit_pence >= 0),
        account_ref text,
        business_date date not null,
        period text not null,
        posted_at timestamptz not null,
        primary key (journal_id, line_no)
    )""")
    op.execute("""
    create table suspense (
        payment_id uuid primary key,
        provider_id text not null,
        provider_ref text not null,
        amount_pence bigint not null check (amount_pence > 0),
        channel text not null,
        reference text not null,
        payer_name text,
        paid_at timestamptz not null,
        received_at timestamptz not null,
        business_date date not null,
        period text not null,
        reason text not null,
        opened_at timestamptz not null,
        account_ref text,
        transaction_id uuid,
        allocated_by text,
        note text,
        allocated_at timestamptz,
        allocated_period text
    )""")
    op.execute("create index suspense_open on suspense (received_at) where allocated_at is null")


def downgrade() -> None:
    for table in ("suspense", "journal_lines", "transactions", "accounts", "inbox", "outbox"):
        op.execute(f"drop table if exists {table}")
