"""ledger: receipts moved from one account to another by hand, who and why.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create table receipt_moves (
        transaction_id uuid primary key,
        from_account_ref text not null,
        to_account_ref text not null,
        moved_by text not null,
        note text not null,
        moved_at timestamptz not null
    )""")


def downgrade() -> None:
    op.execute("drop table if exists receipt_moves")
