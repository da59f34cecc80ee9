"""Push API end to end: HTTP → PostgreSQL → outbox → broker."""
from __future__ import annotations

import random
import time
import uuid
from datetime import datetime, timedelta, timezone

import orjson

from rentflow_payments.domain import signature
from rentflow_payments.domain.events import payment_id, received_event_id

from .conftest import SECRET


def pay(ref: str, amount: int = 12500, **kw):
    return {"provider_ref": ref, "channel": "card", "amount_pence": amount, "currency": "GBP",
            "paid_at": "2026-04-06T09:30:00Z", "reference": "RENT 1000000001", **kw}


async def test_providers_register_once_and_secrets_are_generated(svc):
    r = await svc.client.post("/v1/providers", json={"name": "bank-1", "secret": None})
    assert r.status_code == 201
    body = r.json()
    assert body["provider_id"] == body["name"] == "bank-1" and len(body["secret"]) == 64
    assert body["legacy_signature"] is False
    r = await svc.client.post("/v1/providers", json={"name": "bank-1", "secret": "x" * 20})
    assert r.status_code == 409 and "exists" in r.json()["detail"]
    r = await svc.client.post("/v1/providers", json={"name": "given", "secret": "my-key-0123456789"})
    assert r.status_code == 201 and r.json()["secret"] == "my-key-0123456789"
    for bad in ({"name": "bad name!", "secret": None}, {"name": "short", "secret": "my-key"},
                {"name": "ctl", "secret": "a\x00" + "b" * 20}, {"name": "ctl", "secret": "a\n" + "b" * 20}):
        r = await svc.client.post("/v1/providers", json=bad)
        assert r.status_code == 422, bad
        assert r.json()["detail"][0]["loc"][-1] in ("name", "secret")


async def test_secrets_are_stored_encrypted_and_never_listed(svc):
    secret = await svc.provider("enc", "plain-secret-0123456789")
    async with svc.runtime.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        stored = dict(await raw.fetchrow("select * from providers where provider_id = 'enc'"))
    assert "secret" not in stored and all(secret not in str(v) for v in stored.values())
    assert stored["secret_enc"].startswith("gAAAA")  # a Fernet token
    listed = (await svc.client.get("/v1/providers")).json()["providers"]
    assert [p["provider_id"] for p in listed] == ["enc"] and listed[0]["status"] == "active"
    assert secret not in str(listed) and "secret" not in listed[0]


async def test_rotation_keeps_the_previous_secret_for_the_rollover_window_and_revocation_ends_both(svc):
    old = await svc.provider()
    r = await svc.client.post("/v1/providers/acme/rotate", json={})
    assert r.status_code == 200, r.text
    new, until = r.json()["secret"], r.json()["previous_secret_valid_until"]
    assert new != old and len(new) == 64 and until is not None
    assert (await svc.push("/v1/payments", pay("ROT-1"), secret=old)).status_code == 202  # rollover window
    assert (await svc.push("/v1/payments", pay("ROT-2"), secret=new)).status_code == 202
    listed = (await svc.client.get("/v1/providers")).json()["providers"][0]
    assert listed["previous_secret_valid_until"] is not None and listed["rotated_at"] is not None
    # the window passes: only the new secret is valid
    async with svc.runtime.engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.execute("update providers set previous_valid_until = now() - interval '1 second'")
    r = await svc.client.post("/v1/providers/acme/rotate", json={"secret": "given-new-secret-0001"})
    assert r.json()["secret"] == "given-new-secret-0001"
    assert (await svc.push("/v1/payments", pay("ROT-3"), secret=old)).status_code == 401  # two rotations ago
    assert (await svc.push("/v1/payments", pay("ROT-4"), secret=new)).status_code == 202  # the previous one
    r = await svc.client.post("/v1/providers/acme/revoke")
    assert r.json() == {"provider_id": "acme", "status": "revoked"}
    for secret in (new, "given-new-secret-0001"):
        r = await svc.push("/v1/payments", pay("ROT-5"), secret=secret)
        assert (r.status_code, r.json()) == (401, {"detail": "bad signature, or unknown provider"})
    assert (await svc.client.get("/v1/providers")).json()["providers"][0]["status"] == "revoked"
    # a rotation after a revocation issues a fresh secret and no previous one
    r = await svc.client.post("/v1/providers/acme/rotate")
    assert r.json()["previous_secret_valid_until"] is None
    assert (await svc.push("/v1/payments", pay("ROT-6"), secret=r.json()["secret"])).status_code == 202
    assert (await svc.push("/v1/payments", pay("ROT-7"), secret="given-new-secret-0001")).status_code == 401
    for path in ("/v1/providers/nobody/rotate", "/v1/providers/nobody/revoke"):
        assert (await svc.client.post(path)).status_code == 404
    assert (await svc.client.post("/v1/providers/bad%20name/revoke")).status_code == 422


