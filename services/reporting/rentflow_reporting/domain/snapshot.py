"""Snapshot identity and JSON rendering.

Percentages are Decimals quantised to two places and must reach JSON as numbers that keep
their two decimals (12.30, not "12.30" and not 12.3), so this module renders JSON itself."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

from rentflow_schemas import TOPICS, event_id_of

# Not part of a snapshot's content: when it was taken and the date it was asked for.
VOLATILE_KEYS = frozenset({"taken_at", "as_of"})


def dumps(obj: Any) -> str:
    """JSON with Decimals as number literals; dates, datetimes and UUIDs as ISO strings."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return json.dumps(obj, ensure_ascii=False)
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError(f"cannot render {obj} as a JSON number")
        return str(obj) if int(obj.as_tuple().exponent) < 0 else format(obj, "f")  # 12.30 stays 12.30
    if isinstance(obj, float):
        return json.dumps(obj)
    if isinstance(obj, (dt.datetime, dt.date)):
        return json.dumps(obj.isoformat())
    if isinstance(obj, uuid.UUID):
        return json.dumps(str(obj))
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in obj) + "]"
    raise TypeError(f"cannot render {type(obj).__name__} as JSON")


def content_hash(snapshot: dict[str, Any]) -> str:
    """sha256 of the snapshot's figures (keys sorted), without when it was taken or asked for."""
    body = {k: snapshot[k] for k in sorted(snapshot) if k not in VOLATILE_KEYS}
    return hashlib.sha256(dumps(_sorted(body)).encode()).hexdigest()


def snapshot_identity(period: str, period_start: dt.date, digest: str) -> tuple[str, str, str]:
    """Same period, same start, same figures → the same snapshot (and event), emitted once."""
    return (period, period_start.isoformat(), digest)


def snapshot_event_id(period: str, period_start: dt.date, digest: str) -> uuid.UUID:
    return event_id_of(TOPICS["reporting.kpi-snapshots.v1"], *snapshot_identity(period, period_start, digest))


def _sorted(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _sorted(obj[k]) for k in sorted(obj)}
    return obj
