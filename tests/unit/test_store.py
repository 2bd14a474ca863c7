"""The store suite, run against both stores (SQLite, and PostgreSQL when TEST_DATABASE_URL
names a server): migrations, the queue and its compare-and-set transitions, exact history
replay along job chains, budgets, retention, what a failing disk does, and that every lookup
uses an index. SQLite alone: upgrading its older databases, its disk-full mechanics.
PostgreSQL alone: two processes racing on one database, a dropped connection, a server that
cannot be reached."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiosqlite
import asyncpg
import pytest
from google.genai import types

from bot.errors import ConfigError, StorageError
from bot.jobs.quotas import Window
from bot.jobs.records import (
    SERVER_WIDE,
    Basis,
    Conversation,
    Job,
    JobState,
    Reference,
    ReferenceKind,
    new_job_id,
)
from bot.jobs.states import IllegalTransitionError
from bot.media import Media, sha256_hex
from bot.store import (
    DuplicateJobError,
    Exchange,
    HistoryLimits,
    Outcome,
    PostgresStore,
    ReferenceLimitError,
    SQLiteStore,
    Store,
)
from bot.store import postgres as postgres_store
from bot.store.codec import StoredTurn, dehydrate, rehydrate
from bot.store.migrations import MIGRATIONS
from bot.store.postgres_migrations import MIGRATIONS as POSTGRES_MIGRATIONS
from bot.store.rows import JOB_COLUMN_COUNT, JOB_COLUMNS, job_row
from tests.postgres import create_database, drop_database
from tests.stores import Backend, job, postgres_only, postgres_script, sql, sqlite_only, unshown

pytestmark = pytest.mark.asyncio(loop_scope="function")

WIDE = HistoryLimits(max_turns=50, max_images=50, max_bytes=1 << 30)


def conversation(thread_id: int = 100) -> Conversation:
    return Conversation(
        thread_id=thread_id, guild_id=7, channel_id=9, owner_id=42, workflow="imagine", model="m"
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


async def run_to_delivery(
    store: Store,
    new: Job,
    exchanges: list[tuple[types.Content, types.Content]],
    *,
    parent: str | None = None,
    parent_candidate: int = 0,
) -> Job:
    """Add `new`, claim it and finish it with one output per exchange."""
    await store.add_job(new)
    claimed = await store.claim_next(max_running=100, max_per_user=100)
    assert claimed is not None
    assert claimed.id == new.id
    outputs = [Media(m.parts[-1].inline_data.data, "image/png") for _, m in exchanges]  # type: ignore[index, union-attr, arg-type]
    finished = await store.finish(
        new.id,
        Outcome(
            JobState.DELIVERED,
            parent_job=parent,
            parent_candidate=parent_candidate,
            outputs=outputs,
            exchanges=[
                Exchange(dehydrate(u), dehydrate(m), i) for i, (u, m) in enumerate(exchanges)
            ],
            cost_usd=0.1,
        ),
    )
    assert finished is not None
    return finished


async def contents(
    store: Store, head: str, limits: HistoryLimits, candidate: int | None = None
) -> list[types.Content]:
    """The history as the model receives it."""
    turns: list[StoredTurn] = await store.history(head, limits, candidate)
    return [rehydrate(turn) for turn in turns]


def last_image(history: list[types.Content]) -> bytes | None:
    parts = history[-1].parts or []
    return parts[-1].inline_data.data if parts and parts[-1].inline_data else None


# Migrations ---------------------------------------------------------------------------


async def test_migrations_run_from_empty_and_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first = await SQLiteStore.open(path)
    assert await first.schema_version() == len(MIGRATIONS)
    await first.close()
    again = await SQLiteStore.open(path)  # reopening applies nothing twice
    assert await again.schema_version() == len(MIGRATIONS)
    await again.close()


@pytest.mark.postgres
async def test_postgres_migrations_run_once_when_processes_start_together(
    postgres_server: str,
) -> None:
    url = await create_database(postgres_server)
    try:
        stores = await asyncio.gather(*(PostgresStore.open(url) for _ in range(3)))
        for each in stores:
            assert await each.schema_version() == len(POSTGRES_MIGRATIONS)
        steps = await sql(stores[0], "SELECT version FROM schema_version ORDER BY version")
        assert steps == [(n,) for n in range(1, len(POSTGRES_MIGRATIONS) + 1)]
        for each in stores:
            await each.close()
        again = await PostgresStore.open(url)  # reopening applies nothing twice
        assert await again.schema_version() == len(POSTGRES_MIGRATIONS)
        await again.close()
    finally:
        await drop_database(postgres_server, url)


async def test_a_database_of_the_previous_release_is_upgraded_with_its_history(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    db = await aiosqlite.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:3], start=1):
        for statement in (s for s in script.split(";") if s.strip()):
            await db.execute(statement)
        await db.execute(f"PRAGMA user_version = {number}")
    now = time.time()
    images = {name: sha256_hex(name.encode()) for name in ("img1", "img2")}
    for name, digest in images.items():
        await db.execute(
            "INSERT INTO images VALUES (?, 'image/png', 4, ?, ?)", (digest, name.encode(), now)
        )
    await db.execute(
        "INSERT INTO conversations VALUES (5, 7, 9, 42, 'imagine', 'm', NULL, NULL, ?, ?, ?)",
        (images["img2"], now, now),
    )
    old_request = {
        "prompt": "p",
        "model": "imagen-4.0-generate-001",
        "provider": "imagen",
        "number_of_images": 4,
        "person_generation": "allow_adult",
        "negative_prompt": None,
    }
    for job_id, image in (("aaaaaaaa", "img1"), ("bbbbbbbb", "img2")):
        await db.execute(
            "INSERT INTO jobs (id, kind, state, user_id, guild_id, channel_id, thread_id, "
            "message_id, request, created_at, result_image, outputs, cost_usd) "
            "VALUES (?, 'imagine', 'succeeded', 42, 7, 9, 5, 1, ?, ?, ?, ?, 0.1)",
            (job_id, json.dumps(old_request), now, images[image], json.dumps([images[image]])),
        )
        for role, content in (("user", user(f"say {job_id}")), ("model", model(image.encode()))):
            refs = {"2": images[image]} if role == "model" else {}
            stored = content.model_copy(deep=True)
            if role == "model":
                for part in stored.parts or []:
                    if part.inline_data is not None:
                        part.inline_data.data = None
            cursor = await db.execute(
                "INSERT INTO turns (thread_id, job_id, role, content, image_refs, image_count, "
                "blocked, created_at) VALUES (5, ?, ?, ?, ?, ?, 0, ?)",
                (
                    job_id,
                    role,
                    stored.model_dump_json(exclude_none=True),
                    json.dumps(refs),
                    len(refs),
                    now,
                ),
            )
            if refs:
                await db.execute(
                    "INSERT INTO turn_images VALUES (?, ?)", (cursor.lastrowid, images[image])
                )
    await db.close()

    store = await SQLiteStore.open(path)
    try:
        found = await store.get_conversation(5)
        assert found is not None
        assert found.head_job == "bbbbbbbb"
        second = await store.get_job("bbbbbbbb")
        assert second is not None
        assert second.state is JobState.DELIVERED
        assert second.shown_at is not None
        assert second.parent_job == "aaaaaaaa"
        assert second.request.count == 4  # Imagen's numberOfImages, as side-by-side calls
        assert second.charged_at == second.created_at  # counts in the usage of its day
        day = Window(now // 3600 * 3600, now // 3600 * 3600 + 86400)
        usage = await store.usage(42, 7, day)
        assert usage.member_images == 2
        assert usage.member_usd == usage.guild_usd == usage.bot_usd == pytest.approx(0.2)
        history = await contents(store, "bbbbbbbb", WIDE)
        assert [c.role for c in history] == ["user", "model", "user", "model"]
        assert history[-1].parts
        assert history[-1].parts[-1].inline_data
        assert history[-1].parts[-1].inline_data.data == b"img2"
    finally:
        await store.close()


# Jobs and the queue -------------------------------------------------------------------


async def test_queued_jobs_get_places_in_line_and_pending_ones_do_not(store: Store) -> None:
    first, pending, second = job(), job(state=JobState.PENDING), job()
    for each in (first, pending, second):
        await store.add_job(each)
    assert first.seq is not None
    assert second.seq is not None
    assert first.seq < second.seq
    assert pending.seq is None
    generated = await store.transition(pending.id, [JobState.PENDING], JobState.QUEUED)
    assert generated is not None
    assert generated.seq is not None
    assert generated.seq > second.seq
    assert [p.job.id for p in await store.queue()] == [first.id, second.id, pending.id]


async def test_a_transition_happens_once(store: Store) -> None:
    added = await store.add_job(job(state=JobState.PENDING))
    assert await store.transition(added.id, [JobState.PENDING], JobState.QUEUED)
    assert await store.transition(added.id, [JobState.PENDING], JobState.QUEUED) is None
    with pytest.raises(IllegalTransitionError):
        await store.transition(added.id, [JobState.DELIVERED], JobState.QUEUED)


async def test_a_duplicate_of_a_waiting_job_is_refused_until_it_is_done(
    store: Store,
) -> None:
    await store.add_job(job(dedupe="reroll:x"))
    with pytest.raises(DuplicateJobError):
        await store.add_job(job(dedupe="reroll:x"))
    running = await store.claim_next(max_running=5, max_per_user=5)
    assert running is not None
    await store.finish(running.id, Outcome(JobState.FAILED, error_kind="x"))
    await store.add_job(job(dedupe="reroll:x"))  # the first one is over: a new click counts


async def test_claims_respect_the_caps_and_each_lanes_order(store: Store) -> None:
    a1, a2 = job(user_id=1), job(user_id=1)
    b1 = job(user_id=2, lane="thread:5")
    c1 = job(user_id=3, lane="thread:5")
    d1 = job(user_id=4)
    for each in (a1, a2, b1, c1, d1):
        await store.add_job(each)
    claimed = []
    while (next_job := await store.claim_next(max_running=3, max_per_user=1)) is not None:
        claimed.append(next_job.id)
    # a2 waits for its member's slot, c1 for b1 (same lane), and d1 gets the third slot.
    assert claimed == [a1.id, b1.id, d1.id]
    places = {p.job.id: p for p in await store.queue()}
    assert places[c1.id].behind_own_lane
    assert not places[a2.id].behind_own_lane
    await store.finish(b1.id, Outcome(JobState.FAILED, error_kind="x"))
    nxt = await store.claim_next(max_running=3, max_per_user=1)
    assert nxt is not None
    assert nxt.id == c1.id


async def test_a_cancelled_job_drops_its_late_result(store: Store) -> None:
    added = await store.add_job(job())
    assert await store.claim_next(max_running=1, max_per_user=1)
    assert await store.transition(added.id, [JobState.RUNNING], JobState.CANCELLED)
    late = await store.finish(added.id, Outcome(JobState.DELIVERED, outputs=[Media(b"x", "p")]))
    assert late is None
    assert await store.get_image(sha256_hex(b"x")) is None


async def test_outcomes_are_unshown_until_marked(store: Store) -> None:
    done = await run_to_delivery(store, job(), [(user("a"), model(b"1"))])
    assert [j.id for j in await unshown(store)] == [done.id]
    await store.mark_shown(done.id, 555, 9)
    assert await unshown(store) == []
    shown = await store.get_job(done.id)
    assert shown is not None
    assert shown.message_id == 555


async def test_a_thread_is_owed_from_the_showing_until_it_opens_or_cannot(store: Store) -> None:
    opens = await run_to_delivery(store, job(), [(user("a"), model(b"1"))])
    refused = await run_to_delivery(store, job(), [(user("b"), model(b"2"))])
    plain = await run_to_delivery(store, job(), [(user("c"), model(b"3"))])
    await store.mark_shown(opens.id, 1, 9, thread_wanted=True)
    await store.mark_shown(refused.id, 2, 9, thread_wanted=True)
    await store.mark_shown(plain.id, 3, 9)
    assert [j.id for j in await store.threads_owed()] == [opens.id, refused.id]
    await store.open_conversation(conversation(), opens.id)
    await store.open_conversation(conversation(), opens.id)  # twice: nothing more
    await store.no_thread(refused.id)
    assert await store.threads_owed() == []
    opened = await store.get_job(opens.id)
    assert opened is not None
    assert opened.thread_id == conversation().thread_id
    started = await store.get_conversation(conversation().thread_id)
    assert started is not None
    assert started.head_job == opens.id


# Conversations and history ------------------------------------------------------------


async def test_history_replays_the_chain_exactly(store: Store) -> None:
    first = await run_to_delivery(
        store, job(), [(user("draw a cat", b"upload"), model(b"img-1", b"s1"))]
    )
    await store.mark_shown(first.id, 1, 9, thread_wanted=True)
    await store.open_conversation(conversation(), first.id)
    edit = job(thread_id=100, lane="thread:100", basis=Basis.CONVERSATION)
    second = await run_to_delivery(
        store, edit, [(user("make it blue"), model(b"img-2", b"s2"))], parent=first.id
    )
    found = await store.get_conversation(100)
    assert found is not None
    assert found.head_job == second.id
    history = await contents(store, second.id, WIDE)
    assert history == [
        user("draw a cat", b"upload"),
        model(b"img-1", b"s1"),
        user("make it blue"),
        model(b"img-2", b"s2"),
    ]
    restored = history[-1].parts or []
    assert restored[2].thought_signature == b"s2"
    assert restored[1].thought is True


async def test_a_video_joins_the_conversation_without_becoming_its_head(store: Store) -> None:
    first = await run_to_delivery(store, job(), [(user("a harbour"), model(b"img-1"))])
    await store.mark_shown(first.id, 1, 9, thread_wanted=True)
    await store.open_conversation(conversation(), first.id)
    animation = job(thread_id=100, lane="thread:100", basis=Basis.IMAGE, call="animate")
    await store.add_job(animation)
    assert await store.claim_next(max_running=100, max_per_user=100) is not None
    video = Media(b"\x00\x00\x00\x18ftypisom" + bytes(2000), "video/mp4")
    outcome = Outcome(JobState.DELIVERED, parent_job=first.id, outputs=[video], moves_head=False)
    finished = await store.finish(animation.id, outcome)
    assert finished is not None
    assert finished.thread_id == 100
    assert finished.outputs == (video.sha256,)
    assert await store.get_image(video.sha256) == video
    found = await store.get_conversation(100)
    assert found is not None
    assert found.head_job == first.id  # the next edit goes on from the image


async def test_history_keeps_the_newest_exchanges_within_every_budget(store: Store) -> None:
    parent = None
    for n in range(4):
        done = await run_to_delivery(
            store, job(), [(user(f"step {n}"), model(bytes([n]) * 1000))], parent=parent
        )
        parent = done.id
    assert parent is not None

    def texts(history: list[types.Content]) -> list[str]:
        return [c.parts[-1].text or "" for c in history if c.role == "user" and c.parts]

    turns = HistoryLimits(max_turns=2, max_images=50, max_bytes=1 << 30)
    assert texts(await contents(store, parent, turns)) == ["step 2", "step 3"]
    images = HistoryLimits(max_turns=50, max_images=5, max_bytes=1 << 30)  # two per exchange
    assert texts(await contents(store, parent, images)) == ["step 2", "step 3"]
    size = HistoryLimits(max_turns=50, max_images=50, max_bytes=3 * 1010)  # about one exchange
    assert texts(await contents(store, parent, size)) == ["step 3"]
    nothing = HistoryLimits(max_turns=50, max_images=50, max_bytes=10)
    assert await contents(store, parent, nothing) == []


async def test_the_chosen_image_of_several_is_the_one_the_history_continues(
    store: Store,
) -> None:
    several = await run_to_delivery(
        store,
        job(count=3),
        [(user("p"), model(b"one")), (user("p"), model(b"two")), (user("p"), model(b"three"))],
    )
    await store.mark_shown(several.id, 1, 9, thread_wanted=True)
    await store.open_conversation(conversation(), several.id)
    await store.set_head(100, several.id, 1)
    history = await contents(store, several.id, WIDE)
    assert history[-1].parts
    assert history[-1].parts[-1].inline_data
    assert history[-1].parts[-1].inline_data.data == b"two"
    chosen = await store.get_job(several.id)
    assert chosen is not None
    assert chosen.result_image == sha256_hex(b"two")


async def test_each_job_keeps_the_image_of_its_parent_it_continued(store: Store) -> None:
    grid = [(user("p"), model(bytes([n]) * 8)) for n in range(4)]
    four = await run_to_delivery(store, job(count=4), grid)
    await store.mark_shown(four.id, 1, 9, thread_wanted=True)
    await store.open_conversation(conversation(), four.id)
    edit = job(thread_id=100, basis=Basis.CONVERSATION)
    third = await run_to_delivery(
        store, edit, [(user("make it red"), model(b"red"))], parent=four.id, parent_candidate=2
    )
    # Picking another image of the grid later does not rewrite what the edit was made from.
    await store.set_head(100, four.id, 1)
    history = await contents(store, third.id, WIDE)
    assert last_image(history[:2]) == bytes([2]) * 8
    assert last_image(history) == b"red"
    assert last_image(await contents(store, four.id, WIDE)) == bytes([1]) * 8
    assert last_image(await contents(store, four.id, WIDE, candidate=3)) == bytes([3]) * 8
    found = await store.get_conversation(100)
    assert found is not None
    assert (found.head_job, found.head_candidate) == (four.id, 1)


async def test_a_delivered_job_remembers_the_head_it_replaced(store: Store) -> None:
    pair = [(user("p"), model(b"one")), (user("p"), model(b"two"))]
    first = await run_to_delivery(store, job(count=2), pair)
    await store.mark_shown(first.id, 1, 9, thread_wanted=True)
    await store.open_conversation(conversation(), first.id)
    await store.set_head(100, first.id, 1)
    edit = job(thread_id=100, basis=Basis.CONVERSATION)
    second = await run_to_delivery(
        store, edit, [(user("edit"), model(b"edited"))], parent=first.id, parent_candidate=1
    )
    assert (second.previous_head, second.previous_candidate) == (first.id, 1)
    stored = await store.get_job(second.id)
    assert stored is not None
    assert (stored.previous_head, stored.previous_candidate) == (first.id, 1)
    assert (first.previous_head, first.previous_candidate) == (None, 0)
    # Undo: the conversation continues from the image before, with its own history.
    await store.set_head(100, first.id, 1)
    found = await store.get_conversation(100)
    assert found is not None
    assert (found.head_job, found.head_candidate) == (first.id, 1)
    with pytest.raises(ValueError, match="no image 3"):
        await store.set_head(100, first.id, 2)


async def test_a_branch_copies_an_image_with_the_history_behind_it(store: Store) -> None:
    first = await run_to_delivery(store, job(), [(user("draw"), model(b"first"))])
    await store.mark_shown(first.id, 1, 9, thread_wanted=True)
    await store.open_conversation(conversation(100), first.id)
    pair = [(user("edit"), model(b"left")), (user("edit"), model(b"right"))]
    edit = job(thread_id=100, basis=Basis.CONVERSATION, count=2)
    second = await run_to_delivery(store, edit, pair, parent=first.id)
    right = Media(b"right", "image/png")
    branch = Job(
        id=new_job_id(),
        kind="branch",
        user_id=43,
        guild_id=7,
        channel_id=9,
        request=second.request,
        state=JobState.DELIVERED,
        outputs=(right.sha256,),
        parent_job=second.id,
        parent_candidate=1,
    )
    await store.add_job(branch, [right])
    await store.mark_shown(branch.id, 2, 9, thread_wanted=True)
    await store.open_conversation(conversation(200), branch.id)
    found = await store.get_conversation(200)
    assert found is not None
    assert (found.head_job, found.head_candidate) == (branch.id, 0)
    history = await contents(store, branch.id, WIDE)
    assert [c.role for c in history] == ["user", "model", "user", "model"]
    assert last_image(history) == b"right"
    copy = await store.get_job(branch.id)
    assert copy is not None
    assert copy.result_image == right.sha256
    # The original conversation is untouched.
    original = await store.get_conversation(100)
    assert original is not None
    assert original.head_job == second.id


async def test_recent_jobs_are_a_members_own_in_that_server_newest_first(store: Store) -> None:
    jobs = [job() for _ in range(4)]
    for n, each in enumerate(jobs):
        each.created_at = 1000.0 + n
        await store.add_job(each)
    other = job(user_id=99)
    await store.add_job(other)
    elsewhere = job()
    elsewhere.guild_id = None
    await store.add_job(elsewhere)
    recent = await store.recent_jobs(42, 7, 3)
    assert [j.id for j in recent] == [jobs[3].id, jobs[2].id, jobs[1].id]
    assert [j.id for j in await store.recent_jobs(42, None, 10)] == [elsewhere.id]


def reference(name: str, owner: int = 42, kind: ReferenceKind = ReferenceKind.STYLE) -> Reference:
    return Reference(guild_id=7, owner_id=owner, name=name, kind=kind, image="")


async def test_references_are_saved_listed_replaced_and_deleted(store: Store) -> None:
    mine, ink = Media(b"mine", "image/png"), Media(b"ink", "image/png")
    assert not await store.save_reference(reference("Mia"), mine, limit=2)
    assert not await store.save_reference(reference("ink", owner=SERVER_WIDE), ink, limit=2)
    await store.save_reference(reference("theirs", owner=99), ink, limit=2)
    listed = await store.references(7, 42)
    assert [(r.name, r.owner_id, r.image) for r in listed] == [
        ("ink", SERVER_WIDE, ink.sha256),
        ("Mia", 42, mine.sha256),
    ]
    # The same name in another case replaces it, even at the limit.
    assert await store.save_reference(reference("mia ", kind=ReferenceKind.CHARACTER), ink, limit=1)
    (replaced,) = [r for r in await store.references(7, 42) if r.owner_id == 42]
    assert (replaced.name, replaced.kind, replaced.image) == ("mia ", "character", ink.sha256)
    with pytest.raises(ReferenceLimitError):
        await store.save_reference(reference("another"), mine, limit=1)
    assert await store.delete_reference(7, 42, "MIA")
    assert not await store.delete_reference(7, 42, "Mia")
    assert [r.name for r in await store.references(7, 42)] == ["ink"]
    assert await store.references(8, 42) == []


async def test_retention_keeps_the_images_of_saved_references(store: Store) -> None:
    kept = Media(b"kept", "image/png")
    await store.save_reference(reference("keep"), kept, limit=0)
    await sql(store, "UPDATE images SET created_at = 0")
    await store.delete_older_than(time.time())
    assert await store.get_image(kept.sha256) is not None
    await store.delete_reference(7, 42, "keep")
    await store.delete_older_than(time.time())
    assert await store.get_image(kept.sha256) is None


async def test_identical_images_are_stored_once(store: Store) -> None:
    for _ in range(2):
        await run_to_delivery(store, job(), [(user("x", b"same"), model(b"same"))])
    rows = await sql(store, "SELECT sha256 FROM images")
    assert sorted(r[0] for r in rows) == sorted({sha256_hex(b"same"), sha256_hex(b"thought-same")})


# Retention ----------------------------------------------------------------------------


async def test_retention_deletes_what_nothing_needs_and_keeps_chains_whole(
    store: Store,
) -> None:
    old = await run_to_delivery(store, job(), [(user("old"), model(b"old"))])
    await store.mark_shown(old.id, 1, 9, thread_wanted=True)
    await store.open_conversation(conversation(1), old.id)
    child = await run_to_delivery(
        store, job(thread_id=1), [(user("edit"), model(b"edit"))], parent=old.id
    )
    alive = await run_to_delivery(store, job(), [(user("new"), model(b"new"))])
    await store.mark_shown(alive.id, 1, 9, thread_wanted=True)
    await store.open_conversation(conversation(2), alive.id)
    waiting = await store.add_job(job())
    await sql(store, "UPDATE conversations SET updated_at = 0 WHERE thread_id = 1")
    await sql(store, "UPDATE jobs SET created_at = 0")
    report = await store.delete_older_than(time.time() - 60)
    assert report.conversations == 1
    assert await store.get_job(old.id) is None
    assert await store.get_job(child.id) is None
    assert await store.get_image(sha256_hex(b"old")) is None
    # The live conversation's job (created long ago) and the waiting job stay.
    assert await store.get_job(alive.id) is not None
    assert await store.get_job(waiting.id) is not None
    assert await contents(store, alive.id, WIDE)


# A failing disk -----------------------------------------------------------------------


class FailingCommit:
    """The connection, except that the next COMMIT fails as a full disk's would."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self.fail = True

    async def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and self.fail:
            self.fail = False
            raise sqlite3.OperationalError("disk I/O error")
        return await self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


