"""Each outbox event is written once (outbox_events), numbered by a row per stream and claim
(outbox_numbers); the old outbox and outbox_log tables, rows and numbers kept, become views
(rentflow_common.outbox.upgrade_outbox, safe to run again)."""
from alembic import op

from rentflow_common.outbox import upgrade_outbox

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_outbox(op.execute)


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
