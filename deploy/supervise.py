#!/usr/bin/env python3
"""A small process supervisor for one machine: start each program, restart the one that exits.

    supervise.py [--run-dir DIR] NAME=COMMAND [NAME=COMMAND ...]

- Each program runs in its own process group; its pid is written to RUN_DIR/NAME.pid.
- When one exits (crash, kill -9, out of memory), only that one is restarted, after a backoff
  that doubles from 1 s up to 30 s while it keeps dying quickly, and starts over once it has
  run for a minute. The others keep running.
- SIGTERM or SIGINT (Ctrl-C) is forwarded to every program; they get GRACE seconds to stop
  (then SIGKILL), and the supervisor exits 0.

Why not honcho: honcho (2.0.0) stops every process when one exits and restarts none. Why not
supervisord: it gives a program up (FATAL) after a few quick failures, and it is one more
daemon with its own configuration; this is the whole of what `make serve` needs, in the
foreground. In production, systemd (deploy/systemd/) or the container runtime does this job.
"""

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time

BACKOFF_START = 1.0
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 60.0  # a program that ran this long gets the short backoff again
GRACE = float(os.environ.get("SUPERVISE_GRACE_SECONDS", "20"))


def say(message):
    print(f"supervise: {message}", file=sys.stderr, flush=True)


class Program:
    def __init__(self, name, command, run_dir):
        self.name, self.command, self.run_dir = name, command, run_dir
        self.process = None
        self.started_at = 0.0
        self.backoff = BACKOFF_START
        self.restart_at = 0.0
        self.restarts = 0

    @property
    def pidfile(self):
        return os.path.join(self.run_dir, f"{self.name}.pid")

    def start(self):
        # A process group of its own: a signal reaches the program's own children too
        # (gunicorn's and Celery's workers), and a Ctrl-C in the terminal reaches only us.
        try:
            self.process = subprocess.Popen(shlex.split(self.command), start_new_session=True)
        except OSError as exc:
            self.restart_at = time.monotonic() + self.backoff
            say(f"{self.name} could not start ({exc}); trying again in {self.backoff:.0f} s")
            self.backoff = min(self.backoff * 2, BACKOFF_MAX)
            return
        self.started_at = time.monotonic()
        with open(self.pidfile, "w") as f:
            f.write(f"{self.process.pid}\n")
        say(f"{self.name} started (pid {self.process.pid}): {self.command}")

    def exited(self):
        """The exit code if the program has exited (and schedule its restart), else None."""
        if self.process is None:
            return None
        code = self.process.poll()
        if code is None:
            return None
        ran = time.monotonic() - self.started_at
        if ran >= HEALTHY_AFTER:
            self.backoff = BACKOFF_START
        self.restart_at = time.monotonic() + self.backoff
        say(
            f"{self.name} (pid {self.process.pid}) exited with {describe(code)} after {ran:.0f} s; "
            f"restarting it in {self.backoff:.0f} s"
        )
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        self.process = None
        self.restarts += 1
        return code

    def signal(self, signum):
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signum)
            except ProcessLookupError:
                pass


def describe(code):
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", default=os.environ.get("RUN_DIR", "."), help="where NAME.pid files go")
    parser.add_argument("programs", nargs="+", metavar="NAME=COMMAND")
    args = parser.parse_args(argv)
    programs = []
    for spec in args.programs:
        name, sep, command = spec.partition("=")
        if not sep or not name.isidentifier() or not command.strip():
            parser.error(f"expected NAME=COMMAND, got {spec!r}")
        programs.append(Program(name, command, args.run_dir))
    return args, programs


def main(argv=None):
    args, programs = parse(argv)
    os.makedirs(args.run_dir, exist_ok=True)
    stopping = {"signal": None}

    def stop(signum, frame):
        stopping["signal"] = signum

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for program in programs:
        program.start()
    while stopping["signal"] is None:
        now = time.monotonic()
        for program in programs:
            program.exited()
            if program.process is None and now >= program.restart_at and stopping["signal"] is None:
                program.start()
        time.sleep(0.2)

    say(f"{signal.Signals(stopping['signal']).name} received: stopping {', '.join(p.name for p in programs)}")
    for program in programs:
        program.signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    for program in programs:
        if program.process is None:
            continue
        try:
            program.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{program.name} did not stop within {GRACE:.0f} s: killing it")
            program.signal(signal.SIGKILL)
            program.process.wait()
    for program in programs:
        try:
            os.unlink(program.pidfile)
        except FileNotFoundError:
            pass
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
