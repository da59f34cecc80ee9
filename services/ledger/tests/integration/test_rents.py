"""Rent-free weeks, the year-end uprating and the debit run charging the new rent from its date."""
from __future__ import annotations

from ledger_support import CSV, running_ledger

ACCOUNTS = ("account_ref,tenant_name,property,patch,tenancy_start,tenancy_end,weekly_rent_pence,"
            "weekly_charges_pence,opening_balance_pence,payment_method\n"
            "90000001,Ann,1 A St,N,2027-03-22,,12345,500,0,dd\n"
            "90000002,Bob,2 A St,N,2020-03-22,2027-03-31,10000,0,0,so\n")  # ends before the uprating


async def test_uprate_and_rent_free_weeks(infra, service_env, topic_prefix):
    async with running_ledger(infra, topic_prefix, consumers=False) as ledger:
        http = ledger.http
        assert (await http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        r = await http.post("/v1/rent-free-weeks", json={"rent_year": 2026, "weeks": [52, 1]})
        assert r.json() == {"rent_year": 2026, "weeks": [1, 52], "weeks_in_year": 52}
        r = await http.post("/v1/rent-free-weeks", json={"rent_year": 2026, "weeks": [53]})
        assert r.status_code == 422 and "weeks 1–52" in r.json()["detail"]

        r = await http.post("/v1/rents/uprate", json={"percent": "4.8", "effective": "2027-04-07"})
        assert r.status_code == 422 and "Monday" in r.json()["detail"]
        r = await http.post("/v1/rents/uprate", json={"percent": "4.8", "effective": "2026-11-30"})
        assert r.status_code == 422 and "notice period" in r.json()["detail"]
        r = await http.post("/v1/rents/uprate", json={"percent": "4.8", "effective": "2027-04-05"})
        assert r.status_code == 200, r.text
        assert r.json() == {"percent": "4.8", "effective": "2027-04-05", "changed": 1, "unchanged": 0,
                            "old_weekly_pence": 12345, "new_weekly_pence": 12938}  # 12937.56 half up
        again = (await http.post("/v1/rents/uprate", json={"percent": "4.8", "effective": "2027-04-05"})).json()
        assert again["changed"] == 0 and again["unchanged"] == 1

        r = await http.post("/v1/debits/run", json={"through": "2027-04-11"})
        assert r.status_code == 200, r.text
        a = await ledger.account("90000001")
        dbr = [(t["business_date"], t["amount_pence"]) for t in a["transactions"] if t["type"] == "DBR"]
        # 22 Mar: week 51 of 2026/27; 29 Mar: week 52, rent free; 5 Apr: week 1 of 2027/28 at the new rent
        assert dbr == [("2027-03-22", 12345), ("2027-04-05", 12938)]
        dsc = [t["amount_pence"] for t in a["transactions"] if t["type"] == "DSC"]
        assert dsc == [500, 500]
        b = await ledger.account("90000002")
        # ended Wednesday 31 March 2027: that week is rent-free anyway; nothing uprated
        assert b["transactions"][-1]["business_date"] <= "2027-03-22"
        assert (await http.post("/v1/debits/run", json={"through": "2027-04-11"})).json()["debits_raised"] == 0

        changes = await ledger.read("ledger.rent-changes.v1", 1)
        assert len(changes) == 1
        c = changes[0]["data"]
        assert (c["account_ref"], c["old_weekly_rent_pence"], c["new_weekly_rent_pence"], c["effective_date"]) == (
            "90000001", 12345, 12938, "2027-04-05")
        assert c["payment_method"] == "dd" and "4.8%" in c["reason"]
        assert (await http.get("/v1/invariants")).json()["balanced"]
