"""Where a workload's time goes: the CPU time that the server's processes, PostgreSQL's and
the load generator spend on it, per operation.

On a small machine the three share the cores, so a pair's throughput depends on what all of
them spend on it, not on the server's share alone. The server's busy share (its CPU time over
the wall time, per process) tells whether its processes were the bottleneck: a share near 1.0
means they had no time to spare. Its waiting share (on Linux) is the time its processes were
ready to run but waited for a core that another process had: busy plus waiting near 1.0 means
the server was the bottleneck, and gave part of its core to the others.
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


def _waiting_for_a_core(processes: list[psutil.Process]) -> dict[int, float] | None:
    """Per process, the seconds its threads were ready to run but waited for a core (Linux's
    schedstat); None where the system does not tell."""
    waited = {}
    for process in processes:
        try:
            threads = os.listdir(f"/proc/{process.pid}/task")
            nanoseconds = 0
            for thread in threads:
                with open(f"/proc/{process.pid}/task/{thread}/schedstat") as stats:
                    nanoseconds += int(stats.read().split()[1])
        except FileNotFoundError:
            continue  # ended meanwhile
        except OSError:
            return None
        waited[process.pid] = nanoseconds / 1e9
    return waited


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
    # The server's processes ready to run but waiting for a core; None where unknown.
    server_waiting_seconds: float | None = 0.0

    def per_operation_ms(self, operations: int) -> dict[str, float]:
        return {part: round(self.seconds[part] / operations * 1e3, 3) if operations else 0.0 for part in PARTS}

    def server_busy_share(self, server_processes: int) -> float:
        """The server's CPU time over the wall time, per server process (1.0: always busy)."""
        return self._per_server_process(self.seconds["server"], server_processes) or 0.0

    def server_waiting_share(self, server_processes: int) -> float | None:
        """The time the server's processes waited for a core over the wall time, per process."""
        if self.server_waiting_seconds is None:
            return None
        return self._per_server_process(self.server_waiting_seconds, server_processes)

    def _per_server_process(self, seconds: float, server_processes: int) -> float | None:
        if not self.wall_seconds or not server_processes:
            return None
        return round(seconds / self.wall_seconds / server_processes, 2)


def _since(before: dict[int, float], after: dict[int, float]) -> float:
    """Seconds spent between two readings by the processes alive at the second, each since the
    first reading or since it started."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


@contextmanager
def measured(account: CpuAccount, *, server_pids: list[int]) -> Iterator[None]:
    """Add the CPU time spent while the block runs to `account`. Processes are read at both
    ends, so that a backend or worker started meanwhile counts from its start."""

    def reading() -> tuple[dict[str, dict[int, float]], dict[int, float] | None]:
        servers = [process for pid in server_pids for process in _tree(pid)]
        seconds = {
            "server": _total(servers),
            "postgres": _total(_postgres_processes()),
            "generator": _total([psutil.Process(os.getpid())]),
        }
        return seconds, _waiting_for_a_core(servers)

    before, waited_before = reading()
    started = time.perf_counter()
    try:
        yield
    finally:
        account.wall_seconds += time.perf_counter() - started
        after, waited_after = reading()
        for part in PARTS:
            account.seconds[part] += _since(before[part], after[part])
        if account.server_waiting_seconds is None or waited_before is None or waited_after is None:
            account.server_waiting_seconds = None
        else:
            account.server_waiting_seconds += _since(waited_before, waited_after)
