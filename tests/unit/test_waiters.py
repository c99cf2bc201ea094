"""Waiters on the server: queued per limit, woken first in the queue first."""

from __future__ import annotations

import asyncio

import pytest

from slotgate_server.waiters import SlotsFreed, Woken

LONG = 30.0  # longer than any test: a waiter that is not woken fails its test by timing out


async def _started(freed: SlotsFreed, *args: object, **kwargs: object) -> asyncio.Task[Woken]:
    task = asyncio.create_task(freed.wait(*args, **kwargs))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # it is in the queue now
    return task


async def _turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


@pytest.mark.parametrize("between", range(4))
@pytest.mark.parametrize("before_third", range(4))
def test_a_waiter_is_woken_whatever_other_waiters_do_meanwhile(between: int, before_third: int) -> None:
    """Two waiters woken one after the other, and a third that queues while they leave: the
    third must stay reachable (a leaving waiter once dropped the third's new queue)."""

    async def scenario() -> None:
        freed = SlotsFreed()
        first = await _started(freed, ["db"], LONG)
        second = await _started(freed, ["db"], LONG)
        freed.notify("db", 1)
        await _turns(between)
        freed.notify("db", 1)
        await _turns(before_third)
        third = asyncio.create_task(freed.wait(["db"], LONG))
        await asyncio.wait_for(asyncio.gather(first, second), timeout=5)
        await _turns(2)
        freed.notify("db", 1)
        await asyncio.wait_for(third, timeout=5)

    asyncio.run(scenario())


def test_waking_follows_the_queue_and_a_loser_goes_back_to_the_front() -> None:
    async def scenario() -> list[str]:
        freed = SlotsFreed()
        order: list[str] = []

        async def wait(label: str, **kwargs: object) -> None:
            await freed.wait(["db"], LONG, **kwargs)  # type: ignore[arg-type]
            order.append(label)

        tasks = [asyncio.create_task(wait("old")), asyncio.create_task(wait("new"))]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(wait("retry", ahead=True)))
        await asyncio.sleep(0)
        for _ in tasks:
            freed.notify("db", 1)
            await asyncio.sleep(0)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
        return order

    assert asyncio.run(scenario()) == ["retry", "old", "new"]


def test_only_waiters_for_freed_slots_make_a_queue_to_join() -> None:
    async def scenario() -> list[bool]:
        freed = SlotsFreed()
        seen = [freed.queued(["db"])]
        draining = await _started(freed, ["db"], LONG)  # waits for a decay, not a release
        seen.append(freed.queued(["db"]))
        holding = await _started(freed, ["db", "api"], LONG, for_release=True)
        seen += [freed.queued(["db"]), freed.queued(["db", "api"]), freed.queued(["db", "other"])]
        freed.notify("db")  # all of them
        await asyncio.wait_for(asyncio.gather(draining, holding), timeout=5)
        seen.append(freed.queued(["db"]))
        return seen

    assert asyncio.run(scenario()) == [False, False, True, True, False, False]


def test_a_place_coming_first_wakes_its_waiter_even_between_two_waits() -> None:
    async def scenario() -> list[Woken]:
        freed = SlotsFreed()
        freed.hold_place(7)
        seen: list[Woken] = []
        waiting = await _started(freed, ["db"], LONG, place=7)
        freed.wake_places([7, 8])  # 8: a place of another process, unknown here
        seen.append(await asyncio.wait_for(waiting, timeout=5))
        freed.wake_places([7])  # while it is between two waits
        seen.append(await asyncio.wait_for(freed.wait(["db"], LONG, place=7), timeout=5))
        freed.drop_place(7)
        freed.wake_places([7])
        seen.append(await freed.wait(["db"], 0.01, place=7))  # a place it left: not woken
        return seen

    assert asyncio.run(scenario()) == [Woken.NEXT_IN_LINE, Woken.NEXT_IN_LINE, Woken.TIMEOUT]


def test_a_ring_is_kept_once_for_the_next_wait_only() -> None:
    async def scenario() -> list[Woken]:
        freed = SlotsFreed()
        freed.hold_place(1)
        freed.wake_places([1])
        freed.wake_places([1])
        first = await freed.wait([], LONG, place=1)
        second = await freed.wait([], 0.01, place=1)
        return [first, second]

    assert asyncio.run(scenario()) == [Woken.NEXT_IN_LINE, Woken.TIMEOUT]


def test_a_wait_says_what_ended_it() -> None:
    async def scenario() -> list[Woken]:
        freed = SlotsFreed()
        by_slots = await _started(freed, ["db"], LONG)
        freed.notify("db", 1)
        return [await by_slots, await freed.wait(["db"], 0.01)]

    assert asyncio.run(scenario()) == [Woken.FREED, Woken.TIMEOUT]


def test_slots_freed_while_a_waiter_looked_wake_it_when_it_waits() -> None:
    async def scenario() -> list[Woken]:
        freed = SlotsFreed()
        looked = freed.freeings(["db", "api"])
        freed.notify("db", 1)  # between its look and its wait: no one is in the queue yet
        first = await asyncio.wait_for(freed.wait(["db"], LONG, freed_since=looked), timeout=5)
        second = await freed.wait(["db"], 0.01, freed_since=freed.freeings(["db"]))
        other = await freed.wait(["api"], 0.01, freed_since=looked)  # only "db" was freed
        return [first, second, other]

    assert asyncio.run(scenario()) == [Woken.FREED, Woken.TIMEOUT, Woken.TIMEOUT]
