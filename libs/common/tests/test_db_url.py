from rentflow_common.db import asyncpg_url


def test_database_url_as_users_write_it_becomes_sqlalchemy_asyncpg():
    assert asyncpg_url("postgresql://u:p@db:5432/rentflow") == "postgresql+asyncpg://u:p@db:5432/rentflow"
    assert asyncpg_url("postgres://u@db/r?sslmode=require&application_name=x") == \
        "postgresql+asyncpg://u@db/r?ssl=require&application_name=x"
    assert asyncpg_url("postgresql://postgres:@/postgres?host=/tmp/s") == "postgresql+asyncpg://postgres:@/postgres?host=/tmp/s"
