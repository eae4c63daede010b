#!/bin/bash
#
# bench/reload.sh: the `systemctl reload` round trip under the real systemd
# (tests/sdbox), for a libdctx daemon with the unit of
# examples/systemd/echod.service, and for the peers a unit file without its
# first ExecReload= line would give.  Writes bench/out/raw/reload.md and puts
# it in bench/RESULTS.md as section 7 (report.py keeps it there when
# `make bench` writes the file again).  Root only (sdbox); never part of
# `make check`.
#
# The units, all run at once in one box, taking turns, the order rotating
# every round; every one of them but echod runs tests/dctx-helper, whose
# reload step takes 100 ms and writes "reload step done N":
#   echod       examples/systemd/echod.service as shipped (echod's reload
#               step is instant): the round trip itself
#   dctx        the same unit lines, the helper's 100 ms step
#   kill+notify Type=notify, only `ExecReload=/bin/kill -HUP $MAINPID`;
#               the daemon still says RELOADING=1 and READY=1
#   kill        Type=simple, `ExecReload=/bin/kill -HUP $MAINPID`, and a
#               daemon that tells systemd nothing (no $NOTIFY_SOCKET)
# For each reload: the time `systemctl reload` took, measured inside the box
# with bash's $EPOCHREALTIME (no process of its own), and whether the
# daemon's reload was done when it returned (its line written).  The next
# reload waits until the last one is done.
#
# Environment:
#   BENCH_RELOADS   reloads per unit (41)
#   BENCH_OUT       scratch directory (bench/out)
#
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
OUT=${BENCH_OUT:-$here/out}
N=${BENCH_RELOADS:-41}
ECHOD=$top/examples/echod
HELPER=$top/tests/dctx-helper
UNIT=$top/examples/systemd/echod.service
export SDBOX_STATE=/run/dctx-bench-reload.$$.pid SDBOX_BIND=$top
box() { "$top/tests/sdbox" "$@"; }

