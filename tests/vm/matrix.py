#!/usr/bin/env python3
"""Print the kernel x arch x backend x test matrix from runtests.sh output.

usage: matrix.py [--markdown OUT.md] COLUMN_FILE...

Each COLUMN_FILE is one kernel (tests/vm/run.sh writes them): a first line
WWVM|label|release|expected backends (release empty if the VM never booted)
or WWHOST|release, then WWT|kernel|test|status|rc|reason|secs,
WWP|kernel|<probe line>, WWJ|kernel|<probe --json>, WWDONE|kernel, WWDISK|...
and WWB|kernel|<bench json> lines.

Exits 1 if a test failed, a VM did not boot or finish, or a backend was
skipped ("does not work here") where the probe says it works or where the
VM's expected backends say it must work (remote tests included: they need
pagemap-scan). Ends with the "N passed, N failed, N skipped" line CI counts.
--markdown writes README's "Tested kernels" table, every cell measured.
"""
import json
import sys

# The library's mechanisms, in its order: from the columns' `probe --json`
# answers (set in main), never a list of our own.
BACKENDS = []
MARK = {"pass": "pass", "skip": "skip", "fail": "FAIL"}
ARCH = {"amd64": "x86-64", "arm64": "arm64"}


class Column:
    def __init__(self):
        self.label = self.release = ""
        self.expect, self.host = [], False
        self.cells, self.reasons, self.order = {}, {}, []
        self.probe, self.probe_json, self.done = [], None, False
        self.disk, self.bench = None, []

    def title(self):
        if self.host:
            return "host " + self.release.split("-")[0]
        arch, _, series = self.label.partition("-")
        return f"{ARCH.get(arch, arch)} {series}"


def read_column(path):
    c = Column()
    for line in open(path, errors="replace"):
        f = line.rstrip("\n").split("|")
        if f[0] == "WWVM" and len(f) >= 4:
            c.label, c.release, c.expect = f[1], f[2], f[3].split()
        elif f[0] == "WWHOST" and len(f) >= 2:
            c.host, c.release, c.label = True, f[1], "host"
        elif f[0] == "WWT" and len(f) >= 6:
            name = f[2]
            if name not in c.cells:
                c.order.append(name)
            c.cells[name], c.reasons[name] = f[3], f[5]
        elif f[0] == "WWP" and len(f) >= 3:
            c.probe.append("|".join(f[2:]))
        elif f[0] == "WWJ" and len(f) >= 3:
            try:
                c.probe_json = json.loads("|".join(f[2:]))
            except ValueError:
                pass
        elif f[0] == "WWDONE":
            c.done = True
        elif f[0] == "WWDISK":
            c.disk = "|".join(f[1:])
        elif f[0] == "WWB" and len(f) >= 3:
            try:
                c.bench.append(json.loads("|".join(f[2:])))
            except ValueError:
                pass
    return c


def backend_of(name):
    base, _, b = name.rpartition("/")
    return (base, b) if b in BACKENDS else (name, "-")


def check(c, problems):
    """Every rule that turns a column into a failure."""
    who = f"{c.title()} ({c.release or 'no kernel'})"
    if not c.host and not c.release:
        problems.append(f"{who}: the VM did not boot (no WWBOOT line on its console)")
        return
    if not c.done:
        problems.append(f"{who}: the test list did not finish")
    works = {}
    if c.probe_json:
        works = {b["name"]: b["works"] for b in c.probe_json.get("backends", [])}
    elif c.done:
        problems.append(f"{who}: no `writewatch probe --json` answer")
    for b in c.expect:
        if b in works and not works[b]:
            why = next(x["reason"] for x in c.probe_json["backends"] if x["name"] == b)
            problems.append(f"{who}: {b} must work on this kernel but its probe says: {why}")
    for name in c.order:
        st, reason = c.cells[name], c.reasons[name]
        base, b = backend_of(name)
        if st == "fail":
            problems.append(f"{who}: {name} failed: {reason}")
        if st != "skip":
            continue
        if b != "-" and "does not work here" in reason:
            if b in c.expect:
                problems.append(f"{who}: {name} skipped, but {b} must work here: {reason}")
            elif works.get(b):
                problems.append(f"{who}: {name} skipped, but the probe says {b} works: {reason}")
        # The remote suite needs pagemap-scan for another process.
        if base.startswith("remote/") and reason.startswith("pagemap-scan") and \
                ("pagemap-scan" in c.expect or works.get("pagemap-scan")):
            problems.append(f"{who}: {name} skipped where pagemap-scan works: {reason}")
        # The VM attaches an ext4 disk for the file-backed kinds: a skip for
        # want of one means the disk was lost, not a kernel gap.
        if not c.host and reason.startswith("no disk file system"):
            problems.append(f"{who}: {name} skipped: the VM's disk is missing: {reason}")
        if not reason:
            problems.append(f"{who}: {name} skipped without a reason")


