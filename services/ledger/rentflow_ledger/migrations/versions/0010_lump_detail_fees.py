"""Card fees in the cash book: the provider's fee each card receipt's detail states (a Stripe report's
`fee`, GOV.UK Pay's `fee`), so a payout lump is matched to its charges less their fees, and the fees are
posted when it is (Dr card fees, Cr bank).

- lump_detail.fee_pence: 0 when the detail states none (every row before this revision).

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table lump_detail add column fee_pence bigint not null default 0 check (fee_pence >= 0)")


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
