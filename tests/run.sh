#!/bin/sh
# The whole test suite, from a fresh Debian machine: install what is
# missing, build with warnings as errors, run `make check`, then build the
# release tarball with -fsanitize=address,undefined and run it again there,
# then `make distcheck`; between the two, every fuzz target runs for 10 s
# (`make fuzz`) where clang can build it.  Check's summary lines are printed from the logs,
# where automake hides them.  Exits non-zero on any failure.
set -eu
cd "$(dirname "$0")/.."

packages="autoconf automake libtool pkg-config make gcc libevent-dev check doxygen valgrind python3 clang systemd s6 socat"
missing=""
for p in $packages; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "== installing:$missing"
	if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=""; fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
fi

jobs=$(nproc 2>/dev/null || echo 2)

passed=0
failed=0
summaries() {
	for log in "$1"/tests/check_*.log; do
		printf '%s: ' "$(basename "$log" .log)"
		line=$(grep -E '^[0-9]+%: Checks:|skipped' "$log" || echo "(no summary)")
		echo "$line"
		grep -E ':[FE]:' "$log" || true
		# "100%: Checks: 5, Failures: 0, Errors: 0"
		set -- $(echo "$line" | sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p')
		if [ $# -eq 3 ]; then
			passed=$((passed + $1 - $2 - $3))
			failed=$((failed + $2 + $3))
		fi
	done
}

echo "== build and test"
[ -x configure ] || ./autogen.sh >/dev/null
./configure -q --enable-werror
make -s -j"$jobs"
status=0
make -s -j"$jobs" check || status=1
summaries .
[ $status -eq 0 ] || { echo "tests: $passed passed, $failed failed"; echo "make check failed"; exit 1; }

# libFuzzer comes with clang's runtime package (libclang-rt-N-dev on
# Debian 12, a Recommends of clang that --no-install-recommends skips).
echo "== fuzz: each target ${FUZZ_SECONDS:-10} s"
if command -v clang >/dev/null 2>&1; then
	if ! make -s fuzz-build >/dev/null 2>&1; then
		rt="libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev"
		echo "== installing: $rt (libFuzzer)"
		if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=""; fi
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$rt" || true
	fi
	make -s fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-10}" ||
		{ echo "fuzzing found a crash (fuzz/out/)"; exit 1; }
else
	echo "fuzz: skipped, no clang"
fi

echo "== sanitizers: -fsanitize=address,undefined"
make -s dist >/dev/null
tarball=$(ls -t libdctx-*.tar.gz | head -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xzf "$tarball"
src="$work/${tarball%.tar.gz}"
# The daemons' stderr is /dev/null: send every sanitizer report to files.
mkdir "$work/reports"
ASAN_OPTIONS="log_path=$work/reports/asan" \
UBSAN_OPTIONS="log_path=$work/reports/ubsan:print_stacktrace=1" \
	sh -c "cd '$src' && ./configure -q --enable-werror --enable-sanitizers &&
	make -s -j$jobs && make -s -j$jobs check" || status=1
summaries "$src"
if [ -n "$(ls "$work/reports")" ]; then
	echo "sanitizer reports:"
	cat "$work/reports"/*
	status=1
fi
[ $status -eq 0 ] || { echo "sanitizer run failed"; exit 1; }

echo "== distcheck"
make -s distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror >/dev/null ||
	{ echo "make distcheck failed"; exit 1; }
echo "== all passed"
echo "tests: $passed passed, $failed failed"
