"""The store's side of several processes sharing it (shards): claims of some shards only,
each job recording its process, processes replacing one another, the jobs of a gone process
adopted exactly once, and the concurrency limit's pace changed atomically. Both stores
(SQLite, and PostgreSQL when TEST_DATABASE_URL names a server); a second connection to the
same database stands for another process."""

from __future__ import annotations

import asyncio

import pytest

from bot.jobs.concurrency import Pace
from bot.jobs.records import Job, JobState
from bot.jobs.shards import ALL_SHARDS, Shards
from bot.media import Media
from bot.store import Outcome, ProcessEntry, Store
from tests.stores import Backend, job, sql

pytestmark = pytest.mark.asyncio(loop_scope="function")

# Servers whose ids put them on shard 0 and shard 1 of 2 ((id >> 22) % 2).
ON_ZERO, ON_ONE = 6 << 22, 7 << 22
ZERO, ONE = Shards.of(2, [0]), Shards.of(2, [1])
NOW = 1_000_000.0


def process(process_id: str, shards: Shards, heartbeat_at: float = NOW) -> ProcessEntry:
    return ProcessEntry(process_id, shards, f"host/{process_id}", NOW - 100, heartbeat_at)


async def claim(store: Store, owner: str, shards: Shards = ALL_SHARDS) -> Job | None:
    return await store.claim_next(max_running=10, max_per_user=10, owner=owner, shards=shards)


async def owners(store: Store) -> dict[str, str | None]:
    return {job_id: owner for job_id, owner in await sql(store, "SELECT id, owner FROM jobs")}


async def test_a_process_claims_the_jobs_of_its_shards(store: Store) -> None:
    zero, one, direct = (
        job(guild_id=ON_ZERO),
        job(guild_id=ON_ONE, user_id=1),
        job(guild_id=None, user_id=2),
    )
    for each in (zero, one, direct):
        await store.add_job(each)
    first = await claim(store, "p1", ONE)
    assert first is not None
    assert first.id == one.id
    assert await claim(store, "p1", ONE) is None
    # Direct messages arrive on shard 0, like Discord's events without a server.
    claimed = [await claim(store, "p0", ZERO) for _ in range(2)]
    assert {each.id for each in claimed if each} == {zero.id, direct.id}
    assert await owners(store) == {zero.id: "p0", one.id: "p1", direct.id: "p0"}


async def test_the_running_limit_counts_every_process(store: Store, backend: Backend) -> None:
    other = await backend.open()
    try:
        await store.add_job(job(guild_id=ON_ZERO))
        await store.add_job(job(guild_id=ON_ONE, user_id=1))
        assert await store.claim_next(max_running=1, max_per_user=5, owner="a", shards=ZERO)
        # The other process's shard has a job waiting, but one runs already (elsewhere).
        assert await other.claim_next(max_running=1, max_per_user=5, owner="b", shards=ONE) is None
        assert await other.claim_next(max_running=2, max_per_user=5, owner="b", shards=ONE)
    finally:
        await other.close()


async def test_a_restart_replaces_the_process_of_the_same_shards(store: Store) -> None:
    assert await store.register_process(process("a", ZERO)) == []
    assert await store.register_process(process("b", ONE)) == []
    replaced = await store.register_process(process("a2", ZERO))
    assert [p.id for p in replaced] == ["a"]
    assert sorted(p.id for p in await store.processes()) == ["a2", "b"]
    assert not await store.heartbeat("a", NOW + 1)  # it must stop: another took its shards
    assert await store.heartbeat("b", NOW + 1)
    (b,) = [p for p in await store.processes() if p.id == "b"]
    assert (b.shards, b.heartbeat_at, b.host) == (ONE, NOW + 1, "host/b")
    # A new layout (4 shards) replaces every process of the old one.
    new = await store.register_process(process("c", Shards.of(4, [0, 1])))
    assert sorted(p.id for p in new) == ["a2", "b"]
    await store.deregister_process("c")
    assert await store.processes() == []


async def test_the_jobs_of_a_gone_process_are_adopted_once(store: Store) -> None:
    await store.register_process(process("dead", ZERO, heartbeat_at=NOW - 120))
    await store.register_process(process("alive", ONE))
    running, unshown, waiting = (
        job(guild_id=ON_ZERO),
        job(guild_id=ON_ZERO, user_id=1),
        job(guild_id=ON_ZERO, user_id=2),
    )
    elsewhere = job(guild_id=ON_ONE, user_id=3)
    for each in (running, unshown, waiting, elsewhere):
        await store.add_job(each)
    for _ in range(2):
        assert await claim(store, "dead", ZERO)
    assert await claim(store, "alive", ONE)
    await store.finish(unshown.id, Outcome(JobState.DELIVERED, outputs=[Media(b"1", "p")]))
    # `waiting` never started: it simply waits for a claim (nothing to adopt).
    cancelled = job(guild_id=ON_ZERO, user_id=4)
    await store.add_job(cancelled)
    await store.transition(cancelled.id, [JobState.QUEUED], JobState.CANCELLED)

    assert await store.adopt_orphans("alive", ONE, alive_since=NOW - 60) == []  # not its shard
    adopted = await store.adopt_orphans("alive", ALL_SHARDS, alive_since=NOW - 60)
    assert sorted(j.id for j in adopted) == sorted([running.id, unshown.id])
    assert {j.id: j.state for j in adopted}[running.id] is JobState.RUNNING
    assert await store.adopt_orphans("other", ALL_SHARDS, alive_since=NOW - 60) == []
    assert (await owners(store))[running.id] == "alive"
    # After a restart, also what no process ever claimed and nobody showed.
    restarted = await store.adopt_orphans("new", ZERO, alive_since=NOW - 60, unowned=True)
    assert [j.id for j in restarted] == [cancelled.id]


async def test_two_processes_never_adopt_the_same_job(store: Store, backend: Backend) -> None:
    other = await backend.open()
    try:
        await store.register_process(process("x", ZERO))
        await other.register_process(process("y", ONE))
        for user_id in range(6):
            await store.add_job(job(guild_id=ON_ZERO, user_id=user_id))
            await claim(store, "gone")
        found = await asyncio.gather(
            *(
                s.adopt_orphans(s_id, ALL_SHARDS, alive_since=NOW)
                for s, s_id in ((store, "x"), (other, "y")) * 3
            )
        )
        adopted = [j.id for each in found for j in each]
        assert len(adopted) == len(set(adopted)) == 6
    finally:
        await other.close()


async def test_the_pace_is_shared_and_changed_atomically(store: Store, backend: Backend) -> None:
    assert await store.pace() is None
    await store.add_job(job(guild_id=ON_ZERO))
    await store.claim_next(max_running=10, max_per_user=10)
    seen: list[int] = []

    def grow(pace: Pace | None, running: int) -> Pace:
        seen.append(running)
        return Pace((pace.limit if pace else 10) + 1, paused_until=5.0, last_cut=3.0)

    assert await store.update_pace(grow) == Pace(11, 5.0, 3.0)
    assert seen == [1]  # the jobs running in every process
    other = await backend.open()
    try:
        await asyncio.gather(*(s.update_pace(grow) for s in (store, other) * 5))
        assert await other.pace() == Pace(21, 5.0, 3.0)  # no change was lost
    finally:
        await other.close()
