"""A PostgreSQL server for the tests, named by TEST_DATABASE_URL (`.ci/postgres start` makes
a throw-away one; see the README's Development section). Tests never touch the database in
that URL: they create databases of their own on the server and drop them afterwards."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ENV = "TEST_DATABASE_URL"
SKIP_REASON = (
    f"no PostgreSQL server: set {ENV} to run the PostgreSQL store tests "
    "(see the README, Development)"
)


def server_url() -> str | None:
    return os.environ.get(ENV) or None


def url_of(server: str, database: str) -> str:
    """The server's URL with another database in its path."""
    return urlunsplit(urlsplit(server)._replace(path=f"/{database}"))


async def create_database(server: str) -> str:
    """A new, empty database on the server; its URL."""
    name = f"bot_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url_of(server, name)


async def drop_database(server: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
