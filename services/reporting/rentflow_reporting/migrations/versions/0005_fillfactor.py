"""Room in every page for the next version of a row: account_state and account_balance_daily rows
are updated in place by nearly every consumer batch (balances), never on an indexed column, so
with free space on the page PostgreSQL updates them without a new index entry (a HOT update).
Pages written from now on keep 30% free.

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table account_state set (fillfactor = 70)")
    op.execute("alter table account_balance_daily set (fillfactor = 70)")


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
