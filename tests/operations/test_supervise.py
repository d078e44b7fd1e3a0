"""scripts/supervise.py, the process supervisor under run.sh, on small shell commands: a stop
reaches grandchildren, a process that dies is started again, one that ignores TERM is killed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import descendants, still_alive, wait_for

ROOT = Path(__file__).resolve().parents[2]


def supervise(*specs, stop_timeout=10):
    return subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "supervise.py"), *specs],
        env={**os.environ, "STOP_TIMEOUT": str(stop_timeout)},
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def stopped_at_end():
    started = []
    yield started.append
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_every_process_and_what_they_started(signum, stopped_at_end):
    supervisor = supervise("a=sh -c 'sleep 300 & sleep 300; wait'", "b=sleep 300")
    stopped_at_end(supervisor)
    tree = wait_for(lambda: len(d := descendants(supervisor.pid)) >= 4 and d, 10, "not started")

    began = time.monotonic()
    supervisor.send_signal(signum)
    assert supervisor.wait(5) == 0
    assert time.monotonic() - began < 3
    assert still_alive(tree) == []


def test_a_process_that_exits_is_started_again(tmp_path, stopped_at_end):
    starts = tmp_path / "starts"
    supervisor = supervise(f"a=sh -c 'echo >> {starts}; exec sleep 300'")
    stopped_at_end(supervisor)
    wait_for(lambda: starts.exists(), 10, "not started")
    first = wait_for(lambda: list(descendants(supervisor.pid)), 10, "no child")[0]

    os.kill(first, signal.SIGKILL)
    wait_for(lambda: len(starts.read_text().splitlines()) == 2, 10, "not started again")
    assert first not in descendants(supervisor.pid)
    supervisor.terminate()
    supervisor.wait(5)
    assert "a exited with status -9" in supervisor.stderr.read()


def test_a_process_that_ignores_term_is_killed_after_the_stop_timeout(stopped_at_end):
    supervisor = supervise(
        "stubborn=sh -c \"trap '' TERM; sleep 300 & wait; sleep 300\"", stop_timeout=1
    )
    stopped_at_end(supervisor)
    tree = wait_for(lambda: len(d := descendants(supervisor.pid)) >= 2 and d, 10, "not started")

    supervisor.terminate()
    assert supervisor.wait(6) == 0
    assert still_alive(tree) == []
    assert "stubborn did not stop in 1 s; killing it" in supervisor.stderr.read()