@sqlite_only
async def test_a_failed_commit_is_rolled_back_and_the_next_write_works(
    store: Store, expect_logged_errors: Any
) -> None:
    assert isinstance(store, SQLiteStore)
    expect_logged_errors.expected.append(re.compile("cannot write to the database"))
    real = store._db
    store._db = FailingCommit(real)  # type: ignore[assignment]
    lost = job()
    with pytest.raises(StorageError, match="could not save"):
        await store.add_job(lost, [Media(b"an upload", "image/png")])  # a transaction
    store._db = real
    assert await store.get_job(lost.id) is None  # nothing half-written
    kept = await store.add_job(job())
    assert await store.get_job(kept.id) is not None
    assert len(expect_logged_errors.records) == 1


@sqlite_only
async def test_a_full_disk_says_so_and_reads_keep_working(
    store: Store, expect_logged_errors: Any
) -> None:
    assert isinstance(store, SQLiteStore)
    expect_logged_errors.expected.append(re.compile("cannot write to the database"))
    kept = await store.add_job(job())
    pages = (await store._fetchall("PRAGMA page_count"))[0][0]
    await store._fetchall(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StorageError, match="storage is full"):
        await store.add_job(job(), [Media(bytes(range(256)) * 4000, "image/png")])
    with pytest.raises(StorageError):  # one log line, not one per failure
        await store.add_job(job(), [Media(bytes(range(255)) * 4000, "image/png")])
    assert await store.get_job(kept.id) is not None
    (record,) = expect_logged_errors.records
    assert "full" in record.getMessage()


