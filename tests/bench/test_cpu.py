"""The benchmark's account of where CPU time goes: each process's time lands in its own part."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench import cpu

SPIN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"


@contextmanager
def process(code: str) -> Iterator[subprocess.Popen[bytes]]:
    started = subprocess.Popen([sys.executable, "-c", code])
    try:
        yield started
    finally:
        started.kill()
        started.wait()


def test_a_worker_of_the_server_counts_as_the_server_and_a_stranger_does_not() -> None:
    spin_in_a_worker = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {SPIN.format(seconds=5)!r}])"
    with process(spin_in_a_worker) as server, process(SPIN.format(seconds=5)) as _stranger:
        time.sleep(0.3)  # the worker is running
        account = cpu.CpuAccount()
        with cpu.measured(account, server_pids=[server.pid]):
            time.sleep(1.0)
    # Two spinning processes on a machine of at least two cores, one of them the server's:
    # about a second for the server, whatever the stranger spent, and next to nothing for the
    # sleeping generator.
    assert 0.3 <= account.seconds["server"] <= 1.3
    assert account.seconds["generator"] < 0.2
    assert 0.3 <= account.server_busy_share(1) <= 1.3
    assert account.per_operation_ms(1000)["server"] == round(account.seconds["server"], 3)


def test_a_worker_started_while_measuring_counts_from_its_start() -> None:
    # As uvicorn starts its workers: the server's child appears after the first reading.
    late_worker = (
        "import subprocess, sys, time; time.sleep(0.5); "
        f"subprocess.run([sys.executable, '-c', {SPIN.format(seconds=5)!r}])"
    )
    with process(late_worker) as server:
        account = cpu.CpuAccount()
        with cpu.measured(account, server_pids=[server.pid]):
            time.sleep(1.5)
    assert account.seconds["server"] >= 0.3
