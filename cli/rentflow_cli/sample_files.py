"""`rentflow sample --output DIR`: the demo's landlord as files a council would hold — its accounts
CSV, and the month's payments as each channel delivers them (the very files the demo imports)."""
from __future__ import annotations

import json
from pathlib import Path

from rentflow_cli import sample

# what the demo pushes through the push API, written as JSON files of push bodies instead
PUSHED_FILES = {"card": "card payments (GOV.UK Pay and other card takings)",
                "housing_benefit": "Housing Benefit rent rebates",
                "universal_credit": "Universal Credit managed payments"}


def write_sample(directory: Path, *, accounts: int = 5000, seed: int = 2026) -> list[tuple[Path, str]]:
    """Writes accounts.csv, payments/ (every channel's files for the month) and returns/ (the unpaid
    Direct Debits, to import after the collections are processed); (path, what it is) of each."""
    accs = sample.accounts(accounts, seed)
    pushed, files = sample.october_files(sample.october_payments(accs, seed), seed)
    (directory / "payments").mkdir(parents=True, exist_ok=True)
    (directory / "returns").mkdir(exist_ok=True)
    written: list[tuple[Path, str]] = []

    def write(path: Path, content: bytes, what: str) -> None:
        path.write_bytes(content)
        written.append((path, what))

    write(directory / "accounts.csv", sample.accounts_csv(accs).encode(), f"{len(accs):,} rent accounts")
    for f in files:
        folder = "returns" if f.format == "arudd" else "payments"
        write(directory / folder / f.name, f.content, f"{f.label}: {f.items:,} items")
    for channel, what in PUSHED_FILES.items():
        bodies = [p.body for p in pushed if p.body["channel"] == channel]
        text = "[\n" + ",\n".join(json.dumps(b) for b in bodies) + "\n]\n"  # a payment a line
        write(directory / "payments" / f"{channel.replace('_', '-')}.json", text.encode(),
              f"{what}: {len(bodies):,} payments (JSON push bodies)")
    return written
