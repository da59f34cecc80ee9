"""Real-layout bank and Bacs files (tests/fixtures/) through POST /v1/imports with format=auto:
what the summary counts and what reaches the topics."""
from __future__ import annotations

from pathlib import Path

from rentflow_common.kafka import ensure_topics
from rentflow_schemas import derive_event_id

FIXTURES = Path(__file__).parent.parent / "fixtures"
TOPICS = ["payments.received.v1", "payments.rejected.v1", "payments.reversed.v1", "directdebit.returned.v1",
          "directdebit.mandates.v1"]


async def upload(svc, name: str) -> dict:
    r = await svc.client.post("/v1/imports", content=(FIXTURES / name).read_bytes())
    assert r.status_code == 202, r.text
    return r.json()


def counts(s: dict) -> tuple:
    return (s["format"], s["accepted"], s["rejected"], s["duplicates"], s["skipped"], s["warning_count"], s["processed"])


async def test_bacs_reports_are_taken_whole(svc):
    await ensure_topics(svc.bootstrap, 3, TOPICS, prefix=svc.prefix)
    arudd = await upload(svc, "arudd_report.xml")
    assert counts(arudd) == ("arudd", 6, 0, 0, 0, 1, 6) and arudd["returns"] == 6  # the unknown code too
    assert arudd["warnings"][0]["item"] == 5 and "Z999" in arudd["warnings"][0]["reason"]
    # two claims (three collections) and one cancelled claim, which undoes its own return
    assert counts(await upload(svc, "ddica_report.xml")) == ("ddica", 4, 0, 0, 0, 0, 4)
    assert counts(await upload(svc, "addacs_report.xml"))[:3] == ("addacs", 6, 0)
    rejected = await upload(svc, "auddis_rejected.xml")
    assert counts(rejected) == ("auddis", 1, 0, 0, 0, 0, 1) and rejected["mandates"] == 1

    events = [e["data"] for e in await svc.events("directdebit.returned.v1", expected=10)]
    assert sorted(d["source"] for d in events) == ["arudd"] * 6 + ["ddica"] * 4
    [cancellation] = [d for d in events if d["cancels_return_id"]]
    assert cancellation["cancels_return_id"] == str(derive_event_id(
        "dd-return", "ddica|NDC10000036|DDIC2026050500112|2026-04-01|9800|1"))
    assert cancellation["return_id"] != cancellation["cancels_return_id"]
    unknown = [d for d in events if d["return_code"] == "unknown"]
    assert [(d["reference"], d["return_code_raw"]) for d in unknown] == [("NDC10000051", "Z999")]
    mandates = await svc.events("directdebit.mandates.v1", expected=7)
    lodgement = [e for e in mandates if e["key"] == "LODGEMENT 000028"]
    assert [(e["data"]["action"], e["data"]["lodgement_serial"], e["data"]["file_error_code"]) for e in lodgement] == [
        ("lodgement_rejected", "000028", "30264")]
    again = await upload(svc, "addacs_report.xml")
    assert (again["accepted"], again["duplicates"], again["reimport"]) == (0, 6, True)


