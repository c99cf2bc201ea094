"""A holder killed with SIGKILL: its slots come back when its lease expires, not before."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from slotgate import SlotgateClient, _protocol
from tests.sdk.conftest import MakeLimit, occupied

LEASE_SECONDS = 1.5

HOLDER = textwrap.dedent(
    """
    import sys, time
    from slotgate import concurrency
    with concurrency(sys.argv[1], lease_duration=float(sys.argv[2])) as lease:
        print(lease.id, flush=True)
        time.sleep(120)
    """
)


def test_slots_of_a_killed_holder_come_back_after_expiry(api: SlotgateClient, make_limit: MakeLimit) -> None:
    name = make_limit(limit=1)
    env = {**os.environ, "SLOTGATE_API_URL": api.settings.api_url}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, name, str(LEASE_SECONDS)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        lease_id = holder.stdout.readline().strip()
        time.sleep(LEASE_SECONDS)  # long enough for the holder to have renewed at least once
        expires_at = api.call(_protocol.read_lease_of(lease_id)).expires_at.timestamp()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        holder.kill()
    while time.time() < expires_at - 0.1:
        assert occupied(api, name) == 1, "freed before the lease expired"
        time.sleep(0.05)
    deadline = time.monotonic() + 5
    while occupied(api, name) != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert occupied(api, name) == 0
    assert time.time() >= expires_at - 0.1
