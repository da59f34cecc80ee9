"""Identity across services: a user made in notifications works in the ledger and payments as soon
as identity.users.v1 is taken in; disabled, or given a new token, the old token stops working
there too (measured); OIDC access tokens from a configured issuer are verified against its JWKS,
served here over HTTP from a real RSA key."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from rentflow_common.kafka import ensure_topics
from rentflow_common.testing import grant, poll


async def _started(build):
    app = build()
    await app.state.runtime.start()
    return app


def _client(app, headers=None):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers or {})


@pytest.mark.timeout(300)
async def test_users_reach_every_service_and_a_disabled_one_stops_working(infra, service_env, topic_prefix):
    from rentflow_ledger.bootstrap import build_app as ledger_app
    from rentflow_notifications.bootstrap import build_app as notifications_app
    from rentflow_payments.bootstrap import build_app as payments_app
    from rentflow_reporting.bootstrap import build_app as reporting_app

    await ensure_topics(infra.kafka_bootstrap_servers, 3, prefix=topic_prefix)
    apps = []
    try:
        for build in (notifications_app, ledger_app, payments_app, reporting_app):
            apps.append(await _started(build))
        notes, ledger, payments, reporting = apps
        admin = await grant(notes, "root", ("admin",))
        async with (_client(notes, admin) as n, _client(ledger) as led, _client(payments) as pay,
                    _client(reporting) as rep):
            r = await n.post("/v1/users", json={"name": "Fin", "roles": ["finance", "officer"],
                                                "approval_limits": {"refund": 5000}})
            assert r.status_code == 201, r.text
            fin = {"Authorization": f"Bearer {r.json()['token']}"}
            assert (await n.post("/v1/users", json={"name": "fin", "roles": ["ops"]})).status_code == 409
            listed = (await n.get("/v1/users")).json()["users"]
            assert [u["user"] for u in listed] == ["Fin", "root"] and "token" not in json.dumps(listed)
            assert (await n.get("/v1/users", headers=fin)).status_code == 403  # not an admin

            async def known(client, headers):
                return (await client.get("/v1/whoami", headers=headers)).status_code == 200

            started = time.monotonic()
            await poll(lambda: known(led, fin), timeout=30, what="the ledger learns Fin")
            await poll(lambda: known(pay, fin), timeout=30, what="payments learns Fin")
            await poll(lambda: known(rep, fin), timeout=30, what="reporting learns Fin")
            learnt_ms = (time.monotonic() - started) * 1000
            me = (await led.get("/v1/whoami", headers=fin)).json()
            assert me == {"user": "Fin", "roles": ["finance", "officer"], "patches": [],
                          "approval_limits": {"refund": 5000}, "via": "token", "service": "ledger"}
            assert (await led.get("/v1/gl/reconcile", params={"period": "2026-10"}, headers=fin)).status_code == 200
            assert (await led.post("/v1/approvers", json={"name": "x"}, headers=fin)).status_code == 403

            # a new token: the old one stops working everywhere, the new one works
            r = await n.post("/v1/users/Fin/token")
            fin2 = {"Authorization": f"Bearer {r.json()['token']}"}
            assert (await n.get("/v1/whoami", headers=fin)).status_code == 401  # at once where users live
            await poll(lambda: known(led, fin2), timeout=30, what="the ledger learns Fin's new token")
            assert (await led.get("/v1/whoami", headers=fin)).status_code == 401

            # disabled: refused at once in notifications, and in the ledger within the replication delay
            assert (await n.post("/v1/users/Fin/disable")).json()["disabled"] is True
            assert (await n.get("/v1/whoami", headers=fin2)).status_code == 401
            started = time.monotonic()

            async def refused():
                return (await led.get("/v1/whoami", headers=fin2)).status_code == 401

            await poll(refused, timeout=30, what="the ledger refuses the disabled user")
            disabled_ms = (time.monotonic() - started) * 1000
            await poll(lambda: _is(pay, fin2, 401), timeout=30, what="payments refuses the disabled user")
            await poll(lambda: _is(rep, fin2, 401), timeout=30, what="reporting refuses the disabled user")
            print(f"\nreplication: user known everywhere after {learnt_ms:.0f} ms; disabled refused by the ledger "
                  f"after {disabled_ms:.0f} ms")
            assert disabled_ms < 10_000

            # the audit trail of it, append-only
            trail = (await n.get("/v1/audit", params={"user": "root"})).json()["entries"]
            assert [e["action"] for e in trail] == ["user.added", "user.token_replaced", "user.disabled"]
            assert trail[-1]["before"]["disabled"] is False and trail[-1]["after"]["disabled"] is True
            assert all(e["correlation_id"] and e["role"] == "admin" for e in trail)
            async with notes.state.runtime.engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                with pytest.raises(Exception, match="append-only"):
                    await raw.execute("update audit_log set actor = 'someone else'")
                with pytest.raises(Exception, match="append-only"):
                    await raw.execute("delete from audit_log")
    finally:
        for app in reversed(apps):
            await app.state.runtime.stop()


async def _is(client, headers, status):
    return (await client.get("/v1/whoami", headers=headers)).status_code == status


# ------------------------------------------------------------------------------------------ OIDC

class _Jwks:
    """A JWKS document served over HTTP, as an identity provider serves its signing keys."""

    def __init__(self, keys):
        doc = json.dumps({"keys": keys}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(doc)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def _jwk(private_key, kid):
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    return {**public, "kid": kid, "use": "sig", "alg": "RS256"}


@pytest.mark.timeout(300)
async def test_oidc_access_tokens_from_the_configured_issuer(infra, service_env, topic_prefix, monkeypatch):
    from rentflow_ledger.bootstrap import build_app as ledger_app

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = _Jwks([_jwk(key, "k1")])
    issuer = "https://idp.example.gov.uk/realms/council"
    monkeypatch.setenv("RENTFLOW_OIDC_ISSUER", issuer)
    monkeypatch.setenv("RENTFLOW_OIDC_JWKS_URL", jwks.url)
    monkeypatch.setenv("RENTFLOW_OIDC_AUDIENCE", "rentflow")
    monkeypatch.setenv("RENTFLOW_OIDC_ROLES_CLAIM", "realm_access.roles")
    monkeypatch.setenv("RENTFLOW_OIDC_ROLE_MAP", "rent-finance=finance,rent-officers=officer")
    await ensure_topics(infra.kafka_bootstrap_servers, 1, prefix=topic_prefix)
    app = ledger_app()
    app.state.runtime.consumers.clear()
    await app.state.runtime.start()

    def token(roles=("rent-finance",), *, aud="rentflow", iss=issuer, signer=key, kid="k1", expires_in=300,
              user="jo.bloggs"):
        now = int(time.time())
        claims = {"iss": iss, "aud": aud, "sub": "u-123", "preferred_username": user, "iat": now,
                  "exp": now + expires_in, "realm_access": {"roles": list(roles)}}
        return {"Authorization": "Bearer " + jwt.encode(claims, signer, algorithm="RS256", headers={"kid": kid})}

    try:
        async with _client(app) as http:
            r = await http.get("/v1/whoami", headers=token(("rent-finance", "offline_access")))
            assert r.status_code == 200, r.text
            assert r.json() | {} == {"user": "jo.bloggs", "roles": ["finance"], "patches": [], "approval_limits": {},
                                     "via": "oidc", "service": "ledger"}
            reconcile = "/v1/gl/reconcile?period=2026-10"
            assert (await http.get(reconcile, headers=token())).status_code == 200
            assert (await http.get(reconcile, headers=token(("rent-officers",)))).status_code == 403  # not finance
            for bad in (token(aud="someone-else"), token(iss="https://evil.example"), token(signer=other),
                        token(expires_in=-120), token(kid="unknown")):
                r = await http.get(reconcile, headers=bad)
                assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer"), r.text
            # the audit trail names the identity provider's user
            r = await http.post("/v1/periods/2026-09/close", headers=token())
            assert r.status_code == 200 and r.json()["closed_by"] == "jo.bloggs"
            admin = await grant(app, "auditor", ("admin",))
            entry = (await http.get("/v1/audit", headers=admin)).json()["entries"][-1]
            assert (entry["user"], entry["role"], entry["action"]) == ("jo.bloggs", "finance", "period.closed")
            # a user disabled in rentflow is refused even with a valid token from the identity provider
            await grant(app, "jo.bloggs", ("finance",))
            async with app.state.runtime.engine.begin() as conn:
                await conn.exec_driver_sql("update principals set disabled = true where name = 'jo.bloggs'")
            assert (await http.get(reconcile, headers=token())).status_code == 401
    finally:
        await app.state.runtime.stop()
        jwks.close()


OIDC_ACCOUNTS = ("account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence\n"
                 "92000010,North Nia,1 N St,N1,2020-04-06,10000,50000\n"
                 "92000028,South Sol,2 S St,S2,2020-04-06,10000,70000\n")


@pytest.mark.timeout(300)
async def test_oidc_users_take_patches_and_limits_from_their_rentflow_user_or_from_claims(
        infra, service_env, topic_prefix, monkeypatch):
    """docs/contract.md: an identity provider's user is matched to the rentflow user of the same name
    for patches and approval limits, unless configured claims carry them; a manager known to neither
    approves nothing, and an officer known to neither works no account."""
    from rentflow_ledger.bootstrap import build_app as ledger_app

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = _Jwks([_jwk(key, "k1")])
    issuer = "https://login.example.gov.uk/council"
    for name, value in {"RENTFLOW_OIDC_ISSUER": issuer, "RENTFLOW_OIDC_JWKS_URL": jwks.url,
                        "RENTFLOW_OIDC_AUDIENCE": "rentflow", "RENTFLOW_OIDC_ROLES_CLAIM": "groups",
                        "RENTFLOW_OIDC_ROLE_MAP": "rent-officers=officer,rent-managers=manager",
                        "RENTFLOW_OIDC_PATCHES_CLAIM": "rentflow_patches",
                        "RENTFLOW_OIDC_LIMITS_CLAIM": "rentflow_limits"}.items():
        monkeypatch.setenv(name, value)
    await ensure_topics(infra.kafka_bootstrap_servers, 1, prefix=topic_prefix)
    app = ledger_app()
    app.state.runtime.consumers.clear()
    await app.state.runtime.start()

    def token(user, *groups, **extra):
        now = int(time.time())
        claims = {"iss": issuer, "aud": "rentflow", "sub": f"sub-{user}", "preferred_username": user, "iat": now,
                  "exp": now + 300, "groups": list(groups), **extra}
        return {"Authorization": "Bearer " + jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})}

    async def me(http, headers):
        r = await http.get("/v1/whoami", headers=headers)
        assert r.status_code == 200, r.text
        return r.json()["patches"], r.json()["approval_limits"]

    try:
        async with _client(app) as http:
            admin = await grant(app, "root", ("admin", "finance"))
            r = await http.post("/v1/accounts/import", content=OIDC_ACCOUNTS,
                                headers={**admin, "Content-Type": "text/csv"})
            assert r.status_code == 200, r.text
            asha, max_ = token("asha.patel", "rent-officers"), token("max.lee", "rent-managers")
            # known to neither: an officer works no account, a manager approves nothing
            assert await me(http, asha) == ([], {})
            assert await me(http, max_) == ([], {"*": 0})
            r = await http.get("/v1/accounts/92000010", headers=asha)
            assert r.status_code == 403 and "asha.patel has no patch" in r.json()["detail"], r.text
            # the rentflow users of the same names (as `rentflow users add` makes them) complete them
            await grant(app, "asha.patel", ("officer",), patches=("N1",))
            await grant(app, "max.lee", ("manager",), limits={"write_off": 20000})
            assert await me(http, asha) == (["N1"], {})
            assert await me(http, max_) == ([], {"write_off": 20000})
            assert (await http.get("/v1/accounts/92000010", headers=asha)).status_code == 200
            r = await http.get("/v1/accounts/92000028", headers=asha)
            assert r.status_code == 403 and "patch S2" in r.json()["detail"], r.text
            ask = {"account_ref": "92000010", "type": "write_off", "reason": "uneconomical to pursue"}
            small = (await http.post("/v1/adjustments", json={**ask, "amount_pence": 15000}, headers=asha)).json()
            large = (await http.post("/v1/adjustments", json={**ask, "amount_pence": 25000}, headers=asha)).json()
            assert small["requested_by"] == "asha.patel"
            r = await http.post(f"/v1/adjustments/{large['request_id']}/approve", headers=max_)
            assert r.status_code == 403 and "at most 20000 pence" in r.json()["detail"], r.text
            r = await http.post(f"/v1/adjustments/{small['request_id']}/approve", headers=max_)
            assert r.status_code == 200 and r.json()["approved_by"] == "max.lee", r.text
            # claims, when the token carries them, win over the rentflow user's
            claimed = token("asha.patel", "rent-officers", rentflow_patches="S2 W1")
            assert (await me(http, claimed))[0] == ["S2", "W1"]
            assert (await http.get("/v1/accounts/92000028", headers=claimed)).status_code == 200
            boss = token("max.lee", "rent-managers", rentflow_limits={"write_off": 30000, "refund": "5000"})
            assert (await me(http, boss))[1] == {"write_off": 30000, "refund": 5000}
            assert (await me(http, token("kim", "rent-managers", rentflow_limits=100000)))[1] == {"*": 100000}
            r = await http.post(f"/v1/adjustments/{large['request_id']}/approve", headers=boss)
            assert r.status_code == 200 and r.json()["approved_by"] == "max.lee", r.text
    finally:
        await app.state.runtime.stop()
        jwks.close()
