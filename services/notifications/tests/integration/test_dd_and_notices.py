"""DD failures, mandate changes and rent changes through the service in-process, on real
PostgreSQL and the real broker, with a local SMTP server (aiosmtpd): tasks, letters, emails and
events; then every input again (same ids, and new event ids for the same failures), which must
change nothing."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import socket
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

import httpx

from rentflow_common.testing import grant
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiosmtpd.controller import Controller
from pypdf import PdfReader

from rentflow_common.testing import poll
from rentflow_common.kafka import ensure_topics
from rentflow_schemas import derive_event_id, new_envelope
from rentflow_schemas.directdebit import DdFailure, MandateChanged
from rentflow_schemas.ledger import AccountUpserted
from rentflow_schemas.rents import RentChanged

from rentflow_notifications.bootstrap import build_app
from rentflow_notifications.config import NotificationsConfig, SmtpSettings

UTC = dt.timezone.utc
ACCOUNTS, FAILURES, MANDATES, RENTS = ("ledger.accounts.v1", "ledger.dd-failures.v1", "ledger.mandates.v1",
                                       "ledger.rent-changes.v1")
TASKS, NOTICES = "notifications.tasks.v1", "notifications.notices.v1"
ALL = [ACCOUNTS, FAILURES, MANDATES, RENTS, "ledger.suspense.v1", TASKS, NOTICES, "dlq.notifications"]
MEANING = {"0": "refer to payer (usually insufficient funds)", "1": "instruction cancelled", "2": "payer deceased",
           "B": "account closed"}


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 60.0) -> Any:
    return await poll(check, timeout, what)


def envelope(data: Any, event_type: str, event_id: uuid.UUID | None = None) -> Any:
    return new_envelope(data, event_type=event_type, event_id=event_id or uuid.uuid4(), producer="test",
                        correlation_id="test")


def account(ref: str, patch: str, method: str | None = "dd") -> Any:
    return envelope(AccountUpserted(account_ref=ref, property=f"{ref[-1]} High Street", patch=patch,
                                    tenancy_start=dt.date(2020, 4, 6), weekly_rent_pence=12000, balance_pence=0,
                                    payment_method=method), "ledger.account_upserted")


def failure(ref: str | None, code: str, amount: int = 12345) -> DdFailure:
    return DdFailure(failure_id=uuid.uuid4(), return_id=uuid.uuid4(), account_ref=ref, reference=f"DD{ref or 'X9'}",
                     amount_pence=amount, return_code=code, meaning=MEANING[code], action="reverse; task",
                     mandate_state="live" if code == "0" else "cancelled", may_represent=code == "0",
                     represent_by=dt.date(2027, 1, 10) if code == "0" else None,
                     original_processing_date=dt.date(2026, 12, 10), payer_name="MR PAYER",
                     occurred_at=dt.datetime(2026, 12, 23, 9, tzinfo=UTC))


def mandate(ref: str, needs_person: bool) -> MandateChanged:
    return MandateChanged(account_ref=ref, reference=f"DD{ref}", old_state="live", new_state="cancelled",
                          reason_code="1", description="cancelled by payer", needs_person=needs_person,
                          instruction_id=uuid.uuid4(), occurred_at=dt.datetime(2026, 12, 23, 9, tzinfo=UTC))


async def publish(bootstrap: str, prefix: str, messages: list[tuple[str, str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = [await producer.send(prefix + t, e.model_dump_json().encode(), key=k.encode()) for t, k, e in messages]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


class Reader:
    """Everything emitted on a topic, by event_id (the relay may resend, never differently)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                         group_id=f"reader-{uuid.uuid4().hex[:6]}")
        self.events: dict[str, dict[str, Any]] = {}

    async def read(self) -> list[dict[str, Any]]:
        for records in (await self.consumer.getmany(timeout_ms=200)).values():
            for r in records:
                env = orjson.loads(r.value)
                self.events[env["event_id"]] = env
        return list(self.events.values())


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content))
        return "250 OK queued"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, box
    controller.stop()


