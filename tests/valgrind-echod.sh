#!/bin/sh
# echod under valgrind: clients connected, SIGTERM, and no leak at exit.
# Exits 77 (automake's SKIP) where valgrind is missing or the build uses
# AddressSanitizer, which valgrind cannot run.
set -u
top=${abs_top_builddir:-$(cd "$(dirname "$0")/.." && pwd)}
echod="$top/examples/echod"
command -v valgrind >/dev/null || { echo "SKIP: no valgrind"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
if grep -q -- '-fsanitize' "$top/Makefile" 2>/dev/null &&
	grep -q '^SANFLAGS = -fsanitize' "$top/Makefile"; then
	echo "SKIP: sanitizer build"
	exit 77
fi
dir=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# In the foreground, so that valgrind's exit status is the daemon's.
"$top/libtool" --mode=execute valgrind -q --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	--log-file="$dir/vg.log" \
	"$echod" --foreground --worker --listen "127.0.0.1:$port" \
	--pidfile "$dir/echod.pid" --stdout "$dir/out" --stderr "$dir/out" &
pid=$!

# Three clients: one that got its echo and stays, two idle.
python3 - "$port" "$dir/echod.pid" <<'PY'
import os, signal, socket, sys, time
port, pidfile = int(sys.argv[1]), sys.argv[2]
deadline = time.time() + 30
while time.time() < deadline:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("echod did not listen")
s.sendall(b"leak check\n")
s.settimeout(10)
assert s.recv(100) == b"leak check\n"
others = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
time.sleep(0.2)
os.kill(int(open(pidfile).read()), signal.SIGTERM)
for c in [s] + others:
    c.settimeout(15)
    assert c.recv(1) == b""
PY
client=$?
wait $pid
status=$?
if [ $client -ne 0 ] || [ $status -ne 0 ]; then
	echo "FAIL: client $client, echod exit status $status"
	cat "$dir/vg.log" "$dir/out"
	exit 1
fi
if [ -s "$dir/vg.log" ]; then
	echo "FAIL: valgrind reported:"
	cat "$dir/vg.log"
	exit 1
fi
echo "PASS: echod stopped with status 0, valgrind reported nothing"
