"""ledger: SO references, the ledger state row (reference-index generation, closed periods),
mandates and DD returns, approvers and adjustment requests, periods, rent-free weeks, rent changes.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table accounts add column so_reference text")
    op.execute("create index accounts_so_reference on accounts (so_reference) where so_reference is not null")
    # one row: `generation` moves whenever account references change (consumers cache the set of
    # known references per token+generation); batches read it FOR SHARE, closing a period updates it
    op.execute("""
    create table ledger_state (
        id int primary key default 1 check (id = 1),
        token uuid not null default gen_random_uuid(),
        generation bigint not null default 0,
        closed_periods text[] not null default '{}'
    )""")
    op.execute("insert into ledger_state (id) values (1)")
    op.execute("""
    create table periods (
        period text primary key,
        closed_at timestamptz not null,
        closed_by text not null
    )""")
    op.execute("""
    create table mandates (
        reference text primary key,
        account_ref text,
        state text not null,
        reason_code text not null,
        description text not null,
        instruction_id uuid not null,
        effective_date date,
        updated_at timestamptz not null
    )""")
    op.execute("create table mandate_instructions (instruction_id uuid primary key, account_ref text, "
               "new_state text not null, received_at timestamptz not null)")
    op.execute("""
    create table dd_returns (
        return_id uuid primary key,
        account_ref text,
        reference text not null,
        amount_pence bigint not null,
        return_code text not null,
        original_processing_date date not null,
        reported_on date not null,
        transaction_id uuid,
        original_transaction_id uuid,
        failure_id uuid not null,
        created_at timestamptz not null
    )""")
    op.execute("""
    create table approvers (
        name text primary key,
        role text not null check (role in ('officer', 'manager')),
        updated_at timestamptz not null
    )""")
    op.execute("""
    create table adjustments (
        request_id uuid primary key,
        account_ref text not null,
        type text not null check (type in ('adjustment', 'refund', 'write_off', 'transfer')),
        amount_pence bigint not null,
        to_account_ref text,
        reason text not null,
        requested_by text not null,
        requested_at timestamptz not null,
        status text not null default 'pending' check (status in ('pending', 'approved')),
        approved_by text,
        approved_at timestamptz,
        transaction_ids uuid[]
    )""")
    op.execute("create table rent_free_weeks (rent_year int not null, week int not null check (week between 1 and 53), "
               "primary key (rent_year, week))")
    op.execute("""
    create table rent_changes (
        account_ref text not null,
        effective_date date not null,
        change_id uuid not null,
        old_weekly_rent_pence bigint not null,
        new_weekly_rent_pence bigint not null,
        old_weekly_charges_pence bigint not null,
        new_weekly_charges_pence bigint not null,
        reason text not null,
        created_at timestamptz not null,
        primary key (account_ref, effective_date)
    )""")
    # DD returns look up the original collection by account, code and date
    op.execute("create index transactions_dd on transactions (account_ref, business_date) where type_code = 'RDD'")


def downgrade() -> None:
    for table in ("rent_changes", "rent_free_weeks", "adjustments", "approvers", "dd_returns",
                  "mandate_instructions", "mandates", "periods", "ledger_state"):
        op.execute(f"drop table if exists {table}")
    op.execute("drop index if exists transactions_dd")
    op.execute("alter table accounts drop column if exists so_reference")
