"""Persistence behind one interface (`Store`); `SQLiteStore` is the implementation in use."""

from bot.store.base import (
    CleanupReport,
    DuplicateJobError,
    Exchange,
    HistoryLimits,
    JobChanges,
    MemberStanding,
    Outcome,
    QueuePlace,
    QuotaExceededError,
    Store,
    UsageLine,
)
from bot.store.sqlite import SQLiteStore

__all__ = [
    "CleanupReport",
    "DuplicateJobError",
    "Exchange",
    "HistoryLimits",
    "JobChanges",
    "MemberStanding",
    "Outcome",
    "QueuePlace",
    "QuotaExceededError",
    "SQLiteStore",
    "Store",
    "UsageLine",
]
