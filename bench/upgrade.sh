#!/bin/bash
#
# bench/upgrade.sh: what switching echod to a new process costs its
# clients, upgrade against a plain stop-and-start, side by side; writes
# its section of bench/RESULTS.md and bench/upgrade.png.  `make bench`
# runs it last (run.sh); it also runs alone, building what it needs the
# way run.sh does, and then replaces only its own section of RESULTS.md.
#
# For each mode, upswitch starts echod with a pidfile, then loadgen
# against it, then switches echod's process BENCH_SWITCHES times:
#   upgrade  `echod --upgrade --pidfile P` (SIGUSR2 to the daemon, and
#            the wait for its outcome); skipped, and said so, when this
#            echod has no --upgrade;
#   restart  SIGTERM, wait for the old process to end, start echod again.
# loadgen counts requests, refusals, resets and lost bytes per 10 ms;
# upswitch notes when each switch was asked for, when the new process was
# ready and when the old one was gone; upgrade.py puts them together.
#
# Environment:
#   BENCH_SWITCHES      switches per mode (20)
#   BENCH_INTERVAL_MS   pause between switches (500)
#   BENCH_LOAD_CONNS    concurrent clients (64)
#   BENCH_LOAD_BYTES    bytes each request sends and reads back (1024)
#   BENCH_UPGRADE_PORT  echod's port on 127.0.0.1 (17780)
#   BENCH_OUT           scratch directory (bench/out, git-ignored)
#   BENCH_BIN           the tools, already built (run.sh sets it)
#
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
OUT=${BENCH_OUT:-$here/out}
SWITCHES=${BENCH_SWITCHES:-20}
INTERVAL=${BENCH_INTERVAL_MS:-500}
CONNS=${BENCH_LOAD_CONNS:-64}
BYTES=${BENCH_LOAD_BYTES:-1024}
PORT=${BENCH_UPGRADE_PORT:-17780}
WINDOW=10
BACKOFF=10
PY=/usr/bin/python3
started=$(date +%s)

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

if [ -z "${BENCH_BIN:-}" ]; then
	say "building libdctx, echod and the tools (run.sh, build only)"
	BENCH_OUT=$OUT BENCH_BUILD_ONLY=1 bash "$here/run.sh" ||
	    die "the build failed"
	BENCH_BIN=$OUT/bin
fi
BIN=$BENCH_BIN
for t in echod loadgen upswitch; do
	[ -x "$BIN/$t" ] || die "$BIN/$t is missing"
done
command -v gnuplot >/dev/null || die "gnuplot is missing (apt-get install gnuplot-nox)"
[ -x "$PY" ] || die "$PY is missing"

RAW=$OUT/upgrade-raw
RUN=$(mktemp -d /tmp/dctx-upbench.XXXXXX)
trap 'rm -rf "$RUN"' EXIT
mkdir -p "$RAW"
rm -f "$RAW"/*

modes="upgrade restart"
upgrade_missing=
if ! "$BIN/echod" --help 2>/dev/null | grep -q -- '--upgrade'; then
	upgrade_missing="this echod has no --upgrade option (the upgrade is not built in yet)"
	say "no upgrade: $upgrade_missing"
	modes=restart
fi

{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc=$(nproc)"
	echo "kernel=$(uname -sr)"
	echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "libdctx=$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)"
	echo "switches=$SWITCHES"
	echo "interval_ms=$INTERVAL"
	echo "conns=$CONNS"
	echo "bytes=$BYTES"
	echo "port=$PORT"
	echo "window_ms=$WINDOW"
	echo "backoff_ms=$BACKOFF"
	echo "upgrade_missing=$upgrade_missing"
} > "$RAW/env.txt"

for mode in $modes; do
	say "$mode: $SWITCHES switches under $CONNS clients"
	"$BIN/upswitch" -m "$mode" -p "$RUN/echod.pid" \
	    -e "$RAW/events-$mode.txt" -l "$RAW/summary-$mode.txt" \
	    -n "$SWITCHES" -i "$INTERVAL" -- \
	    "$BIN/echod" --pidfile "$RUN/echod.pid" \
	    --listen "127.0.0.1:$PORT" --stdout "$RUN/echod-$mode.log" \
	    --stderr "$RUN/echod-$mode.err" -- \
	    "$BIN/loadgen" -c "$CONNS" -n "$BYTES" -d 0 -w "$WINDOW" \
	    -b "$BACKOFF" -o "$RAW/series-$mode.txt" "127.0.0.1:$PORT" ||
	    say "$mode: not every switch happened (see $RAW/events-$mode.txt)"
	cp "$RUN/echod-$mode.log" "$RUN/echod-$mode.err" "$RAW/" 2>/dev/null || true
	[ -s "$RAW/summary-$mode.txt" ] || die "$mode: the load generator said nothing"
done

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW/env.txt"
echo "elapsed=$(( $(date +%s) - started ))" >> "$RAW/env.txt"
say "writing the upgrade section of RESULTS.md and upgrade.png"
marks=$($PY "$here/upgrade.py" "$RAW" "$OUT/upgrade.dat" "$here/RESULTS.md")
gnuplot -e "datafile='$OUT/upgrade.dat'; outfile='$here/upgrade.png'; window=$WINDOW; $marks" \
    "$here/upgrade.gp"
say "done in $(( $(date +%s) - started )) s"
