"""The service in-process on real PostgreSQL and the real broker: ledger events in, tasks
and TaskEvents out."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any, Awaitable, Callable

import httpx

from rentflow_common.testing import grant
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from rentflow_common.testing import poll
from rentflow_common.kafka import ensure_topics
from rentflow_schemas import derive_event_id, new_envelope
from rentflow_schemas.ledger import AccountUpserted, SuspenseEvent

from rentflow_notifications.bootstrap import build_app

UTC = dt.timezone.utc
ACCOUNTS = "ledger.accounts.v1"
SUSPENSE = "ledger.suspense.v1"
TASKS = "notifications.tasks.v1"


async def _until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 30.0) -> Any:
    return await poll(check, timeout, what)


def _account(ref: str, patch: str, officer: str | None = None):
    data = AccountUpserted(account_ref=ref, property="1 High St", patch=patch, officer=officer,
                           tenancy_start=dt.date(2024, 4, 1), weekly_rent_pence=12000, balance_pence=0)
    return new_envelope(data, event_type="ledger.account_upserted", event_id=uuid.uuid4(), producer="test",
                        correlation_id="test-import")


def _suspense(action: str, payment_id: uuid.UUID, *, account_ref: str | None = None, amount: int = 1234,
              reference: str = "XYZ", by: str | None = None):
    data = SuspenseEvent(action=action, payment_id=payment_id, amount_pence=amount, channel="card",
                         reference=reference, received_at=dt.datetime(2026, 12, 24, 10, tzinfo=UTC),
                         reason="no matching account", account_ref=account_ref, allocated_by=by)
    return new_envelope(data, event_type="ledger.suspense", event_id=derive_event_id("test", action, payment_id),
                        producer="test", correlation_id=f"test-{payment_id}")


async def _publish(bootstrap: str, prefix: str, messages: list[tuple[str, str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for topic, key, env in messages:
            await producer.send_and_wait(prefix + topic, env.model_dump_json().encode(), key=key.encode())
    finally:
        await producer.stop()


class TaskEvents:
    """Reads everything the service emitted on notifications.tasks.v1."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                         group_id=f"reader-{uuid.uuid4().hex[:6]}")
        self.events: dict[str, dict[str, Any]] = {}  # by event_id: the relay may resend, never differently

    async def read(self) -> list[dict[str, Any]]:
        batch = await self.consumer.getmany(timeout_ms=200)
        for records in batch.values():
            for r in records:
                env = orjson.loads(r.value)
                assert r.key.decode() == env["data"]["task_id"]
                self.events[env["event_id"]] = env
        return sorted(self.events.values(), key=lambda e: e["occurred_at"])


