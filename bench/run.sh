#!/bin/bash
#
# bench/run.sh: measure libdctx against its peers, side by side, and write
# bench/RESULTS.md and bench/close-all.png.  `make bench` runs this; CI's
# test command never does.
#
# The peers, each a small daemon in this folder doing the same job (detach,
# write a pidfile, idle or answer signals):
#   dctx       libdctx (built here from this source tree)
#   libdaemon  libdaemon, with its retval handshake
#   daemon3    glibc daemon(3) and a plain pidfile: the minimal baseline
#   python     python-daemon, PEP 3143's reference implementation
#   floor      fork, setsid, fork, report on a pipe: nothing is faster
# and, for the shutdown figure, examples/echod, libdctx's echo server,
# built from the same copy of the tree, which watchdog.sh then uses for
# the watchdog's ping jitter (section 8).  Last, upgrade.sh measures an
# upgrade of echod against a restart under load, and adds its section
# (9) to RESULTS.md and upgrade.png (its variables are in its own header).
#
# Missing Debian packages are installed with apt-get (root only).  The
# hard RLIMIT_NOFILE is raised to fs.nr_open where we may.  Everything
# started here is killed and reaped before the script ends.
#
# Environment:
#   BENCH_RUNS      starts per peer for the start-to-ready figure, and
#                   shutdowns per peer for the shutdown one (41, >= 21)
#   BENCH_SIGNALS   timed signal round trips per peer (10000)
#   BENCH_REPS      repetitions per point of the close-all figure (11)
#   BENCH_CONNS     idle connections to echod in the shutdown figure (1000)
#   BENCH_PORT      echod's port on 127.0.0.1 there (17777, or a free one)
#   BENCH_OUT       scratch directory (bench/out, git-ignored)
#   BENCH_NO_APT    set to 1 to never call apt-get
#   BENCH_BUILD_ONLY  set to 1 to build libdctx, the peers and the tools,
#                   then stop (a cheap check that the bench still compiles)
#
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
OUT=${BENCH_OUT:-$here/out}
RUNS=${BENCH_RUNS:-41}
SIGNALS=${BENCH_SIGNALS:-10000}
REPS=${BENCH_REPS:-11}
CONNS=${BENCH_CONNS:-1000}
PORT=${BENCH_PORT:-17777}
PY=/usr/bin/python3
CC=${CC:-cc}
BCFLAGS="-O2 -g -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes -Wshadow"

RAW=$OUT/raw
BIN=$OUT/bin
RUN=$(mktemp -d /tmp/dctx-bench.XXXXXX)
SHM=
started=$(date +%s)

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
cleanup() { rm -rf "$RUN"; [ -z "$SHM" ] || rm -rf "$SHM"; }
trap cleanup EXIT

# ---------------------------------------------------------------------
# The tools and the peers' packages.
# ---------------------------------------------------------------------
need="gcc make autoconf automake libtool pkg-config libevent-dev libdaemon-dev"
[ "${BENCH_BUILD_ONLY:-0}" = 1 ] ||
    need="$need python3 python3-daemon gnuplot-nox strace util-linux"
missing=
for p in $need; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
	    missing="$missing $p"
done
if [ -n "$missing" ]; then
	[ "${BENCH_NO_APT:-0}" = 1 ] && die "missing packages:$missing"
	[ "$(id -u)" = 0 ] || die "missing packages:$missing (run as root to install)"
	say "installing$missing"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >&2 ||
	    { apt-get update -q >&2 &&
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >&2; } ||
	    die "apt-get install$missing failed"
fi
[ "$RUNS" -ge 21 ] || say "BENCH_RUNS=$RUNS is below the 21 the figures ask for"

# ---------------------------------------------------------------------
# RLIMIT_NOFILE: note what we found, then raise the hard limit as far as
# the kernel allows (fs.nr_open), which needs CAP_SYS_RESOURCE.
# ---------------------------------------------------------------------
soft0=$(ulimit -Sn)
hard0=$(ulimit -Hn)
nr_open=$(cat /proc/sys/fs/nr_open 2>/dev/null || echo "$hard0")
ulimit -Hn "$nr_open" 2>/dev/null || true
HARD=$(ulimit -Hn)
[ "$HARD" = unlimited ] && HARD=$nr_open
raised=no
[ "$HARD" != "$hard0" ] && raised=yes

