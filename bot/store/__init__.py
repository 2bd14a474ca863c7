"""Persistence behind one interface (`Store`): `SQLiteStore` for one process (the default),
`PostgresStore` for several sharing one database; `open_store` picks by the settings."""

from bot.store.base import (
    CleanupReport,
    DuplicateJobError,
    Exchange,
    HistoryLimits,
    JobChanges,
    MemberStanding,
    Outcome,
    ProcessEntry,
    QueuePlace,
    QuotaExceededError,
    ReferenceLimitError,
    Store,
    UsageLine,
)
from bot.store.factory import describe_store, open_store
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SQLiteStore

__all__ = [
    "CleanupReport",
    "DuplicateJobError",
    "Exchange",
    "HistoryLimits",
    "JobChanges",
    "MemberStanding",
    "Outcome",
    "PostgresStore",
    "ProcessEntry",
    "QueuePlace",
    "QuotaExceededError",
    "ReferenceLimitError",
    "SQLiteStore",
    "Store",
    "UsageLine",
    "describe_store",
    "open_store",
]
