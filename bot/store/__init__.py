"""Persistence behind one interface (`Store`); `SQLiteStore` is the implementation in use."""

from bot.store.base import CleanupReport, HistoryLimits, Store
from bot.store.sqlite import SQLiteStore

__all__ = ["CleanupReport", "HistoryLimits", "SQLiteStore", "Store"]
