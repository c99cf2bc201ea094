"""Whether the store answers, and what the metrics need from it."""

from __future__ import annotations

from sqlalchemy import Connection

from slotgate_server.errors import StoreUnavailable, is_store_outage
from slotgate_server.state import ServerState
from slotgate_server.store import limits as limit_store
from slotgate_server.store.records import LimitRecord

METRICS_PAGE = 1000


async def check(server: ServerState) -> None:
    try:
        await server.db.ping()
    except Exception as error:
        if is_store_outage(error):
            raise StoreUnavailable(
                f"The {server.settings.store_kind} database did not answer: {error.__class__.__name__}."
            ) from error
        raise


def _all_limits(conn: Connection) -> list[LimitRecord]:
    found: list[LimitRecord] = []
    after = None
    while page := limit_store.list_limits(conn, name_prefix=None, active=None, after=after, page_size=METRICS_PAGE):
        found += page
        after = page[-1].name
    return found


async def all_limits(server: ServerState) -> list[LimitRecord]:
    return await server.db.read(_all_limits)