# ---------------------------------------------------------------------
# libdctx, built from a copy of this tree: tracked files and new ones git
# does not ignore, so that uncommitted work is measured too, and the tree's
# own in-place build is left alone.
# ---------------------------------------------------------------------
src=$OUT/src
mkdir -p "$src" "$RAW" "$BIN"
rm -f "$RAW"/*
say "copying the source tree into $src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	    tar --null --no-recursion --ignore-failed-read -T - -cf - 2>/dev/null) |
	    tar -xf - -C "$src"
else
	(cd "$top" && tar --exclude=./bench/out -cf - .) | tar -xf - -C "$src"
fi
conf_args="-q CFLAGS=-O2 -g"
if [ ! -f "$src/Makefile" ] || [ "$(cat "$src/.bench-configure" 2>/dev/null)" != "$conf_args" ]; then
	say "configuring libdctx"
	(cd "$src" && autoreconf -fi >/dev/null 2>&1 &&
	    ./configure -q CFLAGS="-O2 -g" >/dev/null) ||
	    die "configure failed (see $src/config.log)"
	echo "$conf_args" > "$src/.bench-configure"
fi
say "building libdctx"
# From clean: a copied file can carry an older time than the object built
# from its previous version.
make -s -C "$src" clean >/dev/null 2>&1 || true
make -s -C "$src" libdctx.la >/dev/null 2>&1 || die "building libdctx failed"
lib=$src/.libs/libdctx.a
# What a static link of libdctx needs, as its pkg-config file says.
dctx_libs=$(PKG_CONFIG_PATH=$src pkg-config --static --libs libdctx | sed 's/-ldctx//')
evlibdir=$(pkg-config --variable=libdir libevent_core)

say "building the peers and the tools"
cd "$here"
$CC $BCFLAGS -I"$src/include" d_dctx.c "$lib" $dctx_libs -o "$BIN/d_dctx"
$CC $BCFLAGS d_libdaemon.c $(pkg-config --cflags --libs libdaemon) -o "$BIN/d_libdaemon"
$CC $BCFLAGS d_daemon3.c -o "$BIN/d_daemon3"
$CC $BCFLAGS d_floor.c -o "$BIN/d_floor"
$CC $BCFLAGS startlat.c benchutil.c -o "$BIN/startlat"
$CC $BCFLAGS sigrt.c benchutil.c -o "$BIN/sigrt"
$CC $BCFLAGS shutlat.c benchutil.c -o "$BIN/shutlat"
# upgrade.sh's: the load generator, and the harness that switches echod.
$CC $BCFLAGS loadgen.c $(pkg-config --cflags --libs libevent_core) -o "$BIN/loadgen"
$CC $BCFLAGS upswitch.c benchutil.c -o "$BIN/upswitch"
# echod from the same copy of the tree, linked as d_dctx is: the static
# libdctx, so that no libtool wrapper script stands between us and it.
$CC $BCFLAGS -I"$src/include" "$src/examples/echod.c" \
    "$src/examples/echod-args.c" "$src/examples/echod-control.c" \
    "$lib" $dctx_libs -o "$BIN/echod"
$CC $BCFLAGS closeall.c benchutil.c "$lib" $dctx_libs \
    $(pkg-config --cflags --libs libdaemon) -o "$BIN/closeall"
$CC $BCFLAGS -shared -fPIC malloc_count.c -o "$BIN/malloc_count.so"
# Other builds of the same libdctx daemon, which differ only in how the
# libraries are linked, to show what the dynamic loader costs at start:
# without the full libevent that libevent_pthreads.pc drags in, and with
# libevent linked statically.
variants=
if $CC $BCFLAGS -I"$src/include" d_dctx.c "$lib" \
    $(echo " $dctx_libs " | sed 's/ -levent / /g') -o "$BIN/d_dctx_core" 2>/dev/null; then
	variants="$variants dctx_core"
fi
static_ev=$(for l in $dctx_libs; do
	case $l in
	-levent*) echo "$evlibdir/lib${l#-l}.a" ;;
	*) echo "$l" ;;
	esac
done | awk '!/\/libevent\.a$/' | tr '\n' ' ')
if $CC $BCFLAGS -I"$src/include" d_dctx.c "$lib" $static_ev -o "$BIN/d_dctx_static" 2>/dev/null; then
	variants="$variants dctx_static"
fi
# And the way a program gets libdctx from `pkg-config --libs libdctx`: the
# shared library, one object more for the loader.
if [ -f "$src/.libs/libdctx.so" ] &&
    $CC $BCFLAGS -I"$src/include" d_dctx.c -L"$src/.libs" -Wl,-rpath,"$src/.libs" \
    -ldctx $(pkg-config --libs libevent_core) -o "$BIN/d_dctx_shared" 2>/dev/null; then
	variants="$variants dctx_shared"
fi

if [ "${BENCH_BUILD_ONLY:-0}" = 1 ]; then
	say "built in $BIN"
	exit 0
fi

# The command that starts each peer; $1 is the peer, $2 the pidfile.
peer_cmd() {
	case $1 in
	python) echo "$PY $here/d_python.py --pidfile $2" ;;
	*) echo "$BIN/d_$1 --pidfile $2" ;;
	esac
}
PEERS="dctx libdaemon daemon3 python floor"

# ---------------------------------------------------------------------
# The machine and the versions.
# ---------------------------------------------------------------------
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc=$(nproc)"
	echo "kernel=$(uname -sr)"
	echo "cpu=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
	echo "mem=$(awk '/^MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "libdctx=$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown) (working tree, static, $(sed -n 's/^CFLAGS = //p' "$src/Makefile"))"
	echo "dctx_libs=$dctx_libs"
	echo "libevent=$(pkg-config --modversion libevent_core)"
	echo "libdaemon=$(dpkg-query -W -f='${Version}' libdaemon-dev)"
	echo "python_daemon=$(dpkg-query -W -f='${Version}' python3-daemon)"
	echo "python=$($PY --version 2>&1)"
	echo "glibc=$(ldd --version | head -1 | sed 's/^ldd //')"
	echo "cc=$($CC --version | head -1)"
	echo "strace=$(strace -V | head -1)"
	echo "gnuplot=$(gnuplot --version)"
	echo "nofile_found=$soft0:$hard0"
	echo "nofile_hard=$HARD"
	echo "nofile_raised=$raised"
	echo "nr_open=$nr_open"
	echo "runs=$RUNS"
	echo "signals=$SIGNALS"
	echo "reps=$REPS"
	echo "variants=$variants"
	for b in dctx$variants libdaemon daemon3 floor; do
		echo "dso_$b=$(ldd "$BIN/d_$b" | awk '/=>/{print $1}' |
		    sed 's/\.so.*//' | tr '\n' ' ')"
	done
} > "$RAW/env.txt"