async def test_statements_reports_and_notifications(svc):
    await ensure_topics(svc.bootstrap, 3, TOPICS, prefix=svc.prefix)
    statement = await upload(svc, "camt053_v2_statement.xml")
    # 11 payments, the returned refund, the standing order taken back (found by its EndToEndId)
    assert counts(statement) == ("camt053", 13, 0, 0, 2, 1, 15)
    assert (statement["payments"], statement["reversals"]) == (11, 2)
    intraday = await upload(svc, "camt052_intraday.xml")  # its first entry is the statement's
    assert counts(intraday) == ("camt052", 1, 0, 1, 1, 0, 3)
    assert counts(await upload(svc, "camt053_quiet_day.xml")) == ("camt053", 0, 0, 0, 0, 0, 0)
    note = await upload(svc, "camt054_notification.xml")
    assert counts(note) == ("camt054", 3, 0, 0, 0, 0, 3)

    received = {e["data"]["provider_ref"]: e["data"] for e in await svc.events("payments.received.v1", expected=15)}
    assert len(received) == 15
    assert received["camt053:HB2610050002"]["amount_pence"] == 450000
    assert {ref: d["lump"] for ref, d in received.items() if d["lump"]} == {
        "camt053:HB2610050013": "govuk_pay_payout", "camt053:HB2610050007": "dd_collection",
        "camt053:HB2610050008": "cash_settlement", "camt053:HB2610050009": "interest",
        "camt053:7D1C2E90A5B4": "uc_managed_payment"}
    reversed_ = {e["data"]["kind"]: e for e in await svc.events("payments.reversed.v1", expected=2)}
    bounced = reversed_["outgoing_returned"]
    assert (bounced["key"], bounced["data"]["amount_pence"], bounced["data"]["original_end_to_end_id"],
            bounced["data"]["original_reference"]) == (
        "file-import:outgoing:NDC-REFUND-000412", 8500, "NDC-REFUND-000412", "REFUND NDC20000036")
    back = reversed_["returned"]["data"]
    assert (back["provider_ref"], back["amount_pence"]) == ("camt053:HB2610050001", 12345)
    assert await svc.events("payments.rejected.v1", expected=0) == []


async def test_a_credit_first_reported_without_details_keeps_them(svc):
    """Known limit: the intraday report names no EndToEndId, the payment keeps what came first, so
    the statement's reversal of it is refused (clearly, the credit stays posted) until a person acts."""
    await svc.provider("bank", "bank-key-0123456789")
    intraday = (await svc.client.post("/v1/imports", params={"provider": "bank"},
                                      content=(FIXTURES / "camt052_intraday.xml").read_bytes())).json()
    statement = (await svc.client.post("/v1/imports", params={"provider": "bank"},
                                       content=(FIXTURES / "camt053_v2_statement.xml").read_bytes())).json()
    assert (intraday["accepted"], statement["duplicates"], statement["rejected"]) == (2, 1, 1)
    assert statement["errors"] == [{"item": 14, "field": None, "reason": "no payment of this provider to reverse: "
                                    "none with EndToEndId 'SO-OKAFOR-0417' and 12345 pence left"}]


async def test_benefit_schedules_split_onto_accounts(svc):
    """A council HB schedule and a DWP UC schedule (tests/fixtures/hb_schedule.csv, uc_schedule.csv: see
    tests/unit/test_benefit_schedules.py for where their layouts come from), recognised by format=auto."""
    await ensure_topics(svc.bootstrap, 3, TOPICS, prefix=svc.prefix)
    hb = await upload(svc, "hb_schedule.csv")
    # three rebates, the overpayment recovered from its rent account (a reversal, not refused), and the
    # total row skipped: it agrees once the recovery counts negative
    assert counts(hb) == ("hb-schedule", 4, 0, 0, 1, 0, 5) and hb["reversals"] == 1, hb
    [recovery] = [e["data"] for e in await svc.events("payments.reversed.v1", expected=1)]
    assert (recovery["kind"], recovery["amount_pence"], recovery["original_reference"], recovery["provider_ref"]) == (
        "benefit_recovered", 4500, "10000036", "hb-recovery:HB0041311:2026-04-06:2026-05-03")
    uc = await upload(svc, "uc_schedule.csv")
    assert counts(uc) == ("uc-schedule", 4, 0, 0, 0, 0, 4)
    received = [e["data"] for e in await svc.events("payments.received.v1", expected=7)]
    assert sorted((d["channel"], d["amount_pence"]) for d in received) == [
        ("housing_benefit", 20500), ("housing_benefit", 38812), ("housing_benefit", 101240),
        ("universal_credit", 2290), ("universal_credit", 38675), ("universal_credit", 41250),
        ("universal_credit", 49800)]
    again = await upload(svc, "uc_schedule.csv")
    assert (again["accepted"], again["duplicates"], again["reimport"]) == (0, 4, True)
