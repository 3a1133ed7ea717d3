#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""writewatch run/attach end to end. Usage: test_cli.py WRITEWATCH TARGET CASE

Cases (one behaviour each; exit 0 pass, 1 fail, 77 skip with the reason):
  exact       run --json on a target writing K new pages per interval into one
              mapping: the mapping's written pages add up to exactly K*ROUNDS,
              the summary is there and the tool exits with the target's status.
  attach      attach --json to a running target, let it write, detach at
              --duration: the target's replies, exit status and descriptor
              table are unchanged, no userfaultfd is left in it, it is neither
              stopped nor traced, and its writes were reported exactly.
  sigint      SIGINT ends an attach cleanly: summary with end "interrupted",
              exit 0, target untouched.
  permission  attach as an unprivileged user to a root process: non-zero exit,
              a message naming the missing permission, target untouched.
  kill        SIGKILL of writewatch attach at random moments (while it injects,
              registers or collects): each time the target is soon released
              (not stopped or traced), keeps its descriptors, answers, and at
              the end exits 0.
  runkill     SIGKILL of writewatch run at random moments, also while it holds
              the new command stopped before its first instruction: the
              command is never left stopped or traced: it runs to its normal end
              (exit 0), or never starts (127) if writewatch died before that.
  svg         --svg writes a well-formed SVG whose bands name the written
              mappings (the target's mapping among them) and which has cells in
              as many columns as the mapping had written intervals.
  churn       run on a target that forks, mremaps, mmaps, munmaps and execs:
              each mapping's writes are reported exactly, the forked child's
              as its own process (its 4 writes collected at its exit), the
              exec is followed and the session ends with sleep's exit.
  exitstatus  a command whose address space is slow to tear down exits 3:
              writewatch exits 3 and the summary says so, every time (exit
              is never taken for exec).
  threadexit  a threaded command exits by exit_group from a non-leader
              thread: its last interval is still collected, every time.
  attachchildren  attach --children to a shell that then starts TARGET: the
              child is found and reported as its own process, exactly.
  short       a command shorter than the interval: its writes are all
              reported, in a last interval collected at its exit.
  exec        run -- sh -c 'exec TARGET': the new program is watched, exactly.
  children    run -- sh -c 'TARGET; true': the child is reported as its own
              process (pid, parent, command, end record), exactly.
  nochildren  the same with --no-children: only the shell is reported.
  stdout      the command's standard output is byte for byte its own, with
              --json or --plain (report on standard error) and --output.
  pdeathsig   the command carries no parent-death signal of writewatch's.
  exclude     --exclude-name keeps a mapping out, so the target's own
              UFFDIO_REGISTER on it works; without it, EBUSY (as documented).
  errors      attach to a process that does not exist, to a kernel thread and
              (root only) as an unprivileged user to a root process: the first
              line names the error about the process (No such process, Invalid
              argument with "kernel thread", Operation not permitted), not
              "Operation not supported" (issue 16 item 9); exit 1.

Every interval's mappings (gone ones included) must add up to its total.
"""
import json
import os
import signal
import subprocess
import sys
import time

WW, TARGET, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
PS = os.sysconf("SC_PAGE_SIZE")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def skip(msg):
    print("SKIP:", msg)
    sys.exit(77)


def check(cond, msg):
    if not cond:
        fail(msg)


def probe():
    r = subprocess.run([WW, "probe", "--json", "--pid", str(os.getpid())],
                       capture_output=True, text=True)
    try:
        info = json.loads(r.stdout)
    except ValueError:
        skip("writewatch probe gave no JSON: " + r.stderr.strip())
    for b in info["backends"]:
        if b["name"] == "pagemap-scan" and not b["works"]:
            skip("pagemap-scan for another process: " + b["reason"])


def run_json(args, timeout=60):
    """writewatch run --json ARGS with the report in a file of its own:
    (completed process with the command's stdout and stderr, report)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "report.jsonl")
        r = subprocess.run([WW, "run", "--json", "-o", out] + args, capture_output=True,
                           text=True, timeout=timeout)
        with open(out) as f:
            return r, f.read()


def parse(out, pid=None):
    """Interval objects (of pid only, if given) and the summary; checks
    every record of the report."""
    ivs, summary = [], None
    for line in out.splitlines():
        o = json.loads(line)
        if "summary" in o:
            summary = o["summary"]
        elif "event" in o or "process" in o:
            continue
        else:
            for k in ("t", "pid", "interval_s", "written_pages", "written_bytes", "mappings"):
                check(k in o, "interval object lacks %s: %s" % (k, line))
            check(o["written_bytes"] == o["written_pages"] * PS, "bytes != pages * page size")
            check(o["written_pages"] == sum(m["written_pages"] for m in o["mappings"]),
                  "mappings do not add up to the interval total: %s" % line)
            if pid is None or o["pid"] == pid:
                ivs.append(o)
    check(summary is not None, "no summary line")
    for k in ("working_set_pages", "peak_dirty_rate_bytes_s", "mean_dirty_rate_bytes_s",
              "mechanism", "migration"):
        check(k in summary, "summary lacks " + k)
    return ivs, summary


def mapping_pages(ivs, start, first_sight_too=False):
    """Per-interval written pages of the mapping that starts at start."""
    got = []
    for o in ivs:
        for m in o["mappings"]:
            if int(m["start"], 16) == start:
                got.append(m["written_pages"])
    return got


def status(pid):
    st = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            st[k] = v.strip()
    return st["State"][0], int(st["TracerPid"])


def fds(pid):
    d = "/proc/%d/fd" % pid
    return {n: os.readlink(os.path.join(d, n)) for n in os.listdir(d)}


class Target:
    """target.c in "read" mode, driven over pipes."""

    def __init__(self, pages=64, user=None):
        self.p = subprocess.Popen([TARGET, "read", str(pages)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        addr, n = self.p.stdout.readline().split()
        self.addr, self.pages = int(addr, 16), int(n)

    def write(self, k):
        self.p.stdin.write("w %d\n" % k)
        self.p.stdin.flush()
        check(self.p.stdout.readline().strip() == "ok", "target did not answer ok")

    def quit(self):
        self.p.stdin.write("q\n")
        self.p.stdin.flush()
        return self.p.wait(timeout=30)

    def untouched(self, before):
        time.sleep(0.05)
        state, tracer = status(self.p.pid)
        check(state not in "tT", "target left stopped (%s)" % state)
        check(tracer == 0, "target left traced by %d" % tracer)
        now = fds(self.p.pid)
        check(not any("userfaultfd" in v for v in now.values()),
              "a userfaultfd is left in the target: %s" % now)
        check(now == before, "target descriptors changed: %s -> %s" % (before, now))


def case_exact():
    K, ROUNDS = 7, 8
    r, out = run_json(["-i", "0.1", "--", TARGET, "auto", "64", str(K), str(ROUNDS), "100"])
    check(r.returncode == 0, "run exited %d: %s" % (r.returncode, r.stderr))
    start = [l for l in r.stderr.splitlines() if l.startswith("target: mapping")]
    check(start, "target did not report its mapping: " + r.stderr)
    start = int(start[0].split()[2], 16)
    ivs, summary = parse(out)
    got = mapping_pages(ivs, start)
    print("per-interval pages of the mapping:", got)
    check(sum(got) == K * ROUNDS, "mapping total %d, want exactly %d" % (sum(got), K * ROUNDS))
    check(max(got) <= 2 * K, "an interval saw more than two rounds: %s" % got)
    check(summary["end"] == "exited" and summary.get("exit_status") == 0,
          "summary end %s" % summary)
    check(summary["mechanism"] == "pagemap-scan", "mechanism " + summary["mechanism"])
    check(summary["working_set_pages"] >= K * ROUNDS, "working set too small")


def case_attach():
    t = Target()
    before = fds(t.p.pid)
    ww = subprocess.Popen([WW, "attach", "--json", "-i", "0.1", "-d", "1.5", str(t.p.pid)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = ww.stdout.readline()  # interval 0: everything is registered
    if not first.startswith("{"):
        fail("no first interval: " + first + ww.stderr.read())
    for _ in range(4):
        t.write(3)
        time.sleep(0.15)
    out, err = ww.communicate(timeout=30)
    check(ww.returncode == 0, "attach exited %d: %s" % (ww.returncode, err))
    ivs, summary = parse(first + out)
    got = mapping_pages(ivs[1:], t.addr)
    print("per-interval pages of the mapping:", got)
    check(sum(got) == 12, "target wrote 12 pages, writewatch saw %d\n%s" % (sum(got), err))
    check(summary["end"] == "duration", "summary end " + summary["end"])
    t.untouched(before)
    t.write(2)
    check(t.quit() == 0, "target exit status changed")


def case_sigint():
    t = Target()
    before = fds(t.p.pid)
    ww = subprocess.Popen([WW, "attach", "--json", "-i", "0.1", str(t.p.pid)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ww.stdout.readline()
    t.write(1)
    ww.send_signal(signal.SIGINT)
    out, err = ww.communicate(timeout=30)
    check(ww.returncode == 0, "attach exited %d after SIGINT: %s" % (ww.returncode, err))
    _, summary = parse(out)
    check(summary["end"] == "interrupted", "summary end " + summary["end"])
    t.untouched(before)
    check(t.quit() == 0, "target exit status changed")


def case_permission():
    if os.geteuid() != 0:
        skip("needs root to run a process an unprivileged user may not trace")
    t = Target()
    before = fds(t.p.pid)
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", WW,
                        "attach", "--json", "-d", "1", str(t.p.pid)],
                       capture_output=True, text=True, timeout=60)
    print("stderr:", r.stderr.strip())
    check(r.returncode != 0, "unprivileged attach succeeded")
    check("permission" in r.stderr and "CAP_SYS_PTRACE" in r.stderr,
          "the error does not say what permission is missing")
    t.untouched(before)
    t.write(1)
    check(t.quit() == 0, "target exit status changed")


def case_errors():
    def first_line(cmd):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        print("stderr:", r.stderr.strip())
        check(r.returncode == 1, "exit status %d, not 1" % r.returncode)
        return r.stderr.splitlines()[0] if r.stderr else "", r.stderr

    # a pid that existed and was reaped
    p = subprocess.Popen(["true"])
    p.wait()
    try:
        os.kill(p.pid, 0)
        gone = False
    except ProcessLookupError:
        gone = True
    if gone:
        line, _ = first_line([WW, "attach", "-d", "1", str(p.pid)])
        check("No such process" in line, "missing process: " + line)
    kthread = None
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if int(st[st.rindex(")") + 2:].split()[6]) & 0x00200000:
            kthread = d
            break
    if kthread:
        line, err = first_line([WW, "attach", "-d", "1", kthread])
        check("Invalid argument" in line and "kernel thread" in err, "kernel thread: " + line)
    if os.geteuid() == 0:
        t = Target()
        line, _ = first_line(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", WW,
                              "attach", "-d", "1", str(t.p.pid)])
        check("Operation not permitted" in line, "permission: " + line)
        check(t.quit() == 0, "target exit status changed")


def reap_others(keep):
    """Wait for every child but keep: an injection helper orphaned by the
    kill is reparented to us (we are a subreaper) and may still attach."""
    while True:
        kids = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == keep:
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            if int(st[st.rindex(")") + 2:].split()[1]) == os.getpid():
                kids.append(int(d))
        if not kids:
            return
        for k in kids:
            try:
                os.waitpid(k, 0)
            except ChildProcessError:
                pass


def case_kill():
    import ctypes
    import random
    libc = ctypes.CDLL(None, use_errno=True)
    check(libc.prctl(36, 1, 0, 0, 0) == 0, "PR_SET_CHILD_SUBREAPER failed")
    t = Target()
    before = fds(t.p.pid)
    for i in range(15):
        ww = subprocess.Popen([WW, "attach", "--json", "-i", "0.01", str(t.p.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(0, 0.05))
        ww.kill()
        ww.wait()
        reap_others(t.p.pid)
        # the injection helper finishes on its own: wait for the release
        # (a liveness bound, not a timing assertion)
        for _ in range(1000):
            state, tracer = status(t.p.pid)
            if tracer == 0 and state not in "tT":
                break
            time.sleep(0.01)
        t.untouched(before)
        t.write(2)
    check(t.quit() == 0, "target exit status changed")


def case_runkill():
    import ctypes
    import random
    libc = ctypes.CDLL(None, use_errno=True)
    check(libc.prctl(36, 1, 0, 0, 0) == 0, "PR_SET_CHILD_SUBREAPER failed")
    for i in range(12):
        ww = subprocess.Popen([WW, "run", "--json", "-i", "0.05", "--", TARGET, "auto", "8", "1",
                               "2", "20"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(0, 0.01))
        ww.kill()
        ww.wait()
        # the command (and any injection helper) is now our child: it must
        # end on its own, with status 0 (a liveness bound, not a timing one)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.01)
                continue
            # 0: it ran to its end; 127: writewatch died before starting it
            if os.WIFEXITED(st) and os.WEXITSTATUS(st) in (0, 127):
                continue
            fail("a child ended with status %#x" % st)
        else:
            fail("the command was left stopped or hanging after writewatch was killed")


def case_svg():
    import tempfile
    import xml.etree.ElementTree as ET
    K, ROUNDS = 4, 5
    with tempfile.TemporaryDirectory() as d:
        svg = os.path.join(d, "w.svg")
        r, out = run_json(["-i", "0.1", "--svg", svg, "--", TARGET, "auto", "64", str(K),
                           str(ROUNDS), "100"])
        check(r.returncode == 0, "run exited %d: %s" % (r.returncode, r.stderr))
        start = int([l for l in r.stderr.splitlines()
                     if l.startswith("target: mapping")][0].split()[2], 16)
        root = ET.parse(svg).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    labels = [t.text or "" for t in root.iter(ns + "text")]
    check(any(("0x%x" % start) in l for l in labels),
          "no band labelled with the mapping 0x%x: %s" % (start, labels))
    ivs, _ = parse(out)
    written = [i for i, o in enumerate(ivs)
               if any(int(m["start"], 16) == start for m in o["mappings"])]
    cells = [e for e in root.iter(ns + "rect") if e.get("height") == "1"]
    check(len(cells) > 0, "no cells")
    xs = set(e.get("x") for e in cells)
    check(len(xs) >= len(written), "%d columns with writes, want at least %d"
          % (len(xs), len(written)))


def case_churn():
    r, out = run_json(["-i", "0.1", "--", TARGET, "churn", "100"])
    check(r.returncode == 0, "run exited %d: %s" % (r.returncode, r.stderr))
    _, summary = parse(out)
    root = summary["pid"]
    ivs, _ = parse(out, root)
    addr = {}
    for l in r.stderr.splitlines():
        w = l.split()
        if len(w) == 4 and w[0] == "target:" and w[1] in "ABC":
            addr[w[1]] = int(w[2], 16)
    check(len(addr) == 3, "target did not report its mappings: " + r.stderr)
    a, b, c = (mapping_pages(ivs, addr[k]) for k in "ABC")
    print("A", a, "B", b, "C", c)
    # A: 16 written before first sight, then 2 by the parent after the fork
    check(sum(a) == 18, "A: want 16 + 2 pages, got %s" % a)
    # B (A moved and grown by mremap): new mapping, its 16 moved pages plus 2
    # newly written ones (the third write hits a moved page)
    check(sum(b) == 18, "B: want 18 pages, got %s" % b)
    check(sum(c) == 5, "C: want 5 pages, got %s" % c)
    # the forked child is its own process: first sight of its copy of A,
    # then exactly its 4 writes, collected at its exit
    recs = [json.loads(l) for l in out.splitlines()]
    kids = [o["pid"] for o in recs if o.get("event") == "fork" and o["ppid"] == root]
    check(len(kids) == 1, "want one child of %d, got %s" % (root, kids))
    kiv, _ = parse(out, kids[0])
    ka = mapping_pages(kiv[1:], addr["A"])
    print("child A after first sight", ka)
    check(sum(ka) == 4, "child's A: want 4 pages, got %s" % ka)
    check(kiv[-1].get("last"), "the child's last interval was not collected at its exit")
    # the exec is followed: the session ends with sleep's exit, not the exec
    check(any(o.get("event") == "exec" and o["pid"] == root and "sleep" in o["command"]
              for o in recs), "no exec event for the root")
    check(summary["end"] == "exited" and summary.get("exit_status") == 0,
          "summary end %s" % summary)


def case_exitstatus():
    """Exit is never taken for exec: a process whose address space is slow
    to tear down (128 MiB of shared memory mapped) gives its status, every
    time. (The tool before this test took 6 of 6 such exits for an exec.)"""
    prog = ("import mmap, os\nfd = os.memfd_create('big')\nos.ftruncate(fd, 128 << 20)\n"
            "m = mmap.mmap(fd, 128 << 20, flags=mmap.MAP_SHARED | 0x8000, "
            "prot=mmap.PROT_READ)\nraise SystemExit(3)\n")  # 0x8000: MAP_POPULATE
    for i in range(4):
        r, out = run_json(["-i", "0.01", "--", sys.executable, "-c", prog], timeout=150)
        _, summary = parse(out)
        check(r.returncode == 3, "run %d: writewatch exited %d, want 3: %s"
              % (i, r.returncode, r.stderr))
        check(summary["end"] == "exited" and summary.get("exit_status") == 3,
              "run %d: summary %s" % (i, summary))
        check("executed a new program" not in r.stderr, "exit reported as exec")


def case_threadexit():
    """A threaded command ends by exit_group from a thread that is not the
    leader (the others are killed, the leader first): its last interval is
    still collected, new mappings included. (Before: missed in about half
    the runs, or collected through the dead leader's empty maps.)"""
    prog = ("import threading, os, time\nb = bytearray(4 << 20)\n"
            "def w():\n    for i in range(0, len(b), 4096): b[i] = 7\n    os._exit(5)\n"
            "for _ in range(3): threading.Thread(target=time.sleep, args=(10,), daemon=True).start()\n"
            "threading.Thread(target=w).start()\ntime.sleep(10)\n")
    for i in range(4):
        r, out = run_json(["-i", "100", "--", sys.executable, "-c", prog])
        check(r.returncode == 5, "run %d: exit %d: %s" % (i, r.returncode, r.stderr))
        ivs, summary = parse(out)
        last = [o for o in ivs if o.get("last")]
        print("run", i, "last interval pages:", [o["written_pages"] for o in last])
        check(len(last) == 1 and last[0]["written_pages"] >= 1024,
              "run %d: the 1024 pages written before the exit were not collected at it" % i)
        check(summary["last_interval_observed"] is True, "run %d: %s" % (i, summary))


def case_attachchildren():
    """attach --children to a shell that starts TARGET later: the child is
    found and reported as its own process, exactly; without --children it
    is not."""
    K, ROUNDS = 6, 5
    import tempfile
    res = {}
    for opts in (["--children"], []):
        sh = subprocess.Popen(["sh", "-c", "read x; %s auto 64 %d %d 100; true" % (TARGET, K,
                                                                                 ROUNDS)],
                              stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "r.jsonl")
            ww = subprocess.Popen([WW, "attach", "--json", "-o", out, "-i", "0.05"] + opts +
                                  [str(sh.pid)], stderr=subprocess.PIPE, text=True)
            deadline = time.time() + 30  # liveness bound: the first interval is written
            while time.time() < deadline and not (os.path.exists(out) and os.path.getsize(out)):
                time.sleep(0.02)
            sh.stdin.write("go\n")
            sh.stdin.close()
            err = sh.stderr.read()
            check(sh.wait(timeout=60) == 0, "the shell failed")
            _, werr = ww.communicate(timeout=60)
            check(ww.returncode == 0, "attach %s exited %d: %s" % (opts, ww.returncode, werr))
            with open(out) as f:
                rep = f.read()
        start = int([l for l in err.splitlines()
                     if l.startswith("target: mapping")][0].split()[2], 16)
        ivs, summary = parse(rep)
        # the shell's child; the target's own helpers (LeakSanitizer's
        # stop-the-world clone in an ASan build, with the same command line)
        # are its children, not the shell's
        kids = {o["pid"] for o in ivs if o["pid"] != sh.pid and o.get("ppid") == sh.pid}
        got = sum(mapping_pages([o for o in ivs if o["pid"] in kids], start))
        print(opts, "children", kids, "pages of the child's mapping", got)
        res[bool(opts)] = (len(kids), got)
    check(res[True] == (1, K * ROUNDS), "--children: want one child with %d pages, got %s"
          % (K * ROUNDS, res[True]))
    check(res[False] == (0, 0), "without --children: %s" % (res[False],))


def case_short():
    """A command shorter than the interval: its writes are collected at its
    exit, and the summary says the last interval was observed."""
    K, ROUNDS = 5, 4
    r, out = run_json(["-i", "1000", "--", TARGET, "auto", "64", str(K), str(ROUNDS), "10"])
    check(r.returncode == 0, "run exited %d: %s" % (r.returncode, r.stderr))
    start = int([l for l in r.stderr.splitlines()
                 if l.startswith("target: mapping")][0].split()[2], 16)
    ivs, summary = parse(out)
    got = mapping_pages(ivs, start)
    print("per-interval pages of the mapping:", got, "last:", ivs[-1].get("last"))
    check(sum(got) == K * ROUNDS, "mapping total %d, want %d" % (sum(got), K * ROUNDS))
    check(ivs[-1].get("last") is True, "the last record is not the exit's")
    check(summary["last_interval_observed"] is True, "summary: %s" % summary)


def case_exec():
    """run -- sh -c 'exec TARGET ...': the new program is watched, exactly."""
    K, ROUNDS = 6, 5
    r, out = run_json(["-i", "0.1", "--", "sh", "-c",
                       "exec %s auto 64 %d %d 50" % (TARGET, K, ROUNDS)])
    check(r.returncode == 0, "run exited %d: %s" % (r.returncode, r.stderr))
    start = int([l for l in r.stderr.splitlines()
                 if l.startswith("target: mapping")][0].split()[2], 16)
    ivs, summary = parse(out)
    got = mapping_pages(ivs, start)
    print("per-interval pages of the mapping:", got)
    check(sum(got) == K * ROUNDS, "mapping total %d, want %d" % (sum(got), K * ROUNDS))
    check(summary["end"] == "exited" and summary.get("exit_status") == 0, "summary %s" % summary)
    check(all(o["pid"] == summary["pid"] for o in ivs), "another pid reported")


def case_children(follow=True):
    """run -- sh -c 'TARGET ...; true': the child is watched as its own
    process (pid, parent, command), exactly; --no-children: it is not."""
    K, ROUNDS = 6, 5
    opts = [] if follow else ["--no-children"]
    r, out = run_json(opts + ["-i", "0.1", "--", "sh", "-c",
                              "%s auto 64 %d %d 50; true" % (TARGET, K, ROUNDS)])
    check(r.returncode == 0, "run exited %d: %s" % (r.returncode, r.stderr))
    start = int([l for l in r.stderr.splitlines()
                 if l.startswith("target: mapping")][0].split()[2], 16)
    ivs, summary = parse(out)
    root = summary["pid"]
    kids = {o["pid"] for o in ivs if o["pid"] != root}
    if not follow:
        check(not kids and summary["processes"] == 1, "children reported: %s" % kids)
        return
    check(len(kids) == 1, "want one child, got %s" % kids)
    kid = kids.pop()
    kiv = [o for o in ivs if o["pid"] == kid]
    check(all(o["ppid"] == root for o in kiv), "child's parent is not the shell")
    check("auto" in kiv[-1]["command"], "child's command: " + kiv[-1]["command"])
    got = mapping_pages(kiv, start)
    print("child's per-interval pages of the mapping:", got)
    check(sum(got) == K * ROUNDS, "mapping total %d, want %d" % (sum(got), K * ROUNDS))
    procs = [json.loads(l)["process"] for l in out.splitlines() if '"process"' in l]
    check(any(p["pid"] == kid and p.get("exit_status") == 0 for p in procs),
          "no end record for the child: %s" % procs)
    check(summary["processes"] == 2, "summary processes %s" % summary["processes"])


def case_stdout():
    """The command's standard output is its own: byte for byte what it
    writes, with the report elsewhere (--output, or standard error)."""
    prog = ("import sys\nb = bytearray(8 << 20)\nfor i in range(20000):\n"
            "    b[(i * 4096) % len(b)] = 1\n    sys.stdout.write('%d,' % i)\n"
            "    sys.stdout.flush() if i % 97 == 0 else None\n")
    want = "".join("%d," % i for i in range(20000))
    for json_opt in (["--json"], ["--plain"]):
        r = subprocess.run([WW, "run"] + json_opt + ["-i", "0.05", "--", sys.executable, "-c",
                                                     prog], capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 0, "run exited %d: %s" % (r.returncode, r.stderr))
        check(r.stdout == want, "the command's output was changed (%d bytes, want %d)"
              % (len(r.stdout), len(want)))
        if json_opt == ["--json"]:
            parse(r.stderr)  # the report, on standard error, parses whole
    r, out = run_json(["-i", "0.05", "--", sys.executable, "-c", prog])
    check(r.stdout == want, "with --output: the command's output was changed")
    parse(out)


def case_pdeathsig():
    """The command carries no parent-death signal of ours, even after the
    session ended by --duration."""
    prog = ("import ctypes, time\nlibc = ctypes.CDLL(None)\nv = ctypes.c_int(-1)\n"
            "time.sleep(0.5)\nlibc.prctl(2, ctypes.byref(v))\nprint('pdeathsig', v.value)\n")
    r = subprocess.run([WW, "run", "--json", "-d", "0.1", "-i", "0.05", "--", sys.executable,
                        "-c", prog], capture_output=True, text=True, timeout=60)
    # writewatch ended at --duration; the command went on and printed later
    check(r.returncode == 0, "run exited %d: %s" % (r.returncode, r.stderr))
    check("pdeathsig 0" in r.stdout, "the command's parent-death signal: %r" % r.stdout)


def case_exclude():
    """The target's own userfaultfd user keeps working on a mapping excluded
    by --exclude-name (and gets EBUSY on one writewatch registered)."""
    prog = r"""
import ctypes, mmap, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
fd = os.memfd_create("gc-heap")
os.ftruncate(fd, 16 << 12)
m = mmap.mmap(fd, 16 << 12, flags=mmap.MAP_SHARED)
m[0] = 1
time.sleep(0.6)  # a few intervals: writewatch has seen the mapping
buf = ctypes.c_char.from_buffer(m)
addr = ctypes.addressof(buf)
u = libc.syscall(323, os.O_CLOEXEC | os.O_NONBLOCK | 1)  # userfaultfd, user mode only
if u < 0:
    u = libc.syscall(323, os.O_CLOEXEC | os.O_NONBLOCK)
api = (ctypes.c_uint64 * 3)(0xAA, 0, 0)
if u < 0 or libc.ioctl(u, 0xc018aa3f, api) < 0:
    print("no userfaultfd", ctypes.get_errno())
    sys.exit(0)
reg = (ctypes.c_uint64 * 4)(addr, 16 << 12, 1, 0)  # MODE_MISSING
r = libc.ioctl(u, 0xc020aa00, reg)
print("register", "ok" if r == 0 else os.strerror(ctypes.get_errno()))
del buf
"""
    res = {}
    for opts in ([], ["--exclude-name", "/memfd:gc-heap*"]):
        r, out = run_json(opts + ["-i", "0.05", "--", sys.executable, "-c", prog])
        check(r.returncode == 0, "run %s exited %d: %s" % (opts, r.returncode, r.stderr))
        if "no userfaultfd" in r.stdout:
            skip("the target cannot create a userfaultfd: " + r.stdout)
        _, summary = parse(out)
        res[bool(opts)] = (r.stdout.strip(), summary["excluded_mappings"])
    print(res)
    check(res[True] == ("register ok", 1), "excluded: %s" % (res[True],))
    check(res[False][0] == "register Device or resource busy",
          "not excluded: want EBUSY (documented), got %s" % (res[False],))


probe()
{"exact": case_exact, "attach": case_attach, "sigint": case_sigint,
 "permission": case_permission, "churn": case_churn, "kill": case_kill,
 "runkill": case_runkill, "svg": case_svg, "exitstatus": case_exitstatus,
 "short": case_short, "exec": case_exec, "children": case_children,
 "nochildren": lambda: case_children(False), "stdout": case_stdout,
 "pdeathsig": case_pdeathsig, "exclude": case_exclude,
 "threadexit": case_threadexit, "attachchildren": case_attachchildren,
 "errors": case_errors}[CASE]()
print("ok:", CASE)