# ---------------------------------------------------------------------
# 1. Start to ready, and 6. RSS.  The peers take turns, in an order that
# rotates every round, so that drift in the machine spreads evenly.
# ---------------------------------------------------------------------
say "1. start to ready: $RUNS rounds"
order="$PEERS$variants"
for i in $(seq "$RUNS"); do
	for p in $order; do
		line=$("$BIN/startlat" "$RUN/$p.pid" $(peer_cmd "$p" "$RUN/$p.pid")) ||
		    die "start of $p failed"
		echo "$p $line" >> "$RAW/start.txt"
	done
	order="$(echo "$order" | cut -d' ' -f2-) $(echo "$order" | cut -d' ' -f1)"
done

say "   the dynamic loader's share"
# glibc's loader counts its own start-up work; env(1) sets the variables
# for the peer alone.
for v in dctx$variants libdaemon floor; do
	"$BIN/startlat" "$RUN/$v.pid" /usr/bin/env LD_DEBUG=statistics \
	    LD_DEBUG_OUTPUT="$RUN/lds-$v" "$BIN/d_$v" --pidfile "$RUN/$v.pid" \
	    >/dev/null || die "start of $v under LD_DEBUG failed"
	echo "$v $(cat "$RUN"/lds-$v.* | awk '
	    /total startup time in dynamic loader/ { c = $(NF - 1) }
	    /[0-9]+:[ \t]+number of relocations:/ { r = $NF }
	    END { print c + 0, r + 0 }')" >> "$RAW/ldstats.txt"
	rm -f "$RUN"/lds-$v.*
done

say "6. resident memory of each idle daemon"
for i in 1 2 3; do
	for p in $PEERS; do
		line=$("$BIN/startlat" -r 200 "$RUN/$p.pid" $(peer_cmd "$p" "$RUN/$p.pid")) ||
		    die "start of $p failed"
		echo "$p $line" >> "$RAW/rss.txt"
	done
done

