"""The SQLite store (aiosqlite: every statement runs on the connection's own thread).

One connection, WAL mode, a busy timeout. One asyncio lock serialises transactions on the
shared connection, so a transaction never interleaves with another coroutine's statements
and readers never see half-written state.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from google.genai import types

from bot.records import Conversation, Job, JobRequest, JobState, StoredImage
from bot.store.base import CleanupReport, HistoryLimits
from bot.store.codec import DehydratedContent, ImageBlob, dehydrate, rehydrate
from bot.store.migrations import MIGRATIONS

_JOB_COLUMNS = (
    "id, kind, state, user_id, guild_id, channel_id, thread_id, message_id, request, "
    "error_kind, error_message, cost_usd, result_image, outputs, created_at, started_at, "
    "finished_at"
)
_CONVERSATION_COLUMNS = (
    "thread_id, guild_id, channel_id, owner_id, workflow, model, aspect_ratio, image_size, "
    "last_image, created_at, updated_at"
)


class SQLiteStore:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> SQLiteStore:
        """Open (creating if needed) the database at `path` and bring its schema up to date."""
        if str(path) != ":memory:":
            await asyncio.to_thread(Path(path).parent.mkdir, parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        try:
            for pragma in (
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=NORMAL",
                "PRAGMA busy_timeout=5000",
                "PRAGMA foreign_keys=ON",
            ):
                await db.execute(pragma)
            store = cls(db)
            await store._migrate()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        current = await self.schema_version()
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            async with self._transaction() as db:
                for statement in _statements(script):
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {number}")

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        async with self._lock:
            return await _rows(self._db, sql, params)

    # Jobs -------------------------------------------------------------------------------

    async def add_job(self, job: Job, inputs: Sequence[ImageBlob] = ()) -> None:
        async with self._transaction() as db:
            await _insert_images(db, inputs)
            # A pending job (a briefing, a form) is accepted by adding it again: an upsert.
            await db.execute(
                f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES ({_marks(17)}) "
                "ON CONFLICT (id) DO UPDATE SET state = excluded.state, "
                "request = excluded.request, message_id = excluded.message_id, "
                "thread_id = excluded.thread_id",
                _job_row(job),
            )
            await _link_job_images(db, job.id, inputs)

    async def save_job(self, job: Job, outputs: Sequence[ImageBlob] = ()) -> None:
        async with self._transaction() as db:
            await _insert_images(db, outputs)
            await _link_job_images(db, job.id, outputs)
            await _update_job(db, job)

    async def get_job(self, job_id: str) -> Job | None:
        rows = await self._fetchall(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return _job_from_row(rows[0]) if rows else None

    async def unfinished_jobs(self) -> list[Job]:
        rows = await self._fetchall(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state IN ('queued', 'running') "
            "ORDER BY created_at"
        )
        return [_job_from_row(row) for row in rows]

    async def get_image(self, sha256: str) -> StoredImage | None:
        rows = await self._fetchall(
            "SELECT sha256, mime_type, data FROM images WHERE sha256 = ?", (sha256,)
        )
        return StoredImage(rows[0][0], rows[0][1], bytes(rows[0][2])) if rows else None

    # Conversations ----------------------------------------------------------------------

    async def get_conversation(self, thread_id: int) -> Conversation | None:
        rows = await self._fetchall(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE thread_id = ?", (thread_id,)
        )
        return Conversation(*rows[0]) if rows else None

    async def record_turn(
        self,
        conversation: Conversation,
        job: Job,
        user: types.Content,
        model: types.Content | None,
        *,
        blocked: bool,
        outputs: Sequence[ImageBlob] = (),
    ) -> None:
        turns = [("user", dehydrate(user))]
        if model is not None:
            turns.append(("model", dehydrate(model)))
        now = time.time()
        async with self._transaction() as db:
            await _insert_images(
                db, [*outputs, *(blob for _, turn in turns for blob in turn.images)]
            )
            await _link_job_images(db, job.id, outputs)
            await db.execute(
                f"INSERT INTO conversations ({_CONVERSATION_COLUMNS}) VALUES ({_marks(11)}) "
                "ON CONFLICT (thread_id) DO UPDATE SET model = excluded.model, "
                "aspect_ratio = excluded.aspect_ratio, image_size = excluded.image_size, "
                "last_image = COALESCE(excluded.last_image, last_image), "
                "updated_at = excluded.updated_at",
                _conversation_row(conversation, updated_at=now),
            )
            for role, turn in turns:
                await _insert_turn(db, conversation.thread_id, job.id, role, turn, blocked, now)
            await _update_job(db, job)

    async def set_current_image(self, thread_id: int, sha256: str) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE conversations SET last_image = ?, updated_at = ? WHERE thread_id = ?",
                (sha256, time.time(), thread_id),
            )

    async def history(
        self, thread_id: int, limits: HistoryLimits, *, before_job: str | None = None
    ) -> list[types.Content]:
        async with self._lock:
            rows = await _recent_turns(self._db, thread_id, limits.max_turns, before_job)
            chosen = _within_image_budget(_exchanges(rows), limits.max_images)
            digests = {d for row in chosen for d in json.loads(row["image_refs"]).values()}
            images = await _image_bytes(self._db, digests)
        return [rehydrate(row["content"], row["image_refs"], images) for row in chosen]

    async def delete_older_than(self, cutoff: float) -> CleanupReport:
        async with self._transaction() as db:
            conversations = await db.execute(
                "DELETE FROM conversations WHERE updated_at < ?", (cutoff,)
            )
            jobs = await db.execute(
                "DELETE FROM jobs WHERE created_at < ? AND state NOT IN ('queued', 'running')",
                (cutoff,),
            )
            images = await db.execute(
                "DELETE FROM images WHERE "
                "NOT EXISTS (SELECT 1 FROM turn_images t WHERE t.sha256 = images.sha256) AND "
                "NOT EXISTS (SELECT 1 FROM job_images j WHERE j.sha256 = images.sha256) AND "
                "NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.result_image = images.sha256) AND "
                "NOT EXISTS (SELECT 1 FROM conversations c WHERE c.last_image = images.sha256)"
            )
        return CleanupReport(conversations.rowcount, jobs.rowcount, images.rowcount)


async def _rows(db: aiosqlite.Connection, sql: str, params: Iterable[Any]) -> list[aiosqlite.Row]:
    """All rows of a query in one hop to the database thread (a cursor costs three)."""
    return list(await db.execute_fetchall(sql, tuple(params)))


def _statements(script: str) -> Iterable[str]:
    return (part.strip() for part in script.split(";") if part.strip())


def _marks(n: int) -> str:
    return ", ".join("?" * n)


async def _insert_images(db: aiosqlite.Connection, blobs: Iterable[ImageBlob]) -> None:
    now = time.time()
    unique = {blob.sha256: blob for blob in blobs}
    await db.executemany(
        "INSERT OR IGNORE INTO images (sha256, mime_type, size, data, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(b.sha256, b.mime_type, len(b.data), b.data, now) for b in unique.values()],
    )


async def _link_job_images(
    db: aiosqlite.Connection, job_id: str, blobs: Iterable[ImageBlob]
) -> None:
    await db.executemany(
        "INSERT OR IGNORE INTO job_images (job_id, sha256) VALUES (?, ?)",
        [(job_id, blob.sha256) for blob in blobs],
    )


async def _insert_turn(
    db: aiosqlite.Connection,
    thread_id: int,
    job_id: str,
    role: str,
    turn: DehydratedContent,
    blocked: bool,
    now: float,
) -> None:
    cursor = await db.execute(
        "INSERT INTO turns (thread_id, job_id, role, content, image_refs, image_count, blocked, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (thread_id, job_id, role, turn.json, turn.image_refs, len(turn.images), blocked, now),
    )
    await db.executemany(
        "INSERT OR IGNORE INTO turn_images (turn_id, sha256) VALUES (?, ?)",
        [(cursor.lastrowid, blob.sha256) for blob in turn.images],
    )


async def _recent_turns(
    db: aiosqlite.Connection, thread_id: int, max_exchanges: int, before_job: str | None
) -> list[aiosqlite.Row]:
    """The newest unblocked turns (before `before_job`'s, if given), newest first: two rows
    per complete exchange."""
    before = "AND id < (SELECT MIN(id) FROM turns WHERE job_id = ?) " if before_job else ""
    params = (thread_id, before_job) if before_job else (thread_id,)
    return await _rows(
        db,
        "SELECT job_id, role, content, image_refs, image_count FROM turns "
        f"WHERE thread_id = ? AND blocked = 0 {before}ORDER BY id DESC LIMIT ?",
        (*params, 2 * max_exchanges),
    )


def _exchanges(rows_newest_first: list[aiosqlite.Row]) -> list[tuple[aiosqlite.Row, aiosqlite.Row]]:
    """Pair rows into (user, model) exchanges, newest first; incomplete ones are skipped."""
    by_job: dict[str, dict[str, aiosqlite.Row]] = {}
    order: list[str] = []
    for row in rows_newest_first:
        if row["job_id"] not in by_job:
            by_job[row["job_id"]] = {}
            order.append(row["job_id"])
        by_job[row["job_id"]][row["role"]] = row
    return [
        (by_job[job]["user"], by_job[job]["model"])
        for job in order
        if "user" in by_job[job] and "model" in by_job[job]
    ]


def _within_image_budget(
    exchanges_newest_first: list[tuple[aiosqlite.Row, aiosqlite.Row]], max_images: int
) -> list[aiosqlite.Row]:
    """The longest run of newest exchanges whose images fit `max_images`, oldest first."""
    chosen: list[aiosqlite.Row] = []
    used = 0
    for user, model in exchanges_newest_first:
        cost = user["image_count"] + model["image_count"]
        if used + cost > max_images:
            break
        used += cost
        chosen[:0] = [user, model]
    return chosen


async def _image_bytes(db: aiosqlite.Connection, digests: set[str]) -> dict[str, bytes]:
    if not digests:
        return {}
    rows = await _rows(
        db, f"SELECT sha256, data FROM images WHERE sha256 IN ({_marks(len(digests))})", digests
    )
    return {row[0]: bytes(row[1]) for row in rows}


async def _update_job(db: aiosqlite.Connection, job: Job) -> None:
    await db.execute(
        "UPDATE jobs SET state = ?, thread_id = ?, message_id = ?, error_kind = ?, "
        "error_message = ?, cost_usd = ?, result_image = ?, outputs = ?, started_at = ?, "
        "finished_at = ? WHERE id = ?",
        (
            job.state.value,
            job.thread_id,
            job.message_id,
            job.error_kind,
            job.error_message,
            job.cost_usd,
            job.result_image,
            json.dumps(job.outputs),
            job.started_at,
            job.finished_at,
            job.id,
        ),
    )


def _job_row(job: Job) -> tuple[Any, ...]:
    return (
        job.id,
        job.kind,
        job.state.value,
        job.user_id,
        job.guild_id,
        job.channel_id,
        job.thread_id,
        job.message_id,
        job.request.model_dump_json(),
        job.error_kind,
        job.error_message,
        job.cost_usd,
        job.result_image,
        json.dumps(job.outputs),
        job.created_at,
        job.started_at,
        job.finished_at,
    )


def _job_from_row(row: Sequence[Any]) -> Job:
    (id_, kind, state, user, guild, channel, thread, message, request, *rest) = row
    error_kind, error_message, cost, result_image, outputs, created, started, finished = rest
    return Job(
        id=id_,
        kind=kind,
        user_id=user,
        guild_id=guild,
        channel_id=channel,
        request=JobRequest.model_validate_json(request),
        thread_id=thread,
        message_id=message,
        state=JobState(state),
        error_kind=error_kind,
        error_message=error_message,
        cost_usd=cost,
        result_image=result_image,
        outputs=tuple(json.loads(outputs)),
        created_at=created,
        started_at=started,
        finished_at=finished,
    )


def _conversation_row(c: Conversation, *, updated_at: float) -> tuple[Any, ...]:
    return (
        c.thread_id,
        c.guild_id,
        c.channel_id,
        c.owner_id,
        c.workflow,
        c.model,
        c.aspect_ratio,
        c.image_size,
        c.last_image,
        c.created_at,
        updated_at,
    )
