"""`python -m bench`: start a real server on each store and measure it.

Prints a table and writes JSON (bench/results.json by default). Compare ratios measured in
one run: the machine is shared, so absolute figures drift between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

import httpx

from bench.workloads import Result, acquire_release, health, run_clients, sdk_median_costs
from tests.support.live_server import fresh_database, running_server

CLIENTS = 16


def measure_store(store: str, *, seconds: float) -> tuple[dict[str, Result], dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        with fresh_database(store, tmp_dir) as url, running_server(url, tmp_dir) as server:
            httpx.post(f"{server.url}/api/v1/limits", json={"name": "roomy", "limit": 1_000_000})
            httpx.post(
                f"{server.url}/api/v1/limits",
                json={"name": "fast-rate", "limit": 1_000_000, "slot_decay_per_second": 1_000_000},
            )
            floor = asyncio.run(
                run_clients(server.url, name="health", clients=CLIENTS, seconds=seconds, operation=health)
            )
            pairs = asyncio.run(
                run_clients(
                    server.url,
                    name="uncontended pairs",
                    clients=CLIENTS,
                    seconds=seconds,
                    operation=acquire_release("roomy"),
                )
            )
            sdk = sdk_median_costs(server.url, concurrency_limit="roomy", rate_limit_name="fast-rate")
    return {"health": floor, "uncontended": pairs}, sdk


def table(results: dict[str, dict[str, Result]]) -> str:
    lines = [f"{'store':<10} {'workload':<18} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'÷ health':>9}"]
    for store, by_workload in results.items():
        floor = by_workload["health"].per_second
        for workload, result in by_workload.items():
            lines.append(
                f"{store:<10} {workload:<18} {result.per_second:>9.1f} {result.percentile(0.5) * 1e3:>8.2f} "
                f"{result.percentile(0.99) * 1e3:>8.2f} {result.errors:>7} {result.per_second / floor:>9.2f}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each workload (at most 120)")
    parser.add_argument("--json", type=Path, default=Path("bench/results.json"))
    args = parser.parse_args()
    seconds = min(args.seconds, 120.0)
    measured = {store: measure_store(store, seconds=seconds) for store in args.stores.split(",")}
    results = {store: loads for store, (loads, _) in measured.items()}
    print(table(results))
    print()
    for store, (_, sdk) in measured.items():
        costs = ", ".join(f"{what} {median * 1e3:.2f} ms" for what, median in sdk.items())
        print(f"{store:<10} SDK medians: {costs}")
    summary = {
        store: {
            workload: {
                "per_second": r.per_second,
                "p50_ms": r.percentile(0.5) * 1e3,
                "p95_ms": r.percentile(0.95) * 1e3,
                "p99_ms": r.percentile(0.99) * 1e3,
                "errors": r.errors,
                "operations": r.operations,
                "ratio_to_health": r.per_second / by_workload["health"].per_second,
            }
            for workload, r in by_workload.items()
        }
        for store, by_workload in results.items()
    }
    for store, (_, sdk) in measured.items():
        summary[store]["sdk_median_ms"] = {what: median * 1e3 for what, median in sdk.items()}
    args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
