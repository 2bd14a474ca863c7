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

from bot.errors import StorageError
from bot.jobs import quotas
from bot.jobs.concurrency import Pace, PaceChange
from bot.jobs.quotas import Admission, Limit, Limits, Override, Usage, Window
from bot.jobs.records import (
    Conversation,
    Job,
    JobRequest,
    JobState,
    Reference,
    reference_key,
)
from bot.jobs.shards import ALL_SHARDS, Shards
from bot.jobs.states import check_transition
from bot.media import Media
from bot.store.base import (
    CleanupReport,
    DuplicateJobError,
    HistoryLimits,
    JobChanges,
    MemberStanding,
    Outcome,
    ProcessEntry,
    QueuePlace,
    QuotaExceededError,
    ReferenceLimitError,
    UsageLine,
)
from bot.store.codec import StoredTurn, referenced_images
from bot.store.migrations import MIGRATIONS
from bot.store.rows import (
    ACTIVE,
    CONVERSATION_COLUMN_COUNT,
    CONVERSATION_COLUMNS,
    DELETE_BATCH,
    ENDED,
    JOB_COLUMNS,
    OWED_THREADS,
    PROCESS_COLUMNS,
    REFERENCE_COLUMNS,
    SEQ_COLUMN,
    conversation_row,
    exchanges,
    job_from_row,
    job_row,
    process_from_row,
    process_row,
    reference_from_row,
    shard_filter,
    transition_values,
    within_budget,
)

log = logging.getLogger(__name__)

_STORAGE_LOG_INTERVAL_S = 300.0
_NEXT_SEQ = "(SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs)"
# What a job counts for in the usage of the window it was accepted in, by its state.
_COUNTED_USD = (
    "CASE state WHEN 'delivered' THEN cost_usd WHEN 'queued' THEN reserved_usd "
    "WHEN 'running' THEN reserved_usd ELSE 0 END"
)
_COUNTED_IMAGES = (
    "CASE state WHEN 'delivered' THEN json_array_length(outputs) "
    "WHEN 'queued' THEN reserved_images WHEN 'running' THEN reserved_images ELSE 0 END"
)
_WHOLE_BOT = 0  # usage_hours.guild_id of the whole bot's totals


