"""The two stores the store tests run against: SQLite in a temporary directory, and
PostgreSQL when TEST_DATABASE_URL names a server (tests/unit/conftest.py has the fixtures)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.jobs.processes import new_process_id
from bot.jobs.records import Job, JobRequest, JobState, new_job_id
from bot.jobs.shards import ALL_SHARDS
from bot.store import PostgresStore, SQLiteStore, Store


@dataclass(frozen=True)
class Backend:
    """Where a test's database lives; `open` opens it (again: another process)."""

    name: str
    location: Path | str

    async def open(self) -> Store:
        if self.name == "postgres":
            return await PostgresStore.open(str(self.location))
        return await SQLiteStore.open(self.location)


SQLITE = "sqlite"
POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)


sqlite_only = pytest.mark.parametrize("backend", [SQLITE], indirect=True)
postgres_only = pytest.mark.parametrize("backend", [POSTGRES], indirect=True)


async def sql(store: Store, query: str) -> list[tuple[Any, ...]]:
    """Run SQL both databases understand (tests reach around the Store protocol here)."""
    if isinstance(store, SQLiteStore):
        return [tuple(row) for row in await store._fetchall(query)]  # autocommit
    assert isinstance(store, PostgresStore)
    return [tuple(row.values()) for row in await store._fetch(query)]


async def postgres_script(store: Store, script: str) -> None:
    """Several statements at once (PostgreSQL's simple query protocol)."""
    assert isinstance(store, PostgresStore)
    await store._execute(script)


async def unshown(store: Store) -> list[Job]:
    """The outcomes stored but never posted that a restarted process would post (its jobs,
    and those no process claimed)."""
    return await store.adopt_orphans(new_process_id(), ALL_SHARDS, alive_since=0, unowned=True)


def job(
    *,
    user_id: int = 42,
    guild_id: int | None = 7,
    thread_id: int | None = None,
    state: JobState = JobState.QUEUED,
    lane: str | None = None,
    dedupe: str | None = None,
    **request: Any,
) -> Job:
    """A job of a store test: "a cat" on model "m", in channel 9 of server 7 by default."""
    return Job(
        id=new_job_id(),
        kind="imagine",
        user_id=user_id,
        guild_id=guild_id,
        channel_id=9,
        thread_id=thread_id,
        state=state,
        lane=lane,
        dedupe=dedupe,
        request=JobRequest(prompt="a cat", model="m", **request),
    )
