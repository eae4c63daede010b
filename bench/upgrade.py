"""upgrade.py: the upgrade-versus-restart section of bench/RESULTS.md.

usage: upgrade.py RAWDIR PLOTDATA RESULTS

Reads what upgrade.sh measured in RAWDIR (env.txt, and per mode
events-MODE.txt, summary-MODE.txt, series-MODE.txt), writes PLOTDATA (the
requests per window through one upgrade and one restart, for upgrade.gp:
one block per mode, upgrade first)
and puts the section into RESULTS between its two marker lines, replacing
what was there, or at the end.  Prints the gnuplot variables for the plot
on stdout.  Standard library only.
"""
import os
import statistics
import sys

BEGIN = "<!-- upgrade.sh: begin -->"
END = "<!-- upgrade.sh: end -->"
MODES = ["upgrade", "restart"]
NAMES = {"upgrade": "upgrade (`echod --upgrade`)",
         "restart": "stop and start (SIGTERM, then start)"}
FAILS = ["refused", "reset", "eof", "timeout", "corrupt", "error"]
# After the new process is ready and the old one gone, how long the
# clients may still feel the switch (a request queued behind it).
TAIL_MS = 100
# The plot: this much before the request and after it.
PLOT_BEFORE_MS = 100
PLOT_AFTER_MS = 400  # upgrade.gp's xrange too


