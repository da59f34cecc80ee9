"""Chaos: `rentflow up` as real processes on the embedded broker and database (its own, so they
can be killed), a bounded load (signed pushes, a camt.053 statement, a statement of reversals, an
adjustment) and, at random points chosen by a printed seed, SIGKILL of payments, ledger,
notifications, reporting, the broker and PostgreSQL, `rentflow up` bringing each back. The load
also uprates every rent (a rent review notice per tenancy, emailed to the tenants with an address,
through a local SMTP server). At the end: no payment lost or doubled (the control total), every
account's balance equal to what was pushed for it, suspense exactly the unmatched payments (one
task each), the GL reconciled, reporting's KPIs equal to a recomputation from the ledger's own
postings, one notice per rent change and no notice or email sent twice; then the kill log and the
figures, including what the outbox's retained log costs (rows, MB per 100,000 payments) and how
fast the relays publish again after the broker lost everything.

    ./dev bench chaos                      # the long run: 100,000 payments, 20 kills
    ./dev bench chaos --payments 20000 --kills 6 --seed 7

tests/test_chaos.py runs a short version of the same (`run(...)`) in the test suite."""
from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import email
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence
from zoneinfo import ZoneInfo

import httpx
from aiosmtpd.controller import Controller

from rentflow_cli import sample
from rentflow_cli.client import signed_headers
from rentflow_payments import samples as files
from rentflow_schemas.codes import CODES, Kind

RENTFLOW = str(Path(sys.executable).parent / "rentflow")
COMPONENTS = ("payments", "ledger", "notifications", "reporting", "broker", "database")
PAID_AT = "2026-10-07T10:00:00+01:00"
LONDON = ZoneInfo("Europe/London")
PERIOD = "2026-10"
SMTP_FROM = "rents@chaos.example"


class Mailbox:
    """A local SMTP server's inbox: the Message-ID of every email it accepted (one per notice,
    `<notice-ID@domain>`: a repeat is an email sent twice)."""

    def __init__(self) -> None:
        self.message_ids: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        with self._lock:
            self.message_ids[str(message.get("Message-ID", "")).strip()] += 1
        return "250 OK"


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Result:
    seed: int
    payments: int
    kills: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"seed {self.seed}: {self.payments:,} payments, {len(self.kills)} kills"]
        lines += [f"  kill {n + 1:>2} at {k['at_s']:7.1f} s: {k['component']:<13} pid {k['pid']:<7} "
                  f"back after {k['back_after_s']:.1f} s" for n, k in enumerate(self.kills)]
        lines += [f"  {k}: {v}" for k, v in self.figures.items()]
        lines += [f"  PROBLEM: {p}" for p in self.problems] or ["  no payment lost, none doubled; balances, "
                                                                 "suspense, control total and GL all agree"]
        return "\n".join(lines)


