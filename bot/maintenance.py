"""Background upkeep: delete conversations, jobs and images past the retention period.

Discord-free. Runs once at start-up and then periodically until cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.store import CleanupReport, Store

log = logging.getLogger(__name__)

DAY_S = 24 * 60 * 60


async def clean_up_once(store: Store, retention_days: int) -> CleanupReport:
    report = await store.delete_older_than(time.time() - retention_days * DAY_S)
    if report.conversations or report.jobs or report.images:
        log.info(
            "retention: deleted %d conversation(s), %d job(s), %d image(s)",
            report.conversations,
            report.jobs,
            report.images,
        )
    return report


async def clean_up_forever(store: Store, retention_days: int, interval_s: float = DAY_S) -> None:
    while True:
        await clean_up_once(store, retention_days)
        await asyncio.sleep(interval_s)
