"""NUL bytes and other control characters, far dates and huge numbers in any HTTP input are a 422
that names the field, never a 500: every route of each service (read from its OpenAPI document, so a new route is probed too),
then the inputs that are not JSON models (the signed push API, the GOV.UK Pay webhook, the
accounts CSV), against a real `rentflow up`."""
from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any, Iterator
from urllib.parse import quote

import httpx
import pytest

NUL = "a\x00b"
CONTROL = "a\x1b[2Jb"  # a terminal escape: clears the screen of whoever reads the log
FAR_DATES = ["9999-12-31", "0001-01-01", "2101-01-01", "1899-12-31"]  # inputs take 1900 to 2100
HUGE = 10**30
BIG = 2**62  # within bigint, far beyond any amount, count, offset or year (a weekly rent of it stopped the debit runs)
# bodies read by hand (signature over the raw bytes, CSV, files): probed one by one below
NOT_MODELS = {("payments", "/v1/payments"), ("payments", "/v1/payments/batch"), ("payments", "/v1/files"),
              ("payments", "/v1/imports"), ("payments", "/v1/webhooks/govuk-pay"), ("ledger", "/v1/accounts/import")}


def resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return resolve(spec["components"]["schemas"][schema["$ref"].split("/")[-1]], spec)
    for union in ("anyOf", "oneOf"):
        if union in schema:
            for option in schema[union]:
                got = resolve(option, spec)
                if got.get("type") != "null":
                    return got
    return schema


def kind(schema: dict[str, Any]) -> str | None:
    if "enum" in schema or "const" in schema:
        return None  # a closed set: anything else is refused already
    if schema.get("type") == "string":
        return "date" if schema.get("format") in ("date", "date-time") else "text"
    if schema.get("type") == "integer":
        return "integer"
    return None