# Indexes ------------------------------------------------------------------------------


LOOKUPS = [
    "SELECT * FROM jobs WHERE id = 'x'",
    "SELECT * FROM conversations WHERE thread_id = 1",
    "SELECT * FROM jobs WHERE state = 'queued' ORDER BY seq",
    "SELECT COUNT(*) FROM jobs WHERE state = 'running' AND user_id = 1",
    # The running jobs of every process: a gone one's are adopted (and the limit counts them).
    "SELECT id, owner FROM jobs WHERE state = 'running'",
    "SELECT 1 FROM jobs WHERE lane = 'x' AND state IN ('queued', 'running') AND seq < 5",
    "SELECT * FROM jobs WHERE shown_at IS NULL "
    "AND state NOT IN ('pending', 'queued', 'running') ORDER BY finished_at",
    "SELECT * FROM job_turns WHERE job_id = 'x' AND candidate = 0",
    "SELECT 1 FROM jobs WHERE parent_job = 'x'",
    "SELECT 1 FROM job_images WHERE sha256 = 'x'",
    "SELECT sha256, data FROM images WHERE sha256 IN ('x', 'y')",
    # Also the foreign keys images are checked against when the sweep deletes them.
    "SELECT 1 FROM conversations WHERE last_image = 'x'",
    "SELECT 1 FROM refs WHERE sha256 = 'x'",
    "SELECT * FROM refs WHERE guild_id = 7 AND owner_id IN (42, 0)",
]