async def test_unmatched_payments_become_tasks_once_each_and_allocation_completes_them(
        infra, service_env, topic_prefix):
    bootstrap = infra.kafka_bootstrap_servers
    await ensure_topics(bootstrap, 3, [ACCOUNTS, SUSPENSE, TASKS, "dlq.notifications"], prefix=topic_prefix)
    app = build_app()
    runtime = app.state.runtime
    await runtime.start()
    events = TaskEvents(bootstrap, topic_prefix + TASKS)
    await events.consumer.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=await grant(app), base_url="http://t") as http:
            r = await http.post("/v1/officers", json={"name": "Asha", "patches": ["N1"], "role": "officer"})
            assert r.status_code == 201, r.text
            asha = r.json()
            assert asha["name"] == "Asha" and asha["patches"] == ["N1"] and asha["role"] == "officer"

            consumer = runtime.consumers[0]
            await _publish(bootstrap, topic_prefix, [(ACCOUNTS, "1001", _account("1001", "N1"))])
            await _until(lambda: _done(consumer, ACCOUNTS, 1), "the account to be taken in")

            known, unknown = uuid.uuid4(), uuid.uuid4()
            opened_known = _suspense("opened", known, account_ref="1001")
            opened_unknown = _suspense("opened", unknown, reference="?? rent", amount=5000)
            redelivered_with_new_id = opened_unknown.model_copy(update={"event_id": uuid.uuid4()})
            await _publish(bootstrap, topic_prefix, [
                (SUSPENSE, str(known), opened_known),
                (SUSPENSE, str(unknown), opened_unknown),
                (SUSPENSE, str(known), opened_known),  # the same event twice
                (SUSPENSE, str(unknown), redelivered_with_new_id),  # the same payment, another event
            ])
            await _until(lambda: _done(consumer, SUSPENSE, 4), "four suspense messages to be handled")

            async def two_tasks():
                body = (await http.get("/v1/tasks")).json()
                return body if body["count"] >= 2 else None

            body = await _until(two_tasks, "two tasks")
            assert body["count"] == 2 and len(body["tasks"]) == 2
            tasks = {t["payment_id"]: t for t in body["tasks"]}
            assert set(tasks) == {str(known), str(unknown)}
            t_known, t_unknown = tasks[str(known)], tasks[str(unknown)]
            assert set(t_known) >= {"task_id", "kind", "account_ref", "assigned_to", "status", "due_on", "reason",
                                    "payment_id", "created_at"}  # docs/contract.md's fields, and more
            assert t_known["task_id"] == str(derive_event_id("task", "unmatched_payment", known))
            assert t_known == {**t_known, "kind": "unmatched_payment", "account_ref": "1001", "assigned_to": "Asha",
                               "status": "open", "due_on": "2027-01-05",
                               "reason": "£12.34 card payment, reference 'XYZ', no matching account"}
            assert t_unknown["assigned_to"] == "income-team" and t_unknown["account_ref"] is None
            assert t_unknown["reason"] == "£50.00 card payment, reference '?? rent', no matching account"

            # filters
            assert [t["payment_id"] for t in (await http.get("/v1/tasks", params={"assigned_to": "Asha"})).json()["tasks"]] == [str(known)]
            assert (await http.get("/v1/tasks", params={"account_ref": "1001"})).json()["count"] == 1
            assert (await http.get("/v1/tasks", params={"status": "done"})).json()["count"] == 0
            assert (await http.get("/v1/tasks", params={"kind": "dd_failure"})).json()["count"] == 0
            limited = (await http.get("/v1/tasks", params={"limit": 1})).json()
            assert len(limited["tasks"]) == 1 and limited["count"] == 2  # count is every match, not the page
            bad = await http.get("/v1/tasks", params={"status": "finished"})
            assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "status"

            opened = await _until(lambda: _events(events, lambda e: e["data"]["action"] == "opened", 2),
                                  "two TaskEvents opened")
            assert sorted(e["data"]["payment_id"] for e in opened) == sorted([str(known), str(unknown)])
            by_payment = {e["data"]["payment_id"]: e for e in opened}
            assert by_payment[str(known)]["data"]["assigned_to"] == "Asha"
            assert by_payment[str(known)]["causation_id"] == str(opened_known.event_id)
            assert by_payment[str(known)]["event_type"] == "notifications.task"

            # allocation by hand in the ledger completes the task
            await _publish(bootstrap, topic_prefix, [(SUSPENSE, str(known), _suspense("allocated", known,
                                                                                     account_ref="1001", by="Asha"))])

            async def known_done():
                t = (await http.get("/v1/tasks", params={"account_ref": "1001"})).json()["tasks"]
                return t if t and t[0]["status"] == "done" else None

            await _until(known_done, "the allocated payment's task to be done")
            completed = await _until(lambda: _events(events, lambda e: e["data"]["action"] == "completed", 1),
                                     "a TaskEvent completed")
            assert completed[0]["data"]["task_id"] == t_known["task_id"] and completed[0]["data"]["status"] == "done"

            # an officer claims and completes the queued one
            tid = t_unknown["task_id"]
            ben, cara = await grant(app, "Ben", ("officer",)), await grant(app, "Cara", ("officer",))
            r = await http.post(f"/v1/tasks/{tid}/claim", headers=ben)
            assert r.status_code == 200 and r.json()["status"] == "in_progress" and r.json()["assigned_to"] == "Ben"
            r = await http.post(f"/v1/tasks/{tid}/claim", json={"by": "Cara"}, headers=cara)
            assert r.status_code == 409 and "Ben" in r.json()["detail"]
            r = await http.post(f"/v1/tasks/{tid}/complete", json={"by": "Ben", "outcome": "refunded to payer"},
                                headers=ben)
            assert r.status_code == 200 and r.json()["status"] == "done" and r.json()["completed_by"] == "Ben"
            r = await http.post(f"/v1/tasks/{tid}/complete", json={}, headers=ben)
            assert r.status_code == 409
            r = await http.post(f"/v1/tasks/{uuid.uuid4()}/claim", json={"by": "Ben"}, headers=ben)
            assert r.status_code == 404 and "unknown task" in r.json()["detail"]
            r = await http.post(f"/v1/tasks/{tid}/claim", json={"by": "Cara"}, headers=ben)  # who acts is the token
            assert r.status_code == 403 and "is not you" in r.json()["detail"]

            # a suspense item the payer's bank takes back: its task is done, by rentflow, saying why
            taken_back = uuid.uuid4()
            await _publish(bootstrap, topic_prefix, [(SUSPENSE, str(taken_back), _suspense("opened", taken_back))])

            async def task_of(status):
                t = [x for x in (await http.get("/v1/tasks", params={"limit": 1000})).json()["tasks"]
                     if x["payment_id"] == str(taken_back)]
                return t[0] if t and t[0]["status"] == status else None

            await _until(lambda: task_of("open"), "the taken-back payment's task to open")
            await _publish(bootstrap, topic_prefix, [(SUSPENSE, str(taken_back), _suspense("reversed", taken_back))])
            done = await _until(lambda: task_of("done"), "the taken-back payment's task to be done")
            assert "reversed" in done["outcome"] and done["completed_by"] == "rentflow", done

            mine = await _until(lambda: _events(events, lambda e: e["data"]["task_id"] == tid, 3),
                                "opened, claimed and completed events for the queued task")
            assert [e["data"]["status"] for e in mine] == ["open", "in_progress", "done"]

            # nothing further appeared: exactly one task per payment (known, unknown, taken back)
            assert (await http.get("/v1/tasks")).json()["count"] == 3
    finally:
        await events.consumer.stop()
        await runtime.stop()


