"""mbcli.heap: memory a stage freed in many small blocks goes back to the system (glibc), measured in a child."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mbcli.heap import release_free_memory

CHILD = r"""
import json, numpy as np
from mbcli.heap import release_free_memory

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

blocks = [np.ones(8_000) for _ in range(8_000)]  # 64 KB each, 512 MB in all: below the mmap threshold, on the heap
keep = blocks[-1]  # the heap's top stays in use: freed blocks below it cannot be trimmed from the top
del blocks
before = rss_mb()
done = release_free_memory()
print(json.dumps({"before": before, "after": rss_mb(), "done": done}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim: Linux only")
def test_freed_small_blocks_go_back_to_the_system():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
    got = json.loads(out)
    assert got["done"] is True
    assert got["before"] > 400, got  # freed, but still resident
    assert got["after"] < got["before"] - 350, got


def test_release_is_harmless_to_call_repeatedly():
    first = release_free_memory()
    assert release_free_memory() is first
