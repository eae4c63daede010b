#!/bin/bash
#
# bench/watchdog.sh: the jitter of the watchdog's pings (WATCHDOG=1) that
# libdctx sends from the daemon's loop under systemd's WatchdogSec=, with
# the loop idle and busy echoing.  Writes its section ("8. Watchdog ping
# jitter") into bench/RESULTS.md, replacing the one there, and its rows
# into bench/out/raw/watchdog.txt.  bench/run.sh (`make bench`) runs it
# last; on its own, `bash bench/watchdog.sh` builds libdctx and echod
# first the way run.sh does (BENCH_BUILD_ONLY=1).  About a minute.
#
# Environment:
#   BENCH_WD_USEC     the WATCHDOG_USEC echod is given (40000: a ping every
#                     20 ms, so that a run holds hundreds of intervals)
#   BENCH_WD_SECONDS  length of each run (10)
#   BENCH_WD_CONNS    busy connections in the loaded runs (64)
#   BENCH_WD_PORT     echod's port on 127.0.0.1 (17778)
#   BENCH_OUT         scratch directory (bench/out, git-ignored)
#   BENCH_WD_BUILT    set to 1 when bench/out/bin/echod is already built
#                     from this tree (run.sh does)
#
set -eu

here=$(cd "$(dirname "$0")" && pwd)
OUT=${BENCH_OUT:-$here/out}
BIN=$OUT/bin
RAW=$OUT/raw
USEC=${BENCH_WD_USEC:-40000}
SECS=${BENCH_WD_SECONDS:-10}
CONNS=${BENCH_WD_CONNS:-64}
PORT=${BENCH_WD_PORT:-17778}
CC=${CC:-cc}
BCFLAGS="-O2 -g -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes -Wshadow"

say() { printf '== %s\n' "$*" >&2; }

if [ "${BENCH_WD_BUILT:-0}" != 1 ] || [ ! -x "$BIN/echod" ]; then
	BENCH_OUT=$OUT BENCH_BUILD_ONLY=1 bash "$here/run.sh"
fi
mkdir -p "$RAW"
$CC $BCFLAGS "$here/wdjitter.c" -o "$BIN/wdjitter"

cpu=$(( $(nproc) - 1 ))
half_ms=$(awk -v u="$USEC" 'BEGIN { printf "%g", u / 2000 }')
coarse_us=$("$BIN/wdjitter" -r)
e="$BIN/echod --listen 127.0.0.1:$PORT"
say "8. watchdog ping jitter: WATCHDOG_USEC=$USEC, $SECS s a run"
: > "$RAW/watchdog.txt"
run() {
	# $1 the label, then wdjitter's options
	local label=$1
	shift
	say "   $label"
	"$BIN/wdjitter" -u "$USEC" -s "$SECS" -n "$label" "$@" "$PORT" $e \
	    >> "$RAW/watchdog.txt" || { echo "bench: wdjitter $label failed" >&2; exit 1; }
}
run "idle"
run "loaded" -c "$CONNS"
run "loaded, one CPU" -c "$CONNS" -P "$cpu"
EVENT_PRECISE_TIMER=1 run "idle, precise timer"
EVENT_PRECISE_TIMER=1 run "loaded, one CPU, precise timer" -c "$CONNS" -P "$cpu"

section=$OUT/watchdog.md
{
	echo "<!-- bench/watchdog.sh: from here to the end marker -->"
	echo "## 8. Watchdog ping jitter"
	echo
	echo "Written by \`bench/watchdog.sh\` ($(date -u '+%Y-%m-%d %H:%M UTC'), load average at the end $(cut -d' ' -f1-3 /proc/loadavg))."
	echo
	echo "systemd's watchdog as libdctx serves it: echod runs in the foreground with \`\$NOTIFY_SOCKET\` naming a datagram socket of the harness (\`wdjitter.c\`) and \`WATCHDOG_USEC=$USEC\`, so a timer in its loop sends \`WATCHDOG=1\` every $half_ms ms; the harness notes the kernel's receive time of each ping (\`SO_TIMESTAMPNS\`) for $SECS s after READY=1. *Loaded*: a client process keeps $CONNS connections echoing 512 bytes back and forth as fast as they go. *One CPU*: echod and the client pinned to CPU $cpu, so that the loop's pings wait behind its load. *Precise timer*: \`EVENT_PRECISE_TIMER=1\` in echod's environment. Deviation: |interval − $half_ms ms|; times in ms. *Echod CPU*: its user and system time over the run."
	echo
	echo "| run | pings (due) | median interval | p99 deviation | max deviation | round trips / s | echod CPU |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	cat "$RAW/watchdog.txt"
	echo
	echo "What moves the pings. libevent 2.1 reads the time for its timers from \`CLOCK_MONOTONIC_COARSE\` unless a base asks for \`EVENT_BASE_FLAG_PRECISE_TIMER\` (libdctx's does not) or \`\$EVENT_PRECISE_TIMER\` is set, and that clock advances in kernel ticks, ${coarse_us} µs here. An idle loop sleeps in \`epoll_wait()\` for a timeout reckoned on that clock, in whole milliseconds, and wakes to a clock up to a tick behind: a ping comes up to a tick early or late. A loop that its connections wake all the time looks at its timers at every turn, and a ping goes out with the first tick after it is due, behind the callbacks of the turn in progress. The precise timer takes the tick out of the reckoning, and leaves epoll's millisecond, the load, and the wait of a woken loop for a CPU. That last one is the machine's: it is shared, the load average above is everyone's, and other processes' CPU time shows in any row, the idle ones too. A persistent libevent timer is rescheduled from the time it was due, so late pings do not drift and none is lost (pings against due). Against a WatchdogSec= of seconds all of it is small: systemd acts only when a ping is half an interval late, which is what a loop held that long by one callback causes, the case the watchdog is for."
	echo "<!-- bench/watchdog.sh: end -->"
} > "$section"

results=$here/RESULTS.md
if [ -f "$results" ]; then
	# Drop the old section, and the blank lines that would trail.
	awk '/^<!-- bench\/watchdog.sh: from here/ { skip = 1 }
	    !skip && $0 == "" { blank++ }
	    !skip && $0 != "" { for (; blank > 0; blank--) print ""; print }
	    /^<!-- bench\/watchdog.sh: end -->/ { skip = 0 }' \
	    "$results" > "$results.tmp"
	{ cat "$results.tmp"; echo; cat "$section"; } > "$results"
	rm -f "$results.tmp"
else
	cp "$section" "$results"
fi
say "done: section 8 of $results"
