"""Provider secrets encrypted at rest (Fernet under RENTFLOW_SECRETS_KEY), rotation with a
rollover window, revocation, and the legacy `sha256=` signature as a per-provider choice.

Providers registered before this migration signed with `sha256=<hex>` (the only form there was):
they are marked legacy_signature so they keep working, and their plaintext secrets are encrypted
here and the plaintext column dropped.

Revision ID: 0004
Revises: 0003
"""
from alembic import context, op
from sqlalchemy import text

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table providers add column secret_enc text")
    op.execute("alter table providers add column previous_secret_enc text")
    op.execute("alter table providers add column previous_valid_until timestamptz")
    op.execute("alter table providers add column legacy_signature boolean not null default false")
    op.execute("alter table providers add column rotated_at timestamptz")
    op.execute("alter table providers add column revoked_at timestamptz")
    conn = op.get_bind()
    rows = conn.execute(text("select provider_id, secret from providers")).fetchall()
    if rows:
        keys = context.config.attributes.get("secrets_key")
        if not keys:
            raise RuntimeError("payments migration 0004 encrypts the stored provider secrets and needs "
                               "RENTFLOW_SECRETS_KEY")
        from rentflow_payments.adapters.secret_box import SecretBox

        box = SecretBox(keys)
        for provider_id, secret in rows:
            conn.execute(text("update providers set secret_enc = :enc, legacy_signature = true "
                              "where provider_id = :p"), {"enc": box.seal(secret), "p": provider_id})
    op.execute("alter table providers alter column secret_enc set not null")
    op.execute("alter table providers drop column secret")


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
