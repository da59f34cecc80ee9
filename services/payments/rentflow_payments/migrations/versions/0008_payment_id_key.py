"""payments had two unique indexes saying the same thing: the primary key (provider_id, provider_ref)
and payments_payment_id, payment_id being derived from that pair (events.payment_id). Every payment
taken in paid for both. payment_id becomes the primary key, using its index as it stands (no
rebuild; its rows are unique already), and the (provider_id, provider_ref) index goes: a look-up by
provider_ref derives the payment_id first.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table payments drop constraint payments_pkey")
    op.execute("alter table payments add constraint payments_pkey primary key using index payments_payment_id")


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
