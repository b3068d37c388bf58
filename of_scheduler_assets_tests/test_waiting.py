"""`support.waiting.wait_for`, the wait the emulator and UI tests use for their child processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from of_scheduler_assets_tests.support.waiting import wait_for


@pytest.fixture
def child():
    """A child that lives until its stdin closes."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    yield process
    process.stdin.close()
    process.wait(timeout=30)


def test_returns_the_first_value_the_probe_gives(child):
    calls = iter([None, None, "ready"])
    assert wait_for("it", lambda: next(calls), child, 60.0, lambda: "dead") == "ready"


def test_a_child_that_dies_is_reported_not_waited_out():
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(RuntimeError, match="while waiting for the server: exit 3"):
        wait_for("the server", lambda: None, process, 600.0, lambda: f"exit {process.returncode}")


def test_the_deadline_bounds_the_wait(child):
    with pytest.raises(TimeoutError, match="the run: not within 0 s"):
        wait_for("the run", lambda: None, child, 0.0, lambda: "dead")
