"""A payment dated after its account's tenancy ended is posted to that account and flagged on
ledger.ended-tenancy-payments.v1 (once, however often it is delivered); a payment on or before
the last day, or to a current tenancy, is not flagged."""
from __future__ import annotations

import datetime as dt

from ledger_support import CSV, payment, poll, read_topic, running_ledger

UTC = dt.timezone.utc
ACCOUNTS = ("account_ref,tenant_name,property,patch,tenancy_start,tenancy_end,weekly_rent_pence,opening_balance_pence\n"
            "72000001,Former,1 C St,N,2020-04-06,2026-05-31,10000,40000\n"
            "72000002,Current,2 C St,N,2020-04-06,,10000,0\n")


async def test_a_payment_after_the_tenancy_ended_is_posted_and_flagged(infra, service_env, topic_prefix):
    async with running_ledger(infra, topic_prefix) as ledger:
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        late = payment("72000001", 2500, paid=dt.datetime(2026, 10, 6, 9, tzinfo=UTC))
        last_day = payment("72000001", 1000, paid=dt.datetime(2026, 5, 31, 22, tzinfo=UTC))  # 23:00 London: 31 May
        current = payment("72000002", 3000, paid=dt.datetime(2026, 10, 6, 9, tzinfo=UTC))
        await ledger.publish("payments.received.v1", late, last_day, current, late, key="72000001")

        async def posted():
            a = await ledger.account("72000001")
            return a if len(a["transactions"]) == 3 else None

        account = await poll(posted)
        assert account["balance_pence"] == 40000 - 2500 - 1000  # posted where the payer said
        await poll(lambda: _current_posted(ledger))
        # everything is posted (the flag is in the same transaction); once the relay has published the
        # flag (under load it can take longer than the window), a second one would show within the window
        topic = topic_prefix + "ledger.ended-tenancy-payments.v1"
        await read_topic(infra.kafka_bootstrap_servers, topic, want=1)
        flagged = await read_topic(infra.kafka_bootstrap_servers, topic, until=lambda events: len(events) >= 2,
                                   timeout=6)
        assert [(e["data"]["account_ref"], e["data"]["amount_pence"], e["data"]["tenancy_end"],
                 e["data"]["business_date"], e["data"]["payment_id"]) for e in flagged] == [
            ("72000001", 2500, "2026-05-31", "2026-10-06", str(late.data.payment_id))]
        receipt = next(t for t in account["transactions"] if t["payment_id"] == str(late.data.payment_id))
        assert flagged[0]["data"]["transaction_id"] == receipt["transaction_id"]
        assert flagged[0]["data"]["balance_after_pence"] == receipt["balance_after_pence"]


async def _current_posted(ledger) -> bool:
    return (await ledger.account("72000002"))["balance_pence"] == -3000
