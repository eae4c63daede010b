"""report.py: turn bench/out/raw into bench/RESULTS.md (on stdout).

usage: report.py RAWDIR PLOTDATA

Reads what run.sh measured, computes medians and ratios, checks the
targets, prints the Markdown report and writes PLOTDATA, the close-all
medians for gnuplot (close-all.gp).  Standard library only.
"""
import math
import os
import re
import statistics
import sys

PEERS = ["dctx", "libdaemon", "daemon3", "python", "floor"]
NAMES = {
    "dctx": "libdctx",
    "libdaemon": "libdaemon",
    "daemon3": "daemon(3) + pidfile",
    "python": "python-daemon",
    "floor": "floor (fork, setsid, fork, pipe)",
    "loop": "plain close loop",
    "dctx_core": "libdctx, without the full libevent",
    "dctx_static": "libdctx, libevent linked statically",
    "dctx_shared": "libdctx as a shared library (pkg-config --libs)",
}
# The function whose presence on the stack marks the fd-closing step.
STEP_FUNCS = {
    "dctx": "dctx__close_fds",
    "libdaemon": "daemon_close_all",
    "python": "_Py_closerange",
}
KEPT = 4  # descriptors the close-all harness keeps, as dctx_open() does

TARGET_START_VS_LIBDAEMON = 1.1
TARGET_START_VS_PYTHON = 10.0
TARGET_SIGNAL_VS_RAW = 1.5
# "Flat": the least-squares slope of log(time) against log(limit) below
# this; 0.1 means doubling the limit costs at most 7 % more, where the plain
# loop's slope is about 1 (doubling the limit doubles the cost).
FLAT_SLOPE = 0.1