async def test_openapi_documents_every_endpoint(svc):
    paths = (await svc.client.get("/openapi.json")).json()["paths"]
    for path in ("/v1/providers", "/v1/providers/{name}/rotate", "/v1/providers/{name}/revoke", "/v1/payments", "/v1/payments/batch", "/v1/payments/{payment_id}", "/v1/files",
                 "/v1/imports", "/v1/imports/{import_id}", "/health", "/v1/ops/status"):
        assert path in paths, path
    batch = paths["/v1/payments/batch"]["post"]
    schema = batch["requestBody"]["content"]["application/json"]["schema"]
    assert schema["type"] == "array" and "card" in schema["items"]["properties"]["channel"]["enum"]
    assert (await svc.client.get("/health")).status_code == 200


async def test_push_single_and_repeat_gives_same_id_and_exactly_one_event(svc):
    await svc.provider()
    r = await svc.push("/v1/payments", pay("R-1", payer_name="A Tenant"), headers={"X-Correlation-Id": "corr-1"})
    assert r.status_code == 202, r.text
    assert r.headers["x-correlation-id"] == "corr-1"
    first = r.json()
    assert first == {"payment_id": str(payment_id("acme", "R-1")), "status": "accepted"}

    again = await svc.push("/v1/payments", pay("R-1", amount=999))
    assert again.status_code == 202
    assert again.json() == {"payment_id": first["payment_id"], "status": "duplicate"}

    stored = (await svc.client.get(f"/v1/payments/{first['payment_id']}")).json()
    assert stored["amount_pence"] == 12500 and stored["provider_ref"] == "R-1" and stored["source"] == "push"
    assert stored["payer_name"] == "A Tenant" and stored["correlation_id"] == "corr-1"
    assert (await svc.client.get(f"/v1/payments/{uuid.uuid4()}")).status_code == 404
    missing = await svc.client.get("/v1/payments/not-a-uuid")
    assert missing.status_code == 404 and missing.json()["detail"] == "unknown payment not-a-uuid"
    missing = await svc.client.get(f"/v1/imports/{first['payment_id']}")  # an id, not an import's
    assert missing.status_code == 404 and missing.json()["detail"] == f"unknown import {first['payment_id']}"

    got = await svc.events("payments.received.v1", expected=1)
    assert len(got) == 1, got
    event = got[0]
    assert event["key"] == "acme:R-1"
    assert event["event_id"] == str(received_event_id(uuid.UUID(first["payment_id"])))
    assert event["event_type"] == "payments.received" and event["correlation_id"] == "corr-1"
    assert event["data"]["payment_id"] == first["payment_id"] and event["data"]["amount_pence"] == 12500
    assert event["data"]["channel"] == "card" and event["data"]["source"] == "push"


async def test_a_batch_and_its_resend_publish_each_payment_once_without_the_outbox_duplicate_check(svc):
    """PaymentReceived is emitted only by the commit that inserts its payments row, so its outbox row
    leaves event_id null (the relay's duplicate check skips it); a resend, in the same request or
    later, emits nothing and every payment is published once, with its event id."""
    await svc.provider()
    batch = [pay(f"B-{i}", amount=1000 + i) for i in range(100)] + [pay("B-7", amount=5)]
    r = await svc.push("/v1/payments/batch", batch)
    assert r.status_code == 202 and (r.json()["accepted"], r.json()["duplicates"]) == (100, 1)
    async with svc.runtime.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        rows = await raw.fetch("select event_id from outbox_events where topic = 'payments.received.v1'")
    assert len(rows) == 100 and all(row["event_id"] is None for row in rows)
    again = await svc.push("/v1/payments/batch", batch[:50] + [pay("B-100", amount=1100)])
    assert (again.json()["accepted"], again.json()["duplicates"]) == (1, 50)
    got = await svc.events("payments.received.v1", expected=101)
    ids = {payment_id("acme", f"B-{i}"): 1000 + i for i in range(101)}
    assert sorted(e["data"]["payment_id"] for e in got) == sorted(str(p) for p in ids)
    assert all(e["event_id"] == str(received_event_id(uuid.UUID(e["data"]["payment_id"])))
               and e["data"]["amount_pence"] == ids[uuid.UUID(e["data"]["payment_id"])] for e in got)
    assert svc.runtime.relay.duplicates_dropped == 0


