"""What a shutdown asks of the store: a transaction cancelled at any point leaves the
connection usable, a job put back from running keeps its place in line, and the health probe
says whether a write could start now."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.jobs.records import Job, JobRequest, JobState, new_job_id
from bot.jobs.recovery import put_back
from bot.store import SQLiteStore

pytestmark = pytest.mark.asyncio(loop_scope="function")


@pytest_asyncio.fixture(loop_scope="function")
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = await SQLiteStore.open(tmp_path / "bot.sqlite3")
    yield store
    await store.close()


def queued(lane: str | None = None) -> Job:
    request = JobRequest(prompt="a fox", model="gemini-3.1-flash-image")
    return Job(
        id=new_job_id(),
        kind="refine",
        user_id=1,
        guild_id=2,
        channel_id=3,
        request=request,
        lane=lane,
    )


@pytest.mark.parametrize("yields", [0, 1, 2, 3])
async def test_a_transaction_cancelled_anywhere_leaves_the_connection_usable(
    store: SQLiteStore, yields: int
) -> None:
    """E.g. the dispatcher's claim, cancelled by a shutdown while BEGIN is on its way."""
    await store.add_job(queued())
    claim = asyncio.create_task(store.claim_next(max_running=4, max_per_user=4))
    for _ in range(yields):
        await asyncio.sleep(0)
    claim.cancel()
    await asyncio.gather(claim, return_exceptions=True)
    assert await store.write_problem() is None
    await store.add_job(queued())  # a whole transaction works


async def test_a_job_put_back_keeps_its_place_ahead_of_its_conversation(
    store: SQLiteStore,
) -> None:
    first, second = queued(lane="thread:5"), queued(lane="thread:5")
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
    assert await put_back(store, []) == 0
    finished = await store.transition(first.id, [JobState.RUNNING], JobState.CANCELLED)
    assert finished is not None
    assert await put_back(store, [first.id]) == 0  # only running jobs go back


async def test_the_write_probe_names_a_lock_held_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    store = await SQLiteStore.open(path)
    await store._db.execute("PRAGMA busy_timeout=50")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        assert await store.write_problem() is None
        other.execute("BEGIN IMMEDIATE")
        assert await store.write_problem() == "the database cannot be written: database is locked"
        other.execute("ROLLBACK")
        assert await store.write_problem() is None
    finally:
        other.close()
        await store.close()
    assert await store.write_problem() == "the database cannot be written: no active connection"