def example(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    s = resolve(schema, spec)
    if "enum" in s:
        return s["enum"][0]
    if "properties" in s:
        return {k: example(v, spec) for k, v in s["properties"].items()}
    if s.get("type") == "array":
        return [example(s.get("items", {}), spec)]
    return {"integer": 1, "number": 1, "boolean": False}.get(s.get("type", ""), {
        "date": "2026-10-05", "date-time": "2026-10-05T10:00:00Z", "uuid": "00000000-0000-0000-0000-000000000001",
    }.get(s.get("format", ""), "x"))


def fields(schema: dict[str, Any], spec: dict[str, Any], path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path in the body, kind) of every text, date and integer field, arrays' first item included."""
    s = resolve(schema, spec)
    for name, sub in s.get("properties", {}).items():
        yield from fields(sub, spec, path + (name,))
    if s.get("type") == "array":
        yield from fields(s.get("items", {}), spec, path + (0,))
    if path and (k := kind(s)):
        yield path, k


def bad_values(k: str, name: str) -> list[Any]:
    if k == "integer" and name.endswith("_id"):
        return [HUGE]  # an id within bigint that names nothing is a 404
    return {"text": [NUL, CONTROL], "date": FAR_DATES, "integer": [HUGE, BIG]}[k]


def cases(service: str, spec: dict[str, Any]) -> Iterator[tuple[str, str, str, dict, dict, Any]]:
    """(method, url, field name, query, body, bad value) for every probe of a service's routes."""
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if (service, path) in NOT_MODELS:
                continue
            params = [p for p in op.get("parameters", []) if p["in"] in ("path", "query")]
            good = {p["name"]: example(p.get("schema", {}), spec) for p in params}
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            body = example(content["schema"], spec) if content else None

            def url(values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
                u, query = path, {}
                for p in params:
                    if p["in"] == "path":
                        u = u.replace("{" + p["name"] + "}", quote(str(values[p["name"]]), safe=""))
                    else:
                        query[p["name"]] = values[p["name"]]
                return u, query

            for p in params:
                k = kind(resolve(p.get("schema", {}), spec))
                for bad in bad_values(k, p["name"]) if k else []:
                    u, query = url({**good, p["name"]: bad})
                    yield method.upper(), u, p["name"], query, body, bad
            if content:
                for where, k in fields(content["schema"], spec):
                    for bad in bad_values(k, str(where[-1])):
                        changed = copy.deepcopy(body)
                        node = changed
                        for step in where[:-1]:
                            node = node[step]
                        node[where[-1]] = bad
                        u, query = url(good)
                        yield method.upper(), u, str(where[-1]), query, changed, bad


@pytest.mark.timeout(600)
@pytest.mark.parametrize("service", ["payments", "ledger", "notifications", "reporting"])
def test_every_route_refuses_nul_far_dates_and_huge_numbers_naming_the_field(module_up, service):
    base = module_up.url(service)
    spec = httpx.get(base + "/openapi.json", timeout=30).json()
    probes = list(cases(service, spec))
    assert len(probes) >= 4, f"{service}: the probe found almost nothing to try"
    wrong = []
    with httpx.Client(base_url=base, timeout=60, headers=admin(module_up)) as http:
        for method, url, name, query, body, bad in probes:
            r = http.request(method, url, params=query, json=body)
            if r.status_code != 422 or name not in r.text:
                wrong.append(f"{method} {url} {name}={bad!r}: {r.status_code} {r.text[:200]}")
    assert not wrong, f"{len(wrong)} of {len(probes)} probes:\n" + "\n".join(wrong)


# periods, quarters and years written as text: far ones are refused as well
FAR_PERIODS = [
    ("ledger", "GET", "/v1/gl/reconcile", {"period": "2199-12"}, None, "period"),
    ("ledger", "GET", "/v1/gl/reconcile", {"period": "1899-12"}, None, "period"),
    ("ledger", "POST", "/v1/periods/2101-01/close", {}, None, "period"),
    ("ledger", "POST", "/v1/periods/99999-01/close", {}, None, "period"),
    ("reporting", "GET", "/v1/statements/2100-Q4/10000010", {}, None, "quarter"),
    ("reporting", "GET", "/v1/statements/99999999-Q1/10000010", {}, None, "quarter"),
    ("reporting", "GET", "/v1/returns/lahs", {"year": "2101"}, None, "year"),
    ("reporting", "GET", "/v1/returns/benchmark", {"year": str(BIG)}, None, "year"),
    ("ledger", "POST", "/v1/rent-free-weeks", {}, {"rent_year": 99999, "weeks": [1]}, "rent_year"),
    ("ledger", "POST", "/v1/rent-free-weeks", {}, {"rent_year": 2026, "weeks": [BIG]}, "weeks"),
    ("ledger", "POST", "/v1/rents/uprate", {}, {"percent": "1e400", "effective": "2027-04-05"}, "percent"),
    ("ledger", "GET", "/v1/accounts", {"offset": str(BIG)}, None, "offset"),
    ("ledger", "GET", "/v1/accounts", {"limit": str(BIG)}, None, "limit"),
]


@pytest.mark.timeout(300)
def test_far_periods_quarters_and_years_are_refused_naming_them(module_up):
    wrong = []
    for service, method, path, query, body, name in FAR_PERIODS:
        r = httpx.request(method, module_up.url(service) + path, params=query, json=body, timeout=60,
                          headers=admin(module_up))
        if r.status_code != 422 or name not in r.text:
            wrong.append(f"{method} {path} {query or body}: {r.status_code} {r.text[:200]}")
    assert not wrong, "\n".join(wrong)


def admin(up) -> dict[str, str]:
    """The local admin's token (every role), which `rentflow up` wrote."""
    return {"Authorization": f"Bearer {(up.home / 'admin.token').read_text().strip()}"}


def signed(secret: str, body: bytes) -> str:
    from rentflow_cli.client import sign

    return sign(secret, body)


@pytest.mark.timeout(300)
def test_the_push_api_and_webhook_refuse_them_naming_the_field(module_up):
    pay = module_up.url("payments")
    secret = httpx.post(pay + "/v1/providers", json={"name": "probe"}, headers=admin(module_up)).json()["secret"]
    gsecret = httpx.post(pay + "/v1/providers", json={"name": "govuk-pay"}, headers=admin(module_up)).json()["secret"]
    good = {"provider_ref": "p-1", "channel": "card", "amount_pence": 100, "currency": "GBP",
            "paid_at": "2026-10-05T10:00:00Z", "reference": "10000010", "payer_name": "A Payer"}
    for name, bad in [("reference", NUL), ("payer_name", NUL), ("provider_ref", NUL), ("reference", CONTROL),
                      ("payer_name", "A\x07Payer"), ("amount_pence", BIG), ("paid_at", "2101-01-01T00:00:00Z"),
                      ("paid_at", "9999-12-31T23:59:59-14:00"), ("paid_at", "0001-01-01T00:00:00+14:00"),
                      ("paid_at", "9999-12-31T10:00:00Z"), ("amount_pence", HUGE)]:
        for path, payload in (("/v1/payments", {**good, name: bad}), ("/v1/payments/batch", [good, {**good, name: bad}])):
            raw = json.dumps(payload).encode()
            r = httpx.post(pay + path, content=raw, headers={"X-Provider-Id": "probe", "X-Signature": signed(secret, raw),
                                                            "Content-Type": "application/json"})
            assert r.status_code == 422 and name in r.text, (path, name, bad, r.status_code, r.text)
    event = {"webhook_message_id": "m1", "created_date": "2026-10-06T10:00:00.000Z", "resource_id": "r1",
             "api_version": 1, "resource_type": "payment", "event_type": "card_payment_succeeded",
             "resource": {"payment_id": "r1", "amount": 100, "reference": "10000010",
                          "state": {"status": "success", "finished": True}}}
    for where, bad in [(("resource", "reference"), NUL), (("resource_id",), NUL), (("webhook_message_id",), NUL),
                       (("created_date",), "9999-12-31T23:59:59.000Z"), (("created_date",), "0001-01-01T00:00:00Z"),
                       (("resource", "amount"), HUGE), (("resource", "amount"), BIG),
                       (("resource", "reference"), CONTROL)]:
        changed = copy.deepcopy(event)
        node = changed
        for step in where[:-1]:
            node = node[step]
        node[where[-1]] = bad
        raw = json.dumps(changed).encode()
        r = httpx.post(pay + "/v1/webhooks/govuk-pay", content=raw,
                       headers={"Pay-Signature": hmac.new(gsecret.encode(), raw, hashlib.sha256).hexdigest()})
        assert r.status_code == 422 and where[-1] in r.text, (where, bad, r.status_code, r.text)
    # a JSON file of push bodies: the bad item is rejected by name, the file is not a 500
    r = httpx.post(pay + "/v1/imports", params={"format": "json"}, headers=admin(module_up),
                   content=json.dumps([{**good, "provider_ref": "f-1", "reference": NUL}]).encode())
    assert r.status_code == 202 and r.json()["rejected"] == 1 and "reference" in r.text, r.text


@pytest.mark.timeout(300)
def test_the_accounts_csv_refuses_them_naming_line_and_field(module_up):
    ledger = module_up.url("ledger")
    header = "account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence\n"
    r = httpx.post(ledger + "/v1/accounts/import", content=header + "R1,A\x00B,1 St,N,2020-04-06,100,0\n",
                   headers={"Content-Type": "text/csv", **admin(module_up)})
    assert r.status_code == 422 and "NUL" in r.text and "line 2" in r.text, r.text
    for column, bad in [("tenancy_start", "0001-01-01"), ("tenancy_start", "9999-12-31"), ("tenancy_start", "2101-01-01"),
                        ("opening_balance_pence", str(HUGE)), ("weekly_rent_pence", str(HUGE)),
                        ("weekly_rent_pence", str(BIG)), ("weekly_rent_pence", "£10000.01"),
                        ("tenant_name", CONTROL)]:
        values = {"account_ref": "R1", "tenant_name": "A", "property": "B", "patch": "N",
                  "tenancy_start": "2020-04-06", "weekly_rent_pence": "100", "opening_balance_pence": "0", column: bad}
        r = httpx.post(ledger + "/v1/accounts/import", content=header + ",".join(values.values()) + "\n",
                       headers={"Content-Type": "text/csv", **admin(module_up)})
        assert r.status_code == 422 and r.json()["errors"] == [
            {"line": 2, "field": column, "reason": r.json()["errors"][0]["reason"]}], r.text