async def test_signature_is_checked_over_the_time_and_raw_body(svc):
    await svc.provider()
    body = orjson.dumps(pay("R-2"))
    r = await svc.client.post("/v1/payments", content=body, headers={"X-Provider-Id": "acme"})
    assert (r.status_code, r.json()) == (401, {"detail": signature.MISSING})
    r = await svc.push("/v1/payments", body, secret="wrong-secret-0123456789")
    assert (r.status_code, r.json()) == (401, {"detail": signature.BAD})
    # signed bytes differ from the bytes sent (re-serialised with a space): refused
    r = await svc.client.post("/v1/payments", content=body + b" ",
                              headers={"X-Provider-Id": "acme", "X-Signature": signature.sign(SECRET, body)})
    assert r.status_code == 401
    for header in ("t=abc,v1=00", "v1=" + "0" * 64, "t=1", "sha256=xyz", "t=1,v1=" + "g" * 64):
        r = await svc.client.post("/v1/payments", content=body, headers={"X-Provider-Id": "acme", "X-Signature": header})
        assert (r.status_code, r.json()) == (401, {"detail": signature.MALFORMED}), header
    assert (await svc.client.get(f"/v1/payments/{payment_id('acme', 'R-2')}")).status_code == 404


async def test_a_replayed_push_older_than_five_minutes_is_refused(svc):
    await svc.provider()
    body = orjson.dumps(pay("OLD-1"))
    now = int(time.time())
    for t in (now - 301, now + 301, now - 86_400):
        r = await svc.client.post("/v1/payments", content=body, headers={
            "X-Provider-Id": "acme", "X-Signature": signature.sign(SECRET, body, t=t)})
        assert (r.status_code, r.json()) == (401, {"detail": signature.STALE}), t
    r = await svc.client.post("/v1/payments", content=body, headers={
        "X-Provider-Id": "acme", "X-Signature": signature.sign(SECRET, body, t=now - 240)})
    assert r.status_code == 202  # within the window (clocks drift)
    # the signature binds the time: the same digest with a fresh t does not verify
    digest = signature.sign(SECRET, body, t=now - 400).split("v1=")[1]
    r = await svc.client.post("/v1/payments", content=body, headers={
        "X-Provider-Id": "acme", "X-Signature": f"t={now},v1={digest}"})
    assert (r.status_code, r.json()) == (401, {"detail": signature.BAD})


async def test_legacy_signatures_only_for_providers_registered_with_the_flag(svc):
    await svc.provider()
    await svc.provider("old-bank", "old-bank-secret-0001", legacy=True)
    body = orjson.dumps(pay("L-1"))
    r = await svc.client.post("/v1/payments", content=body, headers={
        "X-Provider-Id": "acme", "X-Signature": signature.sign_legacy(SECRET, body)})
    assert (r.status_code, r.json()) == (401, {"detail": signature.BAD})
    r = await svc.client.post("/v1/payments", content=body, headers={
        "X-Provider-Id": "old-bank", "X-Signature": signature.sign_legacy("old-bank-secret-0001", body)})
    assert r.status_code == 202, r.text
    # the legacy provider may move to the timestamped form at any time
    r = await svc.push("/v1/payments", pay("L-2"), provider="old-bank", secret="old-bank-secret-0001")
    assert r.status_code == 202
    assert (await svc.client.get("/v1/providers")).json()["providers"][1]["legacy_signature"] is True


