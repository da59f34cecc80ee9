"""The relay's claims cost PostgreSQL less (rentflow_common.outbox.TABLES_DDL): outbox_numbers.refs is
stored uncompressed (rows already written stay as they are), and statements deleting from outbox_events
are counted (the outbox_deletes sequence, taken by a statement trigger), so a batch the relay holds in
memory is counted in the outbox only when something was deleted since it was handed over."""
from alembic import op

from rentflow_common.outbox import upgrade_outbox

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_outbox(op.execute)


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