# In SQLite's dialect: the next place in line, and the usage sums of the quotas.
SQLITE_LOOKUPS = [
    "SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs",
    "SELECT SUM(cost_usd) FROM jobs WHERE user_id = 1 AND guild_id IS 2 "
    "AND charged_at >= 0 AND charged_at < 5",
    "SELECT SUM(cost_usd) FROM jobs WHERE guild_id = 2 AND charged_at >= 0 AND charged_at < 5",
    "SELECT SUM(reserved_usd) FROM jobs WHERE state IN ('queued', 'running') "
    "AND charged_at >= 0 AND charged_at < 5",
    "SELECT SUM(usd) FROM usage_hours WHERE guild_id = 0 AND hour >= 1 AND hour < 5",
    "SELECT MAX(charged_at) FROM jobs WHERE user_id = 1 AND guild_id IS 2 "
    "AND charged_at IS NOT NULL",
    "SELECT COUNT(*) FROM jobs WHERE user_id = 1 AND guild_id IS 2 "
    "AND state IN ('queued', 'running')",
    "SELECT * FROM jobs WHERE user_id = 1 AND guild_id IS 2 ORDER BY created_at DESC LIMIT 5",
]


@sqlite_only
@pytest.mark.parametrize("query", [*LOOKUPS, *SQLITE_LOOKUPS])
async def test_every_lookup_uses_an_index(store: Store, query: str) -> None:
    assert isinstance(store, SQLiteStore)
    plan = [str(row[3]) for row in await store._fetchall(f"EXPLAIN QUERY PLAN {query}")]
    # A search, or a walk along a (partial) index; never a scan of a whole table.
    full_scans = [step for step in plan if step.startswith("SCAN") and "USING" not in step]
    assert not full_scans, plan


