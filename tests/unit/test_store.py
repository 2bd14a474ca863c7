"""The SQLite store: migrations, exact history round-trips, dedup, limits and retention."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from google.genai import types

from bot.records import Conversation, Job, JobRequest, JobState, new_job_id
from bot.store import HistoryLimits, SQLiteStore
from bot.store.codec import ImageBlob, sha256_hex
from bot.store.migrations import MIGRATIONS

pytestmark = pytest.mark.asyncio(loop_scope="function")

WIDE = HistoryLimits(max_turns=50, max_images=50)


@pytest_asyncio.fixture(loop_scope="function")
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = await SQLiteStore.open(tmp_path / "sub" / "bot.sqlite3")
    yield store
    await store.close()


def job(thread_id: int | None = 1, **request: object) -> Job:
    return Job(
        id=new_job_id(),
        kind="imagine",
        user_id=42,
        guild_id=7,
        channel_id=9,
        thread_id=thread_id,
        request=JobRequest(prompt="a cat", model="m", **request),
    )


def conversation(thread_id: int = 1, **fields: Any) -> Conversation:
    return Conversation(
        thread_id=thread_id,
        guild_id=7,
        channel_id=9,
        owner_id=42,
        workflow="imagine",
        model="m",
        **fields,
    )


def user(text: str, *images: bytes) -> types.Content:
    parts = [types.Part.from_bytes(data=i, mime_type="image/png") for i in images]
    return types.Content(role="user", parts=[*parts, types.Part.from_text(text=text)])


def model(image: bytes, signature: bytes = b"sig") -> types.Content:
    return types.Content(
        role="model",
        parts=[
            types.Part(text="Here it is", thought_signature=signature + b"-text"),
            types.Part(
                inline_data=types.Blob(data=b"thought-" + image, mime_type="image/png"),
                thought=True,
            ),
            types.Part(
                inline_data=types.Blob(data=image, mime_type="image/png"),
                thought_signature=signature,
            ),
        ],
    )


async def test_migrations_run_from_empty_and_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first = await SQLiteStore.open(path)
    assert await first.schema_version() == len(MIGRATIONS)
    await first.close()
    again = await SQLiteStore.open(path)  # reopening applies nothing twice
    assert await again.schema_version() == len(MIGRATIONS)
    await again.close()


async def test_history_round_trips_contents_exactly(store: SQLiteStore) -> None:
    turns = [(user("draw a cat", b"upload"), model(b"img-1", b"s1"))]
    turns.append((user("make it blue"), model(b"img-2", b"s2")))
    for u, m in turns:
        await store.record_turn(conversation(), job(), u, m, blocked=False)
    history = await store.history(1, WIDE)
    assert history == [content for pair in turns for content in pair]
    restored = history[-1].parts or []
    assert restored[2].thought_signature == b"s2"
    assert restored[1].thought is True


async def test_identical_images_are_stored_once(store: SQLiteStore) -> None:
    for thread in (1, 2):
        await store.record_turn(
            conversation(thread), job(thread), user("x", b"same"), model(b"same"), blocked=False
        )
    rows = await store._fetchall("SELECT sha256, size FROM images")
    # "same" (upload and result share bytes) and "thought-same": two rows, whatever the reuse.
    assert sorted(r[0] for r in rows) == sorted({sha256_hex(b"same"), sha256_hex(b"thought-same")})


async def test_blocked_turns_are_kept_but_never_sent_back(store: SQLiteStore) -> None:
    await store.record_turn(conversation(), job(), user("ok"), model(b"a"), blocked=False)
    await store.record_turn(conversation(), job(), user("bad"), None, blocked=True)
    blocked_model = types.Content(role="model", parts=[types.Part(text="no")])
    await store.record_turn(conversation(), job(), user("bad2"), blocked_model, blocked=True)
    history = await store.history(1, WIDE)
    assert [c.parts[-1].text for c in history if c.role == "user" and c.parts] == ["ok"]
    rows = await store._fetchall("SELECT COUNT(*) FROM turns WHERE blocked = 1")
    assert rows[0][0] == 3


async def test_history_keeps_the_newest_exchanges_within_the_image_budget(
    store: SQLiteStore,
) -> None:
    for n in range(5):
        await store.record_turn(
            conversation(), job(), user(f"turn {n}"), model(f"img{n}".encode()), blocked=False
        )
    # Each exchange carries 2 images (thought + final): a budget of 5 fits the newest two.
    history = await store.history(1, HistoryLimits(max_turns=10, max_images=5))
    assert [c.parts[-1].text for c in history if c.role == "user" and c.parts] == [
        "turn 3",
        "turn 4",
    ]
    history = await store.history(1, HistoryLimits(max_turns=1, max_images=50))
    assert len(history) == 2


async def test_conversation_tracks_the_latest_image(store: SQLiteStore) -> None:
    await store.record_turn(
        conversation(last_image=sha256_hex(b"a")), job(), user("1"), model(b"a"), blocked=False
    )
    await store.record_turn(conversation(), job(), user("2"), None, blocked=True)
    found = await store.get_conversation(1)
    assert found is not None
    assert found.last_image == sha256_hex(b"a")
    assert (found.owner_id, found.workflow) == (42, "imagine")
    image = await store.get_image(sha256_hex(b"a"))
    assert image is not None
    assert image.data == b"a"
    assert await store.get_conversation(999) is None


async def test_jobs_round_trip_and_unfinished_ones_are_found(store: SQLiteStore) -> None:
    queued = job(None, aspect_ratio="16:9", input_images=(sha256_hex(b"in"),))
    await store.add_job(queued, [ImageBlob(sha256_hex(b"in"), "image/png", b"in")])
    done = job(None)
    await store.add_job(done)
    done.state, done.finished_at, done.cost_usd = JobState.SUCCEEDED, time.time(), 0.067
    done.message_id = 555
    await store.save_job(done)
    assert await store.get_job(done.id) == done
    assert [j.id for j in await store.unfinished_jobs()] == [queued.id]
    loaded = await store.get_job(queued.id)
    assert loaded is not None
    assert loaded.request.aspect_ratio == "16:9"
    assert await store.get_image(sha256_hex(b"in")) is not None


async def test_a_failed_transaction_leaves_nothing_behind(store: SQLiteStore) -> None:
    broken = conversation(last_image="0" * 64)  # refers to an image that does not exist
    with pytest.raises(Exception, match="FOREIGN KEY"):
        await store.record_turn(broken, job(), user("x", b"orphan"), None, blocked=False)
    assert await store.get_image(sha256_hex(b"orphan")) is None
    assert await store.get_conversation(1) is None
    assert await store.history(1, WIDE) == []


async def test_adding_a_pending_job_again_accepts_it(store: SQLiteStore) -> None:
    pending = job(None)
    pending.state = JobState.PENDING
    await store.add_job(pending)
    pending.state = JobState.QUEUED
    pending.request = pending.request.model_copy(update={"prompt": "the real prompt"})
    await store.add_job(pending, [ImageBlob.of(b"in", "image/png")])
    loaded = await store.get_job(pending.id)
    assert loaded is not None
    assert (loaded.state, loaded.request.prompt) == (JobState.QUEUED, "the real prompt")
    assert await store.get_image(sha256_hex(b"in")) is not None


async def test_retention_deletes_old_conversations_jobs_and_orphaned_images(
    store: SQLiteStore,
) -> None:
    old_job = job()
    old_job.state = JobState.SUCCEEDED
    await store.add_job(old_job)
    await store.record_turn(conversation(1), old_job, user("old"), model(b"old"), blocked=False)
    await store.record_turn(conversation(2), job(2), user("new"), model(b"new"), blocked=False)
    cutoff = time.time() + 1  # everything so far counts as old...
    await store._fetchall(
        "UPDATE conversations SET updated_at = ? WHERE thread_id = 2", (cutoff + 5,)
    )
    report = await store.delete_older_than(cutoff)
    assert report.conversations == 1
    assert report.jobs == 1
    assert report.images == 2  # "old" and "thought-old"; "new" is still referenced
    assert await store.get_conversation(1) is None
    assert await store.get_conversation(2) is not None
    assert await store.history(2, WIDE)
    assert await store.get_image(sha256_hex(b"new")) is not None
