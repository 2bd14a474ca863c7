"""Which store the bot uses: PostgreSQL when a URL names one, else SQLite at a path."""

from __future__ import annotations

from bot.config import StorageSettings
from bot.database_url import redacted
from bot.store.base import Store
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SQLiteStore


def database_url(storage: StorageSettings, from_env: str | None) -> str | None:
    """DATABASE_URL (`from_env`) wins over `[storage] url`; None means SQLite."""
    return from_env or storage.url or None


async def open_store(storage: StorageSettings, url_from_env: str | None) -> Store:
    url = database_url(storage, url_from_env)
    if url:
        return await PostgresStore.open(url)
    return await SQLiteStore.open(storage.path)


def describe_store(storage: StorageSettings, url_from_env: str | None) -> str:
    """Where the data lives, without any password."""
    url = database_url(storage, url_from_env)
    if url:
        source = "DATABASE_URL" if url_from_env else "[storage] url"
        return f"PostgreSQL at {redacted(url)} (from {source})"
    return f"SQLite at {storage.path}"