say() { printf 'reload.sh: %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { say "needs root (tests/sdbox)"; exit 1; }
make -s -C "$top" examples/echod tests/dctx-helper >/dev/null ||
    { say "build the tree first: ./configure && make"; exit 1; }
mkdir -p "$OUT/raw"
box start
trap 'box stop' EXIT
root=$(box root)
sd=$root/run/systemd/system

# The shipped unit, its files moved to the box's own /run (its /var/log is
# the host's), without WatchdogSec= (the daemons here do not ping yet, and a
# series lasts longer than 30 s).
shipped() { # NAME EXECSTART-or-empty
	local start="s|/usr/local/bin/echod|$ECHOD|"
	[ -n "$2" ] && start="s|^ExecStart=.*|ExecStart=$2|"
	sed -e "$start" -e "s|/var/log/echod.log|/run/$1.log|g" \
	    -e "s|/run/echod/|/run/$1/|g" \
	    -e "s|RuntimeDirectory=echod|RuntimeDirectory=$1|" \
	    -e "s|127.0.0.1:7777|127.0.0.1:7399|" -e '/^WatchdogSec=/d' \
	    -e '/^Restart=/d' "$UNIT" >"$sd/$1.service"
}
shipped b-echod ""
shipped b-dctx "$HELPER --reload-step-ms 100 --stdout /run/b-dctx.log"
printf '[Service]\nType=notify\nExecStart=%s --reload-step-ms 100 --stdout /run/b-killnotify.log\nExecReload=/bin/kill -HUP $MAINPID\n' \
    "$HELPER" >"$sd/b-killnotify.service"
printf '[Service]\nType=simple\nExecStart=%s --foreground --reload-step-ms 100 --stdout /run/b-kill.log\nExecReload=/bin/kill -HUP $MAINPID\n' \
    "$HELPER" >"$sd/b-kill.service"
box run systemctl daemon-reload
box run systemctl start b-echod b-dctx b-killnotify b-kill

# The rounds, inside the box: "UNIT I MICROSECONDS DONE" per reload.
cat >"$root/run/bench-reload.sh" <<'EOF'
n=$1
units=(b-echod b-dctx b-killnotify b-kill)
declare -A pat=([b-echod]="echod: reloaded" [b-dctx]="reload step done"
    [b-killnotify]="reload step done" [b-kill]="reload step done")
us() { local t=${1/./}; echo $((10#$t)); }
for ((i = 1; i <= n; i++)); do
	for ((k = 0; k < 4; k++)); do
		u=${units[$(((i + k) % 4))]}
		s=$EPOCHREALTIME
		systemctl reload "$u"
		e=$EPOCHREALTIME
		got=$(grep -c "${pat[$u]}" "/run/$u.log")
		echo "$u $i $(($(us "$e") - $(us "$s"))) $((got >= i))"
		for ((w = 0; w < 500 && got < i; w++)); do
			sleep 0.01
			got=$(grep -c "${pat[$u]}" "/run/$u.log")
		done
	done
done
EOF
say "$N reloads per unit"
box run bash /run/bench-reload.sh "$N" >"$OUT/raw/reload.txt"
for u in b-echod b-dctx b-killnotify b-kill; do
	box run systemctl show -P Result "$u" | sed "s/^/$u Result=/"
done >"$OUT/raw/reload-result.txt"
box run systemctl stop b-echod b-dctx b-killnotify b-kill

python3 - "$OUT/raw/reload.txt" "$(systemctl --version 2>/dev/null |
    head -1 || echo systemd ?)" "$N" >"$OUT/raw/reload.md" <<'EOF'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    u, i, us, done = line.split()
    rows.setdefault(u, []).append((int(us) / 1000.0, int(done)))
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]
names = [
    ("b-echod", "echod, examples/systemd/echod.service (instant reload step)"),
    ("b-dctx", "libdctx daemon, 100 ms reload step, the same unit lines"),
    ("b-killnotify", "libdctx daemon, 100 ms step, Type=notify + bare `kill -HUP`"),
    ("b-kill", "daemon telling systemd nothing, 100 ms step, Type=simple + `kill -HUP`"),
]
print("## 7. `systemctl reload` round trip\n")
print("Written by `bench/reload.sh` ({}; {} reloads per unit); run it again "
      "to refresh this section.\n".format(sys.argv[2], sys.argv[3]))
print("From the start of `systemctl reload UNIT` until it returned, timed "
      "inside the box (tests/sdbox: Debian's systemd as pid 1 of private "
      "namespaces) with bash's `$EPOCHREALTIME`; all four units run side "
      "by side, taking turns in an order that rotates every round, and "
      "the next reload of a unit waits until its last one is done. "
      "*Done at return*: in how many reloads the daemon's reload had "
      "written its line (its step was over) when `systemctl reload` "
      "returned, i.e. when a script that runs `systemctl reload` and "
      "then relies on the reload could do so.\n")
print("| unit | round trip (ms) | p10 – p90 | done at return |")
print("| --- | ---: | ---: | ---: |")
for key, label in names:
    r = rows.get(key, [])
    if not r:
        continue
    ms = [x for x, _ in r]
    print("| {} | {:.1f} | {:.1f} – {:.1f} | {} of {} |".format(
        label, statistics.median(ms), pct(ms, 10), pct(ms, 90),
        sum(d for _, d in r), len(r)))
def med(k):
    return statistics.median([x for x, _ in rows[k]])
def done(k):
    return sum(d for _, d in rows[k])
if all(k in rows for k, _ in names):
    n = len(rows["b-dctx"])
    print("\nWith the unit's two `ExecReload=` lines, {} of {} reloads with "
          "a 100 ms step were over when `systemctl reload` returned; with a "
          "bare `kill -HUP`, {} of {}, although the daemon said RELOADING=1 "
          "and READY=1 all the same: in the others kill's exit reached "
          "systemd before the daemon's RELOADING=1, and the reload job "
          "ended at once. A daemon that tells systemd nothing was never "
          "done ({} of {}): `systemctl reload` only runs kill. The shipped "
          "unit's round trip for an instant reload, {:.1f} ms, against "
          "{:.1f} ms for that peer, is what waiting costs: one more control "
          "process (systemd-notify) and the daemon's two datagrams; the "
          "rest is `systemctl` itself.".format(
              done("b-dctx"), n, done("b-killnotify"),
              len(rows["b-killnotify"]), done("b-kill"), len(rows["b-kill"]),
              med("b-echod"), med("b-kill")))
EOF
cat "$OUT/raw/reload-result.txt" >&2

# Section 7 of RESULTS.md: replaced where it is, else appended.
python3 - "$here/RESULTS.md" "$OUT/raw/reload.md" <<'EOF'
import sys, re
path, sect = sys.argv[1], open(sys.argv[2]).read()
text = open(path).read()
m = re.search(r"^## 7\. `systemctl reload` round trip\n.*?(?=^## |\Z)", text,
              re.S | re.M)
text = (text[:m.start()] + sect + "\n" + text[m.end():]) if m else \
    text.rstrip("\n") + "\n\n" + sect
open(path, "w").write(text)
EOF
cat "$OUT/raw/reload.md"
