"""The job queue: global and per-member caps, first come first served, honest positions."""

from __future__ import annotations

import asyncio

import pytest

from bot.jobs import JobQueue, Ticket

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def run_jobs(
    queue: JobQueue, users: list[int], started: list[int], gate: asyncio.Event
) -> list[asyncio.Task[None]]:
    async def job(index: int, user: int) -> None:
        ticket = queue.ticket(user)
        async with queue.slot(ticket):
            started.append(index)
            await gate.wait()

    tasks = [asyncio.create_task(job(i, u)) for i, u in enumerate(users)]
    await asyncio.sleep(0.01)
    return tasks


async def test_global_cap_and_fifo_order() -> None:
    queue = JobQueue(max_concurrent=2, max_per_user=5)
    started: list[int] = []
    gate = asyncio.Event()
    tasks = await run_jobs(queue, [1, 2, 3, 4], started, gate)
    assert started == [0, 1]
    assert (queue.running, queue.waiting) == (2, 2)
    gate.set()
    await asyncio.gather(*tasks)
    assert started == [0, 1, 2, 3]
    assert (queue.running, queue.waiting) == (0, 0)


async def test_per_user_cap_lets_other_members_overtake() -> None:
    queue = JobQueue(max_concurrent=3, max_per_user=1)
    started: list[int] = []
    gate = asyncio.Event()
    tasks = await run_jobs(queue, [1, 1, 1, 2], started, gate)
    assert started == [0, 3]  # member 1's second job waits; member 2 is not stuck behind it
    gate.set()
    await asyncio.gather(*tasks)
    assert sorted(started) == [0, 1, 2, 3]


async def test_positions_count_the_jobs_ahead() -> None:
    queue = JobQueue(max_concurrent=1, max_per_user=1)
    first = queue.ticket(1)
    second = queue.ticket(2)
    third = queue.ticket(3)
    assert [queue.position(t) for t in (first, second, third)] == [0, 1, 2]
    async with queue.slot(first):
        assert queue.position(second) == 0
        assert queue.position(third) == 1
        waiter = asyncio.create_task(_enter(queue, second))
        await asyncio.sleep(0)
        assert not waiter.done()
    await waiter
    await _enter(queue, third)


async def _enter(queue: JobQueue, ticket: Ticket) -> None:
    async with queue.slot(ticket):
        pass


async def test_a_cancelled_waiter_leaves_the_line() -> None:
    queue = JobQueue(max_concurrent=1, max_per_user=1)
    gate = asyncio.Event()
    started: list[int] = []
    tasks = await run_jobs(queue, [1, 2, 3], started, gate)
    tasks[1].cancel()
    await asyncio.sleep(0)
    assert queue.waiting == 1
    gate.set()
    await asyncio.gather(tasks[0], tasks[2])
    assert started == [0, 2]
