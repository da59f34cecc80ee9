"""Talking to a running stack: service URLs from runtime.json, errors turned into one line."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import httpx
import orjson

from rentflow_cli.stack import SERVICES, StackError, read_runtime


class CommandError(RuntimeError):
    """A failure to report on stderr in one line, exiting non-zero."""


class Client:
    def __init__(self, home: Path, timeout: float = 300.0, token: str | None = None) -> None:
        from rentflow_cli.identity import token_from

        self.home = home
        self._runtime: dict[str, Any] | None = None
        self.token = token or token_from(home)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._http = httpx.Client(timeout=timeout, headers=headers)

    @property
    def runtime(self) -> dict[str, Any]:
        if self._runtime is None:
            try:
                self._runtime = read_runtime(self.home)
            except StackError as exc:
                raise CommandError(str(exc)) from None
        return self._runtime

    def url(self, service: str) -> str:
        override = os.environ.get(f"RENTFLOW_{service.upper()}_URL")
        if override:
            return override.rstrip("/")
        return str(self.runtime["services"][service]["url"])

    def request(self, service: str, method: str, path: str, *, ok: Iterable[int] = (200, 201, 202),
                **kw: Any) -> Any:
        response = self.send(service, method, path, ok=ok, **kw)
        return response.json() if response.content else None

    def get_raw(self, service: str, path: str, **kw: Any) -> bytes:
        """The body as the service sent it (e.g. to keep 12.30 as written, not as a float)."""
        return self.send(service, "GET", path, **kw).content

    def send(self, service: str, method: str, path: str, *, ok: Iterable[int] = (200, 201, 202),
             **kw: Any) -> httpx.Response:
        url = self.url(service) + path
        try:
            response = self._http.request(method, url, **kw)
        except httpx.ConnectError:
            raise CommandError(f"{service} service not reachable at {self.url(service)}: is `rentflow up` running?") from None
        except httpx.HTTPError as exc:
            raise CommandError(f"{service} {method} {path} failed: {exc}") from None
        if response.status_code not in tuple(ok):
            if response.status_code == 401 and not self.token:
                raise CommandError(f"{service} answered 401: no token; set RENTFLOW_TOKEN or --token (an API token "
                                   "from `rentflow users add`), or start the stack with `rentflow up` here")
            raise CommandError(f"{service} answered {response.status_code}: {describe_error(response)}")
        return response

    def get(self, service: str, path: str, **kw: Any) -> Any:
        return self.request(service, "GET", path, **kw)

    def post(self, service: str, path: str, **kw: Any) -> Any:
        return self.request(service, "POST", path, **kw)

    def wait_until_processed(self, timeout: float, progress: Callable[[dict[str, int]], None] = lambda _: None) -> None:
        """Returns once every group has committed everything published and every outbox is empty,
        and stays so across two consecutive checks with no new consumption (as the database records
        it: whichever replica of a service answers, the same figures)."""
        from rentflow_common.kafka import TopicsMisshapen, group_lag  # only here: the broker client is slow to import

        deadline = time.monotonic() + timeout
        kafka = self.runtime["kafka"]
        last: tuple[int, ...] | None = None
        misshapen: TopicsMisshapen | None = None
        while True:
            try:
                # the embedded broker comes back from a restart empty, its topics remade by whoever asks
                # first: the stack's count is checked there (a real cluster's topics are the operator's);
                # `rentflow up` makes a short one again and has everything published again, so it is waited for
                lag = asyncio.run(group_lag(kafka["bootstrap_servers"], prefix=kafka.get("topic_prefix", ""),
                                            partitions=kafka.get("partitions") if kafka.get("source") == "embedded"
                                            else None))
                misshapen = None
            except TopicsMisshapen as exc:
                misshapen, lag = exc, {"topics with too few partitions": 1}
            statuses = {s: self.get(s, "/v1/ops/status") for s in SERVICES}
            backlog = {f"outbox:{s}": int(st.get("outbox_backlog", 0)) for s, st in statuses.items()}
            # work a service does after consuming (notifications: letters to render, emails to send)
            backlog |= {f"work:{s}": int(st.get("pending_work", 0)) for s, st in statuses.items()}
            # numbers of a stream passed over: a consumer moved past messages it never took
            backlog |= {f"missing:{g}": int(c.get("missing", 0)) for st in statuses.values()
                        for g, c in st.get("consumers", {}).items()}
            consumed = tuple(sum(int(s.get("processed", 0)) for s in c.get("streams", ())) + int(c.get("open_dead_letters", 0))
                             for st in statuses.values() for c in st.get("consumers", {}).values())
            pending = {**lag, **backlog}
            progress(pending)
            if not any(pending.values()):
                if last == consumed:
                    return
                last = consumed
            else:
                last = None
            if time.monotonic() > deadline:
                if misshapen is not None:
                    raise CommandError(str(misshapen))
                busy = ", ".join(f"{k} {v}" for k, v in pending.items() if v)
                hint = ("; messages a consumer passed over (missing) are published again by `rentflow replay "
                        "--since TIME`" if any(v for k, v in pending.items() if k.startswith("missing:")) else "")
                raise CommandError(f"not everything processed within {timeout:.0f} s: {busy or 'still moving'}{hint}")
            time.sleep(0.3)


def describe_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        parts = []
        for err in detail[:5]:
            if isinstance(err, dict):
                where = err.get("loc") or [err.get(k) for k in ("item", "line", "field") if err.get(k) is not None]
                what = err.get("reason") or err.get("msg")
                parts.append(f"{'.'.join(str(w) for w in where) if where else ''}: {what}".lstrip(": "))
            else:
                parts.append(str(err))
        more = f" (+{len(detail) - 5} more)" if len(detail) > 5 else ""
        return "; ".join(parts) + more
    return str(detail)


def sign(secret: str, body: bytes, t: int | None = None) -> str:
    """X-Signature of a provider request: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (sign each
    request as it is sent: payments refuses a t more than 5 minutes from its clock)."""
    t = int(time.time()) if t is None else t
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def signed_headers(provider_id: str, secret: str, body: bytes) -> dict[str, str]:
    return {"X-Provider-Id": provider_id, "X-Signature": sign(secret, body), "Content-Type": "application/json"}


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)
