"""File intake end to end: /v1/imports (operator) and /v1/files (signed)."""
from __future__ import annotations

import time

import orjson

from rentflow_payments.domain.events import payment_id
from rentflow_payments.domain.signature import sign


def pay(ref: str, amount: int = 5000, **kw):
    return {"provider_ref": ref, "channel": "standing_order", "amount_pence": amount,
            "paid_at": "2026-04-06T00:00:00+01:00", "reference": "1000000001", **kw}


async def test_json_lines_import_rejects_bad_lines_and_reimport_gives_duplicates(svc):
    lines = [orjson.dumps(pay("F-1")), orjson.dumps(pay("F-2", amount=-5)), b"", b"{broken",
             orjson.dumps(pay("F-3")), orjson.dumps(pay("F-1"))]
    data = b"\n".join(lines) + b"\n"
    r = await svc.client.post("/v1/imports", params={"format": "json"}, content=data)
    assert r.status_code == 202, r.text
    s = r.json()
    assert (s["accepted"], s["rejected"], s["duplicates"], s["format"]) == (2, 2, 1, "json")
    assert s["provider_id"] == "file-import"
    assert [(e["line"], e["field"]) for e in s["errors"]] == [(2, "amount_pence"), (4, None)]
    assert "invalid JSON" in s["errors"][1]["reason"]

    again = (await svc.client.post("/v1/imports", params={"format": "json"}, content=data)).json()
    assert again["import_id"] == s["import_id"] and again["reimport"] is True
    assert (again["accepted"], again["rejected"], again["duplicates"]) == (0, 2, 3)

    stored = (await svc.client.get(f"/v1/payments/{payment_id('file-import', 'F-3')}")).json()
    assert stored["source"] == "file" and stored["import_id"] == s["import_id"]
    summary = (await svc.client.get(f"/v1/imports/{s['import_id']}")).json()
    assert summary["status"] == "completed" and summary["attempts"] == 2

    received = await svc.events("payments.received.v1", expected=2)
    assert sorted(e["key"] for e in received) == ["file-import:F-1", "file-import:F-3"]
    assert all(e["data"]["import_id"] == s["import_id"] for e in received)
    rejected = await svc.events("payments.rejected.v1", expected=2)
    assert len(rejected) == 2  # not emitted again by the re-import
    by_line = {e["data"]["errors"][0]["line"]: e["data"] for e in rejected}
    assert set(by_line) == {2, 4}
    assert by_line[2]["provider_ref"] == "F-2" and by_line[2]["errors"][0]["field"] == "amount_pence"


async def test_signed_file_upload_of_a_json_array(svc):
    await svc.provider("bank", "bank-key-0123456789")
    data = orjson.dumps([pay("A-1"), pay("A-2", amount=1.5), pay("A-3", channel="bank_transfer")])
    headers = {"X-Provider-Id": "bank", "X-Signature": sign("bank-key-0123456789", data)}
    r = await svc.client.post("/v1/files", params={"format": "json"}, content=data, headers=headers)
    assert r.status_code == 202, r.text
    s = r.json()
    assert (s["accepted"], s["rejected"], s["duplicates"]) == (2, 1, 0)
    assert s["errors"] == [{"item": 2, "field": "amount_pence",
                            "reason": "expected a whole number of pence (a JSON integer)"}]
    bad = await svc.client.post("/v1/files", params={"format": "json"}, content=data,
                                headers={**headers, "X-Signature": sign("other-key-0123456789", data)})
    assert (bad.status_code, bad.json()) == (401, {"detail": "bad signature, or unknown provider"})
    replayed = await svc.client.post("/v1/files", params={"format": "json"}, content=data, headers=headers)
    assert replayed.status_code == 409 and "(a replay)" in replayed.json()["detail"]  # the same signed request
    resigned = {**headers, "X-Signature": sign("bank-key-0123456789", data, int(time.time()) + 1)}
    auto = await svc.client.post("/v1/files", content=data, headers=resigned)  # format=auto recognises JSON
    assert auto.status_code == 202 and auto.json()["duplicates"] == 2
    received = await svc.events("payments.received.v1", expected=2)
    assert sorted(e["key"] for e in received) == ["bank:A-1", "bank:A-3"]


async def test_unreadable_files_and_unknown_formats_post_nothing(svc):
    r = await svc.client.post("/v1/imports", params={"format": "json"}, content=b"ref,amount\nR1,100\n")
    assert r.status_code == 422 and r.json()["detail"].startswith("unreadable file: not JSON")
    truncated = orjson.dumps([pay("U-1"), pay("U-2")])[:-20]
    r = await svc.client.post("/v1/imports", params={"format": "json"}, content=truncated)
    assert r.status_code == 422 and "item 2" in r.json()["detail"]
    r = await svc.client.post("/v1/imports", params={"format": "mt940"}, content=b"[]")
    assert r.status_code == 422 and "supported: auto, " in r.json()["detail"]
    assert all(name in r.json()["detail"] for name in ("camt053", "bacs18", "arudd", "addacs", "govuk-pay", "json", "csv"))
    assert (await svc.client.get(f"/v1/payments/{payment_id('file-import', 'U-1')}")).status_code == 404
    await svc.drained()
    assert await svc.emitted() == 0


async def test_skip_options_are_checked_and_run_in_linear_time(svc):
    import time

    csv = (b"Transaction Date,Transaction Type,Sort Code,Account Number,Transaction Description,Debit Amount,"
           b"Credit Amount,Balance\n06/10/2026,BGC,,,PAYPOINT SETTLEMENT,,500.00,1000.00\n"
           b"06/10/2026,FPI,,,10000010 RENT,,100.00,1100.00\n")
    for skip, reason in (("(a)\\1", "RE2"), ("x" * 201, "at most 200"), ("a\x01", "control")):
        r = await svc.client.post("/v1/imports", params={"format": "bank-csv", "skip": skip}, content=csv)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "skip", r.text
        assert reason in r.json()["detail"][0]["reason"]
    r = await svc.client.post("/v1/imports", params={"format": "bank-csv", "note": "a\x00b"}, content=csv)
    assert (r.status_code, r.json()["detail"][0]["field"]) == (422, "note")
    assert (await svc.client.get("/v1/imports", params={"sha256": "0" * 64})).json()["imports"] == []
    # the pattern that took 8 s on Python's re, over a long description: answered at once
    long_row = b"06/10/2026,FPI,,," + b"a" * 4000 + b"!,,1.00,1101.00\n"
    started = time.perf_counter()
    r = await svc.client.post("/v1/imports", params={"format": "bank-csv", "skip": "(a+)+$|paypoint"},
                              content=csv + long_row)
    assert r.status_code == 202, r.text
    assert time.perf_counter() - started < 5
    assert (r.json()["accepted"], r.json()["skipped"]) == (2, 1), r.json()["errors"]
