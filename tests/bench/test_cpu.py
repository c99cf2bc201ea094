"""The benchmark's account of where CPU time goes: each process's time lands in its own part."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

from bench import cpu

SPIN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"


@contextlib.contextmanager
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


def test_a_server_that_shares_its_core_is_counted_as_waiting_for_one() -> None:
    # One spinning process more than there are cores: every one of them waits its turn.
    cores = os.cpu_count() or 1
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(process(SPIN.format(seconds=5)))
        for _ in range(cores):
            stack.enter_context(process(SPIN.format(seconds=5)))
        time.sleep(0.3)
        account = cpu.CpuAccount()
        with cpu.measured(account, server_pids=[server.pid]):
            time.sleep(1.0)
    busy, waiting = account.server_busy_share(1), account.server_waiting_share(1)
    assert waiting is not None and waiting >= 0.05
    # Always ready to run: on a core, or waiting for one.
    assert busy + waiting >= 0.8
