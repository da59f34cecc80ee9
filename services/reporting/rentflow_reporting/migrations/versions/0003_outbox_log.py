"""The outbox keeps what it published (numbered per stream), consumers keep per-stream progress,
dead letters are kept with their reason (rentflow_common.outbox.TABLES_DDL)."""
from alembic import op

from rentflow_common.outbox import TABLES_DDL

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for ddl in TABLES_DDL:
        op.execute(ddl)


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
