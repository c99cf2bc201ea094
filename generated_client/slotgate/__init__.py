"""Slotgate: global concurrency limits and rate limits.

from slotgate import concurrency, rate_limit            # threads and processes
from slotgate.asyncio import concurrency, rate_limit    # asyncio tasks
"""

from slotgate._protocol import Lease, unguarded_runs
from slotgate.client import SlotgateClient, default_client
from slotgate.errors import (
    AcquireTimeout,
    AcquisitionError,
    ApiError,
    Conflict,
    Forbidden,
    InvalidRequest,
    LeaseGone,
    LeaseLost,
    MissingLimits,
    NotFound,
    RetriesExhausted,
    ServerError,
    ServerUnreachable,
    SlotgateError,
    SlotsUnavailable,
    StoreUnavailable,
    Unauthorized,
    Unsatisfiable,
)
from slotgate.guards import concurrency, rate_limit

__all__ = [
    "AcquireTimeout",
    "AcquisitionError",
    "ApiError",
    "Conflict",
    "Forbidden",
    "InvalidRequest",
    "Lease",
    "LeaseGone",
    "LeaseLost",
    "MissingLimits",
    "NotFound",
    "RetriesExhausted",
    "ServerError",
    "ServerUnreachable",
    "SlotgateClient",
    "SlotgateError",
    "SlotsUnavailable",
    "StoreUnavailable",
    "Unauthorized",
    "Unsatisfiable",
    "concurrency",
    "default_client",
    "rate_limit",
    "unguarded_runs",
]
