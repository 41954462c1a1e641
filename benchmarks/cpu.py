"""CPU accounting from /proc: is the server saturated, and is anything else running?

The benchmark shares the machine with whatever else runs on it (a test suite, say);
each measurement records how busy the whole machine was and how much CPU the server's
process group used, so a noisy figure can be recognised as one.
"""

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _machine() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _group_seconds(pgid: int) -> float:
    """CPU seconds (user + system) of the live processes of a process group."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid:  # field 5 of stat, pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


@dataclass
class Usage:
    #: Share of all CPUs that were busy, 0..1.
    machine_busy: float = 0.0
    #: The same in cores.
    busy_cores: float = 0.0
    #: CPU used by the server's process group, in cores (1.0 = one core all the time).
    server_cores: float = 0.0


@contextmanager
def usage(pgid: int | None) -> Iterator[Usage]:
    result = Usage()
    busy0, total0 = _machine()
    server0 = _group_seconds(pgid) if pgid else 0.0
    started = time.monotonic()
    yield result
    elapsed = time.monotonic() - started
    busy1, total1 = _machine()
    result.machine_busy = round((busy1 - busy0) / max(1, total1 - total0), 3)
    result.busy_cores = round(result.machine_busy * (os.cpu_count() or 1), 2)
    if pgid:
        result.server_cores = round((_group_seconds(pgid) - server0) / elapsed, 2)


def wait_quiet(threshold: float = 0.15, patience: float = 600.0) -> float:
    """Wait (up to ``patience`` s) until the machine is < ``threshold`` busy over 3 s."""
    deadline = time.monotonic() + patience
    while True:
        with usage(None) as sample:
            time.sleep(3)
        if sample.machine_busy < threshold or time.monotonic() > deadline:
            return sample.machine_busy
        print(f"  machine {sample.machine_busy:.0%} busy with other work; waiting", flush=True)


def calibrate() -> float:
    """Milliseconds a fixed pure-Python loop takes (best of 3): the machine's speed now.

    On a shared virtual machine this drifts; a measurement taken while it is high was
    taken on a slower machine.
    """
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(300_000):
            total += i * i
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)
