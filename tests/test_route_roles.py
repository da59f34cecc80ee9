"""Every route of every service, read from its OpenAPI document, says who may call it, and means it:
401 (with `WWW-Authenticate: Bearer`) without a token or with a wrong one, 403 for each role that
may not call it. A route added without a declaration fails here (`x-rentflow-auth: none`)."""
from __future__ import annotations

import re

import httpx
import pytest

from rentflow_common.kafka import ensure_topics
from rentflow_common.testing import ALL_ROLES, grant

SAMPLE_PARAMS = {"account_ref": "10000010", "payment_id": "00000000-0000-0000-0000-000000000001",
                 "import_id": "00000000-0000-0000-0000-000000000001", "task_id": "00000000-0000-0000-0000-000000000001",
                 "request_id": "00000000-0000-0000-0000-000000000001", "run_id": "00000000-0000-0000-0000-000000000001",
                 "transaction_id": "00000000-0000-0000-0000-000000000001", "dead_letter_id": "1",
                 "period": "2026-10", "quarter": "2026-Q3", "kind": "lahs", "name": "nobody"}
PUBLIC = {("GET", "/health")}  # and /metrics only when RENTFLOW_METRICS_OPEN says so


def builders():
    from rentflow_ledger.bootstrap import build_app as ledger
    from rentflow_notifications.bootstrap import build_app as notifications
    from rentflow_payments.bootstrap import build_app as payments
    from rentflow_reporting.bootstrap import build_app as reporting

    return {"payments": payments, "ledger": ledger, "notifications": notifications, "reporting": reporting}


def operations(doc: dict) -> list[tuple[str, str, dict]]:
    return [(method.upper(), path, op) for path, item in doc["paths"].items() for method, op in item.items()
            if method in ("get", "post", "put", "patch", "delete")]


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PARAMS[m.group(1)], path)


@pytest.mark.parametrize("service", ["payments", "ledger", "notifications", "reporting"])
async def test_every_route_refuses_callers_without_a_token_and_roles_it_does_not_name(
        service, infra, service_env, topic_prefix):
    await ensure_topics(infra.kafka_bootstrap_servers, 1, prefix=topic_prefix)
    app = builders()[service]()
    runtime = app.state.runtime
    runtime.consumers.clear()  # HTTP only: no consumer group to join
    await runtime.start()
    try:
        tokens = {role: await grant(app, f"only-{role}", (role,)) for role in ALL_ROLES}
        doc = app.openapi()
        ops = operations(doc)
        assert len(ops) >= 9
        undeclared = [(m, p) for m, p, op in ops if op.get("x-rentflow-auth") not in ("roles", "signature", "public")]
        assert not undeclared, f"routes that do not say who may call them: {undeclared}"
        public = {(m, p) for m, p, op in ops if op["x-rentflow-auth"] == "public"}
        assert public == PUBLIC, public
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            for method, path, op in ops:
                if op["x-rentflow-auth"] == "public":
                    continue
                url = concrete(path)
                r = await http.request(method, url)
                assert r.status_code == 401, (method, path, r.status_code, r.text)
                if op["x-rentflow-auth"] == "signature":
                    continue  # a provider's route: its signature is its credential, and a user's token is not
                assert r.headers["www-authenticate"].startswith("Bearer"), (method, path)
                assert "bearer token" in r.json()["detail"]
                r = await http.request(method, url, headers={"Authorization": "Bearer rf_not-a-real-token"})
                assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
                allowed = set(op["x-rentflow-roles"])
                assert allowed and allowed <= set(ALL_ROLES), (method, path, allowed)
                for role in sorted(set(ALL_ROLES) - allowed):
                    r = await http.request(method, url, headers=tokens[role])
                    assert r.status_code == 403, (method, path, role, r.status_code, r.text)
                    assert f"only-{role} may not do this" in r.json()["detail"]
                for role in sorted(allowed):  # past the door (what happens next depends on the input)
                    r = await http.request(method, url, headers=tokens[role])
                    assert r.status_code not in (401, 403), (method, path, role, r.status_code, r.text)
            # a provider's signed route does not take a user's token instead of its signature
            for method, path, op in ops:
                if op["x-rentflow-auth"] == "signature":
                    r = await http.request(method, concrete(path), headers=tokens["admin"])
                    assert r.status_code == 401, (method, path)
    finally:
        await runtime.stop()


CONTRACT = __import__("pathlib").Path(__file__).resolve().parent.parent / "docs" / "contract.md"
BEGIN, END = "<!-- routes: made by tests/test_route_roles.py; do not edit by hand -->", "<!-- end of routes -->"


def route_table() -> str:
    """Every route of every service with who may call it (docs/contract.md)."""
    import os

    from rentflow_common.auth import route_matrix

    from cryptography.fernet import Fernet

    env = {"KAFKA_BOOTSTRAP_SERVERS": "localhost:1", "DATABASE_URL": "postgresql://localhost/none",
           "RENTFLOW_SECRETS_KEY": os.environ.get("RENTFLOW_SECRETS_KEY") or Fernet.generate_key().decode()}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        rows = ["| service | method | path | who may call it |", "| --- | --- | --- | --- |"]
        for service, build in builders().items():
            for r in route_matrix(build()):
                who = {"public": "anyone", "signature": "a provider, by its HMAC signature"}.get(
                    r["auth"], ", ".join(r["roles"]) if len(r["roles"]) < 5 else "any user")
                rows.append(f"| {service} | {r['method']} | `{r['path']}` | {who} |")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return f"{BEGIN}\n" + "\n".join(rows) + f"\n{END}"


def test_the_contract_lists_every_route_with_its_roles():
    text = CONTRACT.read_text()
    current = text[text.index(BEGIN):text.index(END) + len(END)]
    assert current == route_table(), "docs/contract.md's routes are stale: .venv/bin/python tests/test_route_roles.py"


if __name__ == "__main__":
    text = CONTRACT.read_text()
    if BEGIN not in text:
        raise SystemExit(f"{CONTRACT} has no {BEGIN}")
    CONTRACT.write_text(text[:text.index(BEGIN)] + route_table() + text[text.index(END) + len(END):])
    print(f"wrote the route table to {CONTRACT}")
