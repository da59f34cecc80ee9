"""Events are numbered into outbox_log by the transaction that writes them, not by the relay: the
old outbox table becomes outbox_legacy, and what waits in it is numbered into the log here, before
this version writes any (rentflow_common.outbox)."""
from alembic import op

from rentflow_common.outbox import TABLES_DDL, migrate_legacy_outbox

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for ddl in TABLES_DDL:
        op.execute(ddl)
    migrate_legacy_outbox(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