def kv(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, sep, v = line.rstrip("\n").partition("=")
            if sep:
                out[k] = v
    return out


def fmt(x, digits=1):
    if x is None or x != x:
        return "n/a"
    return "{:,.{}f}".format(x, digits)


def table(header, rows, align=None):
    out = ["| " + " | ".join(header) + " |"]
    align = align or (["---"] + ["---:"] * (len(header) - 1))
    out.append("| " + " | ".join(align) + " |")
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


class Run:
    """One mode's run: its switches, its load generator's windows."""

    def __init__(self, raw, mode):
        self.mode = mode
        self.sum = kv(os.path.join(raw, "summary-{}.txt".format(mode)))
        self.switches = []
        with open(os.path.join(raw, "events-{}.txt".format(mode))) as f:
            for line in f:
                x = line.split()
                if len(x) < 9:
                    continue
                self.switches.append({
                    "i": int(x[1]), "req": int(x[2]), "ready": int(x[3]),
                    "cmd": int(x[4]), "gone": int(x[5]), "old": int(x[6]),
                    "new": int(x[7]), "status": int(x[8])})
        self.win_ms = int(self.sum["window_ms"])
        self.t0 = int(self.sum["t0_ns"])
        self.rows = []
        with open(os.path.join(raw, "series-{}.txt".format(mode))) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                x = [int(v) for v in line.split()]
                self.rows.append({
                    "t": x[0], "ok": x[1],
                    "failed": sum(x[2:8]), "lost": x[8], "max": x[9]})

    def done(self):
        return [s for s in self.switches if s["ready"] >= 0]

    def span(self, s):
        """The windows a switch may touch, as row indexes."""
        end = max(s["ready"], s["gone"], s["cmd"]) + TAIL_MS * 1000000
        a = max(0, (s["req"] - self.t0) // (self.win_ms * 1000000))
        b = (end - self.t0) // (self.win_ms * 1000000)
        return range(int(a), int(min(b + 1, len(self.rows))))

    def analyse(self):
        inside = set()
        self.per = []
        for s in self.switches:
            idx = list(self.span(s))
            inside.update(idx)
            self.per.append({
                "s": s,
                "failed": sum(self.rows[i]["failed"] for i in idx),
                "lost": sum(self.rows[i]["lost"] for i in idx),
                "slowest": max([self.rows[i]["max"] for i in idx] or [0]),
                "min_ok": min([self.rows[i]["ok"] for i in idx] or [0]),
            })
        # The steady state: whole windows away from every switch, and
        # away from the run's first and last second.
        first = 1000 // self.win_ms
        last = len(self.rows) - first
        self.steady = [r for i, r in enumerate(self.rows)
                       if i not in inside and first <= i < last]
        self.failed_outside = sum(r["failed"] for i, r in
                                  enumerate(self.rows) if i not in inside)

    def ms(self, key, s):
        if s[key] < 0:
            return float("nan")
        return (s[key] - s["req"]) / 1e6

    def typical(self):
        """The switch whose request-to-ready time is the median one."""
        done = sorted(self.done(), key=lambda s: s["ready"] - s["req"])
        return done[len(done) // 2] if done else None


def section(raw, plotdata):
    env = kv(os.path.join(raw, "env.txt"))
    runs = {}
    for m in MODES:
        if os.path.exists(os.path.join(raw, "events-{}.txt".format(m))):
            runs[m] = Run(raw, m)
            runs[m].analyse()
    out = [BEGIN, "## 9. Upgrade against restart, under load", ""]
    conns = env.get("conns", "?")
    out.append(
        "Written by `bench/upgrade.sh` ({}, {} s); do not edit by hand. "
        "echod on 127.0.0.1:{} is switched to a new process {} times in "
        "each mode, {} ms apart, while `bench/loadgen` runs {} clients "
        "against it, each in a loop: connect, send {} bytes, read them "
        "back and check every byte, close (with a reset, so that no "
        "TIME_WAIT piles up on the clients' ports); a client whose "
        "request failed retries after {} ms. Everything is counted "
        "per {} ms window on the clock the switch times use. *During a "
        "switch*: from the request until the new process is ready and "
        "the old one gone, plus {} ms. *Request*: the moment `echod --upgrade "
        "--pidfile P` is started (upgrade; it sends SIGUSR2 and waits for "
        "the outcome), or SIGTERM is sent (restart). *Ready*: the pidfile "
        "names the new process (an upgrade's old process writes the new "
        "pid once the new one reported ready; a restarted echod writes its "
        "own, and its launcher has exited).".format(
            env.get("date", "?"), env.get("elapsed", "?"),
            env.get("port", "?"), env.get("switches", "?"),
            env.get("interval_ms", "?"), conns, env.get("bytes", "?"),
            env.get("backoff_ms", "?"), env.get("window_ms", "?"),
            TAIL_MS))
    out.append("")
    out.append("Machine: {} CPUs, {}; load average {} at the start, {} "
               "at the end; libdctx {}.".format(
                   env.get("nproc", "?"), env.get("kernel", "?"),
                   env.get("loadavg_start", "?"),
                   env.get("loadavg_end", "?"), env.get("libdctx", "?")))
    out.append("")
    if "upgrade" not in runs:
        out.append("**The upgrade was not measured**: {}.".format(
            env.get("upgrade_missing", "this echod has no --upgrade")))
        out.append("")
    modes = [m for m in MODES if m in runs]
    if not modes:
        out.extend(["Nothing was measured.", END])
        return "\n".join(out), None

    def col(f):
        return [f(runs[m]) for m in modes]

    def med(xs):
        xs = [x for x in xs if x == x]
        return statistics.median(xs) if xs else float("nan")

    def rng(xs):
        xs = [x for x in xs if x == x]
        if not xs:
            return "n/a"
        return "{} – {}".format(fmt(min(xs), 1), fmt(max(xs), 1))

    rows = [
        ["switches that happened"] + col(
            lambda r: "{} of {}".format(len(r.done()), len(r.switches))),
        ["requests answered in full"] + col(
            lambda r: "{:,}".format(int(r.sum["ok"]))),
        ["connections refused"] + col(
            lambda r: "{:,}".format(int(r.sum["refused"]))),
        ["connections reset or cut short (EOF)"] + col(
            lambda r: "{:,}".format(int(r.sum["reset"]) + int(r.sum["eof"]))),
        ["timed out, corrupt, other errors"] + col(
            lambda r: "{:,}".format(int(r.sum["timeout"]) +
                                    int(r.sum["corrupt"]) +
                                    int(r.sum["error"]))),
        ["of the failures, outside any switch"] + col(
            lambda r: "{:,}".format(r.failed_outside)),
        ["bytes lost (sent, never echoed)"] + col(
            lambda r: "{:,}".format(int(r.sum["bytes_lost"]))),
        ["slowest request during a switch, median (ms)"] + col(
            lambda r: fmt(med([p["slowest"] / 1e3 for p in r.per]), 1)),
        ["slowest request during a switch, worst (ms)"] + col(
            lambda r: fmt(max([p["slowest"] / 1e3 for p in r.per] or
                              [float("nan")]), 1)),
        ["slowest request away from switches (ms)"] + col(
            lambda r: fmt(max([x["max"] / 1e3 for x in r.steady] or
                              [float("nan")]), 1)),
        ["request latency p50 / p99, whole run (ms)"] + col(
            lambda r: "{} / {}".format(
                fmt(int(r.sum["latency_p50_us"]) / 1e3, 2),
                fmt(int(r.sum["latency_p99_us"]) / 1e3, 2))),
        ["request → new process ready, median (ms)"] + col(
            lambda r: fmt(med([r.ms("ready", s) for s in r.switches]), 1)),
        ["request → new process ready, min – max (ms)"] + col(
            lambda r: rng([r.ms("ready", s) for s in r.switches])),
        ["request → `echod --upgrade` returned, median (ms)"] + col(
            lambda r: fmt(med([r.ms("cmd", s) for s in r.switches]), 1)
            if r.mode == "upgrade" else "–"),
        ["request → old process gone, median (ms)"] + col(
            lambda r: fmt(med([r.ms("gone", s) for s in r.switches]), 1)),
        ["requests per window away from switches, median"] + col(
            lambda r: fmt(med([x["ok"] for x in r.steady]), 0)),
        ["fewest requests in a window during a switch, median"] + col(
            lambda r: fmt(med([p["min_ok"] for p in r.per]), 0)),
    ]
    out.append(table(["per run of {} switches".format(
        env.get("switches", "?"))] + [NAMES[m] for m in modes], rows))
    out.append("")
    if "upgrade" in runs:
        r = runs["upgrade"]
        bad = [p for p in r.per if p["failed"] or p["lost"]]
        refused = int(r.sum["refused"])
        lost = int(r.sum["bytes_lost"])
        ok = (refused == 0 and lost == 0 and int(r.sum["failed"]) == 0 and
              len(r.done()) == len(r.switches))
        out.append("Target, zero refused and zero lost through every "
                   "upgrade: {} ({} of {} upgrades with a failed request "
                   "or a lost byte).".format(
                       "**met**" if ok else "**missed**", len(bad),
                       len(r.switches)))
        out.append("")
    if "restart" in runs:
        r = runs["restart"]
        n = max(1, len(r.switches))
        resets = int(r.sum["reset"]) + int(r.sum["eof"])
        out.append(
            "What the numbers say. A restart closes the port: from the "
            "moment the old echod stops accepting (its shutdown chain, on "
            "SIGTERM) until the new one has bound it (request to ready: "
            "{:.0f} ms at the median), every connection attempt is "
            "refused ({:,.0f} per "
            "restart here, with {} clients retrying every {} ms){}.{}".format(
                statistics.median([r.ms("ready", s) for s in r.switches]
                                  or [float("nan")]),
                int(r.sum["refused"]) / n, conns,
                env.get("backoff_ms", "?"),
                # Resets happen only when connections wait in the old
                # socket's queue as it closes: say so only when some did.
                ", and the connections still waiting in the old socket's "
                "accept queue when it closes are reset ({:,.1f} per "
                "restart; {:,} bytes sent on them never came back)".format(
                    resets / n, int(r.sum["bytes_lost"])) if resets else
                "; a connection still waiting in the old socket's accept "
                "queue when it closes would be reset (none was, this run)",
                "" if "upgrade" not in runs else
                " An upgrade never closes it: the new process is handed "
                "the same listening socket, the old one accepts from it "
                "until the new one is ready and then drains what it has, "
                "and a request waits at worst for a busy process, not for "
                "a port."))
        out.append("")
    # The plot: the typical switch of each mode, aligned on its request.
    picks = {m: runs[m].typical() for m in modes}
    with open(plotdata, "w") as f:
        for m in MODES:
            # One block per mode (gnuplot's index 0, 1): each window at
            # its own start from the request, not rounded to the grid,
            # so that nothing shows before the request that came after.
            f.write("# {}: t_ms ok failed\n".format(m))
            s = picks.get(m)
            rows = 0
            if s is not None:
                r = runs[m]
                base = (s["req"] - r.t0) / 1e6
                for x in r.rows:
                    t = x["t"] - base
                    if -PLOT_BEFORE_MS - r.win_ms <= t <= PLOT_AFTER_MS:
                        f.write("{:.2f} {} {}\n".format(t, x["ok"],
                                                         x["failed"]))
                        rows += 1
            if rows == 0:
                f.write("0 ? ?\n")
            f.write("\n\n")
    marks = []
    for m in modes:
        s = picks[m]
        if s is not None:
            marks.append("{}_ready={:.1f}".format(m, runs[m].ms("ready", s)))
        else:
            marks.append("{}_ready=-1".format(m))
    for m in MODES:
        if m not in runs:
            marks.append("{}_ready=-1".format(m))
    out.append("![requests per {} ms through one upgrade and one restart]"
               "(upgrade.png)".format(env.get("window_ms", "?")))
    out.append("")
    out.append("The plot: requests answered in full per {} ms window (lines) "
               "and failed ones (shaded boxes), through the switch of each mode "
               "whose request-to-ready time is the median one, with 0 "
               "at the request; the vertical lines mark the new process "
               "ready.".format(env.get("window_ms", "?")))
    out.append("")
    out.append(END)
    return "\n".join(out), "; ".join(marks)


def splice(results, text):
    old = ""
    if os.path.exists(results):
        with open(results) as f:
            old = f.read()
    a, b = old.find(BEGIN), old.find(END)
    if a >= 0 and b > a:
        new = old[:a] + text + old[b + len(END):]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text + "\n"
    with open(results, "w") as f:
        f.write(new)


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    text, marks = section(argv[1], argv[2])
    splice(argv[3], text)
    if marks:
        print(marks)


if __name__ == "__main__":
    main(sys.argv)