def fixed_clock(moment: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: moment


async def consumed(runtime: Any, topic: str, n: int) -> bool:
    return runtime.consumers[0].stats.per_topic.get(topic, 0) >= n


async def test_dd_failures_become_tasks_letters_and_emails_once(infra, service_env, topic_prefix, tmp_path,
                                                                 smtp_server):
    controller, box = smtp_server
    bootstrap = infra.kafka_bootstrap_servers
    await ensure_topics(bootstrap, 1, ALL, prefix=topic_prefix)  # one partition: the batch order is the send order
    config = NotificationsConfig(letters_dir=tmp_path / "letters", clock=fixed_clock(dt.datetime(2026, 12, 23, 10,
                                                                                                  tzinfo=UTC)),
                                 smtp=SmtpSettings("127.0.0.1", controller.port, "rents@anytown.example"),
                                 idle_poll_seconds=0.1)
    app = build_app(config=config)
    runtime = app.state.runtime
    await runtime.start()
    tasks_out, notices_out = Reader(bootstrap, topic_prefix + TASKS), Reader(bootstrap, topic_prefix + NOTICES)
    await tasks_out.consumer.start()
    await notices_out.consumer.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=await grant(app), base_url="http://t") as http:
            tokens = {}
            for name, patches, role in [("Asha", ["N1"], "officer"), ("Ben", [], "officer"), ("Cara", [], "officer"),
                                        ("Max", [], "manager")]:
                r = await http.post("/v1/officers", json={"name": name, "patches": patches, "role": role})
                assert r.status_code == 201
                tokens[name] = {"Authorization": f"Bearer {r.json()['token']}"}
            r = await http.put("/v1/contacts/1001", json={"email": "tenant.1001@example.org"})
            assert r.status_code == 200 and r.json()["email"] == "tenant.1001@example.org"
            bad = await http.put("/v1/contacts/1001", json={"email": "not an address"})
            assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "email"

            await publish(bootstrap, topic_prefix, [(ACCOUNTS, ref, account(ref, patch)) for ref, patch in
                                                    [("1001", "N1"), ("1002", "S5"), ("1003", "S6"), ("1004", "S7")]])
            await until(lambda: consumed(runtime, ACCOUNTS, 4), "the accounts")

            f1, f2, f3, f4, f5, f6 = (failure("1001", "0"), failure("1002", "1"), failure("1003", "B"),
                                      failure("1001", "0", 6000), failure(None, "1", 999), failure("1004", "2"))
            m1, m2 = mandate("1002", True), mandate("1003", False)
            inputs = [(FAILURES, f.account_ref or f.reference, envelope(f, "ledger.dd_failure",
                                                                       derive_event_id("t", f.failure_id)))
                      for f in (f1, f2, f3, f4, f5, f6)]
            inputs += [(MANDATES, m.account_ref, envelope(m, "ledger.mandate_changed",
                                                          derive_event_id("t", m.instruction_id))) for m in (m1, m2)]
            await publish(bootstrap, topic_prefix, inputs)
            await until(lambda: consumed(runtime, FAILURES, 6), "the failures")
            await until(lambda: consumed(runtime, MANDATES, 2), "the mandates")

            async def settled():
                progress = (await http.get("/v1/notices/progress")).json()["runs"]
                work = (await http.get("/v1/ops/status")).json()["pending_work"]
                return progress if progress and work == 0 else None

            await until(settled, "letters rendered and emails sent")
            tasks = (await http.get("/v1/tasks", params={"status": "open"})).json()["tasks"]
            by = {(t["kind"], t["account_ref"]): t for t in tasks}
            assert len(tasks) == 6, tasks
            # 1001 to its patch owner Asha; the rest by open load, ties by name, never the manager: Ben (0),
            # Cara (0), then all three on 1: Asha, then Asha 2, Ben 1, Cara 1: Ben; no account: the queue
            assert {k: t["assigned_to"] for k, t in by.items()} == {
                ("dd_failure", "1001"): "Asha", ("dd_failure", "1002"): "Ben", ("dd_failure", "1003"): "Cara",
                ("dd_failure", None): "income-team", ("dd_failure", "1004"): "Asha",
                ("mandate_change", "1002"): "Ben"}
            t1 = by[("dd_failure", "1001")]
            assert t1["task_id"] == str(derive_event_id("task", "dd_failure", f1.failure_id))
            assert (t1["occurrences"], t1["amount_pence"], t1["return_code"]) == (2, 6000, "0")
            assert t1["due_on"] == "2026-12-29"  # Wed 23 Dec + 2 working days (25 and 28 Dec are holidays)
            assert t1["reason"].startswith("£60.00 Direct Debit returned unpaid, code 0")
            assert "re-presentation on 2027-01-06" in t1["reason"] and t1["reason"].endswith("2 failures while this "
                                                                                          "task was open")
            assert "no rent account has DD reference 'DDX9'" in by[("dd_failure", None)]["reason"]
            assert by[("dd_failure", "1004")]["due_on"] == "2026-12-24"  # deceased: one working day
            listed = (await http.get("/v1/tasks", params={"kind": "mandate_change"})).json()
            assert listed["count"] == 1 and listed["tasks"][0]["account_ref"] == "1002"

            notices = (await http.get("/v1/notices", params={"kind": "dd_failure"})).json()["notices"]
            # a letter per failure on a known account, except the deceased payer's
            assert sorted(n["account_ref"] for n in notices) == ["1001", "1001", "1002", "1003"]
            for n in notices:
                assert n["status"] == "produced" and Path(n["document"]).read_bytes().startswith(b"%PDF-")
                assert n["served_on"] == "2026-12-29" and n["letter_date"] == "2026-12-23"
            code0 = [n for n in notices if n["account_ref"] == "1001"]
            assert {n["effective_on"] for n in code0} == {"2027-01-06"}  # the re-presentation date
            assert "6 January 2027" in PdfReader(code0[0]["document"]).pages[0].extract_text()
            assert {d["channel"]: d["status"] for d in code0[0]["deliveries"]} == {"letter": "written",
                                                                                    "email": "sent"}

            assert len(box.messages) == 2  # two letters to 1001, the only account with an address
            assert {m["To"] for m in box.messages} == {"tenant.1001@example.org"}
            assert {m["Message-ID"] for m in box.messages} == {f"<notice-{n['notice_id']}@anytown.example>"
                                                              for n in code0}
            attachment = next(p for p in box.messages[0].walk() if p.get_content_type() == "application/pdf")
            assert attachment.get_payload(decode=True).startswith(b"%PDF-")

            task_events = await until(lambda: _with(tasks_out, 7), "seven task events")
            updated = [e for e in task_events if e["data"]["action"] == "updated"]
            assert len(updated) == 1 and updated[0]["data"]["task_id"] == t1["task_id"]
            assert updated[0]["data"]["occurrences"] == 2 and updated[0]["causation_id"] == str(
                derive_event_id("t", f4.failure_id))
            notice_events = await until(lambda: _with(notices_out, 6), "produced and delivered notice events")
            assert sorted(e["data"]["status"] for e in notice_events) == ["delivered"] * 2 + ["produced"] * 4

            # everything again: the same events, and the same failures under new event ids
            again = inputs + [(t, k, e.model_copy(update={"event_id": uuid.uuid4()})) for t, k, e in inputs]
            await publish(bootstrap, topic_prefix, again)
            await until(lambda: consumed(runtime, FAILURES, 18), "the failures again")
            await until(lambda: consumed(runtime, MANDATES, 6), "the mandates again")
            await until(settled, "nothing left to do")
            assert (await http.get("/v1/tasks", params={"status": "open"})).json()["tasks"] == tasks
            assert len((await http.get("/v1/notices")).json()["notices"]) == 4
            assert len(box.messages) == 2
            assert len(await tasks_out.read()) == 7 and len(await notices_out.read()) == 6

            # the officer finishes the task; the next failure on the account opens a new one
            r = await http.post(f"/v1/tasks/{t1['task_id']}/complete", json={"by": "Asha", "outcome": "  "},
                                headers=tokens["Asha"])
            assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "outcome"
            r = await http.post(f"/v1/tasks/{t1['task_id']}/complete", json={"by": "Asha",
                                                                            "outcome": "tenant paid by card"},
                                headers=tokens["Asha"])
            assert r.status_code == 200 and r.json()["outcome"] == "tenant paid by card"
            f7 = failure("1001", "0", 7000)
            await publish(bootstrap, topic_prefix, [(FAILURES, "1001", envelope(f7, "ledger.dd_failure"))])
            await until(lambda: consumed(runtime, FAILURES, 19), "one more failure")
            fresh = (await http.get("/v1/tasks", params={"account_ref": "1001", "status": "open"})).json()["tasks"]
            assert [(t["task_id"], t["occurrences"]) for t in fresh] == [
                (str(derive_event_id("task", "dd_failure", f7.failure_id)), 1)]
            completed = await until(lambda: _with(tasks_out, 9), "the completion and the new task")
            done = next(e for e in completed if e["data"]["action"] == "completed")
            assert (done["data"]["by"], done["data"]["outcome"]) == ("Asha", "tenant paid by card")
    finally:
        await tasks_out.consumer.stop()
        await notices_out.consumer.stop()
        await runtime.stop()


