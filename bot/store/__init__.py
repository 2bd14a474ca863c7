"""Persistence behind one interface (`Store`); `SQLiteStore` is the implementation in use."""

from bot.store.base import (
    CleanupReport,
    DuplicateJobError,
    Exchange,
    HistoryLimits,
    JobChanges,
    Outcome,
    QueuePlace,
    Store,
)
from bot.store.sqlite import SQLiteStore

__all__ = [
    "CleanupReport",
    "DuplicateJobError",
    "Exchange",
    "HistoryLimits",
    "JobChanges",
    "Outcome",
    "QueuePlace",
    "SQLiteStore",
    "Store",
]
