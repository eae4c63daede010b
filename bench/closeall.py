"""closeall.py: python-daemon's fd-closing step alone, under a chosen limit.

usage: closeall.py [-m] NOPEN LIMIT REPS

The counterpart of closeall.c for python-daemon: set both RLIMIT_NOFILE
limits to LIMIT, import daemon (which builds, at import time, the set of
every descriptor number below the hard limit), then for each repetition open
NOPEN descriptors from 3 up, keep four of them spread out, time
daemon.daemon.close_all_open_files() with those four and 0-2 excluded, check
that only the kept ones survived and print the time in nanoseconds.  The
first line printed is "import NS", the cost of that import.  With -m the
step is framed by two write(-1, ...) calls that mark it in an strace log.

Run it with Debian's /usr/bin/python3, which is where python3-daemon lives.
"""
import os
import resource
import sys
import time

NKEEP = 4


def mark(on, what):
    if on:
        try:
            os.write(-1, what)
        except OSError:
            pass


def main(argv):
    args = argv[1:]
    markers = bool(args) and args[0] == "-m"
    if markers:
        args = args[1:]
    nopen, limit, reps = (int(a) for a in args)
    # What our own parent left open must not count.
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    # The module computes its candidate set from the hard limit when it is
    # imported, so the import is part of the cost and is timed too.
    t0 = time.perf_counter_ns()
    import daemon.daemon
    t1 = time.perf_counter_ns()
    print("import", t1 - t0)

    keep = {3 + nopen * (i + 1) // (NKEEP + 1) for i in range(NKEEP)}
    # One repetition more than asked, untimed, first, to warm up.
    for rep in range(-1, reps):
        for i in range(nopen):
            fd = os.open("/dev/null", os.O_RDONLY)
            if fd != 3 + i:
                sys.exit("closeall.py: fd %d, not %d" % (fd, 3 + i))
        mark(markers and rep >= 0, b"bench-step-begin")
        t0 = time.perf_counter_ns()
        daemon.daemon.close_all_open_files(exclude=keep | {0, 1, 2})
        t1 = time.perf_counter_ns()
        mark(markers and rep >= 0, b"bench-step-end")
        for fd in range(3, 3 + nopen):
            try:
                os.fstat(fd)
                is_open = True
            except OSError:
                is_open = False
            if is_open != (fd in keep):
                sys.exit("closeall.py: fd %d wrongly %s"
                         % (fd, "closed" if fd in keep else "left open"))
        for fd in keep:
            os.close(fd)
        if rep >= 0:
            print(t1 - t0)
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv)