# ---------------------------------------------------------------------
# 2. System calls to start, under strace: totals with -c, and the
# fd-closing step picked out of a -k trace by the function on the stack.
# Ten stray descriptors are inherited, so the step has work to do.
# ---------------------------------------------------------------------
say "2. system calls to start"
have_k=no
strace -k -e trace=none true >/dev/null 2>&1 && have_k=yes
echo "strace_k=$have_k" >> "$RAW/env.txt"
for L in 1024 "$HARD"; do
	for p in $PEERS; do
		( ulimit -n "$L"
		  "$BIN/startlat" -x 10 -W -r 300 "$RUN/$p.pid" \
		      /usr/bin/strace -f -c -o "$RAW/strace-c-$p-$L.txt" \
		      $(peer_cmd "$p" "$RUN/$p.pid") ) >/dev/null ||
		    die "strace -c of $p failed"
		[ $have_k = yes ] || continue
		( ulimit -n "$L"
		  "$BIN/startlat" -x 10 -W -r 500 "$RUN/$p.pid" \
		      /usr/bin/strace -f -k -o "$RAW/strace-k-$p-$L.txt" \
		      $(peer_cmd "$p" "$RUN/$p.pid") ) >/dev/null ||
		    die "strace -k of $p failed"
	done
done

# ---------------------------------------------------------------------
# 3. The close-all step alone, against RLIMIT_NOFILE.
# ---------------------------------------------------------------------
limits=
l=1024
while [ "$l" -lt "$HARD" ]; do
	limits="$limits $l"
	if [ "$l" -lt 16384 ]; then l=$((l * 2)); else l=$((l * 4)); fi
done
limits="$limits $HARD"
echo "limits=$limits" >> "$RAW/env.txt"
say "3. close-all step at RLIMIT_NOFILE$limits"
close_peer() {
	# $1 peer, $2 open fds, $3 limit, then extra options
	local p=$1 n=$2 L=$3
	shift 3
	case $p in
	python) $PY "$here/closeall.py" "$@" "$n" "$L" "$REPS" ;;
	*) "$BIN/closeall" "$@" "$p" "$n" "$L" "$REPS" ;;
	esac
}
cpeers="dctx libdaemon loop python"
for L in $limits; do
	for n in 10 1000; do
		for p in $cpeers; do
			close_peer "$p" "$n" "$L" > "$RAW/close-$p-$n-$L.txt" ||
			    die "close-all of $p failed"
		done
		cpeers="$(echo "$cpeers" | cut -d' ' -f2-) $(echo "$cpeers" | cut -d' ' -f1)"
	done
done
# The step's system calls, between the markers, at both ends of the range.
# The plain loop makes one close() per number: past 65536 that is not
# worth tracing, and the report computes it.
for L in 1024 "$HARD"; do
	for n in 10 1000; do
		for p in dctx libdaemon loop python; do
			[ "$p" = loop ] && [ "$L" -gt 65536 ] && continue
			case $p in
			python) cmd="$PY $here/closeall.py -m $n $L 1" ;;
			*) cmd="$BIN/closeall -m $p $n $L 1" ;;
			esac
			strace -o "$RAW/close-sys-$p-$n-$L.txt" $cmd >/dev/null ||
			    die "strace of the close-all step of $p failed"
		done
	done
done

# ---------------------------------------------------------------------
# 4. Signal round trip, and 6. allocations per signal.  The peers take
# turns in rounds of BENCH_SIGNALS / 10.
# ---------------------------------------------------------------------
say "4. signal round trip: $SIGNALS signals per peer, pinned and not"
# Pinned, the watcher and the daemon share one CPU and the figure is the
# software path alone; free, the scheduler's placement and the wake-up of
# an idle CPU come in too, and vary from process to process.
per=$((SIGNALS / 10))
cpu=$(( $(nproc) - 1 ))
speers="dctx floor libdaemon python"
for r in $(seq 10); do
	for mode in pinned free; do
		pin=
		[ $mode = pinned ] && pin="taskset -c $cpu"
		for p in $speers; do
			$pin "$BIN/sigrt" -n "$per" "$RUN/$p.pid" \
			    $(peer_cmd "$p" "$RUN/$p.pid") --answer-fd 3 \
			    >> "$RAW/sig-$p-$mode.txt" ||
			    die "signal round trip of $p failed"
		done
	done
	speers="$(echo "$speers" | cut -d' ' -f2-) $(echo "$speers" | cut -d' ' -f1)"
