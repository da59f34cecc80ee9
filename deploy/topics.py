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


def section() -> str:
    return f"{BEGIN}\n{table()}\n{END}"


def current(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def main() -> int:
    text = README.read_text()
    README.write_text(text.replace(current(text), section()))
    print(f"wrote the topic table ({len(all_topics())} topics) to {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
