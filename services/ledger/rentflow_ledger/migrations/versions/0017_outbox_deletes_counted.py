"""Statements deleting from outbox_events are counted (the outbox_deletes sequence, taken by a
statement trigger), so the relay counts a batch it holds in memory in the outbox only when something
was deleted since it was handed over (rentflow_common.outbox.TABLES_DDL)."""
from alembic import op

from rentflow_common.outbox import upgrade_outbox

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_outbox(op.execute)


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
