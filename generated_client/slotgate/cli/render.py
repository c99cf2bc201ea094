"""What the CLI shows: pure functions from API models to rich renderables and JSON."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import humanize
from rich.table import Table

from slotgate_client.models import Lease, Limit


def _when(moment: datetime, now: datetime) -> str:
    return humanize.naturaltime(now - moment)


def _slots(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def usage(limit: Limit) -> str:
    return f"{_slots(limit.active_slots)} / {limit.limit}"


def limits_table(limits: Iterable[Limit], *, now: datetime) -> Table:
    table = Table(title="Global concurrency limits", title_justify="left")
    for column in ("Name", "Usage", "Decay /s", "Active", "Leases", "Denied", "Updated"):
        table.add_column(column, justify="right" if column in {"Usage", "Decay /s", "Leases", "Denied"} else "left")
    for limit in limits:
        table.add_row(
            limit.name,
            usage(limit),
            f"{limit.slot_decay_per_second:g}",
            "yes" if limit.active else "no",
            str(limit.open_leases),
            str(limit.denied_slots),
            _when(limit.updated, now),
        )
    return table


def limit_details(limit: Limit, *, now: datetime) -> Table:
    table = Table(title=f"Limit {limit.name!r}", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    average = limit.avg_slot_occupancy_seconds
    rows = [
        ("id", limit.id),
        ("usage", f"{usage(limit)} slots occupied"),
        ("slot decay", f"{limit.slot_decay_per_second:g} slots/s" if limit.slot_decay_per_second else "none"),
        ("active", "yes" if limit.active else "no (never blocks)"),
        ("open leases", str(limit.open_leases)),
        ("denied slots", str(limit.denied_slots)),
        ("average hold", "no release yet" if not isinstance(average, float) else f"{average:.3g} s"),
        ("created", f"{limit.created.isoformat()} ({_when(limit.created, now)})"),
        ("updated", f"{limit.updated.isoformat()} ({_when(limit.updated, now)})"),
    ]
    for field, value in rows:
        table.add_row(field, str(value))
    return table


def leases_table(name: str, leases: Iterable[Lease], *, now: datetime) -> Table:
    table = Table(title=f"Open leases of {name!r}", title_justify="left")
    for column in ("Holder", "Slots", "Acquired", "Expires", "Fencing token", "Lease id"):
        table.add_column(column)
    for lease in leases:
        table.add_row(
            lease.holder or "-",
            str(lease.slots),
            _when(lease.created, now),
            _when(lease.expires_at, now),
            str(lease.fencing_token),
            str(lease.id),
        )
    return table


def as_json(model: Limit | Lease) -> dict[str, Any]:
    """The contract's own keys and values."""
    return model.to_dict()