async def _with(reader: Reader, n: int) -> list[dict[str, Any]] | None:
    events = await reader.read()
    return events if len(events) >= n else None


def rent_change(ref: str, effective: dt.date, method: str | None = "dd", old: int = 12000) -> RentChanged:
    return RentChanged(change_id=derive_event_id("rent-change", ref, effective), account_ref=ref,
                       tenant_name=f"Tenant {ref}", property=f"{ref} Long Road", patch="N1",
                       old_weekly_rent_pence=old, new_weekly_rent_pence=old * 1048 // 1000,
                       old_weekly_charges_pence=350, new_weekly_charges_pence=350, effective_date=effective,
                       payment_method=method, reason="annual uprating 4.8%",
                       occurred_at=dt.datetime(2027, 3, 4, 9, tzinfo=UTC))


async def test_a_bulk_rent_review_renders_in_chunks_refuses_late_notices_and_prints_one_file(
        infra, service_env, topic_prefix, tmp_path):
    bootstrap = infra.kafka_bootstrap_servers
    await ensure_topics(bootstrap, 3, ALL, prefix=topic_prefix)
    # today is Thu 4 March 2027: letters are served on Mon 8 March, just in time for Mon 5 April
    config = NotificationsConfig(letters_dir=tmp_path / "letters", render_chunk=40, idle_poll_seconds=0.1,
                                 clock=fixed_clock(dt.datetime(2027, 3, 4, 9, tzinfo=UTC)))
    app = build_app(config=config)
    runtime = app.state.runtime
    await runtime.start()
    events = Reader(bootstrap, topic_prefix + NOTICES)
    await events.consumer.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=await grant(app), base_url="http://t") as http:
            april, march = dt.date(2027, 4, 5), dt.date(2027, 3, 29)
            refs = [f"2{i:04d}" for i in range(150)]
            messages = [(RENTS, ref, envelope(rent_change(ref, april, "dd" if i % 3 else "so"),
                                              "ledger.rent_changed")) for i, ref in enumerate(refs)]
            late = [f"3{i:04d}" for i in range(5)]  # effective in 25 days: cannot be served in time
            messages += [(RENTS, ref, envelope(rent_change(ref, march), "ledger.rent_changed")) for ref in late]
            await publish(bootstrap, topic_prefix, messages)

            async def all_done():
                body = (await http.get("/v1/notices/progress")).json()
                runs = {r["run"]: r for r in body["runs"]}
                r = runs.get("rent_review:2027-04-05")
                return runs if r and r["received"] == 150 and r["pending"] == 0 else None

            runs = await until(all_done, "150 notices rendered", timeout=180)
            april_run, march_run = runs["rent_review:2027-04-05"], runs["rent_review:2027-03-29"]
            assert (april_run["produced"], april_run["refused"], april_run["pages"]) == (150, 0, 150)
            assert (march_run["received"], march_run["refused"], march_run["produced"]) == (5, 5, 0)

            listed = (await http.get("/v1/notices", params={"run": "rent_review:2027-04-05", "limit": 500})).json()
            assert listed["count"] == 150
            n = next(x for x in listed["notices"] if x["account_ref"] == "20001")
            assert (n["kind"], n["served_on"], n["effective_on"], n["old_weekly_pence"], n["new_weekly_pence"]) == (
                "rent_review", "2027-03-08", "2027-04-05", 12350, 12576 + 350)
            page = PdfReader(n["document"]).pages[0].extract_text()
            assert "Tenant 20001" in page and "£125.76" in page and "Direct Debit Guarantee" in page
            refused = (await http.get("/v1/notices", params={"status": "refused"})).json()["notices"]
            assert sorted(x["account_ref"] for x in refused) == late
            assert all("service by 2027-03-01" in x["reason"] and x["document"] is None for x in refused)

            r = await http.post("/v1/notices/print", json={"run": "rent_review:2027-04-05"})
            assert r.status_code == 200, r.text
            printed = r.json()
            assert printed["notices"] == 150 and printed["pages"] == 150
            assert len(PdfReader(printed["path"]).pages) == 150
            assert (await http.post("/v1/notices/print", json={"run": "rent_review:2027-03-29"})).status_code == 404
            assert (await http.post("/v1/notices/print", json={"run": "april"})).status_code == 422
            one = (await http.get("/v1/notices", params={"account_ref": "20001"})).json()["notices"][0]
            assert {d["channel"]: (d["status"], d["print_file"]) for d in one["deliveries"]} == {
                "letter": ("printed", printed["path"])}

            # an officer sees and prints only their own patch's letters, in a file of its own
            await publish(bootstrap, topic_prefix, [(ACCOUNTS, ref, account(ref, "N1" if ref < "20003" else "S2"))
                                                    for ref in ("20001", "20002", "20003")])
            asha = await grant(app, "Asha", ("officer",), patches=("N1",))

            async def hers():
                r = (await http.get("/v1/notices", params={"run": "rent_review:2027-04-05"}, headers=asha)).json()
                return r if r["count"] == 2 else None

            assert sorted(n["account_ref"] for n in (await until(hers, "Asha's two notices"))["notices"]) == [
                "20001", "20002"]
            r = await http.post("/v1/notices/print", json={"run": "rent_review:2027-04-05"}, headers=asha)
            assert r.status_code == 200 and r.json()["notices"] == 2, r.text
            assert r.json()["path"].endswith("rent_review-2027-04-05-patch-N1.pdf") and r.json()["path"] != printed["path"]
            assert len(PdfReader(r.json()["path"]).pages) == 2

            # the audit trail: generated and rendered by the service itself, printed by whoever asked
            trail = (await http.get("/v1/audit")).json()["entries"]
            generated = [e for e in trail if e["action"] == "notices.generated"]
            assert {e["user"] for e in generated} == {"system:notifications"}
            assert {e["subject"] for e in generated} == {"rent_review:2027-04-05", "rent_review:2027-03-29"}
            assert sum(e["after"]["notices"] for e in generated) == 155
            assert sum(e["after"]["refused"] for e in generated) == 5
            rendered = [e for e in trail if e["action"] == "notices.rendered"]
            assert {e["user"] for e in rendered} == {"system:notifications"}
            assert sum(e["after"]["produced"] for e in rendered) == 150
            assert [(e["user"], e["subject"], e["after"]["notices"], e["after"]["patches"])
                    for e in trail if e["action"] == "notices.printed"] == [
                ("tester", "rent_review:2027-04-05", 150, None), ("Asha", "rent_review:2027-04-05", 2, ["N1"])]

            seen = await until(lambda: _with(events, 155), "155 notice events")
            assert sorted({e["data"]["status"] for e in seen}) == ["produced", "refused"]
            assert consumer_batches_fewer_than_messages(runtime)

            # the whole run again: nothing new
            await publish(bootstrap, topic_prefix, messages)
            await until(lambda: consumed(runtime, RENTS, 310), "the run again", timeout=120)
            body = (await http.get("/v1/notices/progress")).json()
            assert {r["run"]: r["received"] for r in body["runs"]} == {"rent_review:2027-04-05": 150,
                                                                      "rent_review:2027-03-29": 5}
            assert (await http.get("/v1/ops/status")).json()["pending_work"] == 0
            assert len(await events.read()) == 155
            trail = (await http.get("/v1/audit")).json()["entries"]  # the run again generated nothing
            assert sum(e["after"]["notices"] for e in trail if e["action"] == "notices.generated") == 155
    finally:
        await events.consumer.stop()
        await runtime.stop()