done
echo "sig_cpu=$cpu" >> "$RAW/env.txt"
say "6. allocations per signal"
for p in dctx floor libdaemon; do
	for n in 100 1000; do
		echo "$n $("$BIN/sigrt" -m "$BIN/malloc_count.so" -w 100 -n "$n" \
		    "$RUN/$p.pid" $(peer_cmd "$p" "$RUN/$p.pid") --answer-fd 3)" \
		    >> "$RAW/alloc-$p.txt" || die "allocation count of $p failed"
	done
done

# ---------------------------------------------------------------------
# 5. Shutdown: kill(SIGTERM) until the daemon is reaped.  The minimal
# daemons and echod take turns, in an order that rotates every round.
# echod runs empty, with CONNS connections that never sent anything, and
# with CONNS that each echoed one byte before they went idle.
# ---------------------------------------------------------------------
say "5. shutdown: $RUNS rounds, echod with 0 and $CONNS connections"
# echod's port: the fixed one, lying outside the ephemeral range that our
# own connections come from, unless something else holds it.
port_free() {
	$PY -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}
port_free "$PORT" ||
    PORT=$($PY -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
# /run, where pidfiles live on most systems, is a tmpfs; our scratch
# directory may be on a disk file system, which behaves differently when
# a pidfile goes.  Measure libdctx and libdaemon there too, when we can.
shm_peers=
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
    SHM=$(mktemp -d /dev/shm/dctx-bench.XXXXXX); then
	shm_peers="dctx_tmpfs libdaemon_tmpfs"
fi
{
	echo "conns=$CONNS"
	echo "echod_port=$PORT"
	echo "echod_tick_ms=$(sed -n 's/^#define DRAIN_TICK_MS[ \t]*//p' "$src/examples/echod.c")"
	echo "scratch_fs=$(df --output=fstype "$RUN" | tail -n 1)"
	echo "shm_peers=$shm_peers"
} >> "$RAW/env.txt"
shut_cmd() {
	# $1 the peer; prints shutlat's options and the command
	local e="$BIN/echod --listen 127.0.0.1:$PORT"
	case $1 in
	echod_empty) echo "$RUN/echod.pid $e --pidfile $RUN/echod.pid" ;;
	echod_idle) echo "-c $CONNS -a 127.0.0.1:$PORT $RUN/echod.pid" \
	    "$e --pidfile $RUN/echod.pid" ;;
	echod_echoed) echo "-e -c $CONNS -a 127.0.0.1:$PORT $RUN/echod.pid" \
	    "$e --pidfile $RUN/echod.pid" ;;
	*_tmpfs) echo "$SHM/${1%_tmpfs}.pid $(peer_cmd "${1%_tmpfs}" "$SHM/${1%_tmpfs}.pid")" ;;
	*) echo "$RUN/$1.pid $(peer_cmd "$1" "$RUN/$1.pid")" ;;
	esac
}
order="$PEERS echod_empty echod_idle echod_echoed $shm_peers"
for i in $(seq "$RUNS"); do
	for p in $order; do
		line=$("$BIN/shutlat" $(shut_cmd "$p")) ||
		    die "shutdown of $p failed"
		echo "$p $line" >> "$RAW/shutdown.txt"
	done
	order="$(echo "$order" | cut -d' ' -f2-) $(echo "$order" | cut -d' ' -f1)"
done

# ---------------------------------------------------------------------
# The report and the plot.
# ---------------------------------------------------------------------
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW/env.txt"
echo "elapsed=$(( $(date +%s) - started )) s" >> "$RAW/env.txt"
say "writing RESULTS.md and close-all.png"
$PY "$here/report.py" "$RAW" "$OUT/close-all.dat" > "$here/RESULTS.md"
gnuplot -e "datafile='$OUT/close-all.dat'; outfile='$here/close-all.png'" \
    "$here/close-all.gp"
# 8. The watchdog's ping jitter: a script of its own, which appends its
# section to RESULTS.md.
BENCH_OUT=$OUT BENCH_WD_BUILT=1 bash "$here/watchdog.sh"

# ---------------------------------------------------------------------
# 9. Upgrade against restart, under load: its own script, which adds its
# section to RESULTS.md.
# ---------------------------------------------------------------------
BENCH_BIN=$BIN BENCH_OUT=$OUT bash "$here/upgrade.sh"
say "done in $(( $(date +%s) - started )) s: $here/RESULTS.md"
