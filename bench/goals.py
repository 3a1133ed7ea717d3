#!/usr/bin/env python3
# The goals of BENCHMARKS.md, checked against ww-bench JSON Lines:
#   python3 bench/goals.py RESULTS.jsonl
# prints a Markdown table (goal, measured, met?) and the key result tables.
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = [r for r in rows if "median" in r and r.get("median") is not None]


def get(bench, backend, **params):
    for r in ok:
        if r["benchmark"] == bench and r["backend"] == backend and all(
                str(r["params"].get(k)) == str(v) for k, v in params.items()):
            return r["median"]
    return None


def fmt(v, unit=""):
    return "n/a" if v is None else ("%.3g%s" % (v, unit))


goals = []


def goal(text, value, ok_if, shown):
    met = "n/a (not measured)" if value is None else ("yes" if ok_if(value) else "NO")
    goals.append((text, shown, met))


pms, bare = get("first-write", "pagemap-scan"), get("first-write", "bare-kernel")
r = pms / bare if pms and bare else None
goal("first write: library / bare kernel <= 1.1x", r, lambda v: v <= 1.1,
     "%s (%s vs %s ns)" % (fmt(r, "x"), fmt(pms), fmt(bare)))
worst = None
for size in (4, 64, 1024, 4096):
    a, b = get("collect", "pagemap-scan", size_mib=size, dirty=0), get("collect", "bare-kernel", size_mib=size, dirty=0)
    if a and b:
        worst = max(worst or 0, a / b)
goal("clean-region collect: library / bare kernel <= 1.1x (worst size)", worst,
     lambda v: v <= 1.1, fmt(worst, "x"))
mp, uw = get("first-write", "mprotect"), get("first-write", "uffd-wp")
r = mp / pms if mp and pms else None
goal("first write: mprotect / pagemap-scan >= 5x", r, lambda v: v >= 5, fmt(r, "x"))
r = uw / pms if uw and pms else None
goal("first write: uffd-wp / pagemap-scan >= 10x", r, lambda v: v >= 10, fmt(r, "x"))
c = get("collect", "pagemap-scan", size_mib=1024, dirty=0)
goal("collect of a clean 1 GiB region < 1 ms", c, lambda v: v < 1000, fmt(c and c / 1e3, " ms"))
p = get("sparse-pte", "pagemap-scan")
goal("sparse 64 GiB tracking adds < 8 MiB of page tables", p, lambda v: v < 8, fmt(p, " MiB"))
col = get("alternatives", "pagemap-scan")
for alt, need in (("fork-snapshot", 20), ("memcmp-copy", 100), ("hash-pages", 100)):
    a = get("alternatives", alt)
    r = a / col if a and col else None
    goal("100 dirty pages in 1 GiB: collect >= %dx faster than %s" % (need, alt), r,
         lambda v, n=need: v >= n, "%s (%s vs %s us)" % (fmt(r, "x"), fmt(a), fmt(col)))

print("| goal | measured | met |\n|---|---|---|")
for g in goals:
    print("| %s | %s | %s |" % g)

print("\n### All results (median; min-max)\n")
print("| benchmark | backend | params | median | min | max | unit | ratio |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    if r.get("benchmark") == "system":
        continue
    p = " ".join("%s=%s" % kv for kv in r.get("params", {}).items() if kv[0] != "den")
    if "skipped" in r:
        continue
    ratio = "" if r.get("ratio") is None else "%.2fx %s" % (r["ratio"], r["baseline"])
    print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
        r["benchmark"], r["backend"], p, fmt(r["median"]), fmt(r["min"]), fmt(r["max"]),
        r["unit"], ratio + ((" " + r["note"]) if r.get("note") else "")))
skips = sorted({(r["backend"], r["skipped"]) for r in rows if "skipped" in r})
for b, why in skips:
    print("\nskipped %s: %s" % (b, why))