async def test_a_queued_task_moves_to_the_officer_once_the_account_or_officer_is_known(
        infra, service_env, topic_prefix):
    bootstrap = infra.kafka_bootstrap_servers
    await ensure_topics(bootstrap, 3, [ACCOUNTS, SUSPENSE, TASKS, "dlq.notifications"], prefix=topic_prefix)
    app = build_app()
    runtime = app.state.runtime
    await runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=await grant(app), base_url="http://t") as http:
            consumer = runtime.consumers[0]
            p1, p2 = uuid.uuid4(), uuid.uuid4()
            # payments naming accounts we have not heard of yet
            await _publish(bootstrap, topic_prefix, [(SUSPENSE, str(p1), _suspense("opened", p1, account_ref="2001")),
                                                    (SUSPENSE, str(p2), _suspense("opened", p2, account_ref="2002"))])
            await _until(lambda: _done(consumer, SUSPENSE, 2), "the suspense items")

            async def assignees():
                ts = (await http.get("/v1/tasks")).json()["tasks"]
                return {t["account_ref"]: t["assigned_to"] for t in ts}

            assert await assignees() == {"2001": "income-team", "2002": "income-team"}

            # the account arrives, and an officer is named on it
            await http.post("/v1/officers", json={"name": "Dev", "patches": [], "role": "officer"})
            await _publish(bootstrap, topic_prefix, [(ACCOUNTS, "2001", _account("2001", "S5", officer="Dev")),
                                                    (ACCOUNTS, "2002", _account("2002", "S6"))])
            await _until(lambda: _done(consumer, ACCOUNTS, 2), "the accounts")
            assert await assignees() == {"2001": "Dev", "2002": "income-team"}

            # an officer takes patch S6 on: the queued task moves to them
            r = await http.post("/v1/officers", json={"name": "Eve", "patches": ["S6"]})
            assert r.status_code == 201
            assert await assignees() == {"2001": "Dev", "2002": "Eve"}

            # re-posting a name replaces role and patches (200), validation names the field
            r = await http.post("/v1/officers", json={"name": "Eve", "patches": ["S7", "S8"], "role": "manager"})
            assert r.status_code == 200 and r.json()["officer_id"] == (await _officer(http, "Eve"))["officer_id"]
            assert r.json()["patches"] == ["S7", "S8"] and r.json()["role"] == "manager"
            officers = (await http.get("/v1/officers")).json()["officers"]
            assert [(o["name"], o["patches"], o["role"]) for o in officers] == [
                ("Dev", [], "officer"), ("Eve", ["S7", "S8"], "manager")]
            for body, field in [({"name": "", "patches": []}, "name"),
                                ({"name": "X", "role": "boss"}, "role"),
                                ({"name": "X", "patches": ["N1", ""]}, "patches"),
                                ({"patches": ["N1"]}, "name")]:
                r = await http.post("/v1/officers", json=body)
                assert r.status_code == 422, body
                assert field in r.json()["detail"][0]["loc"], r.json()
    finally:
        await runtime.stop()


