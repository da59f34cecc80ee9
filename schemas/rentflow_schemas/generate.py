"""Writes JSON Schema per topic and one AsyncAPI document into schemas/generated/.

Run: python -m rentflow_schemas.generate [--check]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rentflow_schemas.envelope import Envelope
from rentflow_schemas.registry import TOPICS

GENERATED = Path(__file__).resolve().parent.parent / "generated"


def documents() -> dict[str, str]:
    docs: dict[str, str] = {}
    channels: dict[str, object] = {}
    messages: dict[str, object] = {}
    for spec in TOPICS.values():
        schema = Envelope[spec.model].model_json_schema()  # type: ignore[name-defined]
        schema["title"] = spec.name
        schema["description"] = spec.description
        docs[f"{spec.name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
        name = spec.event_type.replace(".", "_")
        messages[name] = {
            "name": spec.event_type,
            "contentType": "application/json",
            "summary": spec.description,
            "payload": {"$ref": f"./{spec.name}.schema.json"},
            "bindings": {"kafka": {"key": {"type": "string", "description": spec.key}}},
        }
        channels[spec.name] = {
            "address": spec.name,
            "description": f"{spec.description}; keyed by {spec.key}; produced by services/{spec.producer}",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
    asyncapi = {
        "asyncapi": "3.0.0",
        "info": {"title": "rentflow events", "version": "1.0.0",
                 "description": "Every event rentflow publishes. Money in integer pence."},
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {"messages": messages},
    }
    docs["asyncapi.json"] = json.dumps(asyncapi, indent=2, sort_keys=True) + "\n"
    return docs


def main(argv: list[str]) -> int:
    docs = documents()
    if "--check" in argv:
        stale = [n for n, text in docs.items() if not (GENERATED / n).exists() or (GENERATED / n).read_text() != text]
        if stale:
            print("stale generated schemas: " + ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    GENERATED.mkdir(exist_ok=True)
    for old in GENERATED.glob("*.json"):
        if old.name not in docs:
            old.unlink()
    for name, text in docs.items():
        (GENERATED / name).write_text(text)
    print(f"wrote {len(docs)} files to {GENERATED}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
