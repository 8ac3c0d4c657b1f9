"""deploy/supervise.py, which `make serve` runs: one exit restarts that process only, SIGTERM stops all."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SUPERVISE = Path(__file__).resolve().parents[2] / "deploy" / "supervise.py"


def read_pid(run_dir, name, *, other_than=None, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid = int((run_dir / f"{name}.pid").read_text())
            if pid != other_than:
                return pid
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{name}.pid did not show a new pid within {timeout} s")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by the supervisor) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def supervisor(tmp_path):
    process = subprocess.Popen(
        [sys.executable, str(SUPERVISE), "--run-dir", str(tmp_path), "web=sleep 120", "worker=sleep 120"],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    yield process, tmp_path
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_a_killed_process_is_restarted_and_the_others_keep_running(supervisor):
    process, run_dir = supervisor
    web, worker = read_pid(run_dir, "web"), read_pid(run_dir, "worker")
    os.kill(worker, signal.SIGKILL)
    new_worker = read_pid(run_dir, "worker", other_than=worker, timeout=5)
    assert alive(new_worker) and not alive(worker)
    assert read_pid(run_dir, "web") == web and alive(web)  # untouched
    assert process.poll() is None

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert not alive(web) and not alive(new_worker)
    log = process.stderr.read()
    assert "worker (pid" in log and "exited with signal SIGKILL" in log and "restarting it in 1 s" in log
    assert "SIGTERM received: stopping web, worker" in log


def test_a_process_that_keeps_dying_is_restarted_with_growing_backoff(tmp_path):
    process = subprocess.Popen(
        [sys.executable, str(SUPERVISE), "--run-dir", str(tmp_path), "flaky=false"],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        time.sleep(4)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    log = process.stderr.read()
    assert "restarting it in 1 s" in log and "restarting it in 2 s" in log
    assert log.count("flaky started") in (2, 3)  # at 0 s, 1 s, 3 s: backoff, not a busy loop
