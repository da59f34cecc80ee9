"""account_state no longer keeps a balance: balance_pence, last_posted_at and last_transaction_id were
written for every account of every consumer batch (an upsert per account) and read by nothing; the
KPIs and statements take balances from account_balance_daily. That upsert was about 1.4 µs of
reporting's CPU and 2.7 µs of PostgreSQL's per posting (its batch handler alone: 5,000 accounts,
batches of 3,000).

Revision ID: 0007
Revises: 0006
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table account_state drop column if exists balance_pence, "
               "drop column if exists last_posted_at, drop column if exists last_transaction_id")


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