def read_lines(path):
    with open(path) as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def slope(xs, ys):
    """Least-squares slope of log(y) against log(x)."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if y == y and y > 0]
    if len(pts) < 2:
        return float("nan")
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else float("nan")


def fmt(x, digits=1):
    if x != x:  # NaN
        return "n/a"
    return "{:,.{}f}".format(x, digits)


def ratio(a, b):
    return a / b if b else float("nan")


def table(header, rows, align=None):
    out = ["| " + " | ".join(header) + " |"]
    align = align or (["---"] + ["---:"] * (len(header) - 1))
    out.append("| " + " | ".join(align) + " |")
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def mark(ok):
    return "**met**" if ok else "**missed**"


class Report:
    def __init__(self, raw, plotdata):
        self.raw = raw
        self.plotdata = plotdata
        self.env = {}
        for line in read_lines(os.path.join(raw, "env.txt")):
            k, _, v = line.partition("=")
            self.env[k] = v
        self.hard = int(self.env["nofile_hard"])
        self.limits = [int(x) for x in self.env["limits"].split()]
        self.targets = []
        self.out = []

    def p(self, *lines):
        self.out.extend(lines)

    # -- 1. start to ready ------------------------------------------------
    def start(self):
        rows = {}
        for line in read_lines(os.path.join(self.raw, "start.txt")):
            f = line.split()
            rows.setdefault(f[0], []).append(
                (float(f[1]), float(f[2]), float(f[3]), int(f[4])))
        self.start_rows = rows
        med = {p: median([r[2] for r in v]) for p, v in rows.items()}
        self.start_med = med
        n = len(rows.get("dctx", []))
        self.p("## 1. Start to ready", "",
               "From spawning the launcher until the pidfile names a live "
               "daemon **and** the launcher has exited, whichever comes "
               "last; watched with inotify on the pidfile's directory and a "
               "pidfd on the launcher, so the watcher sleeps meanwhile. "
               "Medians of {} starts per peer, the peers taking turns in "
               "an order that rotates every round. RLIMIT_NOFILE as found "
               "on the machine ({}). *Racing*: in how many starts the "
               "pidfile named no live process yet at the moment the "
               "launcher's exit was seen, i.e. a script that reads the "
               "pidfile when the launcher returns finds nothing.".format(
                   n, self.env["nofile_found"]), "")
        body = []
        for p in PEERS:
            v = rows.get(p, [])
            if not v:
                continue
            racing = sum(r[3] for r in v)
            body.append([
                NAMES[p], fmt(med[p]),
                fmt(pct([r[2] for r in v], 10)) + " – " +
                fmt(pct([r[2] for r in v], 90)),
                fmt(median([r[0] for r in v])),
                fmt(median([r[1] for r in v])),
                "{} of {}".format(racing, len(v)) +
                (" (races)" if racing else ""),
                fmt(ratio(med[p], med["dctx"]), 2)])
        self.p(table(["peer", "ready (µs)", "p10 – p90", "launcher exit (µs)",
                      "pidfile named (µs)", "racing", "÷ libdctx"], body), "")
        r_ld = ratio(med["dctx"], med["libdaemon"])
        r_py = ratio(med["python"], med["dctx"])
        self.targets.append((
            "start to ready within {}× libdaemon's".format(
                TARGET_START_VS_LIBDAEMON),
            "{}× ({} vs {} µs)".format(fmt(r_ld, 2), fmt(med["dctx"]),
                                       fmt(med["libdaemon"])),
            r_ld <= TARGET_START_VS_LIBDAEMON))
        self.targets.append((
            "start to ready 10× faster than python-daemon",
            "{}× faster ({} vs {} µs)".format(fmt(r_py, 1), fmt(med["dctx"]),
                                              fmt(med["python"])),
            r_py >= TARGET_START_VS_PYTHON))

    def start_variants(self):
        rows = self.start_rows
        variants = [v for v in self.env.get("variants", "").split() if v in rows]
        med = self.start_med
        self.p("### Where libdctx's start time goes", "",
               "The same `d_dctx.c`, linked several ways, measured in the "
               "same rounds as the table above. The library code is the "
               "same in all; only the shared objects the dynamic "
               "loader must map, relocate and search differ (and every "
               "fork copies their mappings). `as built` (the libdctx row "
               "everywhere else) links libdctx.a statically and what "
               "libdctx's pkg-config file asks for (`{}`). Since libdctx "
               "links libevent_pthreads alone (its .pc file's `Requires: "
               "libevent` used to bring in the whole libevent, 1.30× "
               "libdaemon), what is left above libdaemon is loading "
               "libevent_core as a shared object: libevent linked "
               "statically starts as fast as libdaemon. Every libevent "
               "program pays that load, with or without libdctx, while "
               "the libdaemon peer uses no event library at all; so the "
               "1.1× target is out of reach for a shared libevent, and "
               "not a cost of libdctx's own steps (their system calls are "
               "in section 2).".format(self.env.get("dctx_libs", "").strip()),
               "")
        lds = {}
        path = os.path.join(self.raw, "ldstats.txt")
        if os.path.exists(path):
            for line in read_lines(path):
                f = line.split()
                lds[f[0]] = (int(f[1]), int(f[2]))
        body = []
        for v, name in ([("dctx", "libdctx as built")] +
                        [(v, NAMES[v]) for v in variants] +
                        [("libdaemon", "libdaemon"), ("floor", NAMES["floor"])]):
            cyc, rel = lds.get(v, (float("nan"), float("nan")))
            body.append([name, self.env.get("dso_" + v, "?"), fmt(rel, 0),
                         fmt(cyc / 1e3, 0), fmt(med[v]),
                         fmt(ratio(med[v], med["libdaemon"]), 2)])
        self.p(table(["build", "shared objects", "loader relocations",
                      "loader start-up (k cycles)", "ready (µs)",
                      "÷ libdaemon"], body), "",
               "*Loader relocations* and *start-up*: glibc's own count "
               "(`LD_DEBUG=statistics`) for the launcher's exec, before "
               "main(); symbols bound lazily later, in the launcher and "
               "again in each forked process, come on top.", "")

    # -- 2. system calls to start ------------------------------------------
    def strace_c(self, path):
        total, calls = None, {}
        if not os.path.exists(path):
            return None, {}
        for line in read_lines(path):
            f = line.split()
            if len(f) >= 5 and re.match(r"^[0-9.]+$", f[0]) and \
                    re.match(r"^[0-9]+$", f[3]):
                if f[-1] == "total":
                    total = int(f[3])
                else:
                    calls[f[-1]] = int(f[3])
        return total, calls

    def strace_k_step(self, path, func):
        """Count the system calls with func on their stack."""
        if not os.path.exists(path):
            return None, {}
        count, names = 0, {}
        call, hit = None, False

        def close_block():
            nonlocal count
            if call is not None and hit:
                count += 1
                names[call] = names.get(call, 0) + 1

        for line in read_lines(path):
            if line.startswith(" > "):
                if func in line:
                    hit = True
                continue
            close_block()
            m = re.match(r"^\d+\s+(?:<\.\.\. )?([a-z_0-9]+)", line)
            call = m.group(1) if m else None
            if "unfinished" in line:
                call = None  # its stack follows the resumed line
            hit = False
        close_block()
        return count, names

    def syscalls(self):
        self.p("## 2. System calls to start", "",
               "`strace -f -c` over the whole start (launcher, its children "
               "and the daemon until it idles; the interpreter's own start "
               "counts for python-daemon), with ten stray descriptors "
               "inherited so that the closing step has work to do. The "
               "fd-closing step is picked out of a `strace -f -k` trace: the "
               "system calls with the peer's closing function on the stack "
               "(`dctx__close_fds`, `daemon_close_allv`, CPython's "
               "`_Py_closerange`). daemon(3) and the floor close nothing.", "")
        have_k = self.env.get("strace_k") == "yes"
        body = []
        self.start_step = {}
        for p in PEERS:
            row = [NAMES[p]]
            for L in (1024, self.hard):
                total, _ = self.strace_c(os.path.join(
                    self.raw, "strace-c-{}-{}.txt".format(p, L)))
                row.append(fmt(total, 0) if total is not None else "n/a")
                if p not in STEP_FUNCS:
                    row.append("0 (no step)")
                    continue
                if not have_k:
                    row.append("n/a (strace without -k)")
                    continue
                n, names = self.strace_k_step(os.path.join(
                    self.raw, "strace-k-{}-{}.txt".format(p, L)), STEP_FUNCS[p])
                self.start_step[(p, L)] = n
                row.append("{} ({})".format(n, ", ".join(
                    "{} {}".format(c, k) for k, c in sorted(names.items()))))
            body.append(row)
        self.p(table(["peer", "total, limit 1024", "closing step, 1024",
                      "total, limit {}".format(self.hard),
                      "closing step, {}".format(self.hard)], body), "")

    # -- 3. close-all ------------------------------------------------------
    def close_times(self, p, n, L):
        path = os.path.join(self.raw, "close-{}-{}-{}.txt".format(p, n, L))
        if not os.path.exists(path):
            return float("nan"), float("nan")
        imp, xs = float("nan"), []
        for line in read_lines(path):
            f = line.split()
            if f[0] == "import":
                imp = int(f[1]) / 1e3
            else:
                xs.append(int(f[0]) / 1e3)
        return median(xs), imp

    def close_sys(self, p, n, L):
        path = os.path.join(self.raw, "close-sys-{}-{}-{}.txt".format(p, n, L))
        if not os.path.exists(path):
            if p == "loop":
                return L - 3 - KEPT, {"close": L - 3 - KEPT}, True
            return None, {}, False
        inside, names = False, {}
        for line in read_lines(path):
            if "bench-step-begin" in line:
                inside = True
                continue
            if "bench-step-end" in line:
                break
            if inside:
                m = re.match(r"^([a-z_0-9]+)\(", line)
                if m:
                    names[m.group(1)] = names.get(m.group(1), 0) + 1
        return sum(names.values()), names, False

    def closeall(self):
        cpeers = ["dctx", "libdaemon", "loop", "python"]
        self.p("## 3. Close-all cost against RLIMIT_NOFILE", "",
               "Each peer's fd-closing step alone (`closeall.c` calls "
               "libdctx's `dctx__close_fds()` from the static library, "
               "libdaemon's `daemon_close_allv()`, and the plain loop "
               "`close()`s every number from 3 to the limit; "
               "`closeall.py` calls python-daemon's "
               "`close_all_open_files()`), with soft and hard "
               "RLIMIT_NOFILE both set to the limit. Each repetition opens "
               "N descriptors from 3 up and keeps {} of them, spread out so "
               "that they split the range as much as they can (dctx_open() "
               "keeps four: pidfile, its directory, launcher pipe, "
               "/dev/null); the harness checks that exactly those "
               "survive. Medians of {} repetitions, in µs; the last row is the "
               "slope of log(time) against log(limit): 0 is flat, 1 is a "
               "cost proportional to the limit. daemon(3) and "
               "the floor close nothing, so they have no curve. The hard "
               "limit here is {}{}.".format(
                   KEPT, self.env["reps"], self.hard,
                   " (raised from {})".format(self.env["nofile_found"])
                   if self.env["nofile_raised"] == "yes" else
                   " (as found: raising it to fs.nr_open = {} was refused, "
                   "no CAP_SYS_RESOURCE)".format(self.env["nr_open"])), "",
               "![close-all cost against RLIMIT_NOFILE](close-all.png)", "")
        plot = ["# limit " + " ".join(
            "{}_{}".format(p, n) for n in (10, 1000) for p in cpeers)]
        flat = {}
        for n in (10, 1000):
            body = []
            for L in self.limits:
                row = [str(L)]
                for p in cpeers:
                    t, imp = self.close_times(p, n, L)
                    row.append(fmt(t, 1))
                    if p == "python":
                        row.append(fmt(imp / 1e3, 1))
                    if p == "dctx":
                        flat.setdefault(n, []).append(t)
                body.append(row)
            srow = ["log-log slope"]
            for p in cpeers:
                srow.append(fmt(slope(self.limits, [self.close_times(p, n, L)[0]
                                                    for L in self.limits]), 3))
                if p == "python":
                    srow.append("")
            body.append(srow)
            self.p("### {} open descriptors".format(n), "",
                   table(["RLIMIT_NOFILE"] + [NAMES[p] for p in cpeers[:3]] +
                         ["python-daemon", "python-daemon import (ms)"], body),
                   "")
        for L in self.limits:
            vals = []
            for n in (10, 1000):
                for p in cpeers:
                    vals.append(self.close_times(p, n, L)[0])
            plot.append(" ".join([str(L)] + ["{:.3f}".format(v) for v in vals]))
        with open(self.plotdata, "w") as f:
            f.write("\n".join(plot) + "\n")

        self.p("### System calls of the step", "",
               "Traced with strace between two marker calls the harness "
               "makes around the step. The plain loop past 65,536 is not "
               "traced: it makes one close() per number, computed.", "")
        body = []
        bound_ok = True
        for n in (10, 1000):
            for L in (1024, self.hard):
                row = [str(n), str(L)]
                for p in cpeers:
                    total, names, computed = self.close_sys(p, n, L)
                    if total is None:
                        row.append("n/a")
                        continue
                    if p == "dctx" and total > KEPT + 1:
                        bound_ok = False
                    row.append("{:,}{} ({})".format(
                        total, " computed" if computed else "",
                        ", ".join("{:,} {}".format(c, k)
                                  for k, c in sorted(names.items()))))
                body.append(row)
        self.p(table(["open", "RLIMIT_NOFILE"] + [NAMES[p] for p in cpeers],
                     body), "")
        start_ok = all(v <= KEPT + 1 for (p, L), v in self.start_step.items()
                       if p == "dctx" and v is not None)
        self.targets.append((
            "closing step's system calls ≤ kept fds + 1 ({})".format(KEPT + 1),
            "harness: max {}; real start: {}".format(
                max(self.close_sys("dctx", n, L)[0] or 0
                    for n in (10, 1000) for L in (1024, self.hard)),
                ", ".join("{} at {}".format(v, L) for (p, L), v in
                          sorted(self.start_step.items()) if p == "dctx")
                or "n/a"),
            bound_ok and start_ok))
        slopes = {n: slope(self.limits, v) for n, v in flat.items()}
        self.targets.append((
            "closing step's time flat against RLIMIT_NOFILE (log-log slope "
            "below {}; the plain loop's is about 1)".format(FLAT_SLOPE),
            "; ".join("{} open: slope {}, {}–{} µs over {}–{}".format(
                n, fmt(slopes[n], 3), fmt(min(v)), fmt(max(v)),
                self.limits[0], self.limits[-1])
                for n, v in sorted(flat.items())),
            all(abs(k) < FLAT_SLOPE for k in slopes.values())))

    # -- 4. signals --------------------------------------------------------
    def signals(self):
        speers = ["dctx", "floor", "libdaemon", "python"]
        label = {"dctx": "libdctx (libevent signal event, dctx_set_signal)",
                 "floor": "raw sigaction self-pipe + poll()",
                 "libdaemon": "libdaemon (daemon_signal_fd + select)",
                 "python": "python-daemon (signal_map handler, wakeup fd)"}
        ns = {}
        for p in speers:
            for mode in ("pinned", "free"):
                path = os.path.join(self.raw, "sig-{}-{}.txt".format(p, mode))
                if os.path.exists(path):
                    ns[(p, mode)] = [int(x) / 1e3 for x in read_lines(path)]
        self.p("## 4. Signal to callback round trip", "",
               "`kill(pid, SIGUSR1)` until the daemon's handler has written "
               "one byte back on a pipe (its fd 3) and the byte is read; one "
               "signal at a time, so no two deliveries merge. {:,} round "
               "trips per peer and mode after 100 untimed, in ten rounds in "
               "which the peers take turns. *Pinned*: the watcher and the "
               "daemon share CPU {} (`taskset`), so the figure is the "
               "software path: signal delivery, the wake-up, the handler, "
               "the pipe. *Free*: the scheduler places them, and the wake-up "
               "of an idle CPU comes in, which varies from one process to "
               "the next by more than the software path does. In µs.".format(
                   len(ns.get(("dctx", "pinned"), [])),
                   self.env.get("sig_cpu", "?")), "")
        body = []
        for p in speers:
            row = [label[p]]
            for mode in ("pinned", "free"):
                v = ns.get((p, mode))
                if not v:
                    row += ["n/a"] * 4
                    continue
                raw = median(ns[("floor", mode)])
                # Each round is one daemon process: its own placement.
                per = max(1, len(v) // 10)
                rounds = [median(v[i:i + per]) for i in range(0, len(v), per)]
                row += [fmt(median(v), 2), fmt(pct(v, 99), 2),
                        fmt(min(rounds), 1) + " – " + fmt(max(rounds), 1),
                        fmt(ratio(median(v), raw), 2)]
            body.append(row)
        self.p(table(["peer", "pinned median", "p99", "rounds' medians",
                      "÷ raw", "free median", "p99", "rounds' medians",
                      "÷ raw"], body), "",
               "*Rounds' medians*: the lowest and highest median of the ten "
               "rounds, each round being one daemon process. Where that "
               "spread is wider than the gap between two peers, the free "
               "figure says where the scheduler put the processes more than "
               "what the peers cost; the target is judged on the pinned "
               "one.", "")
        r = ratio(median(ns[("dctx", "pinned")]), median(ns[("floor", "pinned")]))
        rf = ratio(median(ns[("dctx", "free")]), median(ns[("floor", "free")]))
        self.targets.append((
            "signal round trip within {}× the raw self-pipe".format(
                TARGET_SIGNAL_VS_RAW),
            "pinned {}× ({} vs {} µs); free {}× (see 4)".format(
                fmt(r, 2), fmt(median(ns[("dctx", "pinned")]), 2),
                fmt(median(ns[("floor", "pinned")]), 2), fmt(rf, 2)),
            r <= TARGET_SIGNAL_VS_RAW))

    # -- 5. shutdown -------------------------------------------------------
    def shutdown(self):
        path = os.path.join(self.raw, "shutdown.txt")
        self.p("## 5. Shutdown: SIGTERM until reaped", "")
        if not os.path.exists(path):
            self.p("> **Not measured.** `shutdown.txt` is missing from "
                   "this run's data.", "")
            return
        rows = {}
        for line in read_lines(path):
            f = line.split()
            # peer, µs, "exit" or "signal", its number, pidfile gone,
            # connections that read end of stream, connections
            rows.setdefault(f[0], []).append(
                (float(f[1]) / 1e3, f[2], int(f[3]), int(f[4]), int(f[5]),
                 int(f[6])))
        conns = int(self.env.get("conns", "0"))
        tick = float(self.env.get("echod_tick_ms") or "nan")
        med = {p: median([r[0] for r in v]) for p, v in rows.items()}
        n = len(rows.get("dctx", []))
        self.p("From `kill(pid, SIGTERM)` until `waitpid()` on the daemon "
               "returned. The harness (`shutlat.c`) is a child subreaper "
               "(`PR_SET_CHILD_SUBREAPER`), so a daemon that forked twice "
               "comes back to it as its child; it waits until it does, and "
               "until echod has accepted every connection (its descriptor "
               "count in /proc), then 20 ms more, so that the signal finds "
               "the daemon idle in its loop. echod is the example server, "
               "built from the same tree and linked as the libdctx peer, "
               "listening on 127.0.0.1:{}; its connections are opened by "
               "the harness and stay idle: *never used* ones sent nothing, "
               "*echoed once* ones each got one byte back before they went "
               "quiet. Medians of {} shutdowns per row, all rows taking "
               "turns in an order that rotates every round; in ms. "
               "*Ends with*: the wait status. *Closed in order*: the "
               "connections on which the harness read end of stream "
               "(rather than a reset) once the daemon was gone.".format(
                   self.env.get("echod_port", "?"), n), "")
        labels = [(p, NAMES[p]) for p in PEERS] + [
            ("echod_empty", "echod, no connections"),
            ("echod_idle", "echod, {:,} idle connections, never used".format(
                conns)),
            ("echod_echoed", "echod, {:,} idle connections, echoed "
             "once".format(conns))]

        def ends(v):
            kinds = {}
            for r in v:
                k = ("exit {}".format(r[2]) if r[1] == "exit" else
                     "killed by signal {}".format(r[2]))
                kinds[k] = kinds.get(k, 0) + 1
            if len(kinds) == 1:
                return next(iter(kinds))
            return ", ".join("{} ({} of {})".format(k, c, len(v))
                             for k, c in sorted(kinds.items()))

        def gone(v):
            g = sum(r[3] for r in v)
            if g == len(v):
                return "removed"
            if g == 0:
                return "left behind"
            return "removed in {} of {}".format(g, len(v))

        def in_order(v):
            if not v[0][5]:
                return ""
            return "{:,} of {:,}".format(min(r[4] for r in v), v[0][5]) + (
                "" if all(r[4] == r[5] for r in v) else " (fewest)")

        body = []
        for p, name in labels:
            v = rows.get(p)
            if not v:
                continue
            xs = [r[0] for r in v]
            body.append([name, fmt(med[p], 2),
                         fmt(pct(xs, 10), 2) + " – " + fmt(pct(xs, 90), 2),
                         ends(v), gone(v), in_order(v)])
        self.p(table(["peer", "SIGTERM → reaped (ms)", "p10 – p90",
                      "ends with", "pidfile after", "closed in order"],
                     body, ["---", "---:", "---:", "---", "---", "---:"]), "")

        def m(p):
            return med.get(p, float("nan"))

        idle = m("echod_idle") - m("echod_empty")
        echoed = m("echod_echoed") - m("echod_idle")
        per_conn = (idle - tick) / conns * 1e3 if conns else float("nan")
        extra_tick = abs(echoed - tick) < tick / 4
        c_max = max(m(p) for p in ("dctx", "libdaemon", "daemon3", "floor"))
        # What the file system under the pidfile costs at exit, when the
        # same daemons also ran with it on a tmpfs.
        gap = m("dctx") - m("dctx_tmpfs")
        ld_gap = m("libdaemon") - m("libdaemon_tmpfs")
        fs_cost = self.env.get("scratch_fs") == "ext4" and \
            gap > max(2 * ld_gap, 0.1)
        self.p("What dominates. An idle minimal daemon in C is gone within "
               "{} ms: the signal, one turn of its loop or none (daemon(3) "
               "and the floor simply die of it and leave their pidfile "
               "behind), the exit, the reaping{}. python-daemon "
               "takes {} ms, the interpreter unwinding the `SystemExit` "
               "that PEP 3143's `terminate` raises ({}) and finalising "
               "itself. echod with no connection stops in {} ms (the "
               "minimal libdctx daemon in {} ms): its chain's first step "
               "finds nothing to drain and finishes at once. With {:,} "
               "open connections echod's own {:g} ms drain tick dominates: "
               "a draining connection is closed only once it has been "
               "quiet for a whole tick, so none closes before the first "
               "tick; that is {:g} of the {} ms the connections add, and "
               "the rest, {} µs per connection, is the closing itself "
               "(FIONREAD, `epoll_ctl` DEL and a `close()` that sends the "
               "FIN, whose loopback peer is processed within the same "
               "call).".format(
                   fmt(c_max, 2),
                   "; most of what libdctx spends above libdaemon goes on "
                   "its pidfile (see below)" if fs_cost else "",
                   fmt(m("python"), 1),
                   ends(rows["python"]) if "python" in rows else "n/a",
                   fmt(m("echod_empty"), 2), fmt(m("dctx"), 2), conns, tick,
                   tick, fmt(idle, 1), fmt(per_conn, 1)),
               "")
        if extra_tick:
            self.p("Connections that echoed once take {} ms more, about "
                   "one tick: echod's per-connection *active* flag, set by "
                   "every read, is cleared only by a drain tick, so a "
                   "connection that sent anything at any time before "
                   "SIGTERM still counts as active at the first tick, "
                   "however long it has been quiet, and closes at the "
                   "second.".format(fmt(echoed, 1)), "")
        else:
            self.p("Connections that echoed once and those never used "
                   "take no extra tick (echoed minus never used: {} ms): "
                   "echod judges a draining connection quiet "
                   "from SIGTERM on, whatever it did before.".format(
                       fmt(echoed, 1)), "")
        shm = [p for p in ("dctx_tmpfs", "libdaemon_tmpfs") if p in rows]
        if shm:
            self.p("### Where the pidfile lives", "",
                   "The rows above keep their pidfiles in the scratch "
                   "directory, on {}; these rows are the same daemons with "
                   "the pidfile on a tmpfs (`/dev/shm`), as `/run` is on "
                   "most systems, measured in the same rounds.".format(
                       self.env.get("scratch_fs", "?")), "")
            body = []
            for p in ("dctx", "libdaemon"):
                for q, where in ((p, self.env.get("scratch_fs", "?")),
                                 (p + "_tmpfs", "tmpfs")):
                    v = rows.get(q)
                    if not v:
                        continue
                    xs = [r[0] for r in v]
                    body.append([NAMES[p], where, fmt(med[q], 2),
                                 fmt(pct(xs, 10), 2) + " – " +
                                 fmt(pct(xs, 90), 2), gone(v)])
            self.p(table(["peer", "pidfile on", "SIGTERM → reaped (ms)",
                          "p10 – p90", "pidfile after"], body,
                         ["---", "---", "---:", "---:", "---"]), "")
            if fs_cost:
                self.p("On ext4 libdctx's stop takes {} ms longer than on "
                       "a tmpfs (libdaemon's {} ms), for the way it writes "
                       "its pidfile: `ftruncate(fd, 0)`, then the pid. "
                       "ext4's `auto_da_alloc` takes that for a file being "
                       "replaced, and makes the last `close()` of the "
                       "descriptor, at exit, allocate the file's delayed "
                       "block and start writing it out, although the file "
                       "was just unlinked. "
                       "libdaemon creates its pidfile afresh (`O_EXCL`), "
                       "writes it and closes it at start, with no "
                       "truncation, so its exit has nothing to flush; on a "
                       "tmpfs the two are alike.".format(
                           fmt(gap, 2), fmt(ld_gap, 2)), "")
            else:
                self.p("Here the file system under the pidfile changes "
                       "libdctx's stop by {} ms and libdaemon's by {} "
                       "ms.".format(fmt(gap, 2), fmt(ld_gap, 2)), "")

    # -- 6. footprint ------------------------------------------------------
    def footprint(self):
        rss = {}
        for line in read_lines(os.path.join(self.raw, "rss.txt")):
            f = line.split()
            rss.setdefault(f[0], []).append(int(f[5]))
        self.p("## 6. Footprint", "",
               "VmRSS of each idle daemon, 200 ms after it was ready "
               "(median of three starts), from /proc/PID/status.", "")
        self.p(table(["peer", "VmRSS (kB)", "÷ libdctx"],
                     [[NAMES[p], fmt(median(rss[p]), 0),
                       fmt(ratio(median(rss[p]), median(rss["dctx"])), 2)]
                      for p in PEERS if p in rss]), "")
        self.p("Heap calls per signal in the steady state, counted by "
               "`malloc_count.so` (an LD_PRELOAD shim that counts malloc, "
               "calloc, realloc and the aligned allocators into a shared "
               "mapping, so the count survives the fork and the closing of "
               "descriptors): after 100 warm-up signals, the allocations "
               "over 100 and over 1,000 more, each in its own daemon; per "
               "signal = (A1000 − A100) / 900. *Before* is everything "
               "allocated up to the first counted signal, proof that the "
               "shim was counting.", "")
        body = []
        for p in ("dctx", "libdaemon", "floor"):
            path = os.path.join(self.raw, "alloc-{}.txt".format(p))
            if not os.path.exists(path):
                continue
            a = {}
            for line in read_lines(path):
                f = line.split()
                a[int(f[0])] = (int(f[1]), int(f[2]), int(f[4]))
            per = (a[1000][0] - a[100][0]) / 900.0
            body.append([{"dctx": "libdctx", "libdaemon": "libdaemon",
                          "floor": "raw self-pipe"}[p],
                         str(a[100][2]), str(a[100][0]), str(a[1000][0]),
                         fmt(per, 3)])
        self.p(table(["peer", "before", "A100", "A1000", "allocations / signal"],
                     body), "")

    # -- the whole --------------------------------------------------------
    def render(self):
        self.start()
        self.start_variants()
        self.syscalls()
        self.closeall()
        self.signals()
        self.shutdown()
        self.footprint()
        body = self.out
        self.out = []
        e = self.env
        self.p("# libdctx benchmark results", "",
               "Written by `bench/run.sh` ({}, {}); do not edit by hand, run "
               "`make bench`.".format(e["date"], e.get("elapsed", "?")), "",
               "## Machine and versions", "",
               table(["", ""], [
                   ["CPU", "{} × {}".format(e["nproc"], e["cpu"])],
                   ["memory", e["mem"]],
                   ["kernel", e["kernel"]],
                   ["load average, start → end", "{} → {}".format(
                       e["loadavg_start"], e.get("loadavg_end", "?"))],
                   ["libdctx", e["libdctx"]],
                   ["libevent", e["libevent"]],
                   ["libdaemon", e["libdaemon"]],
                   ["python-daemon", "{} ({})".format(e["python_daemon"],
                                                      e["python"])],
                   ["glibc", e["glibc"]],
                   ["compiler", e["cc"]],
                   ["strace", e["strace"]],
                   ["RLIMIT_NOFILE", "found {} (soft:hard); hard limit used "
                    "{}; fs.nr_open {}".format(e["nofile_found"], e["nofile_hard"],
                                               e["nr_open"])],
                   ["runs", "{} starts per peer, {} signals per peer, {} "
                    "repetitions per close-all point".format(
                        e["runs"], e["signals"], e["reps"])],
               ], ["---", "---"]), "",
               "## Targets", "",
               table(["target", "measured", "verdict"],
                     [[t, m, mark(ok)] for t, m, ok in self.targets],
                     ["---", "---", "---"]), "")
        self.out.extend(body)
        return "\n".join(self.out) + "\n"


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: report.py RAWDIR PLOTDATA")
    sys.stdout.write(Report(argv[1], argv[2]).render())
    # Section 7 comes from bench/reload.sh (root, the real systemd), which
    # run.sh does not run: the last one it wrote is kept.
    reload = os.path.join(argv[1], "reload.md")
    if os.path.exists(reload):
        sys.stdout.write("\n" + open(reload).read())


if __name__ == "__main__":
    main(sys.argv)
