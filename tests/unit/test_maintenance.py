"""Retention runs through the store interface and reports what it removed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from google.genai import types

from bot.maintenance import DAY_S, clean_up_once
from bot.records import Conversation, Job, JobRequest, new_job_id
from bot.store import SQLiteStore

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def test_conversations_past_retention_are_deleted(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "db.sqlite3")
    try:
        old = time.time() - 40 * DAY_S
        for thread, created in ((1, old), (2, time.time())):
            job = Job(new_job_id(), "imagine", 1, 1, 1, JobRequest(prompt="p", model="m"))
            conversation = Conversation(thread, 1, 1, 1, "imagine", "m")
            user = types.Content(role="user", parts=[types.Part(text=f"turn {thread}")])
            await store.record_turn(conversation, job, user, None, blocked=False)
            await store._fetchall(
                "UPDATE conversations SET updated_at = ? WHERE thread_id = ?", (created, thread)
            )
        report = await clean_up_once(store, retention_days=30)
        assert report.conversations == 1
        assert await store.get_conversation(1) is None
        assert await store.get_conversation(2) is not None
    finally:
        await store.close()
