"""The benches' page-fault count: a process's faults, read from /proc, grow by a page each for memory
it touches for the first time."""
import mmap
import os
import sys
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from cpu import CpuMeter  # noqa: E402

PAGES = 2000


def test_fresh_memory_touched_is_counted_a_fault_a_page():
    meter = CpuMeter({"here": [psutil.Process(os.getpid())]})
    meter.alone = {"here"}
    memory = mmap.mmap(-1, PAGES * mmap.PAGESIZE)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):  # where huge pages are on for all memory: still a fault a page
        memory.madvise(mmap.MADV_NOHUGEPAGE)
    try:
        for offset in range(0, PAGES * mmap.PAGESIZE, mmap.PAGESIZE):
            memory[offset] = 1
        taken = meter.faults_since_start()["here"]
    finally:
        memory.close()
    assert PAGES <= taken < PAGES + 1000  # the touches, and what the interpreter itself did meanwhile
