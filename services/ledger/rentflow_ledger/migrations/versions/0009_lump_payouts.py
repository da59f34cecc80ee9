"""Payouts in the cash book: a card receipt's payout (GOV.UK Pay / Stripe `po_...`) when its detail
names it, and the payout id a statement lump's narrative carries; a lump whose payout's detail adds
up to another amount is `mismatch` (open, a finance task naming both figures).

- lump_detail.payout_key: "payout:<ID upper-cased>" or null; detail with one is settled by its payout only.
- lumps.payout_id: as the statement wrote it, or null.

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table lump_detail add column payout_key text")
    op.execute("create index lump_detail_payout on lump_detail (payout_key) where lump_id is null "
               "and payout_key is not null")
    op.execute("alter table lumps add column payout_id text")
    op.execute("alter table lumps drop constraint if exists lumps_status_check")
    op.execute("alter table lumps add constraint lumps_status_check "
               "check (status in ('matched', 'unmatched', 'ambiguous', 'no_detail', 'reversed', 'mismatch'))")
    op.execute("drop index if exists lumps_open")
    op.execute("create index lumps_open on lumps (kind, value_date) "
               "where status in ('unmatched', 'ambiguous', 'mismatch')")


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
