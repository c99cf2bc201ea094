"""Where a workload's time goes: the CPU time that the server's processes, PostgreSQL's and
the load generator spend on it, per operation.

On a small machine the three share the cores, so a pair's throughput depends on what all of
them spend on it, not on the server's share alone. The server's busy share (its CPU time over
the wall time, per process) tells whether its processes were the bottleneck: a share near 1.0
means they had no time to spare.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil

PARTS = ("server", "postgres", "generator")


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _tree(pid: int) -> list[psutil.Process]:
    """A process and its children (uvicorn's workers)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _postgres_processes() -> list[psutil.Process]:
    """PostgreSQL's processes on this machine: the backends serving the servers, their
    listeners, the WAL writer. A backend that ends between two readings takes its time along."""
    return [process for process in psutil.process_iter(["name"]) if process.info["name"] == "postgres"]


def _total(processes: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for process in processes:
        try:
            seconds[process.pid] = _cpu_seconds(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return seconds


@dataclass
class CpuAccount:
    """CPU seconds per part, summed over the spans measured, with their wall time."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))
    wall_seconds: float = 0.0

    def per_operation_ms(self, operations: int) -> dict[str, float]:
        return {part: round(self.seconds[part] / operations * 1e3, 3) if operations else 0.0 for part in PARTS}

    def server_busy_share(self, server_processes: int) -> float:
        """The server's CPU time over the wall time, per server process (1.0: always busy)."""
        if not self.wall_seconds or not server_processes:
            return 0.0
        return round(self.seconds["server"] / self.wall_seconds / server_processes, 2)


@contextmanager
def measured(account: CpuAccount, *, server_pids: list[int]) -> Iterator[None]:
    """Add the CPU time spent while the block runs to `account`. Processes are read at both
    ends, so that a backend or worker started meanwhile counts from its start."""

    def reading() -> dict[str, dict[int, float]]:
        servers = [process for pid in server_pids for process in _tree(pid)]
        return {
            "server": _total(servers),
            "postgres": _total(_postgres_processes()),
            "generator": _total([psutil.Process(os.getpid())]),
        }

    before = reading()
    started = time.perf_counter()
    try:
        yield
    finally:
        account.wall_seconds += time.perf_counter() - started
        after = reading()
        for part in PARTS:
            account.seconds[part] += sum(seconds - before[part].get(pid, 0.0) for pid, seconds in after[part].items())