async def _officer(http: httpx.AsyncClient, name: str) -> dict[str, Any]:
    return next(o for o in (await http.get("/v1/officers")).json()["officers"] if o["name"] == name)


async def _done(consumer, topic: str, n: int) -> bool:
    return consumer.stats.per_topic.get(topic, 0) >= n


async def _events(reader: TaskEvents, keep, n: int):
    found = [e for e in await reader.read() if keep(e)]
    return found if len(found) >= n else None


async def test_a_burst_of_mixed_events_is_handled_in_batches(infra, service_env, topic_prefix):
    """300 payments and 30 accounts in any interleaving: one task per payment, each assigned
    by the account it names (the account may arrive after the payment)."""
    bootstrap = infra.kafka_bootstrap_servers
    await ensure_topics(bootstrap, 3, [ACCOUNTS, SUSPENSE, TASKS, "dlq.notifications"], prefix=topic_prefix)
    app = build_app()
    runtime = app.state.runtime
    await runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=await grant(app), base_url="http://t") as http:
            for name, patch in [("Asha", "N1"), ("Ben", "N2")]:
                assert (await http.post("/v1/officers", json={"name": name, "patches": [patch]})).status_code == 201
            accounts = [(f"3{i:03d}", "N1" if i % 2 else "N2") for i in range(30)]
            payments = [(uuid.uuid4(), accounts[i % 40][0] if i % 40 < 30 else None) for i in range(300)]
            messages: list[tuple[str, str, Any]] = []
            for n, (pid, ref) in enumerate(payments):
                messages.append((SUSPENSE, str(pid), _suspense("opened", pid, account_ref=ref, amount=100 + n)))
                if n % 10 == 5:
                    ref_, patch = accounts[n // 10]
                    messages.append((ACCOUNTS, ref_, _account(ref_, patch)))
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
            await producer.start()
            try:
                sent = [await producer.send(topic_prefix + t, e.model_dump_json().encode(), key=k.encode())
                        for t, k, e in messages]
                await asyncio.gather(*sent)
            finally:
                await producer.stop()
            consumer = runtime.consumers[0]
            await _until(lambda: _done(consumer, SUSPENSE, 300), "300 suspense events", timeout=60)
            await _until(lambda: _done(consumer, ACCOUNTS, 30), "30 accounts", timeout=60)
            body = (await http.get("/v1/tasks", params={"limit": 1000})).json()
            assert body["count"] == 300
            assert len({t["payment_id"] for t in body["tasks"]}) == 300
            patch_of = dict(accounts)
            expected = {str(pid): ({"N1": "Asha", "N2": "Ben"}[patch_of[ref]] if ref else "income-team")
                        for pid, ref in payments}
            assert {t["payment_id"]: t["assigned_to"] for t in body["tasks"]} == expected
            assert consumer.stats.batches < consumer.stats.messages  # many messages per transaction
    finally:
        await runtime.stop()


ENDED = "ledger.ended-tenancy-payments.v1"


def _ended(transaction_id: uuid.UUID, ref: str = "1002", amount: int = 2500):
    from rentflow_schemas.ledger import EndedTenancyPayment

    data = EndedTenancyPayment(transaction_id=transaction_id, payment_id=uuid.uuid4(), account_ref=ref,
                               amount_pence=amount, channel="card", reference=ref, payer_name="A Former",
                               business_date=dt.date(2026, 12, 21), tenancy_end=dt.date(2026, 5, 31),
                               balance_after_pence=7500, posted_at=dt.datetime(2026, 12, 21, 10, tzinfo=UTC))
    return new_envelope(data, event_type="ledger.ended_tenancy_payment",
                        event_id=derive_event_id("test", transaction_id), producer="test", correlation_id="test")


async def test_a_payment_after_the_tenancy_ended_opens_one_task_for_the_patch_officer(
        infra, service_env, topic_prefix):
    bootstrap = infra.kafka_bootstrap_servers
    await ensure_topics(bootstrap, 3, [ACCOUNTS, ENDED, TASKS, "dlq.notifications"], prefix=topic_prefix)
    app = build_app()
    runtime = app.state.runtime
    await runtime.start()
    events = TaskEvents(bootstrap, topic_prefix + TASKS)
    await events.consumer.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=await grant(app), base_url="http://t") as http:
            assert (await http.post("/v1/officers", json={"name": "Ben", "patches": ["N2"]})).status_code == 201
            consumer = runtime.consumers[0]
            await _publish(bootstrap, topic_prefix, [(ACCOUNTS, "1002", _account("1002", "N2"))])
            await _until(lambda: _done(consumer, ACCOUNTS, 1), "the account to be taken in")
            txn = uuid.uuid4()
            event = _ended(txn)
            again = event.model_copy(update={"event_id": uuid.uuid4()})  # the same posting, another event id
            await _publish(bootstrap, topic_prefix, [(ENDED, "1002", event), (ENDED, "1002", event),
                                                     (ENDED, "1002", again)])
            await _until(lambda: _done(consumer, ENDED, 2), "the payments to be taken in")

            async def one_task():
                body = (await http.get("/v1/tasks", params={"kind": "ended_tenancy_payment"})).json()
                return body if body["count"] else None

            body = await _until(one_task, "the task")
            assert body["count"] == 1  # one per posting, however often it is delivered
            task = body["tasks"][0]
            assert task == {**task, "task_id": str(derive_event_id("task", "ended_tenancy_payment", txn)),
                            "account_ref": "1002", "assigned_to": "Ben", "status": "open",
                            "due_on": "2026-12-30",  # five working days, Christmas and Boxing Day left out
                            "payment_id": str(event.data.payment_id)}
            assert task["reason"] == ("£25.00 card payment of 2026-12-21 posted to 1002, whose tenancy ended on "
                                      "2026-05-31; it now owes £75.00: check whether the former tenant is paying off "
                                      "arrears or the payment belongs to another account (rentflow suspense move)")
            opened = await _until(lambda: _events(events, lambda e: e["data"]["kind"] == "ended_tenancy_payment", 1),
                                  "the TaskEvent")
            assert opened[0]["data"]["action"] == "opened" and opened[0]["causation_id"] == str(event.event_id)
            bad = await http.get("/v1/tasks", params={"kind": "nonsense"})
            assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "kind"]
            assert "ended_tenancy_payment" in bad.json()["detail"][0]["msg"]
    finally:
        await events.consumer.stop()
        await runtime.stop()


