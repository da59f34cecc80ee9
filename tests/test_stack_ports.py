"""A service's port is picked free, then bound by the service a moment later: another process can
take it in between (seen in the suite: notifications' port taken by another test's stack, whose
/health answered for it, so `rentflow up` waited on a process that had exited). The stack knows a
service is up only when its own process listens on its port, and starts a service whose port was
taken again on another."""
from __future__ import annotations

import http.server
import threading
from pathlib import Path

import httpx

import rentflow_common.infra as infra_module
from rentflow_cli.identity import ADMIN_TOKEN_FILE
from rentflow_cli.stack import Stack


class _Stranger(http.server.BaseHTTPRequestHandler):
    """Another process's service on the port: 200 to any GET, as a healthy service answers /health."""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *_args: object) -> None:
        pass


def test_a_service_whose_port_was_taken_starts_on_another(stack_env, monkeypatch):
    for name, value in stack_env.items():
        monkeypatch.setenv(name, value)
    stranger = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stranger)
    threading.Thread(target=stranger.serve_forever, daemon=True).start()
    taken = stranger.server_address[1]
    given = iter([taken])  # the first service (payments) is handed the stranger's port
    free_port = infra_module.free_port
    monkeypatch.setattr(infra_module, "free_port", lambda: next(given, None) or free_port())
    stack = Stack(home=Path(stack_env["RENTFLOW_HOME"]))
    try:
        stack.start()
        payments = stack.services["payments"]
        assert payments.port != taken
        assert payments.proc is not None and payments.proc.poll() is None and payments.listening()
        token = (Path(stack_env["RENTFLOW_HOME"]) / ADMIN_TOKEN_FILE).read_text().strip()
        whoami = httpx.get(payments.url + "/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        assert whoami.status_code == 200 and whoami.json()["service"] == "payments"
        log = payments.log_path.read_text()
        assert "address already in use" in log  # it really did lose the port first
    finally:
        stack.stop()
        stranger.shutdown()
