"""transactions_payment goes: a payment's posting (a receipt from a batch, or one allocated from
suspense) takes the id derived from the payment (domain/posting.py receipt_transaction_id), so the
primary key keeps a payment posted at most once and finds its posting by payment. The unique index
was a second random-UUID B-tree entry per receipt that no query needs.

Revision ID: 0015
Revises: 0014
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("drop index if exists transactions_payment")


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
