"""`tuneline check` against a pure-tokenisation floor, at 10k and 100k examples.

The floor parses each line with json.loads and encodes every string once with tiktoken's encode_ordinary, in one
process: the least any token-counting checker must do. Each measurement runs in a fresh subprocess so peak RSS is
its own. Prints wall time, MB/s and peak RSS.

    python bench/check_speed.py [10000 100000]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import dataset

FLOOR = r"""
import json, sys, time
from tuneline.analysis.tokens import get_encoding
enc = get_encoding("o200k_base").encode_ordinary
def walk(v):
    if isinstance(v, str):
        enc(v)
    elif isinstance(v, dict):
        for x in v.values(): walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
t = time.perf_counter()
with open(sys.argv[1], encoding="utf-8") as fh:
    for line in fh:
        walk(json.loads(line))
print(time.perf_counter() - t)
"""


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB (of this child alone, via /proc-less wait4), stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read().decode() if proc.stdout else ""
    _, _status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss / 1024, out


def main(sizes: list[int]) -> None:
    py = sys.executable
    print(
        f"{'examples':>9} {'MB':>6} | {'floor s':>8} {'MB/s':>6} | {'check s':>8} {'MB/s':>6} {'RSS MB':>7} {'ratio':>6} | {'check -j1 s':>11}"
    )
    for n in sizes:
        path = dataset(n)
        mb = path.stat().st_size / 1e6
        get_warm = measure([py, "-c", "from tuneline.analysis.tokens import get_encoding; get_encoding('o200k_base')"])
        del get_warm
        floor_wall, _, floor_out = measure([py, "-c", FLOOR, str(path)])
        floor = float(floor_out.strip() or floor_wall)
        check_wall, rss, out = measure([py, "-m", "tuneline", "check", "--format", "json", str(path)])
        json.loads(out)
        one_wall, _, _ = measure([py, "-m", "tuneline", "check", "--format", "json", "--jobs", "1", str(path)])
        print(
            f"{n:>9,} {mb:>6.1f} | {floor:>8.2f} {mb / floor:>6.1f} | {check_wall:>8.2f} {mb / check_wall:>6.1f} "
            f"{rss:>7.0f} {check_wall / floor:>6.2f} | {one_wall:>11.2f}"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
