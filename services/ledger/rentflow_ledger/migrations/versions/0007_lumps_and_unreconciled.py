"""ledger: statement lump sums and the detail they settle; what the ledger could not place on its
own (finance tasks); the lodgement a mandate was lodged in (AUDACC/AUDREJ); cancelled DDICA claims;
returned outgoing payments (payments.reversed.v1 kind outgoing_returned).

- lump_detail: every receipt of a channel whose money reaches the bank as a lump (Direct Debit,
  cash, card, Universal Credit), with the import that carried it; `lump_id` once a lump settled it.
- lumps: each statement lump sum, how it was matched (matched, unmatched, ambiguous, no_detail) and
  to what (`matched_key`: "import:<id>" or "day:<date>").
- unreconciled: the items raised on ledger.unreconciled.v1, open until resolved.

Revision ID: 0007
Revises: 0006
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    create table lump_detail (
        payment_id uuid primary key,
        channel text not null,
        import_id uuid,
        business_date date not null,
        amount_pence bigint not null check (amount_pence > 0),
        lump_id uuid,
        created_at timestamptz not null
    )""")
    op.execute("create index lump_detail_open on lump_detail (channel, business_date) where lump_id is null")
    op.execute("create index lump_detail_import on lump_detail (import_id) where lump_id is null")
    op.execute("""
    create table lumps (
        payment_id uuid primary key,
        provider_id text not null,
        provider_ref text not null,
        kind text not null,
        amount_pence bigint not null check (amount_pence > 0),
        value_date date not null,
        reference text not null,
        payer_name text,
        status text not null check (status in ('matched', 'unmatched', 'ambiguous', 'no_detail')),
        matched_key text,
        matched_at timestamptz,
        created_at timestamptz not null,
        channel text not null
    )""")
    op.execute("create index lumps_open on lumps (kind, value_date) where status in ('unmatched', 'ambiguous')")
    op.execute("""
    create table unreconciled (
        item_id uuid primary key,
        kind text not null,
        status text not null check (status in ('open', 'resolved')),
        amount_pence bigint,
        reference text not null,
        business_date date not null,
        reason text not null,
        created_at timestamptz not null,
        resolved_at timestamptz
    )""")
    op.execute("alter table mandates add column lodgement_serial text")
    op.execute("create index mandates_lodgement on mandates (lodgement_serial) where lodgement_serial is not null")
    op.execute("alter table dd_returns add column cancels_return_id uuid")
    op.execute("alter table dd_returns add column cancelled_by uuid")
    op.execute("alter table payment_reversals drop constraint if exists payment_reversals_kind_check")
    op.execute("alter table payment_reversals add constraint payment_reversals_kind_check "
               "check (kind in ('returned', 'refund', 'outgoing_returned'))")
    op.execute("alter table payment_reversals drop constraint if exists payment_reversals_status_check")
    op.execute("alter table payment_reversals add constraint payment_reversals_status_check "
               "check (status in ('pending', 'posted', 'suspense', 'refused', 'unreconciled'))")
    op.execute("alter table payment_reversals add column refund_request_id uuid")


def downgrade() -> None:
    op.execute("alter table payment_reversals drop column if exists refund_request_id")
    op.execute("alter table dd_returns drop column if exists cancelled_by")
    op.execute("alter table dd_returns drop column if exists cancels_return_id")
    op.execute("drop index if exists mandates_lodgement")
    op.execute("alter table mandates drop column if exists lodgement_serial")
    for table in ("unreconciled", "lumps", "lump_detail"):
        op.execute(f"drop table if exists {table}")
