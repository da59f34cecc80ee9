"""The chaos bench's report and options. What a failed settle reports of a service's log
(bench/chaos._warnings): its consumer and broker-client warnings, the newest last, without its info
lines or the client's reconnect noise while the broker is away (which, kept, fill the report after
every broker kill); why a component died more often than it was killed; and a kill order or gap it
cannot use, refused by name."""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from chaos import _warnings  # noqa: E402


def _event(event: str, level: str, **kw) -> str:
    return json.dumps({"event": event, "level": level, "service": "notifications", **kw})


def test_the_last_consumer_and_broker_warnings_without_info_or_reconnects(tmp_path):
    log = tmp_path / "notifications.log"
    lines = [
        _event("consumer.group_forgotten", "warning", group="notifications", generation=0),
        _event("consumer.batch_done", "info", group="notifications"),
        "2026-12-06 16:46:44,001 notifications faststream ERROR _run_consume_loop raised an exception, retrying...",
        "2026-12-06 16:46:45,455 notifications aiokafka ERROR Unable connect to node with id 111: Connect call failed",
        "2026-12-06 16:46:45,455 notifications aiokafka ERROR Unable to update metadata from [111]",
        "2026-12-06 16:46:45,555 notifications aiokafka.consumer.group_coordinator ERROR Group Coordinator Request "
        "failed: NodeNotReadyError: Attempt to send a request to node which is not ready (node id 111).",
        "2026-12-06 16:46:45,453 notifications aiokafka.consumer.group_coordinator ERROR Error sending "
        "JoinGroupRequest to node 111 -- marking coordinator dead",
        _event("outbox.topic_lost", "error", topic="audit.v1"),  # the relay's: not a consumer's
        *(_event("consumer.position_past_end", "warning", group="notifications", partition=p) for p in range(3)),
    ]
    log.write_text("\n".join(lines) + "\n")

    kept = _warnings(log, last=4)

    assert [json.loads(k)["event"] if k.startswith("{") else "join failed" for k in kept] == \
        ["join failed", "consumer.position_past_end", "consumer.position_past_end", "consumer.position_past_end"]
    assert json.loads(kept[-1])["partition"] == 2  # the newest last
    assert all("Unable" not in k and "NodeNotReady" not in k for k in _warnings(log, last=100))
    assert len(_warnings(log, last=100)) == 6  # group_forgotten, the loop started again, the join, the three positions


def test_a_log_that_cannot_be_read_says_so(tmp_path):
    assert _warnings(tmp_path / "missing.log")[0].startswith("unreadable: ")


def test_why_a_component_restarted_more_often_than_killed_died(tmp_path):
    from chaos import _deaths

    log = tmp_path / "supervisor.log"
    log.write_text(
        "2026-12-06T16:19:14+00:00 database died (pid 4351 is gone); starting it again in 0.5 s\n"
        "2026-12-06T16:19:14+00:00 database died (could not start); starting it again in 1.0 s\n"
        "2026-12-06T16:19:15+00:00 ledger died (exited with code 1: RuntimeError: boom); starting it again in 0.5 s\n"
        "2026-12-06T16:19:23+00:00 ledger died (killed by SIGKILL); starting it again in 1.0 s\n"
        "2026-12-06T16:19:23+00:00 ledger restarted (pid 4390; restart 2)\n")
    assert [line.split(" died (")[1].split(")")[0] for line in _deaths(log, ["ledger"])] == \
        ["exited with code 1: RuntimeError: boom", "killed by SIGKILL"]
    assert len(_deaths(log, ["database"])) == 1  # a failed restart is not a death


def test_a_kill_order_or_gap_it_cannot_use_is_refused_naming_it(tmp_path):
    import subprocess

    chaos = Path(__file__).resolve().parents[1] / "bench" / "chaos.py"
    for args, says in ((["--order", "notifications,kafka"], "--order: kafka not one of payments, ledger"),
                       (["--gap", "two,six"], "--gap: 'two,six' is not seconds as least,most"),
                       (["--gap", "6,2"], "--gap: '6,2': the least must be 0 or more and not above the most")):
        run = subprocess.run([sys.executable, str(chaos), *args], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "TMPDIR": str(tmp_path)})
        assert run.returncode == 2 and says in run.stderr, (args, run.stderr)
    assert not list(tmp_path.iterdir())  # refused before any work folder is made
