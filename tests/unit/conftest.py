"""Fixtures of the store tests: `backend` (each store in turn) and `store` (opened, empty)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.store import PostgresStore, Store
from tests.stores import POSTGRES, SQLITE, Backend, postgres_script, sql


@pytest.fixture(params=[SQLITE, POSTGRES])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "postgres":
        return Backend("postgres", request.getfixturevalue("postgres_database"))
    return Backend("sqlite", tmp_path / "sub" / "bot.sqlite3")


@pytest_asyncio.fixture(loop_scope="function")
async def store(backend: Backend) -> AsyncIterator[Store]:
    opened = await backend.open()
    if isinstance(opened, PostgresStore):
        # One database for the session, emptied before each test: newest tables first (they
        # refer to older ones); DELETE is many times faster than TRUNCATE on small tables.
        tables = await sql(
            opened,
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' "
            "AND c.relname <> 'schema_version' ORDER BY c.oid DESC",
        )
        await postgres_script(opened, "; ".join(f'DELETE FROM "{name}"' for (name,) in tables))
    yield opened
    await opened.close()
