"""Retention runs through the store interface and reports what it removed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.jobs.records import Conversation, Job, JobRequest, JobState, new_job_id
from bot.maintenance import DAY_S, clean_up_once
from bot.media import Media
from bot.store import Outcome, SQLiteStore

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def test_conversations_past_retention_are_deleted(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "db.sqlite3")
    try:
        old = time.time() - 40 * DAY_S
        for thread, created in ((1, old), (2, time.time())):
            job = Job(new_job_id(), "imagine", 1, 1, 1, JobRequest(prompt="p", model="m"))
            await store.add_job(job)
            await store.claim_next(max_running=1, max_per_user=1)
            await store.finish(job.id, Outcome(JobState.DELIVERED, outputs=[Media(b"i", "x")]))
            await store.mark_shown(job.id, 1, 9, thread_wanted=True)
            await store.open_conversation(Conversation(thread, 1, 1, 1, "imagine", "m"), job.id)
            async with store._transaction() as db:
                await db.execute(
                    "UPDATE conversations SET updated_at = ? WHERE thread_id = ?",
                    (created, thread),
                )
        report = await clean_up_once(store, retention_days=30)
        assert report.conversations == 1
        assert await store.get_conversation(1) is None
        assert await store.get_conversation(2) is not None
    finally:
        await store.close()
