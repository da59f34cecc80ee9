"""RENTFLOW_EVENT_LOOP names the loop a service runs on; `event_loop_factory` makes the same loop for
a bench that runs a service's consumer in its own process (bench/ledger.py)."""
from __future__ import annotations

import asyncio

import pytest
import uvloop

from rentflow_common.service import event_loop_factory
from rentflow_common.settings import Settings, event_loop_name


def test_the_default_loop_is_uvloop():
    assert Settings.model_fields["event_loop"].default == "uvloop"


@pytest.mark.parametrize("name, kind", [("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)])
def test_each_named_loop_runs_a_coroutine_on_that_loop(name, kind):
    async def running_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    with asyncio.Runner(loop_factory=event_loop_factory(name)) as runner:
        loop = runner.run(running_loop())
    assert isinstance(loop, kind)
    assert (name == "uvloop") == isinstance(loop, uvloop.Loop)


def test_a_bench_names_the_loop_the_services_take(monkeypatch):
    monkeypatch.delenv("RENTFLOW_EVENT_LOOP", raising=False)
    assert event_loop_name() == "uvloop"
    monkeypatch.setenv("RENTFLOW_EVENT_LOOP", "asyncio")
    assert event_loop_name() == "asyncio"


def test_an_unknown_loop_is_refused_by_name():
    with pytest.raises(ValueError, match="RENTFLOW_EVENT_LOOP: 'trio'"):
        event_loop_factory("trio")