# The usage sums of the quotas, in PostgreSQL's dialect.
POSTGRES_LOOKUPS = [
    "SELECT SUM(cost_usd) FROM jobs WHERE user_id = 1 AND guild_id = 2 "
    "AND charged_at >= 0 AND charged_at < 5",
    "SELECT SUM(cost_usd) FROM jobs WHERE user_id = 1 AND guild_id IS NULL "
    "AND charged_at >= 0 AND charged_at < 5",
    "SELECT SUM(reserved_usd) FROM jobs WHERE state IN ('queued', 'running') "
    "AND charged_at >= 0 AND charged_at < 5",
    "SELECT SUM(usd) FROM usage_hours WHERE guild_id = 0 AND hour >= 1 AND hour < 5",
    "SELECT MAX(charged_at) FROM jobs WHERE user_id = 1 AND guild_id = 2 "
    "AND charged_at IS NOT NULL",
    "SELECT * FROM jobs WHERE user_id = 1 AND guild_id = 2 ORDER BY created_at DESC LIMIT 5",
]


@postgres_only
async def test_every_lookup_uses_an_index_in_postgres(store: Store) -> None:
    assert isinstance(store, PostgresStore)
    async with store._pool.acquire() as conn:
        # The tables are nearly empty, where reading them whole is cheapest; forbid that
        # wherever an index could answer, and a plan with a Seq Scan has no index to use.
        await conn.execute("SET enable_seqscan = off")
        for query in [*LOOKUPS, *POSTGRES_LOOKUPS]:
            plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {query}")
            assert "Seq Scan" not in plan, (query, plan)


