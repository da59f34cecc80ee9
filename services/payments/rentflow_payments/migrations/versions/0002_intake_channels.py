"""payments: Direct Debit returns and mandate instructions taken in, reversals of payments, GOV.UK
Pay card payments and webhook deliveries; payments keep the sender's own transaction id; imports
keep their added counts.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the sender's own id of the transaction (camt.053 EndToEndId), to find it when it is reversed
    op.execute("alter table payments add column match_ref text")
    op.execute("create index payments_match on payments (provider_id, amount_pence, match_ref)")
    op.execute("""
        create table dd_returns (
            return_id uuid primary key,      -- derive_event_id("dd-return", identity): no provider, no file
            provider_id text not null,
            import_id uuid,
            source text not null,            -- arudd | ddica
            reference text not null,
            amount_pence bigint not null check (amount_pence > 0),
            return_code text not null,
            original_processing_date date not null,
            reported_on date not null,
            received_at timestamptz not null
        )""")
    op.execute("""
        create table mandate_instructions (
            instruction_id uuid primary key, -- derive_event_id("mandate-instruction", identity)
            provider_id text not null,
            import_id uuid,
            source text not null,            -- addacs | auddis | bacs18
            reference text not null,
            reason_code text not null,
            action text not null,
            effective_date date,
            received_at timestamptz not null
        )""")
    op.execute("""
        create table reversals (
            reversal_id uuid primary key,    -- derive_event_id("payment-reversal", provider_id, identity)
            provider_id text not null,
            payment_id uuid not null,        -- the payment reversed
            kind text not null,              -- returned | refund
            amount_pence bigint not null check (amount_pence > 0),
            reversed_at timestamptz not null,
            reason text not null,
            source text not null,
            import_id uuid,
            received_at timestamptz not null
        )""")
    op.execute("create index reversals_payment on reversals (payment_id)")
    # GOV.UK Pay: one row per card payment (resource_id), its latest state and what was refunded
    op.execute("""
        create table card_payments (
            resource_id text primary key,
            provider_id text not null,
            state text not null,             -- started | failed | expired | cancelled | succeeded
            amount_pence bigint,
            refunded_pence bigint not null default 0,
            updated_at timestamptz not null
        )""")
    op.execute("""
        create table webhook_messages (
            webhook_message_id text primary key,
            resource_id text not null,
            event_type text not null,
            received_at timestamptz not null
        )""")
    op.execute("alter table imports add column skipped int not null default 0")
    op.execute("alter table imports add column processed int not null default 0")
    op.execute("alter table imports add column details jsonb not null default '{}'")


def downgrade() -> None:
    for table in ("webhook_messages", "card_payments", "reversals", "mandate_instructions", "dd_returns"):
        op.execute(f"drop table if exists {table}")
    op.execute("drop index if exists payments_match")
    op.execute("alter table payments drop column if exists match_ref")
    for column in ("skipped", "processed", "details"):
        op.execute(f"alter table imports drop column if exists {column}")
