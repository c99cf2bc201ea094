"""`python -m bench`: start real servers (SQLite; PostgreSQL; PostgreSQL with two uvicorn
workers; two replicas on one PostgreSQL), run every workload against each, print a table and
write JSON (bench/results.json).

Compare ratios measured in one run: the machine is shared, so absolute figures drift.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench import cpu, workloads
from tests.support.live_server import LiveServer, fresh_database, running_server

# target: (store, server processes, uvicorn workers in each)
TARGETS = {
    "sqlite": ("sqlite", 1, 1),
    "postgres": ("postgres", 1, 1),
    "postgres-2-workers": ("postgres", 1, 2),
    "postgres-2-replicas": ("postgres", 2, 1),
}
# Rounds in which the health floor, contention and uncontended pairs take turns.
ROUNDS = 3
LIMITS = {
    "contended": {"limit": 10},
    "roomy": {"limit": 1_000_000},
    "rate-20": {"limit": 1, "slot_decay_per_second": 20.0},
    "fast-rate": {"limit": 1_000_000, "slot_decay_per_second": 1_000_000.0},
    "hand-off": {"limit": 1},
}


@contextlib.contextmanager
def servers(store: str, replicas: int, workers: int) -> Iterator[list[LiveServer]]:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_database(store, Path(tmp)))
        started = [stack.enter_context(running_server(url, Path(tmp), workers=workers)) for _ in range(replicas)]
        for name, config in LIMITS.items():
            httpx.put(f"{started[0].url}/api/v1/limits/{name}", json=config).raise_for_status()
        yield started


def measure(target: str, *, seconds: float) -> dict[str, Any]:
    store, replicas, workers = TARGETS[target]
    with servers(store, replicas, workers) as started:
        urls = [server.url for server in started]
        server_pids = [server.process.pid for server in started if server.process is not None]
        # The health floor and the pair workloads take turns, a slice of each per round, so that
        # a change in the machine's speed during the run weighs on all of them alike.
        health, contention, uncontended = (workloads.Result(name) for name in ("health", "contention", "uncontended"))
        accounts = {result.name: cpu.CpuAccount() for result in (health, contention, uncontended)}
        slice_seconds = seconds / ROUNDS
        for _ in range(ROUNDS):
            with cpu.measured(accounts["health"], server_pids=server_pids):
                workloads.run(
                    workloads.run_clients(
                        urls, result=health, clients=16, seconds=slice_seconds, loop=workloads.health_loop
                    )
                )
            with cpu.measured(accounts["contention"], server_pids=server_pids):
                workloads.run(
                    workloads.contention(
                        urls, result=contention, limit_name="contended", clients=50, seconds=slice_seconds * 2
                    )
                )
            with cpu.measured(accounts["uncontended"], server_pids=server_pids):
                workloads.run(
                    workloads.run_clients(
                        urls, result=uncontended, clients=16, seconds=slice_seconds, loop=workloads.pair_loop("roomy")
                    )
                )
        for result in (health, contention, uncontended):
            account = accounts[result.name]
            result.extra["cpu_ms_per_operation"] = account.per_operation_ms(result.operations)
            result.extra["server_busy_share"] = account.server_busy_share(replicas * workers)
            result.extra["server_waiting_share"] = account.server_waiting_share(replicas * workers)
        rate = workloads.Result("rate accuracy")
        workloads.run(workloads.rate_accuracy(urls, result=rate, limit_name="rate-20", clients=8, seconds=seconds))
        figures = {
            "health": health.summary(),
            "contention": contention.summary(),
            "uncontended": uncontended.summary(),
            "rate_accuracy": rate.summary(),
            "sdk": workloads.sdk_medians(urls[0], concurrency_limit="roomy", rate_limit_name="fast-rate", repeats=200),
            "hand_off": workloads.hand_off(urls[-1], limit_name="hand-off", rounds=15),
        }
    return figures


def verdicts(figures: dict[str, Any], *, processes: int, sql_floor: float | None) -> dict[str, bool]:
    """The targets: pairs/s against the server's own health floor for a server of one process
    (on each store), and against the raw SQL floor on PostgreSQL; the rest for every server."""
    contention = figures["contention"]
    checks = {
        "no 5xx": all(figures[load]["server_errors_5xx"] == 0 for load in LOADS),
        "never above the limit": max(
            contention["most_held_seen_by_clients"], contention["most_occupied_seen_by_server"]
        )
        <= 10,
        "rate within 2% of 20/s": abs(figures["rate_accuracy"]["per_second"] - 20) <= 0.4,
        "SDK block median < 5 ms": figures["sdk"]["concurrency_block_ms"] < 5,
        "hand-off median < 50 ms": figures["hand_off"]["hand_off_median_ms"] < 50,
    }
    if processes == 1:
        checks["contention >= health/4"] = figures["contention_per_health"] >= 0.25
        checks["uncontended >= health/4"] = figures["uncontended_per_health"] >= 0.25
    if sql_floor:
        checks["uncontended >= SQL floor/5"] = figures["uncontended"]["per_second"] >= sql_floor / 5
    return checks


LOADS = ("health", "contention", "uncontended", "rate_accuracy")


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"{'target':<20} {'workload':<14} {'per s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'423':>7} {'5xx':>5}"
    ]
    for target, figures in results.items():
        for workload in LOADS:
            row = figures[workload]
            lines.append(
                f"{target:<20} {workload:<14} {row['per_second']:>9.1f} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} "
                f"{row['p99_ms']:>8.2f} {row['denials_423']:>7} {row['server_errors_5xx']:>5}"
            )
        contention = figures["contention"]
        lines.append(
            f"{target:<20} pairs per health request: contention {figures['contention_per_health']:.3f}, "
            f"uncontended {figures['uncontended_per_health']:.3f}"
        )
        lines.append(
            f"{target:<20} safety: most held {contention['most_held_seen_by_clients']} (clients), "
            f"{contention['most_occupied_seen_by_server']:g} (server, {contention['server_state_looks']} looks) of 10; "
            "SDK block "
            f"{figures['sdk']['concurrency_block_ms']} ms, rate_limit {figures['sdk']['rate_limit_ms']} ms; "
            f"hand-off {figures['hand_off']['hand_off_median_ms']} ms"
        )
        rate = figures["rate_accuracy"]
        lines.append(
            f"{target:<20} rate: longest gap between grants {rate['longest_gap_between_grants_ms']} ms; "
            f"generator's longest stall {rate['generator_longest_stall_ms']} ms; "
            f"CPU stolen by the hypervisor {rate.get('cpu_stolen_by_hypervisor_seconds', '?')} s"
        )
        lines.append(f"{target:<20} CPU ms/op server/PostgreSQL/generator (server busy/waiting) {cpu_use(figures)}")
        failed = [name for name, ok in figures["verdicts"].items() if not ok]
        lines.append(f"{target:<20} targets: {'all met' if not failed else 'missed ' + ', '.join(failed)}")
    return "\n".join(lines)


def _share(share: float | None) -> str:
    return "?" if share is None else f"{share:.2f}"


def cpu_use(figures: dict[str, Any]) -> str:
    return ", ".join(
        f"{load} "
        + "/".join(f"{figures[load]['cpu_ms_per_operation'][part]:.3f}" for part in cpu.PARTS)
        + f" ({figures[load]['server_busy_share']:.2f}/{_share(figures[load]['server_waiting_share'])})"
        for load in ("health", "contention", "uncontended")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated of: {', '.join(TARGETS)}")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each workload (at most 60)")
    parser.add_argument("--json", type=Path, default=Path("bench/results.json"))
    args = parser.parse_args()
    seconds = min(args.seconds, 60.0)
    targets = args.targets.split(",")
    sql_floor = None
    if any(TARGETS[target][0] == "postgres" for target in targets):
        with tempfile.TemporaryDirectory() as tmp, fresh_database("postgres", Path(tmp)) as url:
            floor = workloads.run(workloads.raw_sql_floor(url, connections=16, seconds=seconds))
        sql_floor = floor.per_second
    results = {target: measure(target, seconds=seconds) for target in targets}
    for target, figures in results.items():
        store, replicas, workers = TARGETS[target]
        for load in ("contention", "uncontended"):
            figures[f"{load}_per_health"] = round(figures[load]["per_second"] / figures["health"]["per_second"], 3)
        figures["verdicts"] = verdicts(
            figures, processes=replicas * workers, sql_floor=sql_floor if store == "postgres" else None
        )
    if sql_floor:
        print(f"raw SQL floor (PostgreSQL, 16 connections, update pair): {sql_floor:.1f} pairs/s")
    print(table(results))
    args.json.write_text(json.dumps({"sql_floor_pairs_per_second": sql_floor, **results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
