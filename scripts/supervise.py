"""Runs the archive's long-lived processes (web server, Celery worker, DICOM listener) as one
unit for ./run.sh: restarts one that exits on its own, and stops them all on TERM, INT or HUP.

    supervise.py NAME=COMMAND [NAME=COMMAND ...]

COMMAND is split like a shell line (no expansion: run.sh expands variables before). Stdlib
only, and knows nothing of what it runs. Each process gets its own process group, so stopping
reaches what it started itself (gunicorn's workers, Celery's pool); it is asked to stop with
TERM and its whole group is killed STOP_TIMEOUT seconds later if anything is left.
"""

import contextlib
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import time

STOP_TIMEOUT = float(os.environ.get("STOP_TIMEOUT", "10"))
# A process that exits sooner than this after starting is failing to start, not crashing
# at work: after MAX_QUICK_EXITS of those in a row the supervisor gives up (a taken port, a bad
# setting) instead of restarting it forever.
QUICK_EXIT = 10.0
MAX_QUICK_EXITS = 5
MAX_BACKOFF = 30.0


def log(message: str) -> None:
    print(f"==> supervise: {message}", file=sys.stderr, flush=True)


def _die_with_parent() -> None:
    """In the child before exec: TERM it if the supervisor dies, even by KILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Process:
    def __init__(self, name: str, argv: list[str]):
        self.name, self.argv = name, argv
        self.popen: subprocess.Popen | None = None
        self.started = 0.0
        self.quick_exits = 0
        self.restart_at: float | None = None

    def start(self) -> None:
        self.popen = subprocess.Popen(
            self.argv, start_new_session=True, preexec_fn=_die_with_parent
        )
        self.started = time.monotonic()
        self.restart_at = None
        log(f"started {self.name} (pid {self.popen.pid})")

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill_group(self, sig: int) -> None:
        """Signal the process group, which outlives its leader while any member is alive."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def group_alive(self) -> bool:
        if self.popen is None:
            return False
        try:
            os.killpg(self.popen.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True


def parse(specs: list[str]) -> list[Process]:
    processes = []
    for spec in specs:
        name, sep, command = spec.partition("=")
        if not sep or not name or not command.strip():
            raise SystemExit(f"supervise.py: expected NAME=COMMAND, got {spec!r}")
        processes.append(Process(name, shlex.split(command)))
    return processes


def stop_all(processes: list[Process]) -> None:
    """TERM each leader (a graceful stop: gunicorn finishes requests, Celery its tasks, which
    are acknowledged late and idempotent, so a killed one runs again), then KILL the groups."""
    for process in processes:
        if process.running():
            process.popen.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and any(p.running() for p in processes):
        time.sleep(0.1)
    for process in processes:
        if process.running():
            log(f"{process.name} did not stop in {STOP_TIMEOUT:g} s; killing it")
        process.kill_group(signal.SIGKILL)
        if process.popen is not None:
            process.popen.wait()
    # Members of a group whose leader exited first (a pool child) may take a moment to die.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and any(p.group_alive() for p in processes):
        time.sleep(0.05)


def supervise(processes: list[Process]) -> int:
    stop_requested: list[int] = []

    def request_stop(signum, frame):
        if stop_requested:  # a second Ctrl-C: do not wait for graceful stops
            for process in processes:
                process.kill_group(signal.SIGKILL)
        stop_requested.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, request_stop)

    for process in processes:
        process.start()
    status = 0
    while not stop_requested:
        now = time.monotonic()
        for process in processes:
            if process.restart_at is not None:
                if now >= process.restart_at:
                    process.start()
                continue
            code = process.popen.poll()
            if code is None:
                continue
            # Whatever it left behind (a pool child) would hold tasks or ports.
            process.kill_group(signal.SIGKILL)
            ran = now - process.started
            process.quick_exits = process.quick_exits + 1 if ran < QUICK_EXIT else 0
            if process.quick_exits >= MAX_QUICK_EXITS:
                log(
                    f"{process.name} exited {MAX_QUICK_EXITS} times within {QUICK_EXIT:g} s "
                    f"of starting (last status {code}); stopping everything"
                )
                stop_requested.append(0)
                status = 1
                break
            delay = min(MAX_BACKOFF, 2.0**process.quick_exits) if process.quick_exits else 1.0
            log(
                f"{process.name} exited with status {code} after {ran:.0f} s; "
                f"restarting it in {delay:g} s"
            )
            process.restart_at = now + delay
        time.sleep(0.2)

    log("stopping " + ", ".join(p.name for p in processes))
    stop_all(processes)
    return status


def main(argv: list[str]) -> int:
    if not argv:
        raise SystemExit(__doc__)
    return supervise(parse(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
