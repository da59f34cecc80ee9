"""Refunds and disputes in a card payout: the cash book keeps them as detail of the payout they were
taken out of, with a negative amount, so the payout's lump is matched to its charges less their fees
less these.

- lump_detail.amount_pence: any amount but 0 (was > 0).

Revision ID: 0011
Revises: 0010
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table lump_detail drop constraint lump_detail_amount_pence_check")
    op.execute("alter table lump_detail add constraint lump_detail_amount_pence_check check (amount_pence <> 0)")


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
