"""The two stores the store tests run against: SQLite in a temporary directory, and
PostgreSQL when TEST_DATABASE_URL names a server (tests/unit/conftest.py has the fixtures)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.jobs.processes import new_process_id
from bot.jobs.records import Job
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
