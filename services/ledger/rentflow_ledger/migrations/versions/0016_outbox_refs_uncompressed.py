"""outbox_numbers.refs is stored uncompressed (storage external): compressing each claim's refs cost
more of PostgreSQL's CPU than the bytes it saved (rentflow_common.outbox.TABLES_DDL; rows already
written stay as they are)."""
from alembic import op

from rentflow_common.outbox import upgrade_outbox

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    upgrade_outbox(op.execute)


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
