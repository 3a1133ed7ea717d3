#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""writewatch dump, end to end (issue 14).

usage: test_dump.py CASE WRITEWATCH DUMP_TARGET CORECHECK

Starts dump_target (threads writing known data in anonymous, shmem and
file-backed memory; see dump_target.c), dumps it while it runs, and checks:
the core word by word (corecheck), through gdb (every thread, its backtrace,
the writer's local counter against the counters in memory), and the target:
still running, not traced, no userfaultfd left, no EINTR seen, its memory
untouched (it checks itself when told to quit).

Cases: precopy, no-precopy, filter (coredump_filter honoured), big (1 GiB
populated, written while dumped), kill-precopy / kill-freeze / kill-write
(SIGKILL of writewatch in that phase), stop-freeze (writewatch stopped in
the freeze: the target is released at --freeze-limit), rounds (stopped
rounds with soft-dirty: the target stopped for each round's collect only),
kill-round (SIGKILL of writewatch while a round has the target stopped).
Exit 0 pass, 1 fail, 77 skip.
"""
import json
import os
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time

case, ww, target_exe, corecheck = sys.argv[1:5]
target = None
tmp = tempfile.mkdtemp(prefix="ww-dump-")


def cleanup():
    if target and target.poll() is None:
        target.kill()
        target.wait()
    shutil.rmtree(tmp, ignore_errors=True)


def fail(msg):
    print("FAIL: " + msg)
    cleanup()
    sys.exit(1)


def skip(msg):
    print("SKIP: " + msg)
    cleanup()
    sys.exit(77)


def readline(timeout=60):
    r, _, _ = select.select([target.stdout], [], [], timeout)
    if not r:
        fail("the target did not answer within %d s" % timeout)
    line = target.stdout.readline()
    if not line:
        fail("the target exited: %s" % target.wait())
    return line.strip()


def status(pid):
    """(state letter, TracerPid) of a process, or (None, None) if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open("/proc/%d/status" % pid) as f:
            tracer = [int(l.split()[1]) for l in f if l.startswith("TracerPid:")][0]
        return state, tracer
    except (OSError, IndexError):
        return None, None


def wait_for(what, pred, limit=60):
    """Poll pred until it holds; a bound on a wait, not a timed assertion."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    fail("waited %d s for %s" % (limit, what))


def progress():
    target.stdin.write("p\n")
    target.stdin.flush()
    line = readline()
    if not line.startswith("progress "):
        fail("unexpected answer " + line)
    return [int(x) for x in line.split()[1:]]


def check_target_released(pid):
    """Running, not traced, no userfaultfd, still writing; then quit and
    let it check its memory and its blocking calls."""
    wait_for("the target to be untraced and running",
             lambda: status(pid)[1] == 0 and status(pid)[0] not in ("t", "T"))
    def registered():
        with open("/proc/%d/smaps" % pid) as f:
            return any(l.startswith("VmFlags:") and " uw" in l for l in f)
    # userfaultfd registrations (VM_UFFD_WP, "uw") go with writewatch's uffd
    wait_for("the target's userfaultfd registrations to be gone", lambda: not registered())
    fds = os.listdir("/proc/%d/fd" % pid)
    for fd in fds:
        try:
            if "userfaultfd" in os.readlink("/proc/%d/fd/%s" % (pid, fd)):
                fail("the target holds a userfaultfd (fd %s)" % fd)
        except OSError:
            pass
    p0 = progress()
    wait_for("the writers to make progress",
             lambda: all(b > a for a, b in zip(p0, progress())), 30)
    target.stdin.write("q\n")
    target.stdin.flush()
    out = target.stdout.read()
    rc = target.wait(120)
    print(out.strip())
    if rc != 0 or "target: ok" not in out:
        fail("the target's own check failed after the dump (exit %d)" % rc)


def phdrs(core):
    with open(core, "rb") as f:
        eh = f.read(64)
        phoff, = struct.unpack_from("<Q", eh, 32)
        phnum, = struct.unpack_from("<H", eh, 56)
        f.seek(phoff)
        raw = f.read(56 * phnum)
    return [struct.unpack_from("<IIQQQQQQ", raw, 56 * i) for i in range(phnum)]


def run_gdb(core, info):
    script = os.path.join(tmp, "threads.py")
    with open(script, "w") as f:
        f.write(r'''
import gdb
gdb.execute("set pagination off")
for t in sorted(gdb.selected_inferior().threads(), key=lambda t: t.ptid[1]):
    t.switch()
    f = gdb.newest_frame()
    names, k = [], None
    while f is not None:
        names.append(f.name() or "??")
        if f.name() == "write_loop":
            try:
                k = int(f.read_var("k"))
            except Exception:
                k = "unreadable"  # a sanitizer's fake stack: gdb cannot find it
        f = f.older()
    print("THREAD %d %s k=%s" % (t.ptid[1], ",".join(names), k))
p = gdb.parse_and_eval("progress")
print("PROGRESS " + " ".join(str(int(p[i])) for i in range(3)))
print("DATA " + gdb.parse_and_eval("data_string").string())
''')
    r = subprocess.run(["gdb", "-batch", "-nx", "-q", target_exe, core, "-x", script],
                       capture_output=True, text=True, timeout=120)
    print(r.stdout)
    threads = [l.split() for l in r.stdout.splitlines() if l.startswith("THREAD ")]
    prog = [l for l in r.stdout.splitlines() if l.startswith("PROGRESS ")]
    if not prog:
        print(r.stderr)
        fail("gdb could not read progress[] from the core")
    prog = [int(x) for x in prog[0].split()[1:]]
    if len(threads) != 6:
        fail("gdb sees %d threads, the target has 6" % len(threads))
    if "DATA writewatch dump: initialised data" not in r.stdout:
        fail("gdb reads data_string wrong")
    writers = {"writer_anon": 0, "writer_shmem": 1, "writer_file": 2}
    seen = set()
    for _, tid, names, k in threads:
        frames = names.split(",")
        if int(tid) == info["pid"]:
            if "main" not in frames:
                fail("the main thread's backtrace has no main: " + names)
            continue
        if "start_thread" not in frames and not any(n.startswith("clone") for n in frames):
            fail("thread %s's backtrace does not reach the thread start: %s" % (tid, names))
        for w, i in writers.items():
            if w in frames:
                if "write_loop" not in frames:
                    fail("thread %s in %s but not in write_loop: %s" % (tid, w, names))
                if not k[2:].isdigit():
                    print("note: gdb cannot read %s's local k (sanitizer build?): "
                          "not compared" % w)
                    seen.add(w)
                    continue
                kv = int(k[2:])
                if kv not in (prog[i], prog[i] + 1):
                    fail("%s: local k=%d but progress[%d]=%d in the same core" %
                         (w, kv, i, prog[i]))
                seen.add(w)
        for w in ("waiter_epoll", "waiter_sigwait"):
            if w in frames:
                seen.add(w)
    if len(seen) != 5:
        fail("missing threads in gdb's backtraces: %s" % sorted(
            (set(writers) | {"waiter_epoll", "waiter_sigwait"}) - seen))
    return prog


def compare_stopped(core, pid):
    files = set()
    with open("/proc/%d/maps" % pid) as f:
        for l in f:
            a = l.split()
            if int(a[4]) != 0:
                s, e = (int(x, 16) for x in a[0].split("-"))
                files.add((s, e))
    pm = open("/proc/%d/pagemap" % pid, "rb")
    mem = open("/proc/%d/mem" % pid, "rb", buffering=0)
    cf = open(core, "rb")
    pages = differ = 0
    for typ, _, off, vaddr, _, filesz, memsz, _ in phdrs(core):
        if typ != 1 or not filesz:
            continue
        is_file = any(s <= vaddr < e for s, e in files)
        n = filesz // 4096
        pm.seek(vaddr // 4096 * 8)
        ents = struct.unpack("<%dQ" % n, pm.read(8 * n))
        for i in range(n):
            cf.seek(off + i * 4096)
            got = cf.read(4096).ljust(4096, b"\0")
            if is_file or ents[i] & (3 << 62):
                try:
                    mem.seek(vaddr + i * 4096)
                    want = mem.read(4096)
                except OSError:
                    want = b"\0" * 4096  # unreadable: the core has zeros
            else:
                want = b"\0" * 4096
            pages += 1
            if got != want:
                differ += 1
                if differ <= 5:
                    print("page %#x differs from /proc/PID/mem" % (vaddr + i * 4096))
    print("stopped: %d dumped pages compared with /proc/PID/mem, %d differ" % (pages, differ))
    if differ:
        fail("the dump of a stopped process differs from its memory")


def corecheck_run(core, info, maxdisk=None):
    args = [corecheck, core] + ["%s=%s" % (k, info[k]) for k in
                                ("pid", "progress", "anon", "shmem", "file", "reserve",
                                 "heap", "data", "pages", "file2")]
    if maxdisk:
        args.append("maxdisk=%d" % maxdisk)
    r = subprocess.run(args, capture_output=True, text=True, timeout=240)
    print(r.stdout.strip())
    if r.returncode != 0:
        print(r.stderr)
        fail("the core's memory is not one instant of the target (corecheck)")
    for l in r.stdout.splitlines():
        if l.startswith("threads ") and int(l.split()[1]) != 6:
            fail("the core has %s NT_PRSTATUS notes, the target 6 threads" % l.split()[1])
    return [int(x) for x in [l for l in r.stdout.splitlines()
                             if l.startswith("progress ")][0].split()[1:]]


def soft_dirty_for(pid):
    """Whether soft-dirty tracks process pid here, and the probe's reason."""
    r = subprocess.run([ww, "probe", "--json", "--pid", str(pid)], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        fail("writewatch probe --pid %d failed: %s" % (pid, r.stderr.strip()))
    for b in json.loads(r.stdout)["backends"]:
        if b["name"] == "soft-dirty":
            return b["works"], b["reason"]
    fail("writewatch probe lists no soft-dirty backend")


def output_cases(pid, args):
    """-o FILE: only ever a regular file, replaced only by a complete core
    of mode 0600 (a failed dump unlinked whatever -o named, /dev/full or a
    FIFO included; an existing file kept its mode 0644)."""
    def dump(out, extra=(), timeout=120):
        return subprocess.run(args[:2] + list(extra) + args[2:] + [out], capture_output=True,
                              text=True, timeout=timeout)

    if os.getuid() == 0:
        dev = os.path.join(tmp, "null")
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        r = dump(dev)
        if r.returncode != 1 or not os.path.exists(dev) or \
                not stat.S_ISCHR(os.lstat(dev).st_mode):
            fail("-o a device node: exit %d, node %s" % (
                r.returncode, "kept" if os.path.exists(dev) else "REMOVED"))
        print("device node refused: " + r.stderr.strip())
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    r = dump(fifo, timeout=60)  # blocked forever in open() before
    if r.returncode != 1 or not stat.S_ISFIFO(os.lstat(fifo).st_mode):
        fail("-o a FIFO: exit %d, FIFO %s" % (
            r.returncode, "kept" if os.path.exists(fifo) else "REMOVED"))
    old = os.path.join(tmp, "old.core")
    with open(old, "w") as f:
        f.write("keep")
    os.chmod(old, 0o644)
    r = dump(old)
    if r.returncode != 0:
        fail("-o an existing file: exit %d: %s" % (r.returncode, r.stderr))
    mode = stat.S_IMODE(os.stat(old).st_mode)
    if mode != 0o600 or open(old, "rb").read(4) != b"\x7fELF":
        fail("-o an existing 0644 file: mode %o after the dump, not a new 0600 core" % mode)
    target_file = os.path.join(tmp, "target.txt")
    with open(target_file, "w") as f:
        f.write("keep")
    os.chmod(target_file, 0o644)
    link = os.path.join(tmp, "link.core")
    os.symlink(target_file, link)
    r = dump(link)
    if r.returncode != 0 or os.path.islink(link) or open(target_file).read() != "keep":
        fail("-o a symbolic link: the core went through the link (exit %d)" % r.returncode)
    # a failed dump leaves an existing file as it was, and nothing beside it
    with open(old, "w") as f:
        f.write("keep")
    r = dump(old, ["--freeze-limit=1", "--no-precopy"])
    if r.returncode == 0:
        print("note: a 1 ms freeze limit did not fail the dump here; skipped that check")
    elif open(old).read() != "keep":
        fail("a failed dump changed the existing file")
    left = [n for n in os.listdir(tmp) if n.startswith(".")]
    if left:
        fail("files left beside the core: %s" % left)
    r = subprocess.run(["sh", "-c", 'exec "$0" dump "$$" -o "$1"', ww,
                        os.path.join(tmp, "self.core")], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 2 or "itself" not in r.stderr:
        fail("dumping writewatch itself: exit %d: %s" % (r.returncode, r.stderr))
    for v in ("nan", "1e300", "infK"):
        r = dump(os.path.join(tmp, "x.core"), ["--max-mapping=" + v])
        if r.returncode != 2:
            fail("--max-mapping %s accepted (exit %d)" % (v, r.returncode))
    print("device node, FIFO, existing file, symbolic link, failed dump, self, "
          "bad --max-mapping: as documented")


NAMES_TARGET = r"""
import ctypes, mmap, os, sys, time
fd = os.memfd_create("memfd\x1b[7mINV")
os.ftruncate(fd, 4 << 20)
mf = mmap.mmap(fd, 4 << 20, mmap.MAP_SHARED)
mf.write(b"\x55" * (4 << 20))
path = os.path.join(sys.argv[1].encode(), b"evil\x1b[2J\x1b[31mRED\ttab\n\xff.bin")
ff = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
os.ftruncate(ff, 4 << 20)
fm = mmap.mmap(ff, 4 << 20, mmap.MAP_SHARED)
print(ctypes.addressof(ctypes.c_char.from_buffer(mf)), flush=True)
time.sleep(600)
"""


def memfd_names():
    """A memfd (a file nothing links to: "/memfd:NAME (deleted)") is
    dumped as anonymous shared memory, as gdb and the kernel do (it was
    left out: gdb read zeros); a mapping name full of terminal escapes
    reaches the terminal escaped (it went out raw)."""
    t = subprocess.Popen([sys.executable, "-c", NAMES_TARGET, tmp], stdout=subprocess.PIPE,
                         text=True)
    try:
        addr = int(t.stdout.readline())
        core = os.path.join(tmp, "names.core")
        r = subprocess.run([ww, "dump", "-q", "--max-mapping=1M", str(t.pid), "-o", core],
                           capture_output=True, timeout=120)
        err = r.stderr.decode("utf-8", "replace")
        if r.returncode != 0:
            fail("dump of the memfd target: exit %d: %s" % (r.returncode, err))
        if b"\x1b" in r.stderr or b"\xff" in r.stderr:
            fail("a mapping name went to the terminal raw: %r" % r.stderr)
        if "\\x1b[2J" not in err or "copied in the freeze" not in err:
            fail("no escaped notice of the mappings over --max-mapping: %s" % err)
        seg = [p for p in phdrs(core) if p[0] == 1 and p[3] == addr]
        if len(seg) != 1 or seg[0][5] != 4 << 20:
            fail("the memfd mapping at %#x is not in the core whole: %s" % (addr, seg))
        with open(core, "rb") as f:
            f.seek(seg[0][2] + 12345)
            if f.read(16) != b"\x55" * 16:
                fail("the memfd mapping's content is not in the core")
    finally:
        t.kill()
        t.wait()
    print("memfd dumped; names escaped: " + err.strip().splitlines()[0])


def no_memory():
    """Processes with no memory of their own to read said so (all three
    were told "no permission (No such process)", as root)."""
    def dump(pid):
        r = subprocess.run([ww, "dump", str(pid), "-o", os.path.join(tmp, "n.core")],
                           capture_output=True, text=True, timeout=60)
        print(r.stderr.strip())
        if r.returncode != 1 or "permission" in r.stderr:
            fail("process %d: exit %d: %s" % (pid, r.returncode, r.stderr))
        return r.stderr

    kthreads = []
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except (OSError, ValueError):
            continue
        if int(st[st.rindex(")") + 2:].split()[6]) & 0x00200000:
            kthreads.append(int(d))
    if kthreads and "kernel thread" not in dump(kthreads[0]):
        fail("a kernel thread was not named as one")
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    time.sleep(0.3)
    if "zombie" not in dump(pid):
        fail("a zombie was not named as one")
    os.waitpid(pid, 0)
    t = subprocess.Popen([sys.executable, "-c", "import ctypes, sys, threading, time\n"
                          "threading.Thread(target=time.sleep, args=(600,)).start()\n"
                          "print(1, flush=True)\n"
                          "ctypes.CDLL(None).pthread_exit(None)\n"],
                         stdout=subprocess.PIPE, text=True)
    try:
        t.stdout.readline()
        time.sleep(0.3)
        if "main thread" not in dump(t.pid):
            fail("a process whose main thread exited was not told apart")
    finally:
        t.kill()
        t.wait()


def main():
    global target
    if case == "no-memory":
        no_memory()
        print("PASS: no-memory")
        return
    if case == "memfd-names":
        memfd_names()
        print("PASS: memfd-names")
        return
    env = dict(os.environ)
    if case == "fallback":
        env["DUMP_TARGET_SECCOMP"] = "1"
    if case == "big":
        # 1 GiB populated, one writer dirtying about 25 MiB/s
        env["DUMP_TARGET_ANON_MB"] = "1024"
        env["DUMP_TARGET_PACE"] = "32,5000000"
    target = subprocess.Popen([target_exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env)
    line = readline(240)
    if not line.startswith("ready "):
        fail("target: " + line)
    info = dict(kv.split("=", 1) for kv in line.split()[1:])
    info["pid"] = int(info["pid"])
    pid = info["pid"]
    core = os.path.join(tmp, "core")
    args = [ww, "dump", "--json", "-q", str(pid), "-o", core]
    wenv = dict(os.environ)

    if case == "perm":
        # another user, no CAP_SYS_PTRACE: a clear error, nothing touched
        if os.getuid() != 0:
            skip("needs root to run writewatch as another user")
        r = subprocess.run(args, capture_output=True, text=True, timeout=60,
                           preexec_fn=lambda: (os.setgroups([]), os.setgid(65534),
                                               os.setuid(65534)))
        print(r.stderr.strip())
        if r.returncode != 1 or "permission" not in r.stderr or "ptrace" not in r.stderr:
            fail("writewatch as another user: exit %d, no clear permission error"
                 % r.returncode)
        check_target_released(pid)
        print("PASS: perm")
        return
    if case == "output":
        output_cases(pid, args[:-1])
        check_target_released(pid)
        print("PASS: output")
        return
    if case == "no-precopy":
        args.insert(2, "--no-precopy")
    if case == "fallback":
        # the mechanism that needs a userfaultfd in the target: refused by
        # its seccomp filter (soft-dirty, which needs none, is "rounds")
        args.insert(2, "--backend=pagemap-scan")
    if case in ("rounds", "kill-round"):
        works, why = soft_dirty_for(pid)
        if not works:
            skip("soft-dirty does not track process %d here: %s" % (pid, why))
        args.insert(2, "--backend=soft-dirty")
    if case == "filter":
        # anonymous private memory out, shared in: the anonymous region
        # is described but empty, the shmem region is there
        with open("/proc/%d/coredump_filter" % pid, "w") as f:
            f.write("0x32")
    if case == "filter-opt":
        # the same from --filter, which is hexadecimal (32 was taken as
        # decimal, 0x20: the shared region went missing)
        args.insert(2, "--filter=32")
    if case.startswith("kill-") or case in ("stop-freeze", "sigint-precopy"):
        phase = case.split("-", 1)[1]
        wenv["WW_DUMP_TEST_STOP"] = phase
        phase = "precopy" if case == "sigint-precopy" else phase
        wenv["WW_DUMP_TEST_STOP"] = phase
        if case == "stop-freeze":
            args.insert(2, "--freeze-limit=1000")
        w = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=wenv)
        wait_for("writewatch to reach the " + phase + " phase",
                 lambda: status(w.pid)[0] in ("T", None), 120)
        if status(w.pid)[0] is None:
            fail("writewatch exited before the %s phase: %s" % (phase, w.communicate()))
        if phase in ("freeze", "round"):
            st, tr = status(pid)
            if tr == 0:
                fail("the target is not traced in the %s phase (the hook is early)" % phase)
        if case == "stop-freeze":
            # writewatch stays stopped: the helper's time limit releases
            wait_for("the freeze limit to release the target",
                     lambda: status(pid)[1] == 0, 60)
            os.kill(w.pid, signal.SIGCONT)
            out, err = w.communicate(timeout=120)
            print(err.strip())
            if w.returncode != 1 or "freeze-limit" not in err:
                fail("writewatch did not fail the dump after the freeze limit")
            if os.path.exists(core):
                fail("a dump that is not one instant was left behind")
        elif case == "sigint-precopy":
            # Ctrl-C in the pre-copy: the dump fails cleanly, no file left
            os.kill(w.pid, signal.SIGINT)
            os.kill(w.pid, signal.SIGCONT)
            out, err = w.communicate(timeout=120)
            print(err.strip())
            if w.returncode != 1 or "interrupted" not in err:
                fail("SIGINT in the pre-copy: exit %d, no message" % w.returncode)
            if os.path.exists(core):
                fail("SIGINT in the pre-copy left a partial core file")
        else:
            w.kill()
            w.wait()
        check_target_released(pid)
        print("PASS: " + case)
        return

    if case == "stopped":
        # A reference taken while the process is stopped: every dumped
        # page must equal /proc/PID/mem (pages never populated: zero), and
        # a process stopped before the dump is still stopped after it.
        os.kill(pid, signal.SIGSTOP)
        wait_for("the target to stop", lambda: status(pid)[0] == "T")
    r = subprocess.run(args, capture_output=True, text=True, timeout=280, env=wenv)
    if case == "stopped":
        print(r.stderr.strip())
        if r.returncode != 0:
            fail("writewatch dump of a stopped process failed")
        if status(pid) != ("T", 0):
            fail("the stopped target is not stopped (or still traced) after the dump: %s"
                 % (status(pid),))
        compare_stopped(core, pid)
        os.kill(pid, signal.SIGCONT)
        check_target_released(pid)
        print("PASS: stopped")
        return
    print(r.stderr.strip())
    if r.returncode != 0:
        fail("writewatch dump failed (%d)" % r.returncode)
    summary = json.loads(r.stdout)
    print("summary: mode %s, %d rounds, freeze %.1f ms, %d threads, %d MiB on disk, total %.0f ms"
          % (summary["mode"], len(summary["rounds"]), summary["freeze_ms"],
             summary["threads"], summary["disk_bytes"] >> 20, summary["total_ms"]))
    if case == "fallback" and (summary["mode"] != "stop-and-copy" or
                               "one stop-and-copy instead" not in r.stderr):
        fail("no pre-copy possible: the dump did not fall back to stop-and-copy, saying so")
    if case == "rounds":
        if summary["mode"] != "stopped-rounds" or "stopping the process for each" not in r.stderr:
            fail("soft-dirty works here, but the dump did not use stopped rounds, saying so")
        if not summary["rounds"] or any(x["stopped_ms"] <= 0 for x in summary["rounds"]):
            fail("a stopped round reports no stop: %s" % summary["rounds"])
        print("rounds stopped (ms): %s" % [round(x["stopped_ms"], 1) for x in summary["rounds"]])
    if case in ("precopy", "big") and summary["mode"] != "pre-copy":
        print("note: nothing tracks another process atomically here: %s was used"
              % summary["mode"])
    if case in ("filter", "filter-opt"):
        loads = [p for p in phdrs(core) if p[0] == 1]
        anon = [p for p in loads if p[3] == int(info["anon"], 16)]
        shm = [p for p in loads if p[3] == int(info["shmem"], 16)]
        if len(anon) != 1 or anon[0][5] != 0:
            fail("coredump_filter 0x32: the private anonymous region was dumped")
        if len(shm) != 1 or shm[0][5] != shm[0][6]:
            fail("coredump_filter 0x32: the shared anonymous region was not dumped")
        check_target_released(pid)
        print("PASS: " + case)
        return
    prog = corecheck_run(core, info, (1536 << 20) if case == "big" else None)
    gdb_ok = shutil.which("gdb") is not None
    if gdb_ok:
        gprog = run_gdb(core, info)
        if gprog != prog:
            fail("gdb reads progress %s, the core holds %s" % (gprog, prog))
    check_target_released(pid)
    if not gdb_ok:
        skip("gdb is not installed (apt-get install gdb): the core was checked "
             "without it, its threads and backtraces were not")
    print("PASS: " + case)


try:
    main()
finally:
    cleanup()
