"""Payments and ledger services in one test process, on the session's broker and a fresh database
(each in its own schema): files and webhooks in, postings out."""
from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

import httpx

from rentflow_common.testing import grant

from rentflow_common.testing import poll as shared_poll
from rentflow_common.kafka import ensure_topics


async def poll(predicate: Any, timeout: float = 60.0) -> Any:
    return await shared_poll(predicate, timeout)


class Stack:
    def __init__(self, payments: httpx.AsyncClient, ledger: httpx.AsyncClient) -> None:
        self.payments, self.ledger = payments, ledger

    async def accounts(self, csv: str) -> None:
        r = await self.ledger.post("/v1/accounts/import", content=csv, headers={"Content-Type": "text/csv"})
        assert r.status_code == 200, r.text

    async def upload(self, data: bytes, fmt: str = "auto", status: int = 202, **params: str) -> dict:
        r = await self.payments.post("/v1/imports", params={"format": fmt, **params}, content=data)
        assert r.status_code == status, r.text
        return r.json()

    async def account(self, ref: str) -> dict:
        r = await self.ledger.get(f"/v1/accounts/{ref}")
        assert r.status_code == 200, r.text
        return r.json()

    async def balances_become(self, expected: dict[str, int]) -> dict[str, dict]:
        async def check():
            got = {ref: await self.account(ref) for ref in expected}
            return all(got[r]["balance_pence"] == b for r, b in expected.items()) and got
        try:
            return await poll(check)
        except AssertionError:
            got = {ref: (await self.account(ref))["balance_pence"] for ref in expected}
            raise AssertionError(f"balances {got}, expected {expected}") from None

    async def balanced(self) -> None:
        inv = (await self.ledger.get("/v1/invariants")).json()
        assert inv["balanced"], inv


@contextlib.asynccontextmanager
async def running_stack(infra: Any, topic_prefix: str) -> AsyncIterator[Stack]:
    from rentflow_ledger.bootstrap import build_app as ledger_app
    from rentflow_payments.bootstrap import build_app as payments_app

    await ensure_topics(infra.kafka_bootstrap_servers, 3, prefix=topic_prefix)
    apps = [payments_app(), ledger_app()]
    started = []
    try:
        for app in apps:
            await app.state.runtime.start()
            started.append(app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[0]), headers=await grant(apps[0]), base_url="http://p",
                                     timeout=60) as p, \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[1]), headers=await grant(apps[1]), base_url="http://l", timeout=60) as led:
            yield Stack(p, led)
    finally:
        for app in reversed(started):
            await app.state.runtime.stop()