def backend_summary(c, b):
    ran = [c.cells[n] for n in c.order if backend_of(n)[1] == b]
    if not ran:
        return "not run", None
    p, f, s = ran.count("pass"), ran.count("fail"), ran.count("skip")
    reason = next((c.reasons[n] for n in c.order
                   if backend_of(n)[1] == b and c.cells[n] == "skip"), None)
    if f:
        return f"FAIL ({f} of {len(ran)})", reason
    if p == 0:
        return "skip", reason
    return (f"pass ({p})" if not s else f"pass ({p}), {s} skips"), reason


def short_reason(r):
    r = (r or "?").replace("backend ", "")
    for b in BACKENDS:
        r = r.replace(f"{b} does not work here: ", "")
    return r if len(r) <= 90 else r[:87] + "..."


def main():
    args, md = sys.argv[1:], None
    if len(args) >= 2 and args[0] == "--markdown":
        md, args = args[1], args[2:]
    cols = [read_column(p) for p in args]
    # VMs in the order given, x86-64 before arm64; the host last
    cols.sort(key=lambda c: (c.host, not c.label.startswith("amd64"),
                             [int(x) if x.isdigit() else 0 for x in c.label.split("-")[-1].split(".")]))
    for c in cols:
        for b in (c.probe_json or {}).get("backends", []):
            if b["name"] not in BACKENDS:
                BACKENDS.append(b["name"])
    problems = []
    for c in cols:
        check(c, problems)

    names = []
    for c in cols:
        for n in c.order:
            if n not in names:
                names.append(n)
    # rows grouped by test, backends in their usual order
    first = {}
    for i, n in enumerate(names):
        first.setdefault(backend_of(n)[0], i)
    names.sort(key=lambda n: (first[backend_of(n)[0]],
                              (BACKENDS + ["-"]).index(backend_of(n)[1])))

    print("\n== columns")
    for i, c in enumerate(cols):
        where = "this machine" if c.host else "qemu TCG"
        print(f"  {c.title():<12} {c.release or '(did not boot)'} ({where})"
              + (f", must run: {' '.join(c.expect)}" if c.expect else ""))
    w = max([len(n) for n in names] + [10]) + 2
    cw = max([len(c.title()) for c in cols] + [6]) + 2
    print("\n== kernel x arch x backend x test")
    print(("".ljust(w) + "".join(c.title().ljust(cw) for c in cols)).rstrip())
    for n in names:
        row = n.ljust(w)
        for c in cols:
            row += MARK.get(c.cells.get(n, ""), ".").ljust(cw)
        print(row.rstrip())

    npass = nfail = nskip = 0
    print("\n== per kernel")
    for c in cols:
        st = [c.cells[n] for n in c.order]
        npass += st.count("pass")
        nfail += st.count("fail")
        nskip += st.count("skip")
        auto = c.probe_json.get("auto", "?") if c.probe_json else "?"
        print(f"  {c.title()} ({c.release or 'did not boot'}): {st.count('pass')} passed, "
              f"{st.count('fail')} failed, {st.count('skip')} skipped; auto picks {auto}")
        for b in BACKENDS:
            s, reason = backend_summary(c, b)
            print(f"    {b:<13} {s}" + (f": {short_reason(reason)}" if reason and s.startswith("skip") else ""))
        other = sorted({short_reason(c.reasons[n]) for n in c.order
                        if c.cells[n] == "skip" and backend_of(n)[1] == "-"})
        for r in other:
            print(f"    other skip: {r}")
        if c.disk and not c.disk.startswith("/dev"):
            print(f"    disk: {c.disk}")

    if md:
        with open(md, "w") as f:
            f.write("| kernel | arch | " + " | ".join(BACKENDS) +
                    " | remote suite | other tests | AUTO picks |\n")
            f.write("|---|---|" + "---|" * len(BACKENDS) + "---|---|---|\n")
            for c in cols:
                cells = []
                for b in BACKENDS:
                    s, reason = backend_summary(c, b)
                    # the reason up to its parenthesis: the table stays readable
                    why = short_reason(reason).split(" (")[0]
                    cells.append(s + (f": {why}" if reason and s.startswith("skip") else ""))
                for remote in (True, False):
                    o = [c.cells[n] for n in c.order if backend_of(n)[1] == "-" and
                         n.startswith("remote/") == remote]
                    cells.append(f"{o.count('pass')} pass, {o.count('skip')} skip, "
                                 f"{o.count('fail')} fail")
                arch = "x86-64" if c.host else ARCH.get(c.label.split("-")[0], "?")
                auto = c.probe_json.get("auto", "?") if c.probe_json else "?"
                f.write(f"| {c.release or c.label + ' (did not boot)'} | {arch} | "
                        + " | ".join(cells) + f" | {auto} |\n")

    print()
    for p in problems:
        print("PROBLEM: " + p)
    # every failed test is one problem; so is a run that did not finish
    print(f"{npass} passed, {len(problems)} failed, {nskip} skipped")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
