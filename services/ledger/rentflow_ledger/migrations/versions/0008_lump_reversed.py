"""A statement lump the bank later reverses is `reversed`, so it is never matched afterwards (and
a reversal of it is no longer kept pending for a payment that never comes); a reversal may be an
overpaid Housing Benefit rebate recovered (`benefit_recovered`)."""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table lumps drop constraint if exists lumps_status_check")
    op.execute("alter table lumps add constraint lumps_status_check "
               "check (status in ('matched', 'unmatched', 'ambiguous', 'no_detail', 'reversed'))")
    op.execute("alter table lumps add column reversed_at timestamptz")
    # an overpaid Housing Benefit rebate recovered from the rent account (service_layer/benefits.py)
    op.execute("alter table payment_reversals drop constraint if exists payment_reversals_kind_check")
    op.execute("alter table payment_reversals add constraint payment_reversals_kind_check "
               "check (kind in ('returned', 'refund', 'outgoing_returned', 'benefit_recovered'))")


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