class Up:
    """`rentflow up` on its own embedded broker and database in `home`."""

    def __init__(self, home: Path, partitions: int = 3, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL",
                                                                     "RENTFLOW_TOPIC_PREFIX")}
        self.env.update({"RENTFLOW_HOME": str(home), "RENTFLOW_NO_DOCKER": "1", "RENTFLOW_PARTITIONS": str(partitions),
                         "RENTFLOW_LOG_FORMAT": "json", **(extra_env or {})})
        self.log = open(home.parent / "up.log", "ab")
        self.proc = subprocess.Popen([RENTFLOW, "up"], env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 300
        while not (home / "runtime.json").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rentflow up did not start (see {home.parent / 'up.log'})")
            time.sleep(0.3)

    def runtime(self) -> dict[str, Any]:
        for _ in range(20):
            try:
                return json.loads((self.home / "runtime.json").read_text())
            except (OSError, ValueError):
                time.sleep(0.1)  # being replaced
        raise RuntimeError("runtime.json unreadable")

    def url(self, service: str) -> str:
        return self.runtime()["services"][service]["url"]

    def pid(self, component: str) -> int | None:
        rt = self.runtime()
        if component == "broker":
            return rt["kafka"]["pid"]
        if component == "database":
            return rt["database"]["pid"]
        return rt["services"][component]["pid"]

    def restarts(self, component: str) -> int:
        return int(self.runtime()["supervisor"]["restarts"].get(component, 0))

    def rentflow(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([RENTFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(120)
        finally:
            self.log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def retrying(what: str, call: Any, stop: threading.Event | None = None, timeout: float = 600) -> httpx.Response:
    """Calls until the service answers 2xx: a killed service refuses or drops the connection, a
    database away is a 503; the same payments again are harmless (pushes and files are idempotent), signed
    again each time (the same signature twice is refused as a replay)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = call()
            if r.status_code < 300:
                return r
            if r.status_code == 409 and "(a replay)" in r.text:
                time.sleep(1.0)  # taken before the answer was lost: the retry is signed again, with a later t
                continue
            if r.status_code != 503:
                raise RuntimeError(f"{what}: {r.status_code} {r.text[:300]}")
        except httpx.HTTPError:
            pass
        except KeyError:  # runtime.json between writes
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: no answer within {timeout:.0f} s")
        time.sleep(0.5)


def run(work: Path, *, payments: int, kills: int, seed: int, accounts: int = 300, batch: int = 200,
        file_entries: int = 300, reversals: int = 30, push_pause_s: float = 0.05, kill_gap_s: tuple[float, float] = (2, 6),
        settle_timeout_s: float = 600, order: Sequence[str] = ()) -> Result:
    """`order`: the components to kill, in turn (default: each once per round, shuffled by the seed)."""
    rng = random.Random(seed)
    result = Result(seed, payments)
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    say(f"seed {seed}: starting rentflow up in {home}")
    started = time.monotonic()
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    try:
        up = Up(home, extra_env={"RENTFLOW_SMTP_HOST": "127.0.0.1", "RENTFLOW_SMTP_PORT": str(smtp.port),
                                 "RENTFLOW_SMTP_FROM": SMTP_FROM})
    except BaseException:
        smtp.stop()
        raise
    try:
        result.figures["startup_s"] = round(time.monotonic() - started, 1)
        second = up.rentflow("up", timeout=60)
        if second.returncode == 0 or f"pid {up.proc.pid}" not in second.stderr:
            result.problems.append(f"a second rentflow up was not refused with the first one's pid: {second.stderr}")
        _load_and_kill(up, result, rng, mailbox, payments=payments, kills=kills, accounts=accounts, batch=batch,
                       file_entries=file_entries, reversals=reversals, push_pause_s=push_pause_s,
                       kill_gap_s=kill_gap_s, settle_timeout_s=settle_timeout_s, order=order)
    finally:
        code = up.stop()
        smtp.stop()
        if code != 0:
            result.problems.append(f"rentflow up exited {code} on SIGTERM")
    return result


def _load_and_kill(up: Up, result: Result, rng: random.Random, mailbox: Mailbox, *, payments: int, kills: int,
                   accounts: int,
                   batch: int, file_entries: int, reversals: int, push_pause_s: float,
                   kill_gap_s: tuple[float, float], settle_timeout_s: float, order: Sequence[str] = ()) -> None:
    accs = sample.accounts(accounts, seed=rng.randrange(1 << 30))
    token = (up.home / "admin.token").read_text().strip()  # the local admin `rentflow up` made (every role)
    http = httpx.Client(timeout=60, headers={"Authorization": f"Bearer {token}"})
    retrying("accounts import", lambda: http.post(up.url("ledger") + "/v1/accounts/import",
                                                  content=sample.accounts_csv(accs).encode(),
                                                  headers={"Content-Type": "text/csv"}))
    secrets = {}
    for provider in ("chaos", "bank"):
        secrets[provider] = retrying(f"provider {provider}", lambda: http.post(
            up.url("payments") + "/v1/providers", json={"name": provider, "secret": None})).json()["secret"]
    # every third tenant has an email address: their rent review notice is emailed too
    emailed = {a.ref for a in accs[::3]}
    for ref in sorted(emailed):
        retrying(f"contact {ref}", lambda: http.put(up.url("notifications") + f"/v1/contacts/{ref}",
                                                    json={"email": f"tenant-{ref}@chaos.example"}))
    # the uprating's effective date: a Monday far enough ahead for the notices to be served in time
    today = dt.datetime.now(LONDON).date()
    effective = today + dt.timedelta(days=42 + (7 - (today + dt.timedelta(days=42)).weekday()) % 7)
    expected = {a.ref: a.opening_balance for a in accs}
    unmatched: set[str] = set()

    # the pushes: payment i to a random account; every tenth quotes nothing known (suspense)
    bodies = []
    for i in range(payments):
        acc = accs[rng.randrange(len(accs))]
        amount = rng.randrange(500, 60000)
        if i % 10 == 3:
            ref = "UNMATCHED " + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(10))
            unmatched.add(f"chaos:{i}")
        else:
            ref = acc.ref
            expected[acc.ref] -= amount
        bodies.append({"provider_ref": f"chaos-{i}", "channel": rng.choice(["card", "bank_transfer", "cash"]),
                       "amount_pence": amount, "currency": "GBP", "paid_at": PAID_AT, "reference": ref})
    # a statement (payments from the bank) and, later, a statement reversing some of them
    entries, reversed_entries = [], []
    for n in range(file_entries):
        acc = accs[rng.randrange(len(accs))]
        tx = files.Tx(rng.randrange(1000, 50000), acc.ref, f"PAYER {n}", f"E2E-CHAOS-{n}")
        entries.append(files.Entry(f"CHAOS-AC{n}", value_date=dt.date(2026, 10, 6), txs=[tx]))
        expected[acc.ref] -= tx.amount_pence
        if n < reversals:
            reversed_entries.append(files.Entry(f"CHAOS-RV{n}", value_date=dt.date(2026, 10, 8), side="DBIT",
                                                reversal=True, txs=[tx]))
            expected[acc.ref] += tx.amount_pence
    statement = files.camt053(entries, stmt_id="CHAOS-1")
    reversal_statement = files.camt053(reversed_entries, stmt_id="CHAOS-2")
    adjusted = accs[0].ref
    expected[adjusted] -= 1234

    pushed = threading.Event()
    errors: list[BaseException] = []
    t0 = time.monotonic()

    def load() -> None:
        try:
            for start in range(0, payments, batch):
                body = json.dumps(bodies[start:start + batch]).encode()
                retrying(f"push {start}", lambda: http.post(up.url("payments") + "/v1/payments/batch", content=body,
                                                            headers=signed_headers("chaos", secrets["chaos"], body)))
                if start == (payments // batch // 3) * batch:
                    say("uploading the statement")
                    _upload(up, http, statement, secrets["bank"])
                if start == (payments // batch // 2) * batch:
                    say(f"uprating every rent from {effective} (rent review notices, emails)")
                    _uprate(up, http, effective)
                if start == (payments // batch * 2 // 3) * batch:
                    say("uploading the reversals; requesting and approving an adjustment")
                    _upload(up, http, reversal_statement, secrets["bank"])
                    _adjust(up, http, adjusted)
                time.sleep(push_pause_s)
            if payments < batch:
                _upload(up, http, statement, secrets["bank"])
                _uprate(up, http, effective)
                _upload(up, http, reversal_statement, secrets["bank"])
                _adjust(up, http, adjusted)
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)
        finally:
            pushed.set()

    sampler = RepublishSampler(up, http, t0)
    sampler.start()
    pusher = threading.Thread(target=load, name="chaos-load")
    pusher.start()
    rounds: list[str] = []
    while len(rounds) < kills:
        round_ = list(COMPONENTS)
        rng.shuffle(round_)
        rounds += round_
    for component in (order or rounds)[:kills]:
        time.sleep(rng.uniform(*kill_gap_s))
        pid = up.pid(component)
        before = up.restarts(component)
        at = time.monotonic() - t0
        say(f"SIGKILL {component} (pid {pid}) at {at:.1f} s{'' if not pushed.is_set() else ' (load done)'}")
        try:
            os.kill(pid, signal.SIGKILL)  # type: ignore[arg-type]
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 180
        while up.restarts(component) <= before or up.pid(component) == pid:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{component} was not restarted within 180 s")
            time.sleep(0.2)
        back = time.monotonic() - t0 - at
        result.kills.append({"component": component, "pid": pid, "at_s": round(at, 1), "back_after_s": round(back, 1),
                             "during_load": not pushed.is_set()})
    pusher.join(settle_timeout_s)
    if errors:
        sampler.stop()
        raise errors[0]
    result.figures["load_s"] = round(time.monotonic() - t0, 1)
    result.figures["kills_during_pushes"] = sum(k["during_load"] for k in result.kills)
    say("load done; waiting until every service is healthy and everything is processed")
    settle = time.monotonic()
    for service in ("payments", "ledger", "notifications", "reporting"):
        retrying(f"{service} health", lambda: http.get(up.url(service) + "/health", timeout=5),
                 timeout=settle_timeout_s)
    waited = up.rentflow("wait", "--timeout", str(int(settle_timeout_s)), timeout=settle_timeout_s + 60)
    result.figures["settle_s"] = round(time.monotonic() - settle, 1)
    sampler.stop()
    if waited.returncode != 0:
        result.problems.append(f"rentflow wait: {waited.stderr.strip()[-500:]}")
        result.figures["behind"] = _behind(up, http)
    _check(up, http, result, expected, unmatched, payments + file_entries)
    _check_kpis(up, http, result)
    _check_notices(up, http, result, mailbox, effective, emailed)
    _check_tasks(http, up, result, unmatched)
    result.figures["republishing"] = sampler.summary(result.kills)
    http.close()


def _behind(up: Up, http: httpx.Client) -> dict[str, Any]:
    """What a failed settle leaves to look at once the run's folder is gone (CI keeps only the
    report): each group with lag, its partitions behind, what its service's health says of it,
    and the service's last consumer and broker warnings."""
    behind: dict[str, Any] = {}
    for service in ("payments", "ledger", "notifications", "reporting"):
        try:
            status = http.get(up.url(service) + "/v1/ops/status", params={"lag": "true"}, timeout=30).json()
            health = http.get(up.url(service) + "/health", timeout=30).json()
        except (httpx.HTTPError, ValueError) as exc:
            behind[service] = f"unreadable: {exc}"
            continue
        for group, c in status.get("consumers", {}).items():
            if not c.get("lag") and not c.get("missing"):
                continue
            lagging = [f"{p['topic']}[{p['partition']}]" for p in c.get("partitions", []) if p.get("lag")]
            behind[group] = {
                "lag": c.get("lag"), "missing": c.get("missing"),
                # committed/end as the broker has them; where this service's member reads next/the end it saw
                "partitions": [f"{p['topic']}[{p['partition']}] {p['committed']}/{p['end_offset']}"
                               for p in c.get("partitions", []) if p.get("lag")],
                "reading": {tp: r for tp, r in c.get("reading", {}).items() if any(tp.endswith(x) for x in lagging)},
                "assigned": len(c.get("reading", {})),
                "health": health.get("consumers", {}).get(group),
                "log": _warnings(up.home / "logs" / f"{service}.log"),
            }
    return behind


def _deaths(log: Path, components: list[str]) -> list[str]:
    """The supervisor's lines saying why each of these components died (not its failed restarts)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError as exc:
        return [f"unreadable: {exc}"]
    return [line[:300] for line in lines if any(f" {c} died (" in line for c in components)
            and "(could not start)" not in line]


RECONNECTING = ("Unable connect", "Unable to update metadata", "NodeNotReady", "Connect call failed")


def _warnings(log: Path, last: int = 12) -> list[str]:
    """The last consumer and broker-client warnings of a service's log, shortened (the client's
    lines while the broker is away left out), and FastStream's (a consume loop it starts again)."""
    kept: collections.deque[str] = collections.deque(maxlen=last)
    try:
        with open(log, errors="replace") as f:
            for line in f:
                if '"level": "info"' not in line and any(w in line for w in ("consumer", "kafka", "group", "faststream")) \
                        and not any(w in line for w in RECONNECTING):
                    kept.append(line.strip()[:300])
    except OSError as exc:
        kept.append(f"unreadable: {exc}")
    return list(kept)


def _upload(up: Up, http: httpx.Client, data: bytes, secret: str) -> None:
    r = retrying("statement", lambda: http.post(up.url("payments") + "/v1/files", params={"format": "camt053"},
                                                content=data, headers=signed_headers("bank", secret, data)))
    if r.json()["rejected"]:
        raise RuntimeError(f"statement items rejected: {r.json()['errors'][:3]}")


def _adjust(up: Up, http: httpx.Client, account_ref: str) -> None:
    """An adjustment asked once by the admin (a request is not idempotent: asked again only when it
    is not there) and approved by a manager of its own (maker-checker)."""
    reason = "chaos: a credit of £12.34"
    users = retrying("users", lambda: http.get(up.url("notifications") + "/v1/users")).json()["users"]
    if not any(u.get("user", u.get("name")) == "chaos-manager" for u in users):
        retrying("manager", lambda: http.post(up.url("notifications") + "/v1/users", json={
            "name": "chaos-manager", "roles": ["manager"], "patches": [], "approval_limits": {"*": 10**7}}))
    manager = retrying("manager token", lambda: http.post(up.url("notifications") + "/v1/users/chaos-manager/token"))
    as_manager = {"Authorization": f"Bearer {manager.json()['token']}"}

    def pending() -> list[dict[str, Any]]:
        got = retrying("adjustments", lambda: http.get(up.url("ledger") + "/v1/adjustments")).json()
        rows = got["requests"] if isinstance(got, dict) and "requests" in got else got
        return [r for r in rows if r.get("reason") == reason]

    while not pending():
        try:
            http.post(up.url("ledger") + "/v1/adjustments", json={
                "account_ref": account_ref, "type": "adjustment", "amount_pence": -1234, "reason": reason})
        except httpx.HTTPError:
            time.sleep(0.5)
    request = pending()[0]
    deadline = time.monotonic() + 300
    while not _approved(up, http, request):  # 401/403 until the ledger has heard of the new manager
        try:
            r = http.post(up.url("ledger") + f"/v1/adjustments/{request['request_id']}/approve", json={},
                          headers=as_manager)
            if r.status_code not in (200, 201, 401, 403, 409, 503):
                raise RuntimeError(f"approve: {r.status_code} {r.text[:300]}")
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the adjustment was not approved within 300 s")
        time.sleep(0.5)


def _approved(up: Up, http: httpx.Client, request: dict[str, Any]) -> bool:
    try:
        r = http.get(up.url("ledger") + f"/v1/adjustments/{request['request_id']}")
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.json().get("status") == "approved"


def _check(up: Up, http: httpx.Client, result: Result, expected: dict[str, int], unmatched: set[str],
           total: int) -> None:
    control = up.rentflow("payments", "reconcile", "--json")
    doc = json.loads(control.stdout) if control.stdout.strip() else {}
    result.figures["control_total"] = {k: doc.get(k) if not isinstance(doc.get(k), list) else len(doc[k])
                                       for k in ("balanced", "accepted_count", "ledger_count", "missing", "doubled",
                                                 "reporting_balanced", "reporting_count")}
    if not doc.get("balanced") or doc.get("accepted_count") != total or doc.get("ledger_count") != total \
            or not doc.get("reporting_balanced") or doc.get("reporting_count") != total:
        result.problems.append(f"control total: {result.figures['control_total']} (expected {total} each side)")
    got = {}
    offset = 0
    while True:
        page = retrying("accounts", lambda: http.get(up.url("ledger") + "/v1/accounts",
                                                     params={"limit": 10000, "offset": offset})).json()
        rows = page["accounts"] if isinstance(page, dict) else page
        got.update({a["account_ref"]: a["balance_pence"] for a in rows})
        if len(rows) < 10000:
            break
        offset += len(rows)
    wrong = {ref: (got.get(ref), want) for ref, want in expected.items() if got.get(ref) != want}
    result.figures["accounts_checked"] = len(expected)
    if wrong:
        result.problems.append(f"{len(wrong)} balances differ from what was pushed, e.g. {list(wrong.items())[:3]}")
        for ref in list(wrong)[:2]:
            shown = http.get(up.url("ledger") + f"/v1/accounts/{ref}").json()
            result.problems.append(f"  {ref}: " + ", ".join(f"{t['type']} {t['amount_pence']}"
                                                            for t in shown.get("transactions", [])))
    suspense = retrying("suspense", lambda: http.get(up.url("ledger") + "/v1/suspense")).json()
    if suspense["count"] != len(unmatched):
        result.problems.append(f"suspense holds {suspense['count']}, expected {len(unmatched)}")
    gl = up.rentflow("gl", "reconcile", "--period", PERIOD, "--json")
    if gl.returncode != 0 or not json.loads(gl.stdout)["balanced"]:
        result.problems.append(f"gl reconcile {PERIOD}: {gl.stdout[-300:]} {gl.stderr[-300:]}")
    invariants = retrying("invariants", lambda: http.get(up.url("ledger") + "/v1/invariants")).json()
    if not invariants.get("balanced"):
        result.problems.append(f"ledger invariants: {invariants}")
    status = json.loads(up.rentflow("status", "--json").stdout or "{}")
    result.figures["restarts"] = status.get("supervisor", {}).get("restarts")
    killed = collections.Counter(k["component"] for k in result.kills)
    if extra := [c for c, n in (result.figures["restarts"] or {}).items() if n > killed[c]]:
        # restarted more often than killed: why each died, as the supervisor logged it (CI keeps only the report)
        result.figures["deaths"] = _deaths(up.home / "logs" / "supervisor.log", extra)
    result.figures["dead_letters"] = {s: sum(g.get("open_dead_letters", 0) for g in st.get("consumers", {}).values())
                                      for s, st in status.items() if s != "supervisor" and isinstance(st, dict)}
    result.figures.update(asyncio.run(_retention(up.runtime()["database"]["url"], total)))


def _uprate(up: Up, http: httpx.Client, effective: dt.date) -> None:
    """The year-end uprating: one rent change per tenancy, once (asked again, it changes nothing)."""
    retrying("uprate", lambda: http.post(up.url("ledger") + "/v1/rents/uprate",
                                         json={"percent": "4.8", "effective": effective.isoformat()}))


class RepublishSampler(threading.Thread):
    """Samples each service's relay counters (`outbox_republished` in /v1/ops/status) every 2 s,
    so the figures can say how fast the relays published the log again after the broker lost it."""

    SERVICES = ("payments", "ledger", "notifications", "reporting")

    def __init__(self, up: Up, http: httpx.Client, t0: float, every_s: float = 2.0) -> None:
        super().__init__(name="chaos-republish-sampler", daemon=True)
        self.up, self.http, self.every_s = up, http, every_s
        self.t0 = t0  # the kill log's clock
        self.samples: list[tuple[float, int]] = []  # (seconds since start, rows republished since start, all services)
        self._last: dict[str, tuple[int, int]] = {}  # service → (pid, its counter)
        self._total = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every_s):
            for service in self.SERVICES:
                try:
                    pid = self.up.pid(service) or 0
                    doc = self.http.get(self.up.url(service) + "/v1/ops/status", timeout=5).json()
                    now = int(doc.get("outbox_republished", 0))
                except (httpx.HTTPError, KeyError, ValueError, RuntimeError):
                    continue
                seen_pid, before = self._last.get(service, (pid, 0))
                self._total += now - before if seen_pid == pid and now >= before else now  # a restart counts from 0
                self._last[service] = (pid, now)
            self.samples.append((time.monotonic() - self.t0, self._total))

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def summary(self, kills: list[dict[str, Any]]) -> dict[str, Any]:
        """Per broker kill: rows republished from the broker's return until the next kill (at most 5
        minutes), the seconds from its return to the last of them, and the rate."""
        out: dict[str, Any] = {"rows_republished": self._total, "after_broker_kills": []}
        starts = sorted(k["at_s"] for k in kills)
        for k in kills:
            if k["component"] != "broker":
                continue
            back = k["at_s"] + k["back_after_s"]
            until = min([back + 300] + [t for t in starts if t > k["at_s"]])
            window = [(t, n) for t, n in self.samples if back - self.every_s <= t <= until]
            if len(window) < 2:
                continue
            base = window[0][1]
            moved = [(t, n) for t, n in window if n > base]
            rows = window[-1][1] - base
            if not moved:
                out["after_broker_kills"].append({"at_s": k["at_s"], "rows": 0})
                continue
            last_t = next(t for t, n in window if n == window[-1][1])
            took = max(self.every_s, last_t - back)
            out["after_broker_kills"].append({"at_s": k["at_s"], "rows": rows, "seconds": round(took, 1),
                                              "rows_per_s": round(rows / took)})
        return out


def _check_kpis(up: Up, http: httpx.Client, result: Result) -> None:
    """Reporting's KPIs (built incrementally from the ledger's events, through every kill) against
    the same figures recomputed from the ledger's own postings, suspense and accounts."""
    today = dt.datetime.now(LONDON).date().isoformat()
    checked = {}
    for period, as_of in (("month", "2026-10-31"), ("year", today)):
        kpi = retrying(f"kpi {period}", lambda: http.get(up.url("reporting") + "/v1/kpi",
                                                         params={"period": period, "as_of": as_of})).json()
        start, through = dt.date.fromisoformat(kpi["period_start"]), dt.date.fromisoformat(kpi["through"])
        want = asyncio.run(_ledger_kpis(up.runtime()["database"]["url"], start, through))
        got = {k: kpi.get(k) for k in want}
        got["collected_by_channel"] = {c: v for c, v in (kpi.get("collected_by_channel") or {}).items() if v}
        wrong = {k: (got[k], v) for k, v in want.items() if got[k] != v}
        checked[f"{period} {start}..{through}"] = {"keys": len(want), "collected_pence": want["collected_pence"],
                                                   "suspense_count": want["suspense_count"]}
        if wrong:
            result.problems.append(f"KPIs ({period} {start}..{through}) differ from the ledger's, "
                                   f"(reporting, ledger): {wrong}")
    result.figures["kpis_checked"] = checked


async def _ledger_kpis(url: str, start: dt.date, through: dt.date) -> dict[str, Any]:
    """The KPIs' definitions (services/reporting/README.md) applied to the ledger's tables."""
    import asyncpg

    from rentflow_common.db import plain_url

    conn = await asyncpg.connect(plain_url(url))
    try:
        flows = await conn.fetch(
            "select type_code, channel, allocation_rule = 'manual' as manual, sign(amount_pence) as sign, "
            "sum(amount_pence)::bigint as amount, count(*)::bigint as n from ledger.transactions "
            "where business_date between $1 and $2 group by 1, 2, 3, 4", start, through)
        opened = await conn.fetch(
            "select channel, sum(amount_pence)::bigint as amount, count(*)::bigint as n from ledger.suspense "
            "where business_date between $1 and $2 group by 1", start, through)
        held = await conn.fetchrow(
            "select count(*)::bigint as n, coalesce(sum(amount_pence), 0)::bigint as amount from ledger.suspense "
            "where business_date <= $1 and (allocated_at is null "
            "or (allocated_at at time zone 'Europe/London')::date > $1)", through)
        position = await conn.fetchrow(
            """
            with a as (
                select a.weekly_rent_pence + a.weekly_charges_pence as weekly,
                       a.tenancy_end is not null and a.tenancy_end <= $2 as former,
                       (a.tenancy_end is null or a.tenancy_end > $2) and a.tenancy_start <= $2 as current,
                       coalesce((select sum(t.amount_pence) from ledger.transactions t
                                 where t.account_ref = a.account_ref and t.business_date < $1), 0) as opening,
                       coalesce((select sum(t.amount_pence) from ledger.transactions t
                                 where t.account_ref = a.account_ref and t.business_date <= $2), 0) as closing
                from ledger.accounts a
            )
            select coalesce(sum(greatest(opening, 0)), 0)::bigint as arrears_brought_forward_pence,
                   coalesce(sum(greatest(closing, 0)) filter (where current), 0)::bigint as current_tenant_arrears_pence,
                   coalesce(sum(greatest(closing, 0)) filter (where former), 0)::bigint as former_tenant_arrears_pence,
                   count(*) filter (where current)::bigint as current_tenancies,
                   count(*) filter (where current and closing > 0)::bigint as current_tenancies_in_arrears,
                   (coalesce(sum(weekly) filter (where current), 0) * 52)::bigint as annual_rent_debit_pence
            from a
            """, start, through)
    finally:
        await conn.close()
    collected: collections.Counter[str] = collections.Counter()
    debit = written_off = refunds = dd_failures = dd_presented = 0
    for r in flows:
        code, amount = CODES[r["type_code"]], int(r["amount"])
        if code.kind is Kind.RECEIPT and not r["manual"]:
            collected[r["channel"] or code.channel] -= amount
            dd_presented += int(r["n"]) if code.code == "RDD" else 0
        elif code.kind is Kind.DEBIT:
            debit += amount
        elif code.kind is Kind.DD_UNPAID:
            collected["direct_debit"] -= amount
            dd_failures += int(r["n"]) * int(r["sign"])  # an unpaid undone counts back
        elif code.kind is Kind.RETURNED:
            collected[r["channel"] or "other"] -= amount
        elif code.kind is Kind.WRITE_OFF:
            written_off -= amount
        elif code.kind is Kind.REFUND:
            refunds += amount
    for r in opened:  # unidentified receipts count as collected on the day they arrived
        collected[r["channel"]] += int(r["amount"])
        dd_presented += int(r["n"]) if r["channel"] == "direct_debit" else 0
    return {"collected_pence": sum(collected.values()),
            "collected_by_channel": {c: v for c, v in sorted(collected.items()) if v},
            "debit_pence": debit, "written_off_pence": written_off, "refunds_pence": refunds,
            "dd_failures": dd_failures, "dd_collections_presented": dd_presented,
            "suspense_count": int(held["n"]), "suspense_pence": int(held["amount"]),
            "suspense_opened_count": sum(int(r["n"]) for r in opened),
            **{k: int(v) for k, v in position.items()}}


def _check_notices(up: Up, http: httpx.Client, result: Result, mailbox: Mailbox, effective: dt.date,
                   emailed: set[str]) -> None:
    """One rent review notice per rent change the ledger recorded, each produced, written as a letter
    once, emailed once where the tenant has an address; nothing announced or sent twice."""
    doc = asyncio.run(_notice_records(up.runtime()["database"]["url"], effective))
    changed, notices = doc["changed"], doc["notices"]
    per_account = collections.Counter(n["account_ref"] for n in notices)
    figures = {"rent_changes": len(changed), "notices": len(notices),
               "produced": sum(n["status"] == "produced" for n in notices)}
    if set(per_account) != set(changed):
        result.problems.append(f"rent review notices: {len(set(changed) - set(per_account))} rent changes without "
                               f"one, {len(set(per_account) - set(changed))} for no change")
    twice = sorted(ref for ref, n in per_account.items() if n > 1)
    if twice:
        result.problems.append(f"{len(twice)} accounts have more than one rent review notice, e.g. {twice[:3]}")
    not_produced = collections.Counter(n["status"] for n in notices if n["status"] != "produced")
    if not_produced:
        result.problems.append(f"rent review notices not produced: {dict(not_produced)}")
    letters = collections.Counter(n["notice_id"] for n in notices for d in n["deliveries"] if d["channel"] == "letter")
    if len(letters) != len(notices) or any(v != 1 for v in letters.values()):
        result.problems.append(f"letters: {len(letters)} notices with one, {len(notices)} notices")
    want_mail = {f"<notice-{n['notice_id']}@chaos.example>": n for n in notices if n["account_ref"] in emailed}
    sent = {mid for mid, n in want_mail.items()
            if any(d["channel"] == "email" and d["status"] == "sent" for d in n["deliveries"])}
    figures.update({"emails_due": len(want_mail), "emails_recorded_sent": len(sent),
                    "emails_received": sum(mailbox.message_ids.values()),
                    "emails_distinct": len(mailbox.message_ids)})
    if len(sent) != len(want_mail):
        result.problems.append(f"emails recorded sent for {len(sent)} of {len(want_mail)} notices")
    unexpected = set(mailbox.message_ids) - set(want_mail)
    never = set(want_mail) - set(mailbox.message_ids)
    if unexpected or never:
        result.problems.append(f"emails: {len(never)} never arrived, {len(unexpected)} not for a notice with an "
                               f"address, e.g. {sorted(never | unexpected)[:3]}")
    doubled = {mid: n for mid, n in mailbox.message_ids.items() if n > 1}
    resent = _logged_resends(up.home) if doubled else set()
    # notifications' documented at-least-once window: killed after the SMTP server took a message and
    # before `sent` committed, it sends it again (same Message-ID) once the lease runs out (at once when
    # the restarted process finds the claimer gone: delivery.release_orphaned_emails), and logs
    # `email.resend`. Counted, not failed; any other repeat is an email sent twice.
    figures["emails_resent_in_smtp_window"] = sum(1 for mid in doubled if mid[8:44] in resent)
    unexplained = {mid: n for mid, n in doubled.items() if mid[8:44] not in resent}
    if unexplained:
        result.problems.append(f"{len(unexplained)} emails arrived more than once with no email.resend logged, "
                               f"e.g. {sorted(unexplained.items())[:3]}")
    announced = collections.Counter(doc["announced"])
    repeats = {k: n for k, n in announced.items() if n > 1}
    figures["notice_events"] = sum(announced.values())
    if repeats:
        result.problems.append(f"{len(repeats)} notice events emitted more than once (notice, status, channel): "
                               f"{sorted(repeats.items())[:3]}")
    result.figures["notices"] = figures


async def _notice_records(url: str, effective: dt.date) -> dict[str, Any]:
    import asyncpg

    from rentflow_common.db import plain_url

    conn = await asyncpg.connect(plain_url(url))
    try:
        changed = [r["account_ref"] for r in await conn.fetch(
            "select account_ref from ledger.rent_changes where effective_date = $1", effective)]
        rows = await conn.fetch(
            "select n.notice_id::text, n.account_ref, n.status, coalesce(json_agg(json_build_object("
            "'channel', d.channel, 'status', d.status)) filter (where d.notice_id is not null), '[]') as deliveries "
            "from notifications.notices n left join notifications.deliveries d using (notice_id) "
            "where n.kind = 'rent_review' and n.run = $1 group by 1, 2, 3", f"rent_review:{effective}")
        # what notifications announced on notifications.notices.v1 (its retained outbox log)
        log_rows = await conn.fetch("select payload from notifications.outbox_log where topic like "
                                    "'%notifications.notices.v1'")
    finally:
        await conn.close()
    announced = []
    for r in log_rows:
        data = json.loads(bytes(r["payload"]))["data"]
        announced.append((data["notice_id"], data["status"], data.get("channel")))
    return {"changed": changed, "announced": announced,
            "notices": [{"notice_id": r["notice_id"], "account_ref": r["account_ref"], "status": r["status"],
                         "deliveries": json.loads(r["deliveries"]) if isinstance(r["deliveries"], str)
                         else r["deliveries"]} for r in rows]}


def _logged_resends(home: Path) -> set[str]:
    """Notice ids notifications logged as `email.resend` (a lease ran out on a message in flight)."""
    ids = set()
    for path in (home / "logs").glob("notifications*.log*"):
        for line in path.read_text(errors="replace").splitlines():
            if "email.resend" in line:
                try:
                    ids.add(json.loads(line).get("notice_id", ""))
                except ValueError:
                    pass
    return ids


def _check_tasks(http: httpx.Client, up: Up, result: Result, unmatched: set[str]) -> None:
    """One unmatched-payment task per payment in suspense, never two."""
    got = retrying("tasks", lambda: http.get(up.url("notifications") + "/v1/tasks",
                                             params={"kind": "unmatched_payment", "limit": 10000})).json()
    payments = collections.Counter(t["payment_id"] for t in got["tasks"])
    result.figures["unmatched_tasks"] = got["count"]
    if got["count"] != len(unmatched) or any(n > 1 for n in payments.values()):
        result.problems.append(f"unmatched-payment tasks: {got['count']} for {len(unmatched)} payments in suspense, "
                               f"{sum(1 for n in payments.values() if n > 1)} payments with more than one")


async def _retention(url: str, payments: int) -> dict[str, Any]:
    """Rows and MB of the outbox's retained log, all services, and per 100,000 payments."""
    import asyncpg

    from rentflow_common.db import plain_url

    conn = await asyncpg.connect(plain_url(url))
    try:
        rows, size = 0, 0
        reversals = {"intake": await conn.fetchval("select count(*) from payments.reversals"),
                     **{f"ledger_{r['status']}": r["n"] for r in await conn.fetch(
                         "select status, count(*) as n from ledger.payment_reversals group by 1")}}
        for schema in ("payments", "ledger", "notifications", "reporting"):
            if await conn.fetchval("select to_regclass($1)", f"{schema}.outbox_log") is None:
                continue
            rows += await conn.fetchval(f'select count(*) from "{schema}".outbox_log')
            # outbox_log is a view over the retained events and their numbering rows (an old layout: a table)
            for table in ("outbox_log", "outbox_events", "outbox_numbers"):
                if await conn.fetchval("select to_regclass($1)", f"{schema}.{table}") is not None:
                    size += await conn.fetchval("select pg_total_relation_size($1::regclass)", f"{schema}.{table}")
    finally:
        await conn.close()
    per = 100_000 / max(1, payments)
    return {"reversals": reversals, "outbox_log_rows": rows, "outbox_log_mb": round(size / 1e6, 1),
            "outbox_log_rows_per_100k_payments": int(rows * per), "outbox_log_mb_per_100k_payments": round(size / 1e6 * per, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, data)")
    parser.add_argument("--order", default="", help="components to kill in turn, comma-separated, each kill one of "
                        "them (default: every component once a round, shuffled by the seed), e.g. notifications,broker")
    parser.add_argument("--gap", default="5,20", help="seconds between kills, least,most (default 5,20)")
    parser.add_argument("--push-pause", type=float, default=None,
                        help="seconds between pushed batches (default: the pushes spread over the kills, so most "
                             "kills land while payments are still coming in)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    order = [c for c in args.order.split(",") if c]
    if unknown := set(order) - set(COMPONENTS):
        parser.error(f"--order: {', '.join(sorted(unknown))} not one of {', '.join(COMPONENTS)}")
    kills = len(order) if order else args.kills
    try:
        least, _, most = args.gap.partition(",")
        gap = (float(least), float(most or least))
    except ValueError:
        parser.error(f"--gap: {args.gap!r} is not seconds as least,most (e.g. 2,6)")
    if not 0 <= gap[0] <= gap[1]:
        parser.error(f"--gap: {args.gap!r}: the least must be 0 or more and not above the most")
    work = Path(tempfile.mkdtemp(prefix="rentflow-chaos-"))
    batches = max(1, -(-args.payments // args.batch))
    # about 80% of the kill window: the last kills come while the ledger is still catching up
    pause = args.push_pause if args.push_pause is not None else 0.8 * kills * sum(gap) / 2 / batches
    say(f"seed {seed} (repeat with --seed {seed}); work folder {work}; {pause:.2f} s between batches")
    try:
        result = run(work, payments=args.payments, kills=kills, seed=seed, accounts=args.accounts,
                     batch=args.batch, file_entries=max(300, args.payments // 50), reversals=50,
                     push_pause_s=pause, kill_gap_s=gap, settle_timeout_s=1800, order=order)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(result.report())
    sys.exit(1 if result.problems else 0)


if __name__ == "__main__":
    main()
