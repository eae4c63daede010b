"""d_python: the python-daemon peer, PEP 3143's reference implementation.

usage: d_python.py --pidfile PATH [--answer-fd N]

The documented way: a DaemonContext with a PIDLockFile from daemon.pidfile,
entered with `with`, then the program idles (see idle() for how).  With --answer-fd N the
descriptor is in files_preserve and every SIGUSR1 is answered with one
byte on it from a signal_map handler.

Run it with Debian's /usr/bin/python3, which is where python3-daemon lives.
"""
import os
import select
import signal
import sys

import daemon
import daemon.pidfile


def main(argv):
    pidfile = None
    answer_fd = None
    args = argv[1:]
    while len(args) >= 2:
        if args[0] == "--pidfile":
            pidfile = args[1]
        elif args[0] == "--answer-fd":
            answer_fd = int(args[1])
        else:
            break
        args = args[2:]
    if pidfile is None or args:
        sys.stderr.write("usage: d_python.py --pidfile PATH [--answer-fd N]\n")
        return 2

    context = daemon.DaemonContext(
        pidfile=daemon.pidfile.PIDLockFile(pidfile))
    if answer_fd is not None:
        context.files_preserve = [answer_fd]
        context.signal_map[signal.SIGUSR1] = (
            lambda signo, frame: os.write(answer_fd, b"!"))
    with context:
        idle()


def idle():
    """Sleep until signals come, and let their handlers run.

    Not signal.pause(): a signal that lands after Python's last check and
    before the pause() call only sets a flag, and pause() then sleeps
    through it.  A wakeup fd closes that window: the C-level handler
    writes to it, so select() returns whenever a signal came in.
    """
    rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    while True:
        select.select([rfd], [], [])
        try:
            os.read(rfd, 512)
        except BlockingIOError:
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv))
