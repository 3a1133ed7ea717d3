#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""writewatch dump against gcore on the same process (issue 14).

usage: dump_bench.py BUILD_DIR [--json=FILE] [--mib=1024] [--pace=STEPS,NS] [--runs=N]

The process is tests/dump/dump_target with a populated anonymous region of
--mib MiB, written by one thread at STEPS pages every NS nanoseconds (default
64 per 5 ms: about 50 MiB/s of distinct pages), two more threads rewriting
2 MiB of shmem and 2 MiB of a private file mapping at the same pace. The
freeze is measured twice: by writewatch (from stopping the first thread to
releasing the last, its JSON freeze_ms) and, for both tools, as the process
sees it: the longest stretch a writer thread made no progress (gap_us). For
gcore, which stops the process for the whole dump, that is the figure to
compare. Prints one JSON object per tool and run, then a table.
"""
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time


def main():
    build = sys.argv[1]
    opts = dict(a[2:].split("=", 1) for a in sys.argv[2:] if a.startswith("--"))
    mib = int(opts.get("mib", "1024"))
    pace = opts.get("pace", "64,5000000")
    runs = int(opts.get("runs", "3"))
    ww = os.path.join(build, "tools", "writewatch")
    tgt = os.path.join(build, "tests", "dump", "dump_target")
    env = dict(os.environ, DUMP_TARGET_ANON_MB=str(mib), DUMP_TARGET_PACE=pace)
    tmp = tempfile.mkdtemp(prefix="ww-dump-bench-")
    p = subprocess.Popen([tgt], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env=env)
    results = []

    def ask(cmd):
        p.stdin.write(cmd + "\n")
        p.stdin.flush()
        r, _, _ = select.select([p.stdout], [], [], 120)
        if not r:
            raise SystemExit("dump_bench: the target does not answer")
        return p.stdout.readline().split()

    try:
        line = p.stdout.readline().split()
        if not line or line[0] != "ready":
            raise SystemExit("dump_bench: target: %s" % line)
        pid = int(dict(kv.split("=", 1) for kv in line[1:])["pid"])
        time.sleep(2)  # settle: the writers at their pace
        tools = [("writewatch", None)]
        if shutil.which("gcore"):
            tools.append(("gcore", None))
        else:
            print("dump_bench: gcore not found (apt-get install gdb): writewatch only")
        # every writewatch run first: gcore reads never-populated memory
        # through /proc/PID/mem, which populates it where the kernel has no
        # zero page, and would make later writewatch cores bigger
        for tool, _ in tools:
            for run in range(runs):
                core = os.path.join(tmp, "core-%s" % tool)
                ask("g")
                p0 = ask("p")
                t0 = time.monotonic()
                if tool == "writewatch":
                    r = subprocess.run([ww, "dump", "--json", "-q", str(pid), "-o", core],
                                       capture_output=True, text=True)
                    out = json.loads(r.stdout) if r.returncode == 0 else {}
                else:
                    r = subprocess.run(["gcore", "-o", core, str(pid)],
                                       capture_output=True, text=True)
                    core = "%s.%d" % (core, pid)
                    out = {}
                total = time.monotonic() - t0
                p1 = ask("p")
                gap = int(ask("g")[1])
                if r.returncode != 0:
                    raise SystemExit("dump_bench: %s failed: %s" % (tool, r.stderr))
                st = os.stat(core)
                res = {
                    "bench": "dump", "tool": tool, "run": run, "mib": mib,
                    "total_ms": round(total * 1000, 1),
                    "gap_ms": round(gap / 1000, 1),
                    "freeze_ms": out.get("freeze_ms"),
                    "rounds": len(out.get("rounds", [])),
                    "freeze_copied_bytes": out.get("freeze_copied_bytes"),
                    "file_bytes": st.st_size, "disk_bytes": st.st_blocks * 512,
                    "writer_steps_per_s": round((int(p1[1]) - int(p0[1])) / total),
                }
                if out.get("rounds"):
                    last = out["rounds"][-1]
                    res["dirty_mib_per_s"] = round(last["dirty_bytes_per_s"] / 2**20, 1)
                results.append(res)
                print(json.dumps(res), flush=True)
                os.unlink(core)
    finally:
        p.kill()
        p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    if "json" in opts:
        with open(opts["json"], "a") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
    print("\n%-10s %4s %12s %12s %12s %10s %10s" % (
        "tool", "run", "freeze ms", "stall ms", "total ms", "file MiB", "disk MiB"))
    for r in results:
        print("%-10s %4d %12s %12.1f %12.1f %10d %10d" % (
            r["tool"], r["run"], "%.1f" % r["freeze_ms"] if r["freeze_ms"] is not None else "-",
            r["gap_ms"], r["total_ms"], r["file_bytes"] >> 20, r["disk_bytes"] >> 20))


main()