# PostgreSQL: failures ------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_postgres_server_is_named_without_the_password() -> None:
    port = closed_port()
    with pytest.raises(ConfigError) as caught:
        await PostgresStore.open(f"postgresql://bot:pa55word@127.0.0.1:{port}/bot")
    message = caught.value.user_message
    assert f"postgresql://bot@127.0.0.1:{port}/bot" in message
    assert "pa55word" not in message


@pytest.mark.postgres
async def test_a_login_the_postgres_server_refuses_is_explained(postgres_server: str) -> None:
    server = urlsplit(postgres_server)
    hosts = server.netloc.rpartition("@")[2]
    refused = server._replace(netloc=f"no_such_role:pa55word@{hosts}").geturl()
    # "role does not exist", or "password authentication failed" where passwords are checked
    with pytest.raises(ConfigError, match='"no_such_role"') as caught:
        await PostgresStore.open(refused)
    assert "pa55word" not in caught.value.user_message


@postgres_only
async def test_a_failed_commit_is_rolled_back_and_the_next_write_works_in_postgres(
    store: Store, expect_logged_errors: Any
) -> None:
    expect_logged_errors.expected.append(re.compile("cannot use the database"))
    # A check deferred to COMMIT fails it, once, as an I/O error would.
    await postgres_script(
        store,
        "CREATE SEQUENCE commits; "
        "CREATE FUNCTION fail_first_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF nextval('commits') = 1 THEN RAISE EXCEPTION 'could not write to file' "
        "USING ERRCODE = 'io_error'; END IF; RETURN NULL; END $$; "
        "CREATE CONSTRAINT TRIGGER fail_commit AFTER INSERT ON jobs "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_first_commit()",
    )
    try:
        lost = job()
        with pytest.raises(StorageError, match="could not save"):
            await store.add_job(lost, [Media(b"lost image", "image/png")])
        assert await store.get_job(lost.id) is None  # nothing half-written
        assert await store.get_image(sha256_hex(b"lost image")) is None
        kept = await store.add_job(job())
        assert await store.get_job(kept.id) is not None
    finally:
        await postgres_script(
            store,
            "DROP TRIGGER fail_commit ON jobs; DROP FUNCTION fail_first_commit(); "
            "DROP SEQUENCE commits",
        )
    assert len(expect_logged_errors.records) == 1


