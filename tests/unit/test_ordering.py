"""Per-conversation ordering: turns run one at a time, in the order they were taken."""

from __future__ import annotations

import asyncio

import pytest

from bot.jobs.ordering import Arrivals, KeyedLocks

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def test_turns_on_one_key_run_in_arrival_order_one_at_a_time() -> None:
    arrivals = Arrivals()
    log: list[str] = []

    async def work(name: str, delay: float) -> None:
        turn = arrivals.turn("thread")
        async with turn:
            log.append(f"start {name}")
            await asyncio.sleep(delay)
            log.append(f"end {name}")

    # The first turn is the slowest: without ordering, the others would finish first.
    await asyncio.gather(work("a", 0.03), work("b", 0.0), work("c", 0.01))
    assert log == ["start a", "end a", "start b", "end b", "start c", "end c"]
    assert len(arrivals) == 0  # nothing left behind


async def test_other_keys_do_not_wait() -> None:
    arrivals = Arrivals()
    first = arrivals.turn("one")
    other = arrivals.turn("two")
    await asyncio.wait_for(other.__aenter__(), 1)  # does not wait for "one"
    second = arrivals.turn("one")
    entering = asyncio.create_task(second.__aenter__())
    await asyncio.sleep(0.01)
    assert not entering.done()
    first.end()
    await asyncio.wait_for(entering, 1)
    second.end()
    other.end()
    assert len(arrivals) == 0


async def test_a_turn_that_ends_early_still_keeps_the_order() -> None:
    # An ignored message ends its turn at once; the next must still wait for the first.
    arrivals = Arrivals()
    first = arrivals.turn("thread")
    ignored = arrivals.turn("thread")
    third = arrivals.turn("thread")
    ignored.end()
    entering = asyncio.create_task(third.__aenter__())
    await asyncio.sleep(0.01)
    assert not entering.done()  # the first turn is still going
    first.end()
    await asyncio.wait_for(entering, 1)
    third.end()
    assert len(arrivals) == 0


async def test_keyed_locks_serialise_per_key_and_forget_idle_keys() -> None:
    locks = KeyedLocks()
    log: list[str] = []

    async def use(key: str, name: str) -> None:
        async with locks.hold(key):
            log.append(f"in {name}")
            await asyncio.sleep(0.01)
            log.append(f"out {name}")

    await asyncio.gather(use("a", "1"), use("a", "2"), use("b", "3"))
    assert log.index("out 1") < log.index("in 2")
    assert len(locks) == 0


async def test_a_failed_turn_still_lets_the_next_one_run() -> None:
    arrivals = Arrivals()

    async def fail() -> None:
        async with arrivals.turn("k"):
            raise RuntimeError("boom")

    failing = asyncio.create_task(fail())
    async with arrivals.turn("k"):
        pass
    with pytest.raises(RuntimeError):
        await failing
