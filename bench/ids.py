"""Derived ids per payment posted, in one process, no stack: the posting's id (uuid5-shaped over
"txn" and the payment id's text) and its TransactionPosted event id (derive_id_binary), both
two SHA-1 blocks.

    ./dev bench ids [--against CHECKOUT] [--rounds 9]

--against CHECKOUT times CHECKOUT's rentflow_schemas/envelope.py on the same ids too, alternated
round by round, after checking both derive the same ids. Figures are CPU time of this thread
(thread_time), µs per payment, median and best of --rounds."""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
import timeit
import uuid
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent.parent
PREFIX = b"ledger.transaction_posted\x1f"


def load(checkout: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, checkout / "schemas/rentflow_schemas/envelope.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", type=Path, default=None)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--ids", type=int, default=2000)
    args = ap.parse_args()
    versions = {"this": load(HERE, "envelope_this")}
    if args.against:
        versions["against"] = load(args.against, "envelope_against")
    texts = [str(uuid.uuid4()) for _ in range(args.ids)]
    for m in versions.values():  # the same ids, and uuid5's
        for t in texts[:200]:
            txn = m.derive_event_id("txn", t)
            assert txn == uuid.uuid5(m.RENTFLOW_NAMESPACE, "txn\x1f" + t)
            assert m.derive_id_binary(PREFIX, (txn,)) == versions["this"].derive_id_binary(PREFIX, (txn,))

    def run(m: ModuleType) -> None:
        derive, binary = m.derive_event_id, m.derive_id_binary
        for t in texts:
            binary(PREFIX, (derive("txn", t),))

    figures: dict[str, list[float]] = {k: [] for k in versions}
    for _ in range(args.rounds):
        for k, m in versions.items():
            best = min(timeit.repeat(lambda: run(m), number=3, repeat=3, timer=time.thread_time))
            figures[k].append(best / 3 / len(texts) * 1e6)
    for k, f in figures.items():
        print(f"{k:8} posting id + event id: {statistics.median(f):.3f} µs per payment (best {min(f):.3f})")


if __name__ == "__main__":
    main()