@postgres_only
async def test_a_full_disk_says_so_and_reads_keep_working_in_postgres(
    store: Store, expect_logged_errors: Any
) -> None:
    expect_logged_errors.expected.append(re.compile("cannot use the database"))
    kept = await store.add_job(job())
    # What the server answers when it cannot extend a table (SQLSTATE 53100).
    await postgres_script(
        store,
        "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'could not extend file: No space left on device' "
        "USING ERRCODE = 'disk_full'; END $$; "
        "CREATE TRIGGER disk_full BEFORE INSERT ON images FOR EACH ROW "
        "EXECUTE FUNCTION disk_full()",
    )
    try:
        with pytest.raises(StorageError, match="storage is full"):
            await store.add_job(job(), [Media(bytes(range(256)) * 4000, "image/png")])
        with pytest.raises(StorageError):  # one log line, not one per failure
            await store.add_job(job(), [Media(bytes(range(255)) * 4000, "image/png")])
        assert await store.get_job(kept.id) is not None
    finally:
        await postgres_script(store, "DROP TRIGGER disk_full ON images; DROP FUNCTION disk_full()")
    (record,) = expect_logged_errors.records
    assert "full" in record.getMessage()


@postgres_only
async def test_connections_the_server_dropped_are_replaced(store: Store, backend: Backend) -> None:
    await store.add_job(job())
    admin = await asyncpg.connect(str(backend.location))
    try:
        # A server restart or a failover ends every session.
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    await asyncio.sleep(0.1)  # the pool hears of it
    kept = await store.add_job(job())
    assert await store.get_job(kept.id) is not None


