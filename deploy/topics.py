"""The topic table of deploy/README.md, made from the code: every topic of rentflow_schemas.TOPICS
(its event, key and producer), who consumes it (rentflow_common.kafka.CONSUMER_GROUPS) and the
dead-letter topics. `python deploy/topics.py` rewrites the table; tests/test_deploy.py fails when
the README's table is not what this makes."""
from __future__ import annotations

import sys
from pathlib import Path

from rentflow_common.kafka import CONSUMER_GROUPS, all_topics
from rentflow_schemas import TOPICS

README = Path(__file__).resolve().parent / "README.md"
BEGIN = "<!-- topics: made by deploy/topics.py; do not edit by hand -->"
END = "<!-- end of topics -->"
ACL_BEGIN = "<!-- acls: made by deploy/topics.py; do not edit by hand -->"
ACL_END = "<!-- end of acls -->"
SERVICES = ("payments", "ledger", "notifications", "reporting")


def table() -> str:
    rows = ["| topic | event | key | from | consumed by | what |", "| --- | --- | --- | --- | --- | --- |"]
    for name in all_topics():
        readers = ", ".join(g for g, topics in CONSUMER_GROUPS.items() if name in topics) or "—"
        if name in TOPICS:
            spec = TOPICS[name]
            rows.append(f"| `{name}` | `{spec.event_type}` | `{spec.key}` | {spec.producer} | {readers} | "
                        f"{spec.description} |")
        else:  # dlq.<group>
            group = name.removeprefix("dlq.")
            rows.append(f"| `{name}` | the failed message, with its reason | as the original | {group} | "
                        f"`rentflow status` counts them | messages group {group} could not handle |")
    return "\n".join(rows)


def service_acls() -> dict[str, dict[str, list[str]]]:
    """What each service's own Kafka user needs: WRITE on what it produces (its registry topics,
    audit.v1, its groups' dead-letter topics), READ on what its groups consume, READ on its groups."""
    acls: dict[str, dict[str, list[str]]] = {s: {"write": [], "read": [], "groups": []} for s in SERVICES}
    for name, spec in TOPICS.items():
        for service in (SERVICES if spec.producer not in SERVICES else (spec.producer,)):
            acls[service]["write"].append(name)
    for group, topics in CONSUMER_GROUPS.items():
        service = group.split(".")[0]
        acls[service]["groups"].append(group)
        acls[service]["write"].append(f"dlq.{group}")
        acls[service]["read"] += [t for t in topics if t not in acls[service]["read"]]
    return {s: {k: sorted(v) for k, v in a.items()} for s, a in acls.items()}


def acl_table() -> str:
    rows = ["| service (its own SASL user) | WRITE, DESCRIBE (topics) | READ, DESCRIBE (topics) | READ (consumer groups) |",
            "| --- | --- | --- | --- |"]
    for service, a in service_acls().items():
        rows.append(f"| {service} | {', '.join(f'`{t}`' for t in a['write'])} | "
                    f"{', '.join(f'`{t}`' for t in a['read']) or '—'} | {', '.join(f'`{g}`' for g in a['groups'])} |")
    return "\n".join(rows)


def acl_section() -> str:
    return f"{ACL_BEGIN}\n{acl_table()}\n{ACL_END}"


def current_acls(text: str) -> str:
    start, end = text.index(ACL_BEGIN), text.index(ACL_END) + len(ACL_END)
    return text[start:end]


def section() -> str:
    return f"{BEGIN}\n{table()}\n{END}"


def current(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def main() -> int:
    text = README.read_text()
    text = text.replace(current(text), section())
    if ACL_BEGIN in text:
        text = text.replace(current_acls(text), acl_section())
    README.write_text(text)
    print(f"wrote the topic table ({len(all_topics())} topics) to {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
