"""ledger: reversals of payments (payments.reversed.v1): a bank's returned credit (RRC) or a
provider's refund (REF), once per reversal_id; kept pending while the payment is not yet here.

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create table payment_reversals (
        reversal_id uuid primary key,
        payment_id uuid not null,
        provider_id text not null,
        provider_ref text not null,
        kind text not null check (kind in ('returned', 'refund')),
        amount_pence bigint not null check (amount_pence > 0),
        business_date date not null,
        reason text not null,
        status text not null check (status in ('pending', 'posted', 'suspense', 'refused')),
        account_ref text,
        transaction_id uuid,
        correlation_id text not null,
        event_id uuid not null,
        created_at timestamptz not null,
        applied_at timestamptz
    )""")
    op.execute("create index payment_reversals_payment on payment_reversals (payment_id)")
    op.execute("create index payment_reversals_pending on payment_reversals (payment_id) where status = 'pending'")


def downgrade() -> None:
    op.execute("drop table if exists payment_reversals")