class _NotRunningError(Exception):
    """The job to finish was cancelled meanwhile: undo what the transaction wrote."""


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

    async def _statement(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        """One writing statement, a transaction by itself: one hop to the database thread."""
        async with self._lock:
            try:
                return await _rows(self._db, sql, params)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.DatabaseError as exc:
                raise self._storage_error(exc) from exc

    # Jobs -------------------------------------------------------------------------------

    async def add_job(
        self, job: Job, inputs: Sequence[Media] = (), admission: Admission | None = None
    ) -> Job:
        if job.state is not JobState.QUEUED:
            admission = None  # a pending job reserves nothing (until Generate)
        if admission is not None:
            job.reserved_usd, job.reserved_images = admission.usd, admission.images
            job.charged_at = admission.now
        values = list(job_row(job))
        marks = ["?"] * len(values)
        if job.state is JobState.QUEUED:  # its place in line, given in the same statement
            marks[SEQ_COLUMN] = _NEXT_SEQ
            del values[SEQ_COLUMN]
        insert = f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({', '.join(marks)}) RETURNING seq"
        try:
            if not inputs and admission is None:
                rows = await self._statement(insert, values)
            else:
                async with self._transaction() as db:
                    if admission is not None:  # the check and the insert: one transaction
                        await _admit(db, admission)
                    await _insert_images(db, inputs)
                    rows = await _rows(db, insert, values)
                    await _link_job_images(db, job.id, (image.sha256 for image in inputs))
                    if job.result_image is not None:  # a delivered copy (a branch)
                        await db.execute(
                            "UPDATE jobs SET result_image = ? WHERE id = ?",
                            (job.result_image, job.id),
                        )
        except sqlite3.IntegrityError as exc:
            if job.dedupe and "jobs.dedupe" in str(exc):
                raise DuplicateJobError(job.dedupe) from None
            raise
        job.seq = rows[0][0]
        return job

    async def get_job(self, job_id: str) -> Job | None:
        rows = await self._fetchall(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return job_from_row(rows[0]) if rows else None

    async def transition(
        self,
        job_id: str,
        sources: Iterable[JobState],
        target: JobState,
        changes: JobChanges | None = None,
        admission: Admission | None = None,
    ) -> Job | None:
        sources = tuple(sources)
        check_transition(sources, target)
        changes = changes or JobChanges()
        sets = transition_values(target, changes, time.time(), admission)
        if target is not JobState.QUEUED:
            admission = None
        marks = ", ".join(f"{column} = ?" for column in sets)
        if target is JobState.QUEUED and not changes.keep_place:
            marks += f", seq = {_NEXT_SEQ}"  # at the end of the line
        if changes.uncounted:
            marks += ", attempts = MAX(attempts - 1, 0)"
        states = [source.value for source in sources]
        update = (
            f"UPDATE jobs SET {marks} WHERE id = ? AND state IN ({_marks(len(sources))}) "
            f"RETURNING {JOB_COLUMNS}"
        )
        params = (*sets.values(), job_id, *states)
        if admission is None:
            rows = await self._statement(update, params)
        else:
            async with self._transaction() as db:
                found = await _rows(db, "SELECT state FROM jobs WHERE id = ?", (job_id,))
                if not found or found[0][0] not in states:
                    return None  # moved on already: nothing to check
                await _admit(db, admission)
                rows = await _rows(db, update, params)
        return job_from_row(rows[0]) if rows else None

    async def claim_next(
        self,
        *,
        max_running: int,
        max_per_user: int,
        owner: str | None = None,
        shards: Shards = ALL_SHARDS,
    ) -> Job | None:
        # One statement: the choice and the claim are one atomic step.
        rows = await self._statement(
            "UPDATE jobs SET state = 'running', started_at = ?, attempts = attempts + 1, "
            "owner = ? WHERE id = (SELECT j.id FROM jobs j WHERE j.state = 'queued' "
            f"  AND {shard_filter(shards, 'j.guild_id')} "
            "  AND (SELECT COUNT(*) FROM jobs r WHERE r.state = 'running') < ? "
            "  AND (SELECT COUNT(*) FROM jobs r WHERE r.state = 'running' "
            "       AND r.user_id = j.user_id) < ? "
            "  AND (j.lane IS NULL OR NOT EXISTS (SELECT 1 FROM jobs e WHERE e.lane = j.lane "
            f"       AND e.state IN {ACTIVE} AND e.seq < j.seq)) "
            "  AND NOT EXISTS (SELECT 1 FROM guild_pauses p WHERE p.guild_id = j.guild_id) "
            "  ORDER BY j.seq LIMIT 1) "
            f"RETURNING {JOB_COLUMNS}",
            (time.time(), owner, max_running, max_per_user),
        )
        return job_from_row(rows[0]) if rows else None

    async def queue(self) -> list[QueuePlace]:
        columns = ", ".join(f"j.{column}" for column in JOB_COLUMNS.split(", "))
        rows = await self._fetchall(
            f"SELECT {columns}, EXISTS (SELECT 1 FROM jobs e WHERE e.lane = j.lane "
            f"AND e.state IN {ACTIVE} AND e.seq < j.seq), p.message "
            "FROM jobs j LEFT JOIN guild_pauses p ON p.guild_id = j.guild_id "
            "WHERE j.state = 'queued' ORDER BY j.seq"
        )
        return [
            QueuePlace(job_from_row(row[:-2]), ahead, bool(row[-2]), row[-1])
            for ahead, row in enumerate(rows)
        ]

    async def finish(self, job_id: str, outcome: Outcome) -> Job | None:
        check_transition([JobState.RUNNING], outcome.state)
        turns = [
            (exchange.candidate, role, turn)
            for exchange in outcome.exchanges
            for role, turn in (("user", exchange.user), ("model", exchange.model))
        ]
        images = [*outcome.outputs, *(image for _, _, t in turns for image in t.images.values())]
        outputs = [image.sha256 for image in outcome.outputs]
        now = time.time()
        try:
            async with self._transaction() as db:
                # Images first (the job refers to them); all undone if the job moved on.
                await _insert_images(db, images)
                rows = await _rows(
                    db,
                    "UPDATE jobs SET state = ?, parent_job = ?, parent_candidate = ?, "
                    "outputs = ?, chosen = 0, cost_usd = ?, error_kind = ?, error_message = ?, "
                    "finished_at = ?, result_image = ?, report = ? "
                    f"WHERE id = ? AND state = 'running' RETURNING {JOB_COLUMNS}",
                    (
                        outcome.state.value,
                        outcome.parent_job,
                        outcome.parent_candidate,
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
                if not rows:
                    raise _NotRunningError
                job = job_from_row(rows[0])
                await _link_job_images(db, job_id, (image.sha256 for image in images))
                await _insert_turns(db, job_id, turns, now)
                if job.state is JobState.DELIVERED:
                    await _add_to_hourly_usage(db, job)
                    if job.thread_id is not None and outcome.moves_head:
                        await _replace_head(db, job, now)
        except _NotRunningError:
            return None
        return job

    async def mark_shown(
        self, job_id: str, message_id: int, channel_id: int, *, thread_wanted: bool = False
    ) -> None:
        now = time.time()
        shown = (
            "UPDATE jobs SET shown_at = ?, message_id = ?, channel_id = ? WHERE id = ?",
            (now, message_id, channel_id, job_id),
        )
        if not thread_wanted:
            await self._statement(*shown)
            return
        async with self._transaction() as db:
            await db.execute(*shown)
            await db.execute(
                "INSERT OR IGNORE INTO threads_owed (job_id, created_at) VALUES (?, ?)",
                (job_id, now),
            )

    async def open_conversation(self, conversation: Conversation, job_id: str) -> None:
        now = time.time()
        async with self._transaction() as db:
            await db.execute(
                f"INSERT OR IGNORE INTO conversations ({CONVERSATION_COLUMNS}, last_image) "
                f"SELECT {_marks(CONVERSATION_COLUMN_COUNT)}, result_image FROM jobs WHERE id = ?",
                (*conversation_row(conversation, head_job=job_id, updated_at=now), job_id),
            )
            await db.execute(
                "UPDATE jobs SET thread_id = ? WHERE id = ?", (conversation.thread_id, job_id)
            )
            await db.execute("DELETE FROM threads_owed WHERE job_id = ?", (job_id,))

    async def no_thread(self, job_id: str) -> None:
        await self._statement("DELETE FROM threads_owed WHERE job_id = ?", (job_id,))

    async def threads_owed(self, shards: Shards = ALL_SHARDS) -> list[Job]:
        rows = await self._fetchall(
            f"{OWED_THREADS} WHERE {shard_filter(shards, 'j.guild_id')} ORDER BY o.created_at"
        )
        return [job_from_row(row) for row in rows]

    async def owing_thread(self, message_id: int) -> Job | None:
        rows = await self._fetchall(f"{OWED_THREADS} WHERE j.message_id = ?", (message_id,))
        return job_from_row(rows[0]) if rows else None

    async def set_message(self, job_id: str, message_id: int, channel_id: int) -> None:
        await self._statement(
            "UPDATE jobs SET message_id = ?, channel_id = ? WHERE id = ?",
            (message_id, channel_id, job_id),
        )

    async def jobs_in(self, states: Iterable[JobState]) -> list[Job]:
        values = [state.value for state in states]
        rows = await self._fetchall(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE state IN ({_marks(len(values))}) "
            "ORDER BY COALESCE(seq, 0), created_at",
            values,
        )
        return [job_from_row(row) for row in rows]

    async def revise_pending(self, job_id: str, request: JobRequest) -> Job | None:
        rows = await self._statement(
            f"UPDATE jobs SET request = ? WHERE id = ? AND state = 'pending' "
            f"RETURNING {JOB_COLUMNS}",
            (request.model_dump_json(), job_id),
        )
        return job_from_row(rows[0]) if rows else None

    async def recent_jobs(self, user_id: int, guild_id: int | None, limit: int) -> list[Job]:
        rows = await self._fetchall(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE user_id = ? AND guild_id IS ? "
            "ORDER BY created_at DESC LIMIT ?",
            (user_id, guild_id, limit),
        )
        return [job_from_row(row) for row in rows]

    # Processes sharing the store ------------------------------------------------------------

    async def register_process(self, process: ProcessEntry) -> list[ProcessEntry]:
        async with self._transaction() as db:
            rows = await _rows(db, f"SELECT {PROCESS_COLUMNS} FROM processes", ())
            replaced = [
                other
                for other in map(process_from_row, rows)
                if other.id != process.id and other.shards.overlaps(process.shards)
            ]
            await db.executemany(
                "DELETE FROM processes WHERE id = ?", [(other.id,) for other in replaced]
            )
            await db.execute(
                f"INSERT OR REPLACE INTO processes ({PROCESS_COLUMNS}) VALUES ({_marks(6)})",
                process_row(process),
            )
        return replaced

    async def heartbeat(self, process_id: str, now: float) -> bool:
        rows = await self._statement(
            "UPDATE processes SET heartbeat_at = ? WHERE id = ? RETURNING id", (now, process_id)
        )
        return bool(rows)

    async def deregister_process(self, process_id: str) -> None:
        await self._statement("DELETE FROM processes WHERE id = ?", (process_id,))

    async def processes(self) -> list[ProcessEntry]:
        rows = await self._fetchall(f"SELECT {PROCESS_COLUMNS} FROM processes ORDER BY started_at")
        return [process_from_row(row) for row in rows]

    async def adopt_orphans(
        self, owner: str, shards: Shards, *, alive_since: float, unowned: bool = False
    ) -> list[Job]:
        orphan = _orphan_condition(shards, unowned=unowned)
        rows = await self._statement(
            f"UPDATE jobs SET owner = ? WHERE id IN ("
            f"SELECT j.id FROM jobs j WHERE j.state = 'running' AND {orphan} UNION ALL "
            f"SELECT j.id FROM jobs j WHERE j.shown_at IS NULL AND j.state NOT IN {ENDED} "
            f"AND {orphan}) RETURNING {JOB_COLUMNS}",
            (owner, owner, alive_since, owner, alive_since),
        )
        return sorted((job_from_row(row) for row in rows), key=lambda job: job.created_at)

    async def pace(self) -> Pace | None:
        rows = await self._fetchall("SELECT concurrency, paused_until, last_cut FROM pace")
        return Pace(*rows[0]) if rows else None

    async def update_pace(self, change: PaceChange) -> Pace:
        async with self._transaction() as db:
            rows = await _rows(db, "SELECT concurrency, paused_until, last_cut FROM pace", ())
            running = await _rows(db, "SELECT COUNT(*) FROM jobs WHERE state = 'running'", ())
            pace = change(Pace(*rows[0]) if rows else None, running[0][0])
            await db.execute(
                "INSERT OR REPLACE INTO pace (id, concurrency, paused_until, last_cut) "
                "VALUES (1, ?, ?, ?)",
                (pace.limit, pace.paused_until, pace.last_cut),
            )
        return pace

    # Quotas and admin controls -----------------------------------------------------------

    async def usage(self, user_id: int, guild_id: int | None, window: Window) -> Usage:
        async with self._lock:
            return await _usage(self._db, user_id, guild_id, window)

    async def usage_lines(self, guild_id: int, window: Window) -> list[UsageLine]:
        rows = await self._fetchall(
            f"SELECT user_id, json_extract(request, '$.model'), COUNT(*), "
            f"SUM({_COUNTED_IMAGES}), SUM({_COUNTED_USD}) FROM jobs "
            "WHERE guild_id = ? AND charged_at >= ? AND charged_at < ? "
            "AND state IN ('delivered', 'queued', 'running') GROUP BY 1, 2",
            (guild_id, window.start, window.end),
        )
        lines = [UsageLine(*row) for row in rows]
        spent: dict[int, float] = {}
        for line in lines:
            spent[line.user_id] = spent.get(line.user_id, 0.0) + line.usd
        return sorted(lines, key=lambda line: (-spent[line.user_id], line.user_id, line.model))

    async def charged_jobs(self, guild_id: int, window: Window) -> list[Job]:
        rows = await self._fetchall(
            f"SELECT {JOB_COLUMNS} FROM jobs "
            "WHERE guild_id = ? AND charged_at >= ? AND charged_at < ? ORDER BY charged_at",
            (guild_id, window.start, window.end),
        )
        return [job_from_row(row) for row in rows]

    async def quota_overrides(self, guild_id: int) -> list[Override]:
        rows = await self._fetchall(
            "SELECT target, target_id, name, value FROM quota_overrides WHERE guild_id = ? "
            "ORDER BY updated_at",
            (guild_id,),
        )
        return [Override(row[0], row[1], Limit(row[2]), row[3]) for row in rows]

    async def set_quota_override(
        self, guild_id: int, override: Override, *, by_user: int, now: float
    ) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO quota_overrides (guild_id, target, target_id, name, "
                "value, by_user, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    guild_id,
                    override.target,
                    override.target_id,
                    override.limit.value,
                    override.value,
                    by_user,
                    now,
                ),
            )

    async def clear_quota_override(self, guild_id: int, override: Override) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute(
                "DELETE FROM quota_overrides WHERE guild_id = ? AND target = ? "
                "AND target_id = ? AND name = ?",
                (guild_id, override.target, override.target_id, override.limit.value),
            )
        return cursor.rowcount > 0

    async def standing(self, guild_id: int | None, user_id: int) -> MemberStanding:
        rows = await self._fetchall(
            "SELECT (SELECT message FROM guild_pauses WHERE guild_id = ?), "
            "EXISTS (SELECT 1 FROM bans WHERE guild_id = ? AND user_id = ?)",
            (guild_id, guild_id, user_id),
        )
        return MemberStanding(paused=rows[0][0], banned=bool(rows[0][1]))

    async def pause(self, guild_id: int, message: str, *, by_user: int, now: float) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT OR REPLACE INTO guild_pauses (guild_id, message, by_user, created_at) "
                "VALUES (?, ?, ?, ?)",
                (guild_id, message, by_user, now),
            )

    async def resume(self, guild_id: int) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute("DELETE FROM guild_pauses WHERE guild_id = ?", (guild_id,))
        return cursor.rowcount > 0

    async def ban(
        self, guild_id: int, user_id: int, *, by_user: int, reason: str, now: float
    ) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT OR IGNORE INTO bans (guild_id, user_id, by_user, reason, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (guild_id, user_id, by_user, reason, now),
            )
        return cursor.rowcount > 0

    async def unban(self, guild_id: int, user_id: int) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute(
                "DELETE FROM bans WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
            )
        return cursor.rowcount > 0

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
        found = {row[0]: _media(row) for row in rows}
        return [found[digest] for digest in digests if digest in found]

    # Conversations ----------------------------------------------------------------------

    async def get_conversation(self, thread_id: int) -> Conversation | None:
        rows = await self._fetchall(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE thread_id = ?", (thread_id,)
        )
        return Conversation(*rows[0]) if rows else None

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
            await _move_head(db, thread_id, job_id, chosen, outputs[chosen], now)

    async def history(
        self, head_job: str, limits: HistoryLimits, candidate: int | None = None
    ) -> list[StoredTurn]:
        async with self._lock:
            rows = await _rows(
                self._db,
                "WITH RECURSIVE chain(id, parent, candidate, parent_candidate, depth) AS ("
                "  SELECT id, parent_job, COALESCE(?, chosen), parent_candidate, 0 "
                "  FROM jobs WHERE id = ? "
                "  UNION ALL SELECT j.id, j.parent_job, c.parent_candidate, j.parent_candidate, "
                "  c.depth + 1 FROM jobs j JOIN chain c ON j.id = c.parent WHERE c.depth < ?) "
                "SELECT c.depth, t.role, t.content, t.image_refs, t.image_count, t.image_bytes "
                "FROM chain c JOIN job_turns t ON t.job_id = c.id AND t.candidate = c.candidate "
                "ORDER BY c.depth, t.id",
                (candidate, head_job, limits.max_turns - 1),
            )
            chosen = within_budget(exchanges(rows), limits)
            refs = [referenced_images(row["image_refs"]) for row in chosen]
            images = await _images(self._db, {d for ref in refs for d in ref.values()})
        return [
            StoredTurn(row["content"], {index: images[d] for index, d in ref.items()})
            for row, ref in zip(chosen, refs, strict=True)
        ]

    # References -------------------------------------------------------------------------

    async def save_reference(self, reference: Reference, image: Media, *, limit: int) -> bool:
        key = reference_key(reference.name)
        owner = (reference.guild_id, reference.owner_id)
        async with self._transaction() as db:
            rows = await _rows(
                db,
                "SELECT COUNT(*), COALESCE(SUM(key = ?), 0) FROM refs "
                "WHERE guild_id = ? AND owner_id = ?",
                (key, *owner),
            )
            count, replacing = rows[0]
            if limit and not replacing and count >= limit:
                raise ReferenceLimitError(limit)
            await _insert_images(db, [image])
            await db.execute(
                "INSERT OR REPLACE INTO refs (guild_id, owner_id, key, name, kind, sha256, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    *owner,
                    key,
                    reference.name,
                    reference.kind.value,
                    image.sha256,
                    reference.created_at,
                ),
            )
        return bool(replacing)

    async def references(self, guild_id: int, user_id: int) -> list[Reference]:
        rows = await self._fetchall(
            f"SELECT {REFERENCE_COLUMNS} FROM refs WHERE guild_id = ? AND owner_id IN (?, 0) "
            "ORDER BY key, owner_id DESC",
            (guild_id, user_id),
        )
        return [reference_from_row(row) for row in rows]

    async def delete_reference(self, guild_id: int, owner_id: int, name: str) -> bool:
        rows = await self._statement(
            "DELETE FROM refs WHERE guild_id = ? AND owner_id = ? AND key = ? RETURNING key",
            (guild_id, owner_id, reference_key(name)),
        )
        return bool(rows)

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
            f"AND j.state NOT IN {ACTIVE} "
            "AND (j.thread_id IS NULL OR NOT EXISTS "
            "     (SELECT 1 FROM conversations c WHERE c.thread_id = j.thread_id)) "
            "AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.parent_job = j.id) LIMIT ?)",
            cutoff,
        )
        images = await self._delete_in_batches(
            "DELETE FROM images WHERE sha256 IN (SELECT i.sha256 FROM images i "
            "WHERE i.created_at < ? AND "
            "NOT EXISTS (SELECT 1 FROM job_images j WHERE j.sha256 = i.sha256) AND "
            "NOT EXISTS (SELECT 1 FROM conversations c WHERE c.last_image = i.sha256) AND "
            "NOT EXISTS (SELECT 1 FROM refs r WHERE r.sha256 = i.sha256) "
            "LIMIT ?)",
            time.time(),
        )
        await self._delete_in_batches(
            "DELETE FROM usage_hours WHERE (guild_id, hour) IN (SELECT guild_id, hour "
            "FROM usage_hours WHERE hour < CAST(? / 3600 AS INTEGER) LIMIT ?)",
            cutoff,
        )
        return CleanupReport(conversations, jobs, images)

    async def _delete_in_batches(self, sql: str, cutoff: float) -> int:
        """Run a `... LIMIT ?` delete until it deletes nothing, one short transaction at a
        time, so other work gets the database in between."""
        total = 0
        while True:
            async with self._transaction() as db:
                cursor = await db.execute(sql, (cutoff, DELETE_BATCH))
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