def consumer_batches_fewer_than_messages(runtime: Any) -> bool:
    stats = runtime.consumers[0].stats
    return stats.batches < stats.messages


@contextlib.asynccontextmanager
async def quiet_service(infra: Any, topic_prefix: str, tmp_path: Path, at: dt.datetime) -> Any:
    """The service started with no SMTP server (its own worker sends nothing), and a letter's two files:
    (runtime, html, pdf). The test sends through a config of its own."""
    await ensure_topics(infra.kafka_bootstrap_servers, 1, ALL, prefix=topic_prefix)
    app = build_app(config=NotificationsConfig(letters_dir=tmp_path / "letters", clock=fixed_clock(at)))
    runtime = app.state.runtime
    await runtime.start()
    try:
        html, pdf = tmp_path / "letter.html", tmp_path / "letter.pdf"
        html.write_text("<p>A letter</p>")
        pdf.write_bytes(b"%PDF-1.4 a letter")
        yield runtime, html, pdf
    finally:
        await runtime.stop()


async def test_each_email_is_claimed_just_before_it_is_sent(infra, service_env, topic_prefix, tmp_path,
                                                             smtp_server):
    """Its lease covers its own send only: claimed in twenties, the last of a batch waited under its lease
    while the others were sent, and a slow server could outlast it (then another instance sends it too)."""
    from rentflow_notifications.service_layer.delivery import send_due_emails

    controller, box = smtp_server
    at = dt.datetime(2026, 12, 23, 10, tzinfo=UTC)
    async with quiet_service(infra, topic_prefix, tmp_path, at) as (runtime, html, pdf):
        notices = [uuid.uuid4() for _ in range(3)]
        async with runtime.uow() as uow:
            for n, notice_id in enumerate(notices):
                await uow.raw.execute(
                    "insert into notices (notice_id, kind, source_id, account_ref, status, run, input, document, "
                    "html_document, correlation_id, received_at, updated_at) values ($1, 'dd_failure', $2, $3, "
                    "'produced', 'test', '{}', $4, $5, 'test', $6, $6)",
                    notice_id, uuid.uuid4(), f"100{n}", str(pdf), str(html), at)
                await uow.raw.execute(
                    "insert into deliveries (delivery_id, notice_id, channel, address, status, next_attempt_at, "
                    "updated_at) values ($1, $2, 'email', $3, 'pending', $4, $4)",
                    uuid.uuid4(), notice_id, f"tenant.100{n}@example.org", at - dt.timedelta(minutes=n))
            await uow.commit()

        sending = NotificationsConfig(letters_dir=tmp_path / "letters", clock=fixed_clock(at),
                                      smtp=SmtpSettings("127.0.0.1", controller.port, "rents@anytown.example"))

        async def statuses() -> list[tuple[str, str, int]]:
            async with runtime.uow() as uow:
                return [tuple(r) for r in await uow.raw.fetch(
                    "select address, status, attempts from deliveries order by address")]

        assert await send_due_emails(runtime.uow, sending) == 1
        assert [m["To"] for m in box.messages] == ["tenant.1002@example.org"]  # the longest due first
        assert await statuses() == [("tenant.1000@example.org", "pending", 0),
                                    ("tenant.1001@example.org", "pending", 0),
                                    ("tenant.1002@example.org", "sent", 1)]  # the others not claimed meanwhile
        assert await send_due_emails(runtime.uow, sending) == 1
        assert await send_due_emails(runtime.uow, sending) == 1
        assert await send_due_emails(runtime.uow, sending) == 0
        assert sorted(m["To"] for m in box.messages) == [f"tenant.100{n}@example.org" for n in range(3)]
        assert {s for _a, s, _n in await statuses()} == {"sent"}