UNRECONCILED = "ledger.unreconciled.v1"


def _unreconciled(item_id: uuid.UUID, action: str, kind: str = "lump_unmatched", reason: str = "no detail"):
    from rentflow_schemas.ledger import UnreconciledItem

    data = UnreconciledItem(item_id=item_id, action=action, kind=kind, amount_pence=1234567,
                            reference="PAYPOINT SETTLEMENT", business_date=dt.date(2026, 12, 21), reason=reason,
                            occurred_at=dt.datetime(2026, 12, 21, 10, tzinfo=UTC))
    return new_envelope(data, event_type="ledger.unreconciled",
                        event_id=derive_event_id("test", item_id, action), producer="test", correlation_id="test")


async def test_an_unreconciled_item_opens_one_finance_task_and_its_resolution_completes_it(
        infra, service_env, topic_prefix):
    bootstrap = infra.kafka_bootstrap_servers
    await ensure_topics(bootstrap, 3, [UNRECONCILED, TASKS, "dlq.notifications"], prefix=topic_prefix)
    app = build_app()
    runtime = app.state.runtime
    await runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=await grant(app), base_url="http://t") as http:
            consumer = runtime.consumers[0]
            item = uuid.uuid4()
            opened = _unreconciled(item, "opened", reason="a cash settlement lump sum that matches no cash file")
            again = opened.model_copy(update={"event_id": uuid.uuid4()})  # the same item, another event id
            await _publish(bootstrap, topic_prefix, [(UNRECONCILED, "x", opened), (UNRECONCILED, "x", again)])
            await _until(lambda: _done(consumer, UNRECONCILED, 2), "the items to be taken in")

            async def tasks(status: str):
                body = (await http.get("/v1/tasks", params={"kind": "lump_unmatched", "status": status})).json()
                return body if body["count"] else None

            body = await _until(lambda: tasks("open"), "the finance task")
            assert body["count"] == 1
            task = body["tasks"][0]
            assert task == {**task, "task_id": str(derive_event_id("task", "lump_unmatched", item)),
                            "assigned_to": "finance", "status": "open", "account_ref": None,
                            "due_on": "2026-12-23"}
            assert task["reason"] == ("£12,345.67 on 2026-12-21 (reference 'PAYPOINT SETTLEMENT'): a cash settlement "
                                      "lump sum that matches no cash file")
            # the finance role works the finance queue
            fay = await grant(app, "Fay", ("finance",))
            mine = await http.get("/v1/tasks", params={"assigned_to": "finance"}, headers=fay)
            assert mine.status_code == 200 and [t["task_id"] for t in mine.json()["tasks"]] == [task["task_id"]]
            # what is wrong changed (part of the detail came): the open task says so now
            await _publish(bootstrap, topic_prefix, [(UNRECONCILED, "x", _unreconciled(
                item, "updated", reason="the cash file of 2026-12-19 adds up to £12,000.00 (difference £345.67)"))])

            async def reworded():
                body = await tasks("open")
                return body and "difference £345.67" in body["tasks"][0]["reason"] and body
            body = await _until(reworded, "the task to be reworded")
            assert body["tasks"][0]["reason"] == ("£12,345.67 on 2026-12-21 (reference 'PAYPOINT SETTLEMENT'): the cash "
                                                  "file of 2026-12-19 adds up to £12,000.00 (difference £345.67)")
            await _publish(bootstrap, topic_prefix, [(UNRECONCILED, "x", _unreconciled(
                item, "resolved", reason="matched to the cash file of 2026-12-19 when it arrived"))])
            body = await _until(lambda: tasks("done"), "the task to be completed")
            assert body["tasks"][0]["task_id"] == task["task_id"]
    finally:
        await runtime.stop()
