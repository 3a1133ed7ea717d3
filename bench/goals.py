#!/usr/bin/env python3
# The goals of BENCHMARKS.md, checked against ww-bench JSON Lines.
#   python3 bench/goals.py RESULTS.jsonl             goal table + every result (Markdown)
#   python3 bench/goals.py RESULTS.jsonl --fill FILE  rewrite the generated blocks of FILE
#   python3 bench/goals.py --ratios A.jsonl B.jsonl ...  the key ratios, one column per run
# A generated block is the text between "<!-- gen:NAME -->" and "<!-- /gen -->";
# NAME is run, goals, or a benchmark name (first-write, first-write-remote, collect,
# reset, sparse, threads, alternatives, rollback, cow-save, cow-first-write).
import json
import re
import sys


def load(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def ratios(paths):
    """The ratios of several runs side by side, one column per file (the
    arm64 TCG runs are compared with x86-64 this way: absolute numbers
    differ by 10-100x, ratios between participants of one run do not)."""
    cols = []
    for p in paths:
        rs = load(p)
        sysrow = next((r for r in rs if r.get("benchmark") == "system"), {})
        name = "%s%s" % (sysrow.get("kernel", p), " (quick)" if sysrow.get("quick") else "")
        good = [r for r in rs if r.get("median") is not None]

        def g(bench, backend, _good=good, **params):
            for r in _good:
                if r["benchmark"] == bench and r["backend"] == backend and all(
                        str(r["params"].get(k)) == str(v) for k, v in params.items()):
                    return r
            return None
        cols.append((name, g))

    def div(a, b):
        return a["median"] / b["median"] if a and b and b["median"] else None

    lines = []

    def line(label, f):
        vals = [f(g) for _, g in cols]
        if any(v is not None for v in vals):
            lines.append("| %s | %s |" % (label, " | ".join(
                "n/a" if v is None else "%.2fx" % v for v in vals)))

    fw = "first-write"
    line("first write: pagemap-scan / bare kernel", lambda g: div(g(fw, "pagemap-scan"), g(fw, "bare-kernel")))
    line("first write: bare kernel / untracked store", lambda g: div(g(fw, "bare-kernel"), g(fw, "none")))
    line("first write: uffd-wp / pagemap-scan", lambda g: div(g(fw, "uffd-wp"), g(fw, "pagemap-scan")))
    line("first write: mprotect / pagemap-scan", lambda g: div(g(fw, "mprotect"), g(fw, "pagemap-scan")))
    line("first write: uffd-wp / mprotect", lambda g: div(g(fw, "uffd-wp"), g(fw, "mprotect")))
    fr = "first-write-remote"
    line("first write, pagemap-scan: remote / in-process",
         lambda g: div(g(fr, "pagemap-scan", where="remote"), g(fr, "pagemap-scan", where="in-process")))
    line("first write, pagemap-scan: remote / target's bare kernel",
         lambda g: div(g(fr, "pagemap-scan", where="remote"), g(fr, "bare-kernel", where="remote")))
    for size in (4, 64, 1024, 4096):
        for dirty, what in ((0, "clean"), ("1/64", "1/64 dirty"), ("all", "all dirty")):
            line("collect %s MiB %s: pagemap-scan / bare kernel" % (size, what),
                 lambda g, s=size, d=dirty: div(g("collect", "pagemap-scan", size_mib=s, dirty=d),
                                                g("collect", "bare-kernel", size_mib=s, dirty=d)))
        line("collect %s MiB 1/64 dirty: uffd-wp / pagemap-scan" % size,
             lambda g, s=size: div(g("collect", "uffd-wp", size_mib=s, dirty="1/64"),
                                   g("collect", "pagemap-scan", size_mib=s, dirty="1/64")))
        line("collect %s MiB 1/64 dirty: mprotect / pagemap-scan" % size,
             lambda g, s=size: div(g("collect", "mprotect", size_mib=s, dirty="1/64"),
                                   g("collect", "pagemap-scan", size_mib=s, dirty="1/64")))
    line("reset 64 MiB clean: pagemap-scan / bare scan",
         lambda g: div(g("reset", "pagemap-scan", size_mib=64, dirty=0),
                       g("reset", "bare-scan-wp-novec", size_mib=64, dirty=0)))
    for alt in ("fork-snapshot", "memcmp-copy", "hash-pages"):
        line("100 written pages: %s / pagemap-scan collect" % alt,
             lambda g, a=alt: div(g("alternatives", a), g("alternatives", "pagemap-scan")))
    for b in ("bare-kernel", "uffd-wp", "mprotect"):
        line("100 written pages: %s / pagemap-scan collect" % b,
             lambda g, b=b: div(g("alternatives", b), g("alternatives", "pagemap-scan")))
    for alt in ("fork-per-case", "memcpy-region"):
        line("restore 100 written pages: %s / pagemap-scan" % alt,
             lambda g, a=alt: div(g("rollback", a), g("rollback", "pagemap-scan")))
    cf = "cow-first-write"
    line("first write after a COW snapshot / after reset, uffd-wp",
         lambda g: div(g(cf, "uffd-wp", after="snapshot-cow"), g(cf, "uffd-wp", after="reset")))
    sizes = []
    for _, g in cols:
        a = g("alternatives", "pagemap-scan")
        sizes.append("%s MiB" % a["params"]["size_mib"] if a else "n/a")
    lines.append("| (alternatives: region populated) | %s |" % " | ".join(sizes))
    head = ["| ratio (median / median) | %s |" % " | ".join(n for n, _ in cols),
            "|---|" + "---|" * len(cols)]
    return "\n".join(head + lines)


if sys.argv[1] == "--ratios":
    print(ratios(sys.argv[2:]))
    sys.exit(0)

rows = load(sys.argv[1])
ok = [r for r in rows if r.get("median") is not None]


def get(bench, backend, **params):
    for r in ok:
        if r["benchmark"] == bench and r["backend"] == backend and all(
                str(r["params"].get(k)) == str(v) for k, v in params.items()):
            return r["median"]
    return None


def get_field(bench, backend, field):
    for r in ok:
        if r["benchmark"] == bench and r["backend"] == backend and field in r:
            v = r[field]
            return None if v is None or v < 0 else v
    return None


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    return ("%.0f" % v if abs(v) >= 100 else "%.3g" % v) + unit


def goals_table():
    goals = []

    def goal(text, value, ok_if, shown):
        met = "not measured" if value is None else ("**yes**" if ok_if(value) else "**NO**")
        goals.append((text, shown, met))

    pms, bare = get("first-write", "pagemap-scan"), get("first-write", "bare-kernel")
    r = pms / bare if pms and bare else None
    goal("library overhead on first write <= 1.1x bare kernel", r, lambda v: v <= 1.1,
         "%s (%s vs %s ns)" % (fmt(r, "x"), fmt(pms), fmt(bare)))
    rem = get("first-write-remote", "pagemap-scan", where="remote")
    inp = get("first-write-remote", "pagemap-scan", where="in-process")
    r = rem / inp if rem and inp else None
    goal("pagemap-scan first write in another process <= 1.1x in-process", r,
         lambda v: v <= 1.1, "%s (%s vs %s ns)" % (fmt(r, "x"), fmt(rem), fmt(inp)))
    cells = []
    for size in (4, 64, 1024, 4096):
        a = get("collect", "pagemap-scan", size_mib=size, dirty=0)
        b = get("collect", "bare-kernel", size_mib=size, dirty=0)
        if a and b:
            cells.append("%s MiB %.2fx" % (size, a / b))
    worst = max((float(c.split()[-1][:-1]) for c in cells), default=None)
    goal("library overhead on clean-region collect <= 1.1x bare kernel", worst,
         lambda v: v <= 1.1, ", ".join(cells) or "n/a")
    mp, uw = get("first-write", "mprotect"), get("first-write", "uffd-wp")
    r = mp / pms if mp and pms else None
    goal("pagemap-scan first write >= 5x cheaper than mprotect", r, lambda v: v >= 5,
         "%s (%s vs %s ns)" % (fmt(r, "x"), fmt(mp), fmt(pms)))
    r = uw / pms if uw and pms else None
    goal("pagemap-scan first write >= 10x cheaper than uffd-wp", r, lambda v: v >= 10,
         "%s (%s vs %s ns)" % (fmt(r, "x"), fmt(uw), fmt(pms)))
    c = get("collect", "pagemap-scan", size_mib=1024, dirty=0)
    goal("collect of a clean 1 GiB region < 1 ms", c, lambda v: v < 1000,
         fmt(c and c / 1e3, " ms"))
    p = get("sparse-pte", "pagemap-scan")
    goal("sparse 64 GiB tracking adds < 8 MiB of page tables", p, lambda v: v < 8,
         fmt(p, " MiB"))
    col = get("alternatives", "pagemap-scan")
    # --quick populates 256 MiB, not 1 GiB: say which
    alt_mib = next((r["params"].get("size_mib") for r in ok if r["benchmark"] == "alternatives"), 1024)
    where = "1 GiB" if str(alt_mib) == "1024" else "%s MiB" % alt_mib
    for alt, need in (("fork-snapshot", 20), ("memcmp-copy", 100), ("hash-pages", 100)):
        a = get("alternatives", alt)
        r = a / col if a and col else None
        goal("100 dirty pages in %s: collect >= %dx faster than %s" % (where, need, alt), r,
             lambda v, n=need: v >= n, "%s (%s vs %s µs)" % (fmt(r, "x"), fmt(a), fmt(col)))
    rb = get("rollback", "pagemap-scan")
    rb_mib = next((r["params"].get("size_mib") for r in ok if r["benchmark"] == "rollback"), 1024)
    where = "1 GiB" if str(rb_mib) == "1024" else "%s MiB" % rb_mib
    for alt, need in (("fork-per-case", 20), ("memcpy-region", 100)):
        a = get("rollback", alt)
        r = a / rb if a and rb else None
        goal("restore 100 written pages of %s >= %dx faster than %s" % (where, need, alt), r,
             lambda v, n=need: v >= n, "%s (%s vs %s µs)" % (fmt(r, "x"), fmt(a), fmt(rb)))
    cw = get("cow-save", "uffd-wp")
    fk = get("cow-save", "fork")
    goal("COW save of 1 GiB, 2 writers: longest writer pause < 1 ms (fork: tens of ms)", cw,
         lambda v: v < 1000, "%s (fork %s)" % (fmt(cw and cw / 1e3, " ms"), fmt(fk and fk / 1e3, " ms")))
    # the same, over the take only, and the part the library itself held
    tw = get_field("cow-save", "uffd-wp", "take_max_store_us")
    tf = get_field("cow-save", "fork", "take_max_store_us")
    goal("COW save: longest store over the take < 1 ms (fork: over the fork)", tw,
         lambda v: v < 1000, "%s (fork %s)" % (fmt(tw and tw / 1e3, " ms"), fmt(tf and tf / 1e3, " ms")))
    # the pause less what no mechanism decides: the writer's CPU time (the
    # hypervisor's gaps count as such) and its waits for a CPU
    sa = get_field("cow-save", "uffd-wp", "max_asleep_us")
    sf = get_field("cow-save", "fork", "max_asleep_us")
    su = get_field("cow-save", "untracked", "max_asleep_us")
    goal("COW save: longest time a writer was asleep in one store < 1 ms", sa,
         lambda v: v < 1000, "%s (fork %s; untracked %s)" % (
             fmt(sa and sa / 1e3, " ms"), fmt(sf and sf / 1e3, " ms"), fmt(su and su / 1e3, " ms")))
    hd = get_field("cow-save", "uffd-wp", "held_us")
    goal("COW save: writes held by the take (the library's account) < 1 ms", hd,
         lambda v: v < 1000, "%s (passes found %s runs)" % (
             fmt(hd, " µs"), next((r.get("passes") for r in ok if r["benchmark"] == "cow-save"
                                   and r["backend"] == "uffd-wp"), "n/a")))
    # issue 13 asks for this cost but sets no number: reported, no goal
    cow = get("cow-first-write", "uffd-wp", after="snapshot-cow")
    trk = get("cow-first-write", "uffd-wp", after="reset")
    non = get("cow-first-write", "none")
    r = cow / trk if cow and trk else None
    goals.append(("first write after a COW snapshot vs tracking only (uffd-wp): report only",
                  "%s (%s vs %s ns; untracked %s ns)" % (fmt(r, "x"), fmt(cow), fmt(trk), fmt(non)),
                  "not measured" if r is None else "no goal set"))
    out = ["| goal | measured | met |", "|---|---|---|"]
    out += ["| %s | %s | %s |" % g for g in goals]
    return "\n".join(out)


def results_table(benches):
    out = ["| benchmark | backend | params | median | min | max | unit | ratio, note |",
           "|---|---|---|---|---|---|---|---|"]
    skips = []
    for r in rows:
        if r.get("benchmark") not in benches:
            continue
        if "skipped" in r:
            skips.append("%s skipped: %s" % (r["backend"], r["skipped"]))
            continue
        p = " ".join("%s=%s" % kv for kv in r.get("params", {}).items() if kv[0] != "den")
        ratio = "" if r.get("ratio") is None else "%.2fx %s" % (r["ratio"], r["baseline"])
        note = r.get("note", "")
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["benchmark"], r["backend"], p, fmt(r["median"]), fmt(r["min"]), fmt(r["max"]),
            r["unit"], "; ".join(x for x in (ratio, note) if x)))
    return "\n".join(out + ([""] + sorted(set(skips)) if skips else []))


