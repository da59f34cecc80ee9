"""Rows committed to the outbox wake the relay through NOTIFY, so an idle relay does not poll
(rentflow_common.outbox.TABLES_DDL, which every statement of is safe to run again)."""
from alembic import op

from rentflow_common.outbox import TABLES_DDL

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for ddl in TABLES_DDL:
        op.execute(ddl)


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