# PostgreSQL: several processes on one database -----------------------------------------


@postgres_only
async def test_claims_of_two_processes_keep_the_limits(store: Store, backend: Backend) -> None:
    other = await backend.open()
    try:
        for user_id in (1, 1, 2, 2, 3, 3, 4, 4, 5, 5):
            await store.add_job(job(user_id=user_id))
        claims = await asyncio.gather(
            *(s.claim_next(max_running=3, max_per_user=1) for s in (store, other) * 10)
        )
        claimed = [each for each in claims if each is not None]
        assert len(claimed) == 3
        assert len({each.id for each in claimed}) == 3
        assert len({each.user_id for each in claimed}) == 3
        running = await store.jobs_in([JobState.RUNNING])
        assert sorted(j.id for j in running) == sorted(j.id for j in claimed)
    finally:
        await other.close()


@postgres_only
async def test_a_job_moves_once_when_two_processes_race(store: Store, backend: Backend) -> None:
    other = await backend.open()
    try:
        added = await store.add_job(job())
        moves = await asyncio.gather(
            *(
                s.transition(added.id, [JobState.QUEUED], JobState.CANCELLED)
                for s in (store, other) * 5
            ),
            other.claim_next(max_running=5, max_per_user=5),
        )
        assert len([each for each in moves if each is not None]) == 1
    finally:
        await other.close()


@postgres_only
async def test_a_double_click_in_two_processes_records_one_job(
    store: Store, backend: Backend
) -> None:
    other = await backend.open()
    try:
        results = await asyncio.gather(
            *(s.add_job(job(dedupe="reroll:x")) for s in (store, other) * 4),
            return_exceptions=True,
        )
        assert len([r for r in results if isinstance(r, Job)]) == 1
        assert all(isinstance(r, Job | DuplicateJobError) for r in results), results
    finally:
        await other.close()


@postgres_only
async def test_the_image_sweep_waits_for_an_image_being_linked(store: Store) -> None:
    assert isinstance(store, PostgresStore)
    image = Media(b"an old upload", "image/png")
    await store.add_job(job(), [image])
    await sql(store, "DELETE FROM jobs")  # the image is left with nothing referring to it
    new = job()
    async with store._pool.acquire() as conn, conn.transaction():
        # Another process stores the same upload: found already stored, not linked yet.
        await postgres_store._insert_images(conn, [image])
        sweep = asyncio.create_task(store.delete_older_than(time.time()))
        await asyncio.sleep(0.2)
        assert not sweep.done()
        await conn.execute(
            f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({postgres_store._params(JOB_COLUMN_COUNT)})",
            *job_row(new),
        )
        await postgres_store._link_job_images(conn, new.id, [image.sha256])
    await sweep
    stored = await store.get_image(image.sha256)
    assert stored is not None
    assert stored.data == image.data
