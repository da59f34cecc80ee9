"""Which process claimed an email being sent (deliveries.claimed_by, rentflow_common.reaper.process_key): a
claim whose process is gone is released at once by a process of the same machine, not after its lease."""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table deliveries add column if not exists claimed_by text")


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
