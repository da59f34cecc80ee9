"""account_ref compares byte by byte (collation "C") in the tables keyed by it: postings,
account_balance_daily and account_state. Every posting inserts into postings' key and moves
account_balance_daily rows found by theirs; under the database's collation (C.UTF-8 from libc on the
embedded server) each text comparison of an index search is a strcoll call, under "C" a memcmp.

Answers stay as they were: lookups are by equality, and for UTF-8 text byte order is code point
order, which is C.UTF-8's order (statements list accounts in it). The three change together, as
statements and KPIs join them on account_ref (columns of two collations cannot be compared).

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("account_state", "account_balance_daily", "postings")


def upgrade() -> None:
    for table in TABLES:  # a collation of the same type: the rows stay, the table's indexes are rebuilt
        op.execute(f'alter table {table} alter column account_ref type text collate "C"')


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