def _orphan_condition(shards: Shards, *, unowned: bool) -> str:
    """A job `j` of `shards` whose owner process is gone; its parameters: the adopter (never
    its own jobs), then the time a live process's heartbeat is newer than."""
    owned = "1 = 1" if unowned else "j.owner IS NOT NULL"
    return (
        f"{shard_filter(shards, 'j.guild_id')} AND {owned} "
        "AND (j.owner IS NULL OR j.owner <> ?) AND NOT EXISTS (SELECT 1 FROM processes p "
        "WHERE p.id = j.owner AND p.heartbeat_at >= ?)"
    )


async def _admit(db: aiosqlite.Connection, admission: Admission) -> None:
    """Inside the caller's transaction: QuotaExceededError when the job does not fit."""
    if not admission.limits.any:
        return
    usage = await _usage(
        db, admission.user_id, admission.guild_id, admission.window, admission.limits
    )
    hit = quotas.check(admission, usage)
    if hit is not None:
        raise QuotaExceededError(hit)


async def _usage(
    db: aiosqlite.Connection,
    user_id: int,
    guild_id: int | None,
    window: Window,
    needed: Limits | None = None,
) -> Usage:
    """One query for the usage figures `needed` limits check (all of them when None); the
    others stay 0. Each sum reads only its scope's jobs of the window, through an index."""

    def wanted(*limits: Limit) -> bool:
        return needed is None or any(needed.of(limit) for limit in limits)

    member = "user_id = ? AND guild_id IS ?"
    window_of = "charged_at >= ? AND charged_at < ?"
    span = (window.start, window.end)
    hours = (window.start // 3600, window.end // 3600)
    figures: list[tuple[str, tuple[Any, ...]]] = []  # (scalar subquery, its parameters)
    if wanted(Limit.MEMBER_IMAGES, Limit.MEMBER_USD):  # the member's own jobs of the window
        for counted in (_COUNTED_IMAGES, _COUNTED_USD):
            sql = f"SELECT SUM({counted}) FROM jobs WHERE {member} AND {window_of}"
            figures.append((sql, (user_id, guild_id, *span)))
    else:
        figures += [("SELECT 0", ()), ("SELECT 0", ())]
    # A server's and the bot's spend: hourly totals of delivered jobs, plus active jobs.
    delivered = "SELECT SUM(usd) FROM usage_hours WHERE guild_id = ? AND hour >= ? AND hour < ?"
    active = f"SELECT SUM(reserved_usd) FROM jobs WHERE state IN {ACTIVE} AND {window_of}"
    if wanted(Limit.GUILD_USD) and guild_id is not None:
        sql = f"SELECT COALESCE(({delivered}), 0) + COALESCE(({active} AND guild_id = ?), 0)"
        figures.append((sql, (guild_id, *hours, *span, guild_id)))
    else:
        figures.append(("SELECT 0", ()))
    if wanted(Limit.BOT_USD):
        sql = f"SELECT COALESCE(({delivered}), 0) + COALESCE(({active}), 0)"
        figures.append((sql, (_WHOLE_BOT, *hours, *span)))
    else:
        figures.append(("SELECT 0", ()))
    if wanted(Limit.WAITING):
        sql = f"SELECT COUNT(*) FROM jobs WHERE {member} AND state IN {ACTIVE}"
        figures.append((sql, (user_id, guild_id)))
    else:
        figures.append(("SELECT 0", ()))
    if wanted(Limit.COOLDOWN):
        sql = f"SELECT MAX(charged_at) FROM jobs WHERE {member} AND charged_at IS NOT NULL"
        figures.append((sql, (user_id, guild_id)))
    else:
        figures.append(("SELECT NULL", ()))
    select = ", ".join(f"({sql})" for sql, _ in figures)
    params = [param for _, values in figures for param in values]
    rows = await _rows(db, f"SELECT {select}", params)
    images, member_usd, guild_usd, bot_usd, waiting, last = rows[0]
    return Usage(
        member_images=int(images or 0),
        member_usd=member_usd or 0.0,
        guild_usd=guild_usd or 0.0,
        bot_usd=bot_usd or 0.0,
        member_waiting=int(waiting or 0),
        member_last_at=last,
    )


async def _add_to_hourly_usage(db: aiosqlite.Connection, job: Job) -> None:
    """A delivered job's cost, in the hourly totals of the bot and of its server."""
    if job.charged_at is None:  # recorded without a reservation: counts nowhere
        return
    hour = int(job.charged_at // 3600)
    scopes = [_WHOLE_BOT] if job.guild_id is None else [_WHOLE_BOT, job.guild_id]
    await db.executemany(
        "INSERT INTO usage_hours (guild_id, hour, images, usd) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (guild_id, hour) DO UPDATE SET images = images + excluded.images, "
        "usd = usd + excluded.usd",
        [(scope, hour, len(job.outputs), job.cost_usd) for scope in scopes],
    )


async def _insert_images(db: aiosqlite.Connection, images: Iterable[Media]) -> None:
    now = time.time()
    unique = {image.sha256: image for image in images}
    if not unique:
        return
    await db.executemany(
        "INSERT OR IGNORE INTO images (sha256, mime_type, size, data, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(i.sha256, i.mime_type, i.size, i.data, now) for i in unique.values()],
    )


async def _link_job_images(db: aiosqlite.Connection, job_id: str, digests: Iterable[str]) -> None:
    """Every image a job shows or whose turns use: kept while the job is."""
    links = [(job_id, digest) for digest in dict.fromkeys(digests)]
    if links:
        await db.executemany(
            "INSERT OR IGNORE INTO job_images (job_id, sha256) VALUES (?, ?)", links
        )


async def _insert_turns(
    db: aiosqlite.Connection,
    job_id: str,
    turns: Sequence[tuple[int, str, StoredTurn]],
    now: float,
) -> None:
    if not turns:
        return
    await db.executemany(
        "INSERT INTO job_turns (job_id, candidate, role, content, image_refs, image_count, "
        "image_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (job_id, candidate, role, t.json, t.image_refs, len(t.images), t.image_bytes, now)
            for candidate, role, t in turns
        ],
    )


async def _replace_head(db: aiosqlite.Connection, job: Job, now: float) -> None:
    """A delivered job of a conversation becomes its head; the head it replaces is kept on
    the job (and on `job` itself), for Undo."""
    assert job.thread_id is not None
    rows = await _rows(
        db,
        "UPDATE jobs SET previous_head = c.head_job, previous_candidate = c.head_candidate "
        "FROM conversations c WHERE c.thread_id = ? AND jobs.id = ? "
        "RETURNING previous_head, previous_candidate",
        (job.thread_id, job.id),
    )
    if rows:
        job.previous_head, job.previous_candidate = rows[0][0], rows[0][1]
    await _move_head(db, job.thread_id, job.id, 0, job.result_image, now)


async def _move_head(
    db: aiosqlite.Connection,
    thread_id: int,
    job_id: str,
    candidate: int,
    image: str | None,
    now: float,
) -> None:
    await db.execute(
        "UPDATE conversations SET head_job = ?, head_candidate = ?, last_image = ?, "
        "updated_at = ? WHERE thread_id = ?",
        (job_id, candidate, image, now, thread_id),
    )


async def _images(db: aiosqlite.Connection, digests: set[str]) -> dict[str, Media]:
    if not digests:
        return {}
    rows = await _rows(
        db,
        f"SELECT sha256, mime_type, data FROM images WHERE sha256 IN ({_marks(len(digests))})",
        digests,
    )
    return {row[0]: _media(row) for row in rows}


def _media(row: Sequence[Any]) -> Media:
    """A stored image (its sha256 is the key it was read by)."""
    return Media.stored(bytes(row[2]), row[1], row[0])
