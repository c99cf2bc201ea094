"""Freed slots are told to every server process on one PostgreSQL, through NOTIFY."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from slotgate_server.settings import normalise_database_url
from slotgate_server.store import signals
from tests.support.live_server import fresh_database


def test_a_notification_reaches_a_listener_when_its_transaction_commits(tmp_path: Path) -> None:
    with fresh_database("postgres", tmp_path) as url:
        url = normalise_database_url(url)
        engine = create_engine(url)

        async def hear_two() -> list[signals.Freed]:
            heard: list[signals.Freed] = []
            ready = asyncio.Event()
            listening = signals.listen(url, listening=ready.set)
            first = asyncio.ensure_future(anext(listening))
            await asyncio.wait_for(ready.wait(), timeout=10)
            with engine.begin() as conn:
                signals.announce(conn, names=["db", "api"], slots=2)
                await asyncio.sleep(0.2)
                assert not first.done()  # nothing is told before the commit
            heard.append(await asyncio.wait_for(first, timeout=10))
            with engine.connect() as conn:
                signals.announce(conn, names=["db"], slots=5)
                conn.rollback()  # a rolled-back change tells nothing
            with engine.begin() as conn:
                signals.announce(conn, names=["db"], slots=None)
            heard.append(await asyncio.wait_for(anext(listening), timeout=10))
            await listening.aclose()
            return heard

        try:
            heard = asyncio.run(hear_two())
        finally:
            engine.dispose()
    assert heard == [
        signals.Freed(names=["db", "api"], slots=2),
        signals.Freed(names=["db"], slots=None),
    ]


@pytest.mark.parametrize("payload", ["", "not json", "[]", '{"names": ["a"]}', '{"slots": 1}'])
def test_a_foreign_payload_is_ignored(payload: str) -> None:
    assert signals.parse(payload) is None