async def test_an_email_whose_claiming_process_is_gone_is_sent_at_once(infra, service_env, topic_prefix, tmp_path,
                                                                      smtp_server):
    """A claim names its process: killed mid-send on this machine, its email is due again at once (the
    restarted service sends it), not after the lease. A live claimer's email, and one claimed on another
    machine, wait out their lease."""
    import subprocess
    import sys

    from rentflow_common.reaper import process_key
    from rentflow_notifications.service_layer.delivery import release_orphaned_emails, send_due_emails

    controller, box = smtp_server
    at = dt.datetime(2026, 12, 23, 10, tzinfo=UTC)
    gone = subprocess.Popen([sys.executable, "-c", "from rentflow_common.reaper import process_key; "
                             "print(process_key())"], stdout=subprocess.PIPE, text=True)
    gone_key = gone.communicate(timeout=60)[0].strip()  # a process of this machine, ended
    # a live claimer: ends when its stdin closes (as leaving the `with` does)
    with subprocess.Popen([sys.executable, "-c", "import sys; from rentflow_common.reaper import process_key; "
                           "print(process_key(), flush=True); sys.stdin.read()"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as alive:
        async with quiet_service(infra, topic_prefix, tmp_path, at) as (runtime, html, pdf):
            alive_key = alive.stdout.readline().strip()
            space = process_key().split("/")[0]
            assert gone_key.startswith(space + "/") and alive_key.startswith(space + "/")
            other_machine = "0c6f0b9e-5a51-4d1f-9d0e-3a8e5f1f7a00.4026531836/" + gone_key.split("/", 1)[1]
            claimers = {"gone": gone_key, "alive": alive_key, "elsewhere": other_machine, "unnamed": None}
            async with runtime.uow() as uow:
                for who, key in claimers.items():
                    notice_id = uuid.uuid4()
                    await uow.raw.execute(
                        "insert into notices (notice_id, kind, source_id, account_ref, status, run, input, document, "
                        "html_document, correlation_id, received_at, updated_at) values ($1, 'dd_failure', $2, $3, "
                        "'produced', 'test', '{}', $4, $5, 'test', $6, $6)",
                        notice_id, uuid.uuid4(), who, str(pdf), str(html), at)
                    await uow.raw.execute(  # claimed a minute ago under a 5-minute lease, and not sent since
                        "insert into deliveries (delivery_id, notice_id, channel, address, status, attempts, "
                        "next_attempt_at, updated_at, claimed_by) values ($1, $2, 'email', $3, 'sending', 1, $4, $5, $6)",
                        uuid.uuid4(), notice_id, f"{who}@example.org", at + dt.timedelta(minutes=4),
                        at - dt.timedelta(minutes=1), key)
                await uow.commit()
            sending = NotificationsConfig(letters_dir=tmp_path / "letters", clock=fixed_clock(at),
                                          smtp=SmtpSettings("127.0.0.1", controller.port, "rents@anytown.example"))

            assert await send_due_emails(runtime.uow, sending) == 0  # every lease still runs
            assert await release_orphaned_emails(runtime.uow, sending) == 1
            assert await send_due_emails(runtime.uow, sending) == 1
            assert await send_due_emails(runtime.uow, sending) == 0
            assert [m["To"] for m in box.messages] == ["gone@example.org"]
            async with runtime.uow() as uow:
                rows = {r["address"]: (r["status"], r["attempts"], r["claimed_by"]) for r in await uow.raw.fetch(
                    "select d.address, d.status, d.attempts, d.claimed_by from deliveries d")}
            assert rows == {"gone@example.org": ("sent", 2, process_key()),
                            "alive@example.org": ("sending", 1, alive_key),
                            "elsewhere@example.org": ("sending", 1, other_machine),
                            "unnamed@example.org": ("sending", 1, None)}
            assert await release_orphaned_emails(runtime.uow, sending) == 0  # nothing more is orphaned

            alive.stdin.close()  # the live claimer ends: its email is released too
            alive.wait(timeout=60)
            assert await release_orphaned_emails(runtime.uow, sending) == 1
            assert await send_due_emails(runtime.uow, sending) == 1
            assert sorted(m["To"] for m in box.messages) == ["alive@example.org", "gone@example.org"]
