"""rentflow_memory.keep: the memory a batch frees is taken again by the next without page faults.
Each case runs in a fresh interpreter (the allocator it installs stays for the process's life)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Rounds of a batch's worth of objects made and dropped: tuples and short strings (pymalloc's
# arenas) and 600-byte payloads (glibc's heap). Prints the page faults of each round after the first.
CHURN = """
import json, resource, sys
import rentflow_memory

if sys.argv[1] != "default":
    rentflow_memory.keep(int(sys.argv[1]))
faults = []
for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    batch = [(i, str(i), b"x" * 600) for i in range(50_000)]
    del batch
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"faults": faults[1:], "stats": rentflow_memory.stats()}))
"""


def churn(keep: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHURN, keep], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


def test_by_default_each_batch_faults_its_memory_in_again():
    """The yardstick for the next test: Python and glibc give the memory back after each round."""
    run = churn("default")
    assert min(run["faults"]) > 1_000, run  # ~5 MiB of arenas a round, 4 KiB a fault
    assert run["stats"]["capacity_bytes"] == 0 and run["stats"]["reused"] == 0


def test_kept_memory_is_taken_again_without_faults():
    default, kept = churn("default"), churn("256")
    assert max(kept["faults"]) < min(default["faults"]) / 10, (kept, default)
    stats = kept["stats"]
    assert stats["reused"] > 0 and stats["given_back"] == 0 and 0 < stats["kept_bytes"] <= 256 * 2**20
    assert stats["capacity_bytes"] == 256 * 2**20 and stats["heap_kept_mb"] == 256


def test_arenas_past_the_capacity_go_back_to_the_os():
    stats = churn("2")["stats"]
    assert stats["kept_bytes"] <= 2 * 2**20 and stats["given_back"] > 0


def test_the_largest_setting_is_taken():
    """RENTFLOW_MEMORY_KEEP_MB's ceiling (64 GiB): glibc's trim threshold, a C int, at most 2 GiB."""
    stats = churn("65536")["stats"]
    assert stats["capacity_bytes"] == 65536 * 2**20 and stats["heap_kept_mb"] == 2047 and stats["reused"] > 0


def test_a_negative_amount_is_refused():
    import rentflow_memory

    with pytest.raises(ValueError, match="negative"):
        rentflow_memory.keep(-1)
