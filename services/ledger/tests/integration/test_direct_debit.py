"""Direct Debit returns reverse the collection and raise a DD failure; mandate instructions keep
the mandate state and say when a person must act. Redelivery changes nothing."""
from __future__ import annotations

import datetime as dt
import uuid

from ledger_support import CSV, UTC, payment, poll, running_ledger
from rentflow_schemas import derive_event_id, new_envelope
from rentflow_schemas.directdebit import DirectDebitReturned, MandateInstruction

ACCOUNTS = ("account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence,"
            "payment_method,dd_reference\n"
            "50000005,Ann,1 A St,N,2026-04-06,10000,0,dd,DDANN\n"
            "60000006,Bob,2 A St,N,2026-04-06,10000,0,dd,DDBOB\n")
AT = dt.datetime(2026, 5, 8, 9, tzinfo=UTC)


def returned(ref: str, amount: int, code: str, original: dt.date, *, event_id: uuid.UUID | None = None):
    rid = derive_event_id("return", ref, original, amount)
    data = DirectDebitReturned(return_id=rid, provider_id="bacs", reference=ref, amount_pence=amount,
                               return_code=code, return_code_raw=code, original_processing_date=original,
                               reported_on=dt.date(2026, 5, 8), received_at=AT, payer_name="Payer")
    return new_envelope(data, event_type="directdebit.returned", producer="payments", correlation_id="t",
                        event_id=event_id or derive_event_id("directdebit.returned", rid))


def instruction(ref: str, action: str, code: str):
    iid = derive_event_id("instruction", ref, action, code)
    data = MandateInstruction(instruction_id=iid, provider_id="bacs", source="addacs", reference=ref,
                              reason_code=code, action=action, description=f"ADDACS {code}", received_at=AT)
    return new_envelope(data, event_type="directdebit.mandate_instruction", producer="payments",
                        correlation_id="t", event_id=derive_event_id("directdebit.mandates", iid))


async def test_returns_and_mandates(infra, service_env, topic_prefix):
    async with running_ledger(infra, topic_prefix) as ledger:
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        collected = payment("DDANN", 10000, "direct_debit", paid=dt.datetime(2026, 5, 1, 9, tzinfo=UTC))
        await ledger.publish("payments.received.v1", collected)

        async def paid():
            a = await ledger.account("50000005")
            return a["balance_pence"] == -10000 and a
        a = await poll(paid)
        rdd = a["transactions"][0]
        assert rdd["type"] == "RDD" and rdd["allocation_rule"] == "dd_reference"

        insufficient = returned("dd ann", 10000, "0", dt.date(2026, 5, 1))
        cancelled = returned("DDBOB", 5000, "1", dt.date(2026, 5, 1))  # no original collection on the account
        unknown = returned("DDNOBODY", 700, "B", dt.date(2026, 5, 1))
        # the same return carried twice, once under another event id
        resent = returned("dd ann", 10000, "0", dt.date(2026, 5, 1), event_id=uuid.uuid4())
        await ledger.publish("directdebit.returned.v1", insufficient, cancelled, unknown, insufficient, resent)
        failures = await ledger.read("ledger.dd-failures.v1", 3)
        assert len(failures) == 3
        by_ref = {f["data"]["reference"]: f["data"] for f in failures}
        ann = by_ref["dd ann"]
        assert ann["account_ref"] == "50000005" and ann["return_code"] == "0" and ann["may_represent"]
        assert ann["represent_by"] == "2026-06-01" and ann["mandate_state"] == "live"
        assert ann["meaning"].startswith("refer to payer") and ann["reversal_transaction_id"]
        bob = by_ref["DDBOB"]
        assert bob["mandate_state"] == "cancelled" and not bob["may_represent"] and bob["represent_by"] is None
        assert by_ref["DDNOBODY"]["account_ref"] is None and by_ref["DDNOBODY"]["reversal_transaction_id"] is None

        a = await ledger.account("50000005")
        rdn = [t for t in a["transactions"] if t["type"] == "RDN"]
        assert len(rdn) == 1 and rdn[0]["amount_pence"] == 10000 and rdn[0]["business_date"] == "2026-05-08"
        assert rdd["transaction_id"] in rdn[0]["source_ref"] and a["balance_pence"] == 0
        b = await ledger.account("60000006")
        assert b["balance_pence"] == 5000 and "original" not in b["transactions"][-1]["source_ref"]

        disputed = instruction("DD-ANN", "disputed", "D")
        await ledger.publish("directdebit.mandates.v1", instruction("DDBOB", "reinstated", "R"), disputed, disputed)

        async def two():
            c = await ledger.read("ledger.mandates.v1", 3)
            return len(c) >= 3 and c
        changes = await poll(two)
        from_instructions = [c["data"] for c in changes if not c["data"]["reason_code"].startswith("ARUDD")]
        assert len(from_instructions) == 2  # the redelivered instruction emitted nothing new
        disputed = next(c for c in from_instructions if c["new_state"] == "held")
        assert disputed["needs_person"] and disputed["account_ref"] == "50000005" and disputed["old_state"] == "live"
        reinstated = next(c for c in from_instructions if c["new_state"] == "live")
        assert not reinstated["needs_person"] and reinstated["old_state"] == "cancelled"  # cancelled by the return
        assert (await ledger.account("50000005"))["mandate_state"] == "held"
        assert (await ledger.account("60000006"))["mandate_state"] == "live"

        journals = await ledger.read("gl.journals.v1", 10)
        reversals = [j["data"] for j in journals if j["data"]["kind"] == "reversal"]
        assert len(reversals) == 2
        for j in reversals:
            assert {(x["gl_code"], x["debit_pence"] > 0) for x in j["lines"]} == {("DEBTORS_CONTROL", True),
                                                                                  ("BANK", False)}
        inv = (await ledger.http.get("/v1/invariants")).json()
        assert inv["balanced"], inv
