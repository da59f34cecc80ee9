"""Cross-service tests run the real `rentflow` command and the real service processes against
the session's broker and a fresh database."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack_support import Up, env_for, runner  # noqa: E402


@pytest.fixture
def stack_env(infra, database_url: str, topic_prefix: str, tmp_path: Path) -> dict[str, str]:
    return env_for(infra, database_url, topic_prefix, tmp_path / "home")


@pytest.fixture
def rentflow(stack_env: dict[str, str]) -> Callable[..., Any]:
    return runner(stack_env)


@pytest.fixture(scope="module")
def module_stack_env(infra, tmp_path_factory) -> dict[str, str]:
    """One stack's environment for every test of a module (a fresh database and topics of its own)."""
    import uuid

    from rentflow_common.testing import fresh_database

    return env_for(infra, fresh_database(infra), f"t{uuid.uuid4().hex[:8]}.", tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def module_up(module_stack_env: dict[str, str]):
    """A `rentflow up` shared by a module's tests."""
    stack = Up(module_stack_env)
    try:
        yield stack
    finally:
        if stack.proc.poll() is None:
            stack.stop()


@pytest.fixture
def up(stack_env: dict[str, str]):
    stack = Up(stack_env)
    try:
        yield stack
    finally:
        if stack.proc.poll() is None:
            stack.stop()
