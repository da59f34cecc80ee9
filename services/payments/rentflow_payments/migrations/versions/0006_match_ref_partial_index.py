"""payments_match indexed every payment, though only file payments carry a match_ref (camt.053
EndToEndId): one more index insert per pushed payment, for a look-up only reversals make. The
index now holds only payments that have one.

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("create index if not exists payments_match_ref on payments (provider_id, match_ref) "
               "where match_ref is not null")
    op.execute("drop index if exists payments_match")


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
