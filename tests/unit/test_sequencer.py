"""Per-conversation ordering: turns run one at a time, in the order they were taken."""

from __future__ import annotations

import asyncio

import pytest

from bot.sequencer import Sequencer

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def test_turns_on_one_key_run_in_arrival_order_one_at_a_time() -> None:
    sequencer = Sequencer()
    log: list[str] = []

    async def work(name: str, delay: float) -> None:
        turn = sequencer.turn("thread")
        async with turn:
            log.append(f"start {name}")
            await asyncio.sleep(delay)
            log.append(f"end {name}")

    # The first turn is the slowest: without ordering, the others would finish first.
    await asyncio.gather(work("a", 0.03), work("b", 0.0), work("c", 0.01))
    assert log == ["start a", "end a", "start b", "end b", "start c", "end c"]
    assert len(sequencer) == 0  # nothing left behind


async def test_other_keys_do_not_wait() -> None:
    sequencer = Sequencer()
    first = sequencer.turn("one")
    other = sequencer.turn("two")
    assert not other.must_wait
    second = sequencer.turn("one")
    assert second.must_wait
    first.end()
    await asyncio.wait_for(second.__aenter__(), 1)
    second.end()
    other.end()
    assert len(sequencer) == 0


async def test_a_failed_turn_still_lets_the_next_one_run() -> None:
    sequencer = Sequencer()

    async def fail() -> None:
        async with sequencer.turn("k"):
            raise RuntimeError("boom")

    failing = asyncio.create_task(fail())
    async with sequencer.turn("k"):
        pass
    with pytest.raises(RuntimeError):
        await failing
