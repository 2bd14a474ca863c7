"""The SQLite store (aiosqlite: every statement runs on the connection's own thread).

One connection, WAL mode, a busy timeout. One asyncio lock serialises transactions on the
shared connection, so a transaction never interleaves with another coroutine's statements
and readers never see half-written state. A transaction that fails, its COMMIT included, is
rolled back, so one full disk never leaves the connection stuck inside a transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiosqlite
from google.genai import types

from bot.errors import StorageError
from bot.jobs.records import Conversation, Job, JobRequest, JobState, Report
from bot.jobs.states import check_transition
from bot.media import Media
from bot.store.base import (
    CleanupReport,
    DuplicateJobError,
    HistoryLimits,
    JobChanges,
    Outcome,
    QueuePlace,
)
from bot.store.codec import DehydratedContent, dehydrate, rehydrate
from bot.store.migrations import MIGRATIONS

log = logging.getLogger(__name__)

_JOB_COLUMNS = (
    "id, kind, state, user_id, guild_id, channel_id, thread_id, message_id, reply_to, "
    "home_channel_id, request, "
    "error_kind, error_message, cost_usd, outputs, chosen, parent_job, seq, lane, dedupe, "
    "created_at, started_at, finished_at, shown_at, report"
)
_JOB_COLUMN_COUNT = _JOB_COLUMNS.count(",") + 1
_CONVERSATION_COLUMNS = (
    "thread_id, guild_id, channel_id, owner_id, workflow, model, aspect_ratio, image_size, "
    "head_job, created_at, updated_at"
)
_ACTIVE = "('queued', 'running')"
_DELETE_BATCH = 500
_STORAGE_LOG_INTERVAL_S = 300.0


class SQLiteStore:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self._last_storage_log = -_STORAGE_LOG_INTERVAL_S

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

    async def write_problem(self) -> str | None:
        # BEGIN IMMEDIATE takes the write lock (waiting up to busy_timeout): it fails on a
        # read-only or locked database and on a closed connection. A full disk shows only
        # when something is committed; transactions report that themselves (StorageError).
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except (sqlite3.Error, ValueError) as exc:  # ValueError: the connection is closed
                return f"the database cannot be written: {exc}"
            finally:  # also when cancelled (see _transaction)
                with suppress(sqlite3.Error, ValueError):
                    await self._db.execute("ROLLBACK")
        return None

    async def schema_version(self) -> int:
        rows = await self._fetchall("PRAGMA user_version")
        return int(rows[0][0]) if rows else 0

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
            try:
                # Inside the try: a task cancelled while BEGIN is on its way to the database
                # thread (a shutdown) must still roll back, or the connection stays inside
                # a transaction and every later one fails.
                await self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                await self._db.execute("COMMIT")
            except BaseException as exc:
                # Also after a failed COMMIT, which can leave the transaction open.
                with suppress(sqlite3.Error):
                    await self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and not (
                    isinstance(exc, sqlite3.IntegrityError)
                ):
                    raise self._storage_error(exc) from exc
                raise

    def _storage_error(self, exc: sqlite3.Error) -> StorageError:
        full = "full" in str(exc).lower()
        now = time.monotonic()
        if now - self._last_storage_log >= _STORAGE_LOG_INTERVAL_S:
            self._last_storage_log = now
            what = "the disk (or database) is full" if full else f"a storage error ({exc})"
            log.error("cannot write to the database: %s; reads still work", what)
        return StorageError.full() if full else StorageError.failed()

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        async with self._lock:
            return await _rows(self._db, sql, params)

    # Jobs -------------------------------------------------------------------------------

    async def add_job(self, job: Job, inputs: Sequence[Media] = ()) -> Job:
        try:
            async with self._transaction() as db:
                await _insert_images(db, inputs)
                if job.state is JobState.QUEUED:
                    job.seq = await _next_seq(db)
                await db.execute(
                    f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES ({_marks(_JOB_COLUMN_COUNT)})",
                    _job_row(job),
                )
                await _link_job_images(db, job.id, (image.sha256 for image in inputs))
        except sqlite3.IntegrityError as exc:
            if job.dedupe and "jobs.dedupe" in str(exc):
                raise DuplicateJobError(job.dedupe) from None
            raise
        return job

    async def get_job(self, job_id: str) -> Job | None:
        rows = await self._fetchall(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return _job_from_row(rows[0]) if rows else None

    async def transition(
        self,
        job_id: str,
        sources: Iterable[JobState],
        target: JobState,
        changes: JobChanges | None = None,
    ) -> Job | None:
        sources = tuple(sources)
        check_transition(sources, target)
        changes = changes or JobChanges()
        now = time.time()
        sets: dict[str, Any] = {"state": target.value}
        if target is JobState.QUEUED:
            sets.update(started_at=None, finished_at=None, shown_at=None, error_kind=None)
            sets.update(error_message=None, cost_usd=0.0, report=None)
        elif target is not JobState.RUNNING:
            sets["finished_at"] = now
        if changes.request is not None:
            sets["request"] = changes.request.model_dump_json()
        if changes.message_id is not None:
            sets["message_id"] = changes.message_id
        if changes.error_kind is not None:
            sets.update(error_kind=changes.error_kind, error_message=changes.error_message)
        if changes.report is not None:
            sets["report"] = changes.report.model_dump_json()
        marks = ", ".join(f"{column} = ?" for column in sets)
        states = _marks(len(sources))
        async with self._transaction() as db:
            if target is JobState.QUEUED and not changes.keep_place:
                sets["seq"] = await _next_seq(db)
                marks += ", seq = ?"
            cursor = await db.execute(
                f"UPDATE jobs SET {marks} WHERE id = ? AND state IN ({states})",
                (*sets.values(), job_id, *(s.value for s in sources)),
            )
            if cursor.rowcount != 1:
                return None
            rows = await _rows(db, f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return _job_from_row(rows[0])

    async def claim_next(self, *, max_running: int, max_per_user: int) -> Job | None:
        async with self._transaction() as db:
            running = await _rows(db, "SELECT COUNT(*) FROM jobs WHERE state = 'running'", ())
            if running[0][0] >= max_running:
                return None
            rows = await _rows(
                db,
                f"SELECT {_JOB_COLUMNS} FROM jobs j WHERE j.state = 'queued' "
                "AND (SELECT COUNT(*) FROM jobs r WHERE r.state = 'running' "
                "     AND r.user_id = j.user_id) < ? "
                "AND (j.lane IS NULL OR NOT EXISTS (SELECT 1 FROM jobs e WHERE e.lane = j.lane "
                f"     AND e.state IN {_ACTIVE} AND e.seq < j.seq)) "
                "ORDER BY j.seq LIMIT 1",
                (max_per_user,),
            )
            if not rows:
                return None
            job = _job_from_row(rows[0])
            job.state, job.started_at = JobState.RUNNING, time.time()
            await db.execute(
                "UPDATE jobs SET state = 'running', started_at = ? WHERE id = ? "
                "AND state = 'queued'",
                (job.started_at, job.id),
            )
        return job

    async def queue(self) -> list[QueuePlace]:
        columns = ", ".join(f"j.{column}" for column in _JOB_COLUMNS.split(", "))
        rows = await self._fetchall(
            f"SELECT {columns}, EXISTS (SELECT 1 FROM jobs e WHERE e.lane = j.lane "
            f"AND e.state IN {_ACTIVE} AND e.seq < j.seq) "
            "FROM jobs j WHERE j.state = 'queued' ORDER BY j.seq"
        )
        return [
            QueuePlace(_job_from_row(row[:-1]), ahead, bool(row[-1]))
            for ahead, row in enumerate(rows)
        ]

    async def finish(self, job_id: str, outcome: Outcome) -> Job | None:
        check_transition([JobState.RUNNING], outcome.state)
        turns = [
            (exchange.candidate, role, dehydrate(content))
            for exchange in outcome.exchanges
            for role, content in (("user", exchange.user), ("model", exchange.model))
        ]
        outputs = [image.sha256 for image in outcome.outputs]
        now = time.time()
        async with self._transaction() as db:
            state = await _rows(db, "SELECT state FROM jobs WHERE id = ?", (job_id,))
            if not state or state[0][0] != JobState.RUNNING.value:
                return None
            await _insert_images(
                db, [*outcome.outputs, *(image for _, _, turn in turns for image in turn.images)]
            )
            await db.execute(
                "UPDATE jobs SET state = ?, parent_job = ?, outputs = ?, chosen = 0, "
                "cost_usd = ?, error_kind = ?, error_message = ?, finished_at = ?, "
                "result_image = ?, report = ? WHERE id = ?",
                (
                    outcome.state.value,
                    outcome.parent_job,
                    json.dumps(outputs),
                    outcome.cost_usd,
                    outcome.error_kind,
                    outcome.error_message,
                    now,
                    outputs[0] if outputs else None,
                    outcome.report.model_dump_json() if outcome.report else None,
                    job_id,
                ),
            )
            await _link_job_images(db, job_id, outputs)
            for candidate, role, turn in turns:
                await _insert_turn(db, job_id, candidate, role, turn, now)
            rows = await _rows(db, f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
            job = _job_from_row(rows[0])
            if job.state is JobState.DELIVERED and job.thread_id is not None:
                await _move_head(db, job.thread_id, job.id, job.result_image, now)
        return job

    async def mark_shown(self, job_id: str, message_id: int, channel_id: int) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE jobs SET shown_at = ?, message_id = ?, channel_id = ? WHERE id = ?",
                (time.time(), message_id, channel_id, job_id),
            )

    async def set_message(self, job_id: str, message_id: int, channel_id: int) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE jobs SET message_id = ?, channel_id = ? WHERE id = ?",
                (message_id, channel_id, job_id),
            )

    async def jobs_in(self, states: Iterable[JobState]) -> list[Job]:
        values = [state.value for state in states]
        rows = await self._fetchall(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state IN ({_marks(len(values))}) "
            "ORDER BY COALESCE(seq, 0), created_at",
            values,
        )
        return [_job_from_row(row) for row in rows]

    async def unshown_jobs(self) -> list[Job]:
        rows = await self._fetchall(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE shown_at IS NULL "
            "AND state NOT IN ('pending', 'queued', 'running') ORDER BY finished_at"
        )
        return [_job_from_row(row) for row in rows]

    async def revise_pending(self, job_id: str, request: JobRequest) -> Job | None:
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE jobs SET request = ? WHERE id = ? AND state = 'pending'",
                (request.model_dump_json(), job_id),
            )
            if cursor.rowcount != 1:
                return None
            rows = await _rows(db, f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return _job_from_row(rows[0])

    # Images -----------------------------------------------------------------------------

    async def get_image(self, sha256: str) -> Media | None:
        found = await self.get_images([sha256])
        return found[0] if found else None

    async def get_images(self, digests: Sequence[str]) -> list[Media]:
        if not digests:
            return []
        unique = list(dict.fromkeys(digests))
        rows = await self._fetchall(
            f"SELECT sha256, mime_type, data FROM images WHERE sha256 IN ({_marks(len(unique))})",
            unique,
        )
        found = {row[0]: Media(bytes(row[2]), row[1]) for row in rows}
        return [found[digest] for digest in digests if digest in found]

    # Conversations ----------------------------------------------------------------------

    async def get_conversation(self, thread_id: int) -> Conversation | None:
        rows = await self._fetchall(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE thread_id = ?", (thread_id,)
        )
        return Conversation(*rows[0]) if rows else None

    async def open_conversation(self, conversation: Conversation, job_id: str) -> None:
        now = time.time()
        async with self._transaction() as db:
            await db.execute(
                f"INSERT INTO conversations ({_CONVERSATION_COLUMNS}, last_image) "
                f"SELECT {_marks(11)}, result_image FROM jobs WHERE id = ?",
                (*_conversation_row(conversation, head_job=job_id, updated_at=now), job_id),
            )
            await db.execute(
                "UPDATE jobs SET thread_id = ? WHERE id = ?", (conversation.thread_id, job_id)
            )

    async def set_head(self, thread_id: int, job_id: str, chosen: int) -> None:
        now = time.time()
        async with self._transaction() as db:
            rows = await _rows(db, "SELECT outputs FROM jobs WHERE id = ?", (job_id,))
            outputs = json.loads(rows[0][0]) if rows else []
            if not 0 <= chosen < len(outputs):
                raise ValueError(f"job {job_id} has no image {chosen + 1}")
            await db.execute(
                "UPDATE jobs SET chosen = ?, result_image = ? WHERE id = ?",
                (chosen, outputs[chosen], job_id),
            )
            await _move_head(db, thread_id, job_id, outputs[chosen], now)

    async def history(self, head_job: str, limits: HistoryLimits) -> list[types.Content]:
        async with self._lock:
            rows = await _rows(
                self._db,
                "WITH RECURSIVE chain(id, parent, chosen, depth) AS ("
                "  SELECT id, parent_job, chosen, 0 FROM jobs WHERE id = ? "
                "  UNION ALL SELECT j.id, j.parent_job, j.chosen, c.depth + 1 "
                "  FROM jobs j JOIN chain c ON j.id = c.parent WHERE c.depth < ?) "
                "SELECT c.depth, t.role, t.content, t.image_refs, t.image_count, t.image_bytes "
                "FROM chain c JOIN job_turns t ON t.job_id = c.id AND t.candidate = c.chosen "
                "ORDER BY c.depth, t.id",
                (head_job, limits.max_turns - 1),
            )
            chosen = _within_budget(_exchanges(rows), limits)
            digests = {d for row in chosen for d in json.loads(row["image_refs"]).values()}
            images = await _image_bytes(self._db, digests)
        return [rehydrate(row["content"], row["image_refs"], images) for row in chosen]

    async def delete_older_than(self, cutoff: float) -> CleanupReport:
        conversations = await self._delete_in_batches(
            "DELETE FROM conversations WHERE thread_id IN (SELECT thread_id FROM conversations "
            "WHERE updated_at < ? LIMIT ?)",
            cutoff,
        )
        # Finished jobs no live conversation needs; a job others continued from goes after
        # them (leaves first), so a chain is never cut in the middle.
        jobs = await self._delete_in_batches(
            "DELETE FROM jobs WHERE id IN (SELECT j.id FROM jobs j WHERE j.created_at < ? "
            f"AND j.state NOT IN {_ACTIVE} "
            "AND (j.thread_id IS NULL OR NOT EXISTS "
            "     (SELECT 1 FROM conversations c WHERE c.thread_id = j.thread_id)) "
            "AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.parent_job = j.id) LIMIT ?)",
            cutoff,
        )
        images = await self._delete_in_batches(
            "DELETE FROM images WHERE sha256 IN (SELECT i.sha256 FROM images i "
            "WHERE i.created_at < ? AND "
            "NOT EXISTS (SELECT 1 FROM job_turn_images t WHERE t.sha256 = i.sha256) AND "
            "NOT EXISTS (SELECT 1 FROM job_images j WHERE j.sha256 = i.sha256) AND "
            "NOT EXISTS (SELECT 1 FROM conversations c WHERE c.last_image = i.sha256) "
            "LIMIT ?)",
            time.time(),
        )
        return CleanupReport(conversations, jobs, images)

    async def _delete_in_batches(self, sql: str, cutoff: float) -> int:
        """Run a `... LIMIT ?` delete until it deletes nothing, one short transaction at a
        time, so other work gets the database in between."""
        total = 0
        while True:
            async with self._transaction() as db:
                cursor = await db.execute(sql, (cutoff, _DELETE_BATCH))
            total += cursor.rowcount
            if cursor.rowcount == 0:
                return total
            await asyncio.sleep(0)


async def _rows(db: aiosqlite.Connection, sql: str, params: Iterable[Any]) -> list[aiosqlite.Row]:
    """All rows of a query in one hop to the database thread (a cursor costs three)."""
    return list(await db.execute_fetchall(sql, tuple(params)))


def _statements(script: str) -> Iterable[str]:
    return (part.strip() for part in script.split(";") if part.strip())


def _marks(n: int) -> str:
    return ", ".join("?" * n)


async def _next_seq(db: aiosqlite.Connection) -> int:
    rows = await _rows(db, "SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs", ())
    return int(rows[0][0])


async def _insert_images(db: aiosqlite.Connection, images: Iterable[Media]) -> None:
    now = time.time()
    unique = {image.sha256: image for image in images}
    await db.executemany(
        "INSERT OR IGNORE INTO images (sha256, mime_type, size, data, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(i.sha256, i.mime_type, i.size, i.data, now) for i in unique.values()],
    )


async def _link_job_images(db: aiosqlite.Connection, job_id: str, digests: Iterable[str]) -> None:
    await db.executemany(
        "INSERT OR IGNORE INTO job_images (job_id, sha256) VALUES (?, ?)",
        [(job_id, digest) for digest in digests],
    )


async def _insert_turn(
    db: aiosqlite.Connection,
    job_id: str,
    candidate: int,
    role: str,
    turn: DehydratedContent,
    now: float,
) -> None:
    cursor = await db.execute(
        "INSERT INTO job_turns (job_id, candidate, role, content, image_refs, image_count, "
        "image_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            job_id,
            candidate,
            role,
            turn.json,
            turn.image_refs,
            len(turn.images),
            turn.image_bytes,
            now,
        ),
    )
    await db.executemany(
        "INSERT OR IGNORE INTO job_turn_images (turn_id, sha256) VALUES (?, ?)",
        [(cursor.lastrowid, image.sha256) for image in turn.images],
    )


async def _move_head(
    db: aiosqlite.Connection, thread_id: int, job_id: str, image: str | None, now: float
) -> None:
    await db.execute(
        "UPDATE conversations SET head_job = ?, last_image = ?, updated_at = ? WHERE thread_id = ?",
        (job_id, image, now, thread_id),
    )


def _exchanges(rows_newest_first: list[aiosqlite.Row]) -> list[list[aiosqlite.Row]]:
    """The chain's turns grouped per job (newest job first); jobs without a complete
    user+model exchange are skipped."""
    by_depth: dict[int, list[aiosqlite.Row]] = {}
    for row in rows_newest_first:
        by_depth.setdefault(row["depth"], []).append(row)
    return [
        turns
        for _, turns in sorted(by_depth.items())
        if {"user", "model"} <= {turn["role"] for turn in turns}
    ]


def _within_budget(
    exchanges_newest_first: list[list[aiosqlite.Row]], limits: HistoryLimits
) -> list[aiosqlite.Row]:
    """The longest run of newest exchanges within the image and byte limits, oldest first."""
    chosen: list[aiosqlite.Row] = []
    images = size = 0
    for turns in exchanges_newest_first:
        images += sum(turn["image_count"] for turn in turns)
        size += sum(turn["image_bytes"] for turn in turns)
        if images > limits.max_images or size > limits.max_bytes:
            break
        chosen[:0] = turns
    return chosen


async def _image_bytes(db: aiosqlite.Connection, digests: set[str]) -> dict[str, bytes]:
    if not digests:
        return {}
    rows = await _rows(
        db, f"SELECT sha256, data FROM images WHERE sha256 IN ({_marks(len(digests))})", digests
    )
    return {row[0]: bytes(row[1]) for row in rows}


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
        job.reply_to,
        job.home_channel_id,
        job.request.model_dump_json(),
        job.error_kind,
        job.error_message,
        job.cost_usd,
        json.dumps(job.outputs),
        job.chosen,
        job.parent_job,
        job.seq,
        job.lane,
        job.dedupe,
        job.created_at,
        job.started_at,
        job.finished_at,
        job.shown_at,
        job.report.model_dump_json() if job.report else None,
    )


def _job_from_row(row: Sequence[Any]) -> Job:
    (id_, kind, state, user, guild, channel, thread, message, reply_to, home, request, *rest) = row
    error_kind, error_message, cost, outputs, chosen, parent, seq, lane, dedupe, *times = rest
    created, started, finished, shown, report = times
    return Job(
        id=id_,
        kind=kind,
        user_id=user,
        guild_id=guild,
        channel_id=channel,
        request=JobRequest.model_validate_json(request),
        thread_id=thread,
        message_id=message,
        reply_to=reply_to,
        home_channel_id=home,
        state=JobState(state),
        error_kind=error_kind,
        error_message=error_message,
        cost_usd=cost,
        outputs=tuple(json.loads(outputs)),
        chosen=chosen,
        parent_job=parent,
        seq=seq,
        lane=lane,
        dedupe=dedupe,
        created_at=created,
        started_at=started,
        finished_at=finished,
        shown_at=shown,
        report=Report.model_validate_json(report) if report else None,
    )


def _conversation_row(c: Conversation, *, head_job: str, updated_at: float) -> tuple[Any, ...]:
    return (
        c.thread_id,
        c.guild_id,
        c.channel_id,
        c.owner_id,
        c.workflow,
        c.model,
        c.aspect_ratio,
        c.image_size,
        head_job,
        c.created_at,
        updated_at,
    )
