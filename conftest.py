"""Real infrastructure for every test: the broker and database come from the environment,
else testcontainers, else the embedded default, started once per session (per worker process)."""
from __future__ import annotations

import os
import uuid

import pytest

from rentflow_common.infra import Infrastructure
from rentflow_common.testing import fresh_database_async, session_infrastructure


# The slowest files (each runs real stacks for minutes), handed to the workers first so that none is
# left running one of them alone at the end (pytest-xdist gives out files in collection order:
# --dist loadfile --no-loadscope-reorder). Only an order: every test runs either way.
LONGEST_FIRST = ("tests/test_readme.py", "tests/test_chaos.py", "tests/test_intake_e2e.py", "tests/test_demo.py",
                 "tests/test_e2e.py", "tests/test_first_hour.py", "tests/test_ops_cli.py", "tests/test_crash.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    root = config.rootpath
    items.sort(key=lambda item: rank.get(item.path.relative_to(root).as_posix() if item.path.is_relative_to(root)
                                         else "", len(rank)))


TEST_SECRETS_KEY = "dGVzdC1rZXktb2YtcmVudGZsb3ctdGVzdHMtMzJieXQ="  # a Fernet key for tests only


@pytest.fixture(scope="session")
def infra() -> Infrastructure:
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1: each worker starts its own broker and database
    if worker and os.environ.get("RENTFLOW_TEST_HOME"):
        os.environ["RENTFLOW_TEST_HOME"] = os.path.join(os.environ["RENTFLOW_TEST_HOME"], worker)
    infrastructure = session_infrastructure()
    yield infrastructure
    infrastructure.stop()


@pytest.fixture
async def database_url(infra: Infrastructure) -> str:
    """A new, empty database on the session's server."""
    return await fresh_database_async(infra)


@pytest.fixture
def topic_prefix() -> str:
    """A prefix that gives a test its own topics and consumer groups on the shared broker."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def service_env(infra: Infrastructure, database_url: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch, tmp_path):
    """Environment a service reads (Settings.from_env), pointing at real infrastructure."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infra.kafka_bootstrap_servers)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RENTFLOW_TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("RENTFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RENTFLOW_PARTITIONS", os.environ.get("RENTFLOW_PARTITIONS", "3"))
    monkeypatch.setenv("RENTFLOW_SECRETS_KEY", TEST_SECRETS_KEY)  # payments encrypts provider secrets with it
    return {"kafka": infra.kafka_bootstrap_servers, "database_url": database_url, "topic_prefix": topic_prefix}