def run_info():
    s = next((r for r in rows if r.get("benchmark") == "system"), {})
    return "Kernel %s, CPU %s, %s CPUs, run %s%s." % (
        s.get("kernel"), s.get("cpu"), s.get("cpus"), s.get("date"),
        " (--quick)" if s.get("quick") else "")


SECTIONS = {
    "run": run_info,
    "goals": goals_table,
    "first-write": lambda: results_table({"first-write"}),
    "first-write-remote": lambda: results_table({"first-write-remote"}),
    "collect": lambda: results_table({"collect"}),
    "reset": lambda: results_table({"reset"}),
    "sparse": lambda: results_table({"sparse-track", "sparse-pte", "sparse-collect", "sparse"}),
    "threads": lambda: results_table({"threads"}),
    "alternatives": lambda: results_table({"alternatives"}),
    "rollback": lambda: results_table({"rollback"}),
    "cow-save": lambda: results_table({"cow-save"}),
    "cow-first-write": lambda: results_table({"cow-first-write"}),
}

if len(sys.argv) > 3 and sys.argv[2] == "--fill":
    path = sys.argv[3]
    text = open(path).read()

    def repl(m):
        return "<!-- gen:%s -->\n%s\n<!-- /gen -->" % (m.group(1), SECTIONS[m.group(1)]())

    text = re.sub(r"<!-- gen:([a-z-]+) -->.*?<!-- /gen -->", repl, text, flags=re.S)
    open(path, "w").write(text)
else:
    print(goals_table())
    print()
    print(results_table({r.get("benchmark") for r in rows} - {"system"}))
