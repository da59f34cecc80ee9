"""The reporting service in-process on real PostgreSQL and the real broker: hand-built ledger
events in, KPIs out, every figure checked against the arithmetic in the comments."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import httpx

from rentflow_common.testing import grant, london_today
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from rentflow_common.testing import poll as shared_poll
from rentflow_common.kafka import ensure_topics
from rentflow_schemas import Envelope, new_envelope
from rentflow_schemas.ledger import AccountUpserted, SuspenseEvent, TransactionPosted
from rentflow_schemas.reporting import KpiSnapshot

UTC = dt.timezone.utc
D = dt.date
TXN, SUS, ACC, KPI = "ledger.transactions.v1", "ledger.suspense.v1", "ledger.accounts.v1", "reporting.kpi-snapshots.v1"


def env(topic, data, event_id=None, occurred_at=None):
    event_type = {TXN: "ledger.transaction_posted", SUS: "ledger.suspense", ACC: "ledger.account_upserted"}[topic]
    return new_envelope(data, event_type=event_type, event_id=event_id or uuid.uuid4(), producer="ledger",
                        correlation_id="test", occurred_at=occurred_at)


class Ledger:
    """Builds TransactionPosted events with running balances, as the ledger would."""

    def __init__(self):
        self.balances: dict[str, int] = {}
        self.events: list[tuple[str, str, Envelope]] = []

    def post(self, account, code, amount, day, *, rule=None, channel=None, source="src"):
        balance = self.balances.get(account, 0) + amount
        self.balances[account] = balance
        data = TransactionPosted(transaction_id=uuid.uuid4(), account_ref=account, type_code=code, amount_pence=amount,
                                 balance_after_pence=balance,
                                 posted_at=dt.datetime.combine(day, dt.time(12), UTC) + dt.timedelta(
                                     microseconds=len(self.events)),
                                 business_date=day, period=f"{day:%Y-%m}", source_ref=source, channel=channel,
                                 allocation_rule=rule)
        self.events.append((TXN, account, env(TXN, data)))

    def account(self, ref, rent, charges=0, method=None, end=None):
        data = AccountUpserted(account_ref=ref, property=f"1 {ref} Street", patch="P1", tenancy_start=D(2020, 1, 6),
                               tenancy_end=end, weekly_rent_pence=rent, weekly_charges_pence=charges,
                               payment_method=method, balance_pence=0)
        self.events.append((ACC, ref, env(ACC, data)))

    def suspense(self, action, payment_id, amount, channel, received, at=None, account=None):
        data = SuspenseEvent(action=action, payment_id=payment_id, amount_pence=amount, channel=channel,
                             reference="??", received_at=received, reason="no match", account_ref=account,
                             allocated_by="officer" if account else None)
        self.events.append((SUS, str(payment_id), env(SUS, data, occurred_at=at)))


def scenario() -> Ledger:
    L = Ledger()
    L.account("A1", 10000, 1000, "dd")                 # weekly 11000
    L.account("A2", 12000, 0, "so")                    # weekly 12000
    L.account("A3", 9000, 0, "cash", end=D(2026, 10, 10))  # former from 10 Oct
    L.account("A4", 10000, 0, "hb")                    # weekly 10000
    # balances brought forward at 30 Sep (BBF, source "opening-balance"): not October's debit
    for ref, amount in [("A1", 5000), ("A2", -2000), ("A3", 30000), ("A4", 80000)]:
        L.post(ref, "BBF", amount, D(2026, 9, 30), source="opening-balance")
    p1, p2 = uuid.UUID(int=1), uuid.UUID(int=2)
    L.suspense("opened", p2, 700, "cash", dt.datetime(2026, 10, 2, 9, tzinfo=UTC))
    for ref, code, amount in [("A1", "DBR", 10000), ("A1", "DSC", 1000), ("A2", "DBR", 12000), ("A3", "DBR", 9000),
                              ("A4", "DBR", 10000)]:
        L.post(ref, code, amount, D(2026, 10, 5))
    L.post("A1", "RDD", -11000, D(2026, 10, 6), rule="dd_mandate", channel="direct_debit")
    L.post("A2", "RSO", -12000, D(2026, 10, 7), rule="exact", channel="standing_order")
    L.post("A4", "RHB", -5000, D(2026, 10, 8), rule="exact", channel="housing_benefit")
    L.post("A1", "RDN", 11000, D(2026, 10, 9), channel="direct_debit")
    L.post("A1", "RCP", -3000, D(2026, 10, 10), rule="exact", channel="card")
    L.suspense("opened", p1, 2500, "bank_transfer", dt.datetime(2026, 10, 11, 10, tzinfo=UTC))
    L.post("A1", "DBR", 10000, D(2026, 10, 12))
    L.post("A1", "DSC", 1000, D(2026, 10, 12))
    L.post("A4", "RDD", -4000, D(2026, 10, 15), rule="dd_mandate", channel="direct_debit")
    # P1 allocated by hand to A3 on 20 Oct: posted, but collected when it arrived (11 Oct), not again
    L.suspense("allocated", p1, 2500, "bank_transfer", dt.datetime(2026, 10, 11, 10, tzinfo=UTC),
               at=dt.datetime(2026, 10, 20, 12, tzinfo=UTC), account="A3")
    L.post("A3", "RBP", -2500, D(2026, 10, 20), rule="manual", channel="bank_transfer")
    L.post("A3", "WOF", -10000, D(2026, 10, 25))
    return L


async def publish(bootstrap, prefix, events):
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for topic, key, envelope in events:
            await producer.send_and_wait(prefix + topic, envelope.model_dump_json().encode(), key=key.encode())
    finally:
        await producer.stop()


async def poll(predicate, timeout=30.0):
    return await shared_poll(predicate, timeout, "the condition")


async def read_snapshots(bootstrap, prefix):
    consumer = AIOKafkaConsumer(prefix + KPI, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=3000)
        return [r.value for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()


async def test_kpis_from_ledger_events(infra, service_env, monkeypatch):
    started_on = london_today()
    monkeypatch.setenv("RENTFLOW_KPI_SNAPSHOT_INTERVAL_S", "0.3")
    from rentflow_reporting.bootstrap import build_app

    prefix = service_env["topic_prefix"]
    await ensure_topics(infra.kafka_bootstrap_servers, 3, prefix=prefix)
    app = build_app()
    runtime = app.state.runtime
    await runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=await grant(app), base_url="http://t") as http:
            L = scenario()
            await publish(infra.kafka_bootstrap_servers, prefix, L.events)

            async def consumed(n):
                async def check():
                    status = (await http.get("/v1/ops/status")).json()
                    return status["consumers"]["reporting"]["messages"] >= n
                return check

            await poll(await consumed(len(L.events)))

            r = await http.get("/v1/kpi", params={"period": "month", "as_of": "2026-10-31"})
            assert r.status_code == 200, r.text
            assert b'"rent_collected_pct_excl_arrears_bf":51.32' in r.content  # a number, two decimals
            k = r.json()
            assert_october(k)

            # Thursday 15 Oct: the latest ended week is Mon 5 – Sun 11 Oct.
            w = (await http.get("/v1/kpi", params={"period": "week", "as_of": "2026-10-15"})).json()
            assert (w["period_start"], w["period_end"], w["complete"]) == ("2026-10-05", "2026-10-11", True)
            assert w["debit_pence"] == 42000                       # 11000 + 12000 + 9000 + 10000 on 5 Oct
            # 11000 RDD + 12000 RSO + 5000 RHB − 11000 RDN + 3000 RCP + 2500 suspense P1 (11 Oct)
            assert w["collected_pence"] == 22500
            assert w["arrears_brought_forward_pence"] == 115000    # end of 4 Oct: 5000 + 30000 + 80000
            assert w["rent_collected_pct_excl_arrears_bf"] == 53.57  # 22500 / 42000 = 53.571…%
            assert w["rent_collected_pct_incl_arrears_bf"] == 14.33  # 22500 / 157000 = 14.331…%
            # end of 11 Oct: A1 5000+11000−11000+11000−3000 = 13000, A4 80000+10000−5000 = 85000
            assert w["current_tenant_arrears_pence"] == 98000
            assert w["former_tenant_arrears_pence"] == 39000      # A3 30000 + 9000, tenancy ended 10 Oct
            assert (w["dd_failures"], w["dd_collections_presented"], w["dd_failure_rate_pct"]) == (1, 1, 100.0)
            # P2 (700, 9 days old) and P1 (2500, opened that day)
            assert (w["suspense_count"], w["suspense_pence"]) == (2, 3200)
            assert w["suspense_age_bands"]["0_7_days"] == {"count": 1, "pence": 2500}
            assert w["suspense_age_bands"]["8_30_days"] == {"count": 1, "pence": 700}

            # 15 Oct, month: September has no activity (only balances brought forward) → October to date
            m = (await http.get("/v1/kpi", params={"period": "month", "as_of": "2026-10-15"})).json()
            assert (m["period_start"], m["period_end"], m["through"], m["complete"]) == (
                "2026-10-01", "2026-10-31", "2026-10-15", False)
            assert m["debit_pence"] == 53000 and m["written_off_pence"] == 0
            assert m["collected_pence"] == 27200                   # 22500 + 700 (P2, 2 Oct) + 4000 (RDD A4, 15 Oct)

            # quarter at 31 Oct: Q2 (Jul–Sep) has no activity → Q3 to date, the same figures as October
            q = (await http.get("/v1/kpi", params={"period": "quarter", "as_of": "2026-10-31"})).json()
            assert (q["period_start"], q["period_end"], q["complete"]) == ("2026-10-01", "2026-12-31", False)
            assert (q["debit_pence"], q["collected_pence"]) == (53000, 27200)

            bad = await http.get("/v1/kpi", params={"period": "fortnight"})
            assert bad.status_code == 422

            # Redelivery: the same event again, and the same posting and suspense receipt re-emitted
            # under new event ids. Nothing may change.
            _, key, first_rdd = next(e for e in L.events if e[0] == TXN and e[2].data.type_code == "RDD")
            _, skey, opened = next(e for e in L.events if e[0] == SUS)
            again = [(TXN, key, first_rdd), (TXN, key, env(TXN, first_rdd.data)), (SUS, skey, env(SUS, opened.data))]
            await publish(infra.kafka_bootstrap_servers, prefix, again)
            await poll(await consumed(len(L.events) + len(again)))
            k2 = (await http.get("/v1/kpi", params={"period": "month", "as_of": "2026-10-31"})).json()
            assert_october(k2)
            assert k2["taken_at"] == k["taken_at"]  # the same snapshot as before, not a new one

            # stream health: a message that is not an event is dead-lettered and the partition moves on;
            # then /v1/ops/status?lag=true and /metrics agree with what was sent
            garbage = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
            await garbage.start()
            await garbage.send_and_wait(prefix + TXN, b'{"not": "an event"}', key=b"A1")
            await garbage.stop()

            async def settled():
                st = (await http.get("/v1/ops/status", params={"lag": "true"})).json()
                c = st["consumers"]["reporting"]
                return st if c["dead_letters"] == 1 and c["lag"] == 0 and st["outbox_backlog"] == 0 else None

            st = await poll(settled)
            group = st["consumers"]["reporting"]
            assert group["lag_by_topic"] == {TXN: 0, SUS: 0, ACC: 0}
            assert len(group["partitions"]) == 9                           # 3 topics × 3 partitions
            sent = sum(p["end_offset"] for p in group["partitions"])       # everything on the three topics
            assert sent == len(L.events) + len(again) + 1                  # … including the garbage
            assert all(p["committed"] == p["end_offset"] for p in group["partitions"] if p["end_offset"])
            assert group["duplicates"] == 1 and group["messages_per_s"] > 0

            samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                       for f in text_string_to_metric_families((await http.get("/metrics")).text) for s in f.samples}
            svc = (("group", "reporting"), ("service", "reporting"))
            txn_sent = sum(1 for t, _, _ in L.events + again if t == TXN)
            assert samples[("rentflow_consumer_messages_total", svc + (("topic", TXN),))] == txn_sent
            assert samples[("rentflow_consumer_messages_total", svc + (("topic", ACC),))] == 4
            assert samples[("rentflow_consumer_dead_letters_total", svc)] == 1
            assert samples[("rentflow_consumer_duplicates_total", svc)] == 1
            assert samples[("rentflow_outbox_backlog", (("service", "reporting"),))] == 0
            assert samples[("rentflow_outbox_published_total", (("service", "reporting"),))] >= 2  # snapshots, DLQ
            assert samples[("rentflow_service_ready", (("service", "reporting"),))] == 1
            lag = {k: v for k, v in samples.items() if k[0] == "rentflow_consumer_lag" and ("group", "reporting") in k[1]}
            assert len(lag) == 9 and sum(lag.values()) == 0

            async with runtime.engine.connect() as c:
                raw = (await c.get_raw_connection()).driver_connection
                balances = dict(await raw.fetch(  # each account's latest day-end balance (what the KPIs read)
                    "select distinct on (account_ref) account_ref, balance_pence from account_balance_daily "
                    "order by account_ref, business_date desc"))
                october = await raw.fetchval("select count(*) from kpi_snapshots where period = 'month' "
                                             "and period_start = '2026-10-01' and complete")
            assert balances == L.balances == {"A1": 24000, "A2": -2000, "A3": 26500, "A4": 81000}
            assert october == 1

            # the background snapshot of the current month to date was taken after the batches
            await poll(lambda: _true_after(runtime.snapshots.taken >= 1))

        this_month = {started_on.replace(day=1), london_today().replace(day=1)}  # the test may run over midnight

        async def emitted():
            values = await read_snapshots(infra.kafka_bootstrap_servers, prefix)
            envelopes = [Envelope[KpiSnapshot].model_validate_json(v) for v in values]
            octobers = [e for e in envelopes if e.data.period == "month" and e.data.period_start == D(2026, 10, 1)
                        and e.data.period_end == D(2026, 10, 31) and e.data.complete]
            current = [e for e in envelopes if e.data.period == "month" and e.data.period_start in this_month]
            return (values, octobers, current) if octobers and current else None

        values, octobers, current = await poll(emitted)
        assert len(octobers) == 1  # asked for three times, emitted once
        assert octobers[0].data.rent_collected_pct_excl_arrears_bf == Decimal("51.32")
        assert octobers[0].event_id == uuid.UUID(k["snapshot_id"])
        assert any(b'"rent_collected_pct_excl_arrears_bf":51.32' in v for v in values)
        assert orjson.loads(values[0])["producer"] == "reporting"
    finally:
        await runtime.stop()


async def _true_after(value):
    return value


def assert_october(k):
    assert (k["period"], k["period_start"], k["period_end"], k["complete"]) == ("month", "2026-10-01",
                                                                                "2026-10-31", True)
    assert k["debit_pence"] == 53000            # A1 2×(10000+1000) + A2 12000 + A3 9000 + A4 10000
    assert k["debit_by_type"] == {"DBR": 51000, "DSC": 2000}
    # receipts 11000 + 12000 + 5000 + 3000 + 4000, suspense 700 + 2500, less the DD unpaid 11000;
    # P1's manual allocation (2500 on 20 Oct) is not counted again
    assert k["collected_pence"] == 27200
    assert k["collected_by_channel"] == {"bank_transfer": 2500, "card": 3000, "cash": 700,
                                         "direct_debit": 4000,  # 11000 + 4000 − 11000
                                         "housing_benefit": 5000, "standing_order": 12000}
    assert k["arrears_brought_forward_pence"] == 115000   # end of 30 Sep: 5000 + 30000 + 80000 (A2's −2000 not netted)
    assert k["rent_collected_pct_excl_arrears_bf"] == 51.32   # 27200 / 53000 = 51.320…%
    assert k["rent_collected_pct_incl_arrears_bf"] == 16.19   # 27200 / 168000 = 16.190…%
    # end of October: A1 24000, A2 −2000 (credit, not netted), A4 81000 current; A3 26500 former
    assert k["current_tenant_arrears_pence"] == 105000
    assert k["former_tenant_arrears_pence"] == 26500
    assert k["current_tenancies"] == 3
    assert k["annual_rent_debit_pence"] == 1716000          # (11000 + 12000 + 10000) × 52
    assert k["current_tenant_arrears_pct"] == 6.12           # 105000 / 1716000 = 6.118…%
    assert k["former_tenant_arrears_pct"] == 1.54            # 26500 / 1716000 = 1.544…%
    assert k["written_off_pence"] == 10000
    assert k["written_off_pct"] == 0.58                      # 10000 / 1716000 = 0.582…%
    assert k["dd_take_up_pct"] == 33.33                      # A1 of A1, A2, A4
    assert (k["dd_collections_presented"], k["dd_collections_presented_pence"]) == (2, 15000)
    assert (k["dd_failures"], k["dd_failures_pence"]) == (1, 11000)
    assert k["dd_failure_rate_pct"] == 50.0                  # 1 / 2
    assert k["dd_failure_value_rate_pct"] == 73.33           # 11000 / 15000
    assert (k["suspense_count"], k["suspense_pence"]) == (1, 700)   # P2 only; P1 allocated 20 Oct
    assert k["suspense_age_bands"] == {"0_7_days": {"count": 0, "pence": 0},
                                       "8_30_days": {"count": 1, "pence": 700},   # 2 → 31 Oct: 29 days
                                       "31_90_days": {"count": 0, "pence": 0},
                                       "over_90_days": {"count": 0, "pence": 0}}
    assert (k["suspense_opened_count"], k["suspense_allocated_count"]) == (2, 1)
    assert k["tenants_over_7_weeks_arrears"] == 1            # A4: 81000 > 7 × 10000; A1: 24000 < 77000
    assert k["tenants_over_7_weeks_arrears_pct"] == 33.33
    assert set(k["definitions"]) >= {"debit_pence", "collected_pence", "dd_failure_rate_pct", "suspense_age_bands"}