async def test_401_answers_do_not_tell_whether_a_provider_exists(svc):
    """Same status, same body, similar time for an unknown, a revoked and a known provider signed wrongly."""
    await svc.provider()
    await svc.provider("gone", "gone-secret-0123456789")
    await svc.client.post("/v1/providers/gone/revoke")
    body = orjson.dumps(pay("X-1"))

    async def attempt(provider: str) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        r = await svc.push("/v1/payments", body, provider=provider, secret="not-the-secret-0123456789")
        return r.status_code, r.content, time.perf_counter() - started

    for who in ("acme", "nobody", "gone"):
        await attempt(who)  # warm: each provider's lookup is cached alike
    times: dict[str, list[float]] = {"acme": [], "nobody": [], "gone": []}
    answers = set()
    order = list(times) * 40
    random.Random(9).shuffle(order)  # interleaved, so the shared machine's noise falls on all three alike
    for who in order:
        status, content, took = await attempt(who)
        answers.add((status, content))
        times[who].append(took)
    assert answers == {(401, orjson.dumps({"detail": signature.BAD}))}
    # each one's quickest answers: what the work costs, with the least of the machine's noise in it
    # (a database look-up per unknown name, or a skipped HMAC, would show here)
    quick = {who: sorted(ts)[len(ts) // 10] for who, ts in times.items()}
    assert max(quick.values()) < 2 * min(quick.values()) + 0.002, quick


async def test_batch_invalid_lists_every_error_and_stores_nothing(svc):
    await svc.provider()
    batch = [pay("B-1"), pay("B-2", amount=12.5), pay("B-3", channel="cheque", paid_at="2026-04-06T09:30:00"),
             pay("B-4", amount=0), pay("B-5")]
    r = await svc.push("/v1/payments/batch", batch)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert {(e["item"], e["field"]) for e in detail} == {
        (1, "amount_pence"), (2, "channel"), (2, "paid_at"), (3, "amount_pence")}
    assert all(e["reason"] for e in detail)
    for ref in ("B-1", "B-5"):
        assert (await svc.client.get(f"/v1/payments/{payment_id('acme', ref)}")).status_code == 404
    assert await svc.emitted() == 0  # (the provider's registration is in the audit trail)

    r = await svc.push("/v1/payments", pay("S-1", amount="100", currency="EUR"))
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["detail"]} == {"amount_pence", "currency"}
    assert all("item" not in e for e in r.json()["detail"])
    r = await svc.push("/v1/payments/batch", b"{not json")
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"][0]["reason"]


async def test_batch_accepts_new_counts_duplicates_and_replays_idempotency_keys(svc):
    await svc.provider()
    r = await svc.push("/v1/payments", pay("D-0"))
    assert r.status_code == 202
    batch = [pay("D-1"), pay("D-0"), pay("D-2", channel="direct_debit"), pay("D-1")]
    r = await svc.push("/v1/payments/batch", batch, headers={"Idempotency-Key": "k-1"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["accepted"], body["duplicates"]) == (2, 2)
    assert [(p["item"], p["provider_ref"], p["status"]) for p in body["payments"]] == [
        (0, "D-1", "accepted"), (1, "D-0", "duplicate"), (2, "D-2", "accepted"), (3, "D-1", "duplicate")]
    assert body["payments"][0]["payment_id"] == body["payments"][3]["payment_id"] == str(payment_id("acme", "D-1"))

    resent = int(time.time()) + 1  # the provider resends, signing again (the same signature is a replay: 409)
    replay = await svc.push("/v1/payments/batch", batch, headers={"Idempotency-Key": "k-1"}, t=resent)
    assert replay.status_code == 202 and replay.json() == body  # the first answer, not "all duplicates"
    assert replay.headers.get("idempotent-replayed") == "true"
    other = await svc.push("/v1/payments/batch", [pay("D-9")], headers={"Idempotency-Key": "k-1"}, t=resent + 1)
    assert other.status_code == 409 and "different request" in other.json()["detail"]
    assert (await svc.client.get(f"/v1/payments/{payment_id('acme', 'D-9')}")).status_code == 404

    got = await svc.events("payments.received.v1", expected=3)
    assert sorted(e["key"] for e in got) == ["acme:D-0", "acme:D-1", "acme:D-2"]


async def test_concurrent_overlapping_batches_store_each_payment_once(svc):
    import asyncio

    await svc.provider()
    refs = [f"C-{i:03d}" for i in range(60)]
    batches = [[pay(r) for r in refs[k:k + 30]][::(-1) ** k] for k in range(0, 40, 10)]  # overlapping, mixed order
    answers = await asyncio.gather(*[svc.push("/v1/payments/batch", b) for b in batches])
    assert all(a.status_code == 202 for a in answers), [a.text for a in answers]
    unique = {p["provider_ref"] for b in batches for p in b}
    assert sum(a.json()["accepted"] for a in answers) == len(unique)
    got = await svc.events("payments.received.v1", expected=len(unique))
    assert sorted(e["key"] for e in got) == sorted(f"acme:{r}" for r in unique)


async def test_a_signed_request_seen_before_is_refused_as_a_replay_and_a_resend_signed_again_is_not(svc):
    """Inside the 5-minute window, the same provider, t and body again is a replay (409, saying so, nothing
    stored); the same payment resent under a new signature answers 202 with its first id, as providers
    retry (docs/contract.md). The record is in PostgreSQL until the window has passed."""
    await svc.provider()
    body = orjson.dumps(pay("R-1"))
    t = int(time.time())
    first = await svc.push("/v1/payments", body, t=t)
    assert first.status_code == 202, first.text
    replay = await svc.push("/v1/payments", body, t=t)
    assert replay.status_code == 409, replay.text
    assert replay.json()["detail"].startswith("this signed request was already received at ")
    assert "(a replay): sign every request, retries included, with its own t" in replay.json()["detail"]
    with_key = await svc.push("/v1/payments", body, t=t, headers={"Idempotency-Key": "r-1"})
    assert with_key.status_code == 409 and "a replay" in with_key.json()["detail"]  # a key does not make it new
    again = await svc.push("/v1/payments", body, t=t + 1)  # signed again: an idempotent resend
    assert again.status_code == 202 and again.json() == {"payment_id": first.json()["payment_id"], "status": "duplicate"}
    # a batch and a signed file, likewise
    batch = orjson.dumps([pay("R-2"), pay("R-3")])
    assert (await svc.push("/v1/payments/batch", batch, t=t)).status_code == 202
    assert (await svc.push("/v1/payments/batch", batch, t=t)).status_code == 409
    assert (await svc.push("/v1/payments/batch", batch, t=t + 2)).json()["duplicates"] == 2
    # a request that fails leaves no record: an invalid body may be sent again as it was
    bad = orjson.dumps(pay("R-4", amount=-1))
    assert (await svc.push("/v1/payments", bad, t=t)).status_code == 422
    assert (await svc.push("/v1/payments", bad, t=t)).status_code == 422
    async with svc.runtime.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        rows = await raw.fetch("select provider_id, t, expires_at - to_timestamp(t) as keep from signatures_seen "
                               "order by t, seen_at")
    assert [(r["provider_id"], r["t"]) for r in rows] == [("acme", t)] * 2 + [("acme", t + 1), ("acme", t + 2)]
    assert {r["keep"].total_seconds() for r in rows} == {signature.MAX_SKEW_SECONDS + 60}



async def test_a_payment_met_on_either_unique_index_is_a_duplicate_not_an_error(svc):
    """Two requests inserting the same payment at the same moment can meet on either of its unique
    indexes: (provider_id, provider_ref), or payment_id, derived from them. The full suite once
    answered 500 on the second (a unique violation ON CONFLICT did not cover). Shown here without the
    race: a row holding only the payment_id is met, and the insert does nothing."""
    import datetime as dt

    from rentflow_payments.adapters.repository import PaymentRow, insert_payments

    await svc.provider()
    now = dt.datetime.now(dt.timezone.utc)
    pid = payment_id("acme", "U-1")
    async with svc.runtime.engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        async with raw.transaction():
            await raw.execute(
                "insert into payments (payment_id, provider_id, provider_ref, channel, amount_pence, currency, "
                "paid_at, received_at, source, correlation_id) values ($1, 'acme', 'U-1 (as first stored)', "
                "'card', 100, 'GBP', $2, $2, 'push', 'c')", pid, now)
            new = await insert_payments(raw, [PaymentRow(pid, "U-1", "card", 100, "GBP", now, "", None, None)],
                                        provider_id="acme", received_at=now, source="push", import_id=None,
                                        correlation_id="c")
    assert new == set()


class _Statements:
    """An asyncpg connection that records the SQL it is given (and passes everything through); a COPY
    is recorded as `COPY <table>`."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.sql: list[str] = []

    def __getattr__(self, name):
        return getattr(self.raw, name)

    async def execute(self, sql, *args):
        self.sql.append(sql)
        return await self.raw.execute(sql, *args)

    async def fetch(self, sql, *args):
        self.sql.append(sql)
        return await self.raw.fetch(sql, *args)

    async def copy_records_to_table(self, table, **kw):
        self.sql.append(f"COPY {table}")
        return await self.raw.copy_records_to_table(table, **kw)


async def test_new_payments_go_in_by_copy_and_a_known_one_undoes_only_that_statement(svc):
    """All new: one binary COPY (no ON CONFLICT, cheaper for PostgreSQL and for the encoding). One
    known already among them: the COPY fails on it and only its savepoint is rolled back; the payments
    then go in by INSERT ... ON CONFLICT DO NOTHING, and the rest of the transaction goes on and
    commits. A few payments go straight in by ON CONFLICT (no savepoint: none per card event of a
    file). Every column is stored as the INSERT stores it."""
    import datetime as dt

    from rentflow_payments.adapters import repository as repo

    await svc.provider()
    now = dt.datetime.now(dt.timezone.utc)
    paid = dt.datetime(2026, 4, 6, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    imp = uuid.uuid4()

    def rows(refs):
        return [repo.PaymentRow(payment_id("acme", r), r, "card", 100, "GBP", paid, f"REF {r}",
                                "A PAYER" if r.endswith("1") else None, "E2E" + r if r.endswith("2") else None)
                for r in sorted(refs)]

    n = repo.COPY_ROWS
    first = {f"SP-{i:03d}" for i in range(n)}
    second = {f"SP-{i:03d}" for i in range(n, 2 * n)} | {"SP-005"}
    kw = dict(provider_id="acme", received_at=now, source="file", import_id=imp, correlation_id="c")
    async with svc.runtime.uow() as uow:
        raw = _Statements(uow.raw)
        assert await repo.insert_payments(raw, rows(first), **kw) == first
        assert raw.sql == ["COPY payments"]
        raw.sql.clear()
        assert await repo.insert_payments(raw, rows(second), **kw) == second - {"SP-005"}
        assert raw.sql == ["COPY payments", repo.INSERT_PAYMENTS]
        raw.sql.clear()
        assert await repo.insert_payments(raw, rows({"SP-999", "SP-001"}), **kw) == {"SP-999"}
        assert raw.sql == [repo.INSERT_PAYMENTS]
        await uow.commit()
    async with svc.runtime.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        got = await raw.fetch("select payment_id, provider_id, provider_ref, channel, amount_pence, currency, "
                              "paid_at, received_at, reference, payer_name, source, import_id, correlation_id, "
                              "match_ref from payments where provider_ref like 'SP-%' order by provider_ref")
    assert [r["provider_ref"] for r in got] == sorted(first | second | {"SP-999"})
    expected = {r.provider_ref: r for r in rows(first | second | {"SP-999"})}
    for r in got:  # the COPY's rows (first), the ON CONFLICT's (second and SP-999): the same columns
        e = expected[r["provider_ref"]]
        assert dict(r) == {"payment_id": e.payment_id, "provider_id": "acme", "provider_ref": e.provider_ref,
                           "channel": "card", "amount_pence": 100, "currency": "GBP", "paid_at": paid,
                           "received_at": now, "reference": e.reference, "payer_name": e.payer_name,
                           "source": "file", "import_id": imp, "correlation_id": "c", "match_ref": e.match_ref}


async def test_ops_replay_publishes_retained_events_again_and_records_who_asked(svc):
    """POST /v1/ops/replay moves the streams back and records it in the audit trail, in one transaction."""
    await svc.provider()
    before = datetime.now(timezone.utc)
    for ref in ("RP-1", "RP-2"):
        assert (await svc.push("/v1/payments", pay(ref))).status_code == 202
    assert len(await svc.events("payments.received.v1", expected=2)) == 2

    r = await svc.client.post("/v1/ops/replay", json={"since": (before - timedelta(minutes=1)).isoformat()})
    assert r.status_code == 200, r.text
    assert r.json()["republishing"]["payments.received.v1"] == 2
    got = await svc.events("payments.received.v1", expected=4)
    assert sorted(e["data"]["provider_ref"] for e in got) == ["RP-1", "RP-1", "RP-2", "RP-2"]
    audit = (await svc.client.get("/v1/audit", params={"user": "tester"})).json()["entries"]
    replays = [e for e in audit if e["action"] == "outbox.replay"]
    assert len(replays) == 1 and replays[0]["after"]["topics"]["payments.received.v1"] == 2
