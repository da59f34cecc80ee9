"""Users: who may call rentflow, with their roles, patches, approval limits and the SHA-256 of
their API token (the columns of rentflow_common.auth's principals, which every other service keeps
from identity.users.v1)

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        create table users (
            name text primary key,
            roles text[] not null,
            patches text[] not null default '{}',
            approval_limits jsonb not null default '{}',
            token_sha256 text,
            disabled boolean not null default false,
            version bigint not null,
            created_at timestamptz not null default now(),
            created_by text,
            updated_at timestamptz not null default now()
        )""")
    op.execute("create index users_token on users (token_sha256)")
    op.execute("create unique index users_name_folded on users (lower(name))")


def downgrade() -> None:
    raise NotImplementedError("rentflow migrations go forward only")
