"""Waiting for a condition that a child process brings about (a server answering, a run finishing).

`wait_for` probes the condition; between probes it waits on the child process itself (`Popen.wait` with the probe
interval as timeout), so a child that dies is noticed at once and reported with its log instead of running into the
deadline. The interval grows from 10 ms to `max_interval_s`; the deadline bounds the whole wait.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], process: subprocess.Popen, timeout_s: float,
             exit_report: Callable[[], str], *, max_interval_s: float = 1.0) -> T:  # fmt: skip
    """``probe()`` until it returns something other than None; raises RuntimeError when `process` exits first (with
    ``exit_report()``), TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    interval = 0.01
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        try:
            process.wait(timeout=interval)
        except subprocess.TimeoutExpired:
            interval = min(interval * 1.5, max_interval_s)
            continue
        raise RuntimeError(f"while waiting for {what}: {exit_report()}")
