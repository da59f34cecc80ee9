"""lump_detail_import indexes only detail that came in a file (import_id not null): a pushed
receipt's detail (no file) was an index entry no lookup reads, since a file's detail is found by
its import id. Every card, cash and Direct Debit receipt writes a detail row.

Revision ID: 0013
Revises: 0012
"""
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("drop index if exists lump_detail_import")
    op.execute("create index lump_detail_import on lump_detail (import_id) "
               "where lump_id is null and import_id is not null")


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
