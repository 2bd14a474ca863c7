"""What a shutdown and the health check ask of the store, on both stores: a job put back from
running keeps its place in line, a transaction cancelled at any point leaves the store
usable, and the write probe says whether a write could start now."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.jobs.records import Job, JobRequest, JobState, new_job_id
from bot.jobs.recovery import put_back
from bot.store import SQLiteStore, Store
from tests.stores import Backend, sqlite_only

pytestmark = pytest.mark.asyncio(loop_scope="function")


def queued() -> Job:
    request = JobRequest(prompt="a fox", model="gemini-3.1-flash-image")
    job_id = new_job_id()
    return Job(id=job_id, kind="refine", user_id=1, guild_id=2, channel_id=3, request=request)


def in_lane(lane: str) -> Job:
    job = queued()
    job.lane = lane
    return job


async def test_a_job_put_back_keeps_its_place_ahead_of_its_conversation(store: Store) -> None:
    first, second = in_lane("thread:5"), in_lane("thread:5")
    await store.add_job(first)
    await store.add_job(second)
    running = await store.claim_next(max_running=4, max_per_user=4)
    assert running is not None
    assert running.id == first.id
    assert await put_back(store, [first.id, "unknown"]) == 1
    again = await store.claim_next(max_running=4, max_per_user=4)
    assert again is not None
    assert again.id == first.id  # not behind the edit written after it
    assert again.seq == running.seq
    assert again.attempts == 1  # the start a shutdown cut short did not count
    assert await put_back(store, []) == 0
    finished = await store.transition(first.id, [JobState.RUNNING], JobState.CANCELLED)
    assert finished is not None
    assert await put_back(store, [first.id]) == 0  # only running jobs go back


async def test_the_write_probe_until_the_store_is_closed(backend: Backend) -> None:
    opened = await backend.open()
    assert await opened.write_problem() is None
    await opened.close()
    problem = await opened.write_problem()
    assert problem is not None
    assert problem.startswith("the database cannot be written: ")


@pytest.mark.parametrize("yields", [0, 1, 2, 3])
async def test_a_transaction_cancelled_anywhere_leaves_the_store_usable(
    store: Store, yields: int
) -> None:
    """E.g. a job's task cancelled by a shutdown while its write is on its way."""
    job = queued()
    await store.add_job(job)
    moving = asyncio.create_task(store.transition(job.id, [JobState.QUEUED], JobState.CANCELLED))
    for _ in range(yields):
        await asyncio.sleep(0)
    moving.cancel()
    await asyncio.gather(moving, return_exceptions=True)
    assert await store.write_problem() is None
    await store.add_job(queued())  # whole writes work


@sqlite_only
@pytest.mark.parametrize("yields", [0, 1, 2, 3])
async def test_sqlite_rolls_back_a_transaction_cancelled_while_begin_is_on_its_way(
    store: Store, yields: int
) -> None:
    """BEGIN runs on the connection's own thread even when its caller was cancelled."""
    assert isinstance(store, SQLiteStore)

    async def write() -> None:
        async with store._transaction() as db:
            await db.execute("SELECT 1")

    task = asyncio.create_task(write())
    for _ in range(yields):
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await store.write_problem() is None
    await write()


@sqlite_only
async def test_the_sqlite_write_probe_names_a_lock_held_elsewhere(backend: Backend) -> None:
    store = await SQLiteStore.open(backend.location)
    await store._db.execute("PRAGMA busy_timeout=50")
    other = sqlite3.connect(backend.location, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        assert await store.write_problem() == "the database cannot be written: database is locked"
        other.execute("ROLLBACK")
        assert await store.write_problem() is None
    finally:
        other.close()
        await store.close()
