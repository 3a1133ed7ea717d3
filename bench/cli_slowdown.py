#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What `writewatch run` costs the program it watches (issue 17, item 9).

Usage: cli_slowdown.py WRITEWATCH [--json FILE] [--runs N]

Each workload runs alone and under `writewatch run --json -o /dev/null -i SEC`
for several interval lengths; the best of N runs of each (the machine is
shared: the minimum is the least disturbed) gives the slow-down factor,
watched / alone, wall-clock time of the whole command. Workloads: python3
writing 64 MiB page by page, sort(1) of 16 MiB of random lines, sqlite3
inserting 200k rows in memory; each skips (with the reason) when the
program is missing. Prints one JSON object per workload and interval.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

WW = sys.argv[1]
RUNS = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3
OUT = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
INTERVALS = ["1", "0.1", "0.05"]


def timed(cmd):
    t0 = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.monotonic() - t0


def best(cmd):
    return min(timed(cmd) for _ in range(RUNS))


def workloads(d):
    py = shutil.which("python3") and sys.executable
    if py:
        yield "python3-write-64MiB", [py, "-c", "b = bytearray(64 << 20)\n"
                                      "for r in range(2):\n"
                                      "    for i in range(0, len(b), 4096): b[i] = r + 1\n"]
    if shutil.which("sort"):
        f = os.path.join(d, "lines.txt")
        rnd = random.Random(1)
        with open(f, "w") as fh:
            for _ in range(16 << 20 >> 5):
                fh.write("%031x\n" % rnd.getrandbits(124))
        yield "sort-16MiB", ["sort", "-o", os.path.join(d, "sorted.txt"), f]
    else:
        print("SKIP sort: not installed", file=sys.stderr)
    if shutil.which("sqlite3"):
        yield "sqlite3-200k-rows", ["sqlite3", ":memory:",
                                    "create table t(a integer, b text); "
                                    "with recursive c(x) as (select 1 union all select x + 1 "
                                    "from c where x < 200000) insert into t select x, "
                                    "hex(randomblob(16)) from c; "
                                    "create index i on t(b); select count(*) from t;"]
    else:
        print("SKIP sqlite3: not installed", file=sys.stderr)


def main():
    out = open(OUT, "a") if OUT else None
    with tempfile.TemporaryDirectory() as d:
        for name, cmd in workloads(d):
            base = best(cmd)
            for iv in INTERVALS:
                w = best([WW, "run", "--json", "-o", "/dev/null", "-i", iv, "--"] + cmd)
                rec = {"benchmark": "cli-slowdown", "workload": name, "interval_s": float(iv),
                       "alone_s": round(base, 3), "watched_s": round(w, 3),
                       "slowdown": round(w / base, 2), "runs": RUNS}
                print(json.dumps(rec), flush=True)
                if out:
                    out.write(json.dumps(rec) + "\n")
    if out:
        out.close()


main()
