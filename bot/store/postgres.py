"""The PostgreSQL store (asyncpg): one database several bot processes can share.

A connection pool; every write is one transaction on one pooled connection, and every job
state change a compare-and-set (`UPDATE ... WHERE state = ANY(...)`), so processes never
undo each other's moves. What SQLite gets from having a single writer is explicit here, as
advisory locks held until the transaction ends:
- a claim holds the claim lock, so the limits on running jobs (overall and per member) hold
  across processes; the job itself is taken `FOR UPDATE SKIP LOCKED`, passing over a job
  another transaction is changing (a cancel) instead of waiting for it;
- transactions that store images share the image lock and the retention sweep of images
  holds it alone, so an image is never deleted between being found stored and being linked;
- admissions (a job checked against the quotas and its reservation written) hold the
  admission lock, so no other admission commits between reading the usage and reserving;
- registering a process holds the process lock (two starting together replace one another
  in turn), and changing the shared pace the pace lock (its row may not exist yet).
Reads that must agree with each other (a history and its images) share one snapshot.

A new method follows the same shape: `async with self._transaction() as conn:` and SQL with
`$n` parameters (lists as `= ANY($n::text[])`); `_fetch` for a plain read. Connection
trouble, a full disk and the like become StorageError, which members see in plain words.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from bot.database_url import password, redacted
from bot.errors import ConfigError, StorageError
from bot.jobs import quotas
from bot.jobs.concurrency import Pace, PaceChange
from bot.jobs.quotas import Admission, Limit, Limits, Override, Usage, Window
from bot.jobs.records import Conversation, Job, JobRequest, JobState, Reference, reference_key
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
from bot.store.postgres_migrations import MIGRATIONS
from bot.store.rows import (
    ACTIVE,
    CONVERSATION_COLUMN_COUNT,
    CONVERSATION_COLUMNS,
    DELETE_BATCH,
    ENDED,
    JOB_COLUMN_COUNT,
    JOB_COLUMNS,
    OWED_THREADS,
    PROCESS_COLUMNS,
    REFERENCE_COLUMNS,
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

if TYPE_CHECKING:  # asyncpg's classes are generic only in its type stubs
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record]

POOL_SIZE = 10  # connections per process
COMMAND_TIMEOUT_S = 60.0  # a statement that takes longer is a storage failure
_STORAGE_LOG_INTERVAL_S = 300.0
# Advisory locks: (_LOCK_SPACE, what). The first key keeps clear of other applications'
# locks in the same database ("Bot" in ASCII).
_LOCK_SPACE = 0x426F74
_CLAIM_LOCK = 1
_IMAGES_LOCK = 2
_MIGRATION_LOCK = 3
_ADMISSION_LOCK = 4
_PROCESS_LOCK = 5
_PACE_LOCK = 6
# What a job counts for in the usage of the window it was accepted in, by its state.
_COUNTED_USD = (
    "CASE state WHEN 'delivered' THEN cost_usd WHEN 'queued' THEN reserved_usd "
    "WHEN 'running' THEN reserved_usd ELSE 0 END"
)
_COUNTED_IMAGES = (
    "CASE state WHEN 'delivered' THEN json_array_length(outputs::json) "
    "WHEN 'queued' THEN reserved_images WHEN 'running' THEN reserved_images ELSE 0 END"
)
_WHOLE_BOT = 0  # usage_hours.guild_id of the whole bot's totals

# Errors of the database or the way to it, as opposed to bugs in a statement.
_STORAGE_FAILURES: tuple[type[BaseException], ...] = (
    OSError,  # unreachable, connection reset; TimeoutError (a statement past the timeout)
    asyncpg.PostgresConnectionError,  # class 08: the connection broke
    asyncpg.InsufficientResourcesError,  # class 53: disk full, out of memory, connections
    asyncpg.OperatorInterventionError,  # class 57: the server shuts down or restarts
    asyncpg.PostgresSystemError,  # class 58: I/O errors
    asyncpg.ReadOnlySQLTransactionError,  # a standby answering after a failover
    asyncpg.TransactionRollbackError,  # class 40: a deadlock or serialization failure
)
# Opening also fails on a wrong password, database or role: all of them the operator's to fix.
_OPEN_FAILURES: tuple[type[BaseException], ...] = (
    *_STORAGE_FAILURES,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidPasswordError,
    asyncpg.ClientConfigurationError,
    ValueError,
)


class PostgresStore:
    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool
        self._last_storage_log = -_STORAGE_LOG_INTERVAL_S

    @classmethod
    async def open(cls, url: str) -> PostgresStore:
        """Connect to the database at `url` and bring its schema up to date. The password
        comes from the URL or, as libpq does it, from PGPASSWORD or ~/.pgpass. ConfigError
        says what is wrong when the database cannot be reached or prepared."""
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=POOL_SIZE, command_timeout=COMMAND_TIMEOUT_S
            )
        except _OPEN_FAILURES as exc:
            raise ConfigError(
                f"Cannot connect to the PostgreSQL database {redacted(url)}: "
                f"{_reason(exc, url)}. Check DATABASE_URL or [storage] url, and PGPASSWORD."
            ) from None
        try:
            await _migrate(pool)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, (*_OPEN_FAILURES, asyncpg.InsufficientPrivilegeError)):
                raise ConfigError(
                    f"Cannot prepare the PostgreSQL database {redacted(url)}: "
                    f"{_reason(exc, url)}. Its user must be allowed to create tables."
                ) from None
            raise
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    async def write_problem(self) -> str | None:
        # A transaction id is assigned only where writes are possible (not on a read-only
        # standby), and the pool must hand out a working connection; nothing is written.
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.fetchval("SELECT pg_current_xact_id()")
        except Exception as exc:  # whatever it is, the bot cannot write now
            return f"the database cannot be written: {exc}"
        return None

    async def schema_version(self) -> int:
        rows = await self._fetch("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        return int(rows[0][0])

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        """A transaction on a connection of its own: committed at the end of the block,
        rolled back on any exception (a failed COMMIT included: the server ends it)."""
        with self._storage_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                yield conn

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        with self._storage_errors():
            return await self._pool.fetch(sql, *args)

    async def _execute(self, sql: str, *args: Any) -> str:
        """One statement, its own transaction; the command status (e.g. "UPDATE 1")."""
        with self._storage_errors():
            return await self._pool.execute(sql, *args)

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        try:
            yield
        except _STORAGE_FAILURES as exc:
            full = isinstance(exc, asyncpg.DiskFullError)
            now = time.monotonic()
            if now - self._last_storage_log >= _STORAGE_LOG_INTERVAL_S:
                self._last_storage_log = now
                what = "the database server's disk is full" if full else f"{exc!r}"
                log.error("cannot use the database: %s", what)
            raise (StorageError.full() if full else StorageError.failed()) from exc

    # Jobs -------------------------------------------------------------------------------

    async def add_job(
        self, job: Job, inputs: Sequence[Media] = (), admission: Admission | None = None
    ) -> Job:
        if job.state is not JobState.QUEUED:
            admission = None  # a pending job reserves nothing (until Generate)
        if admission is not None:
            job.reserved_usd, job.reserved_images = admission.usd, admission.images
            job.charged_at = admission.now
        try:
            async with self._transaction() as conn:
                if admission is not None:  # the check and the insert: one transaction
                    await _admit(conn, admission)
                await _insert_images(conn, inputs)
                if job.state is JobState.QUEUED:
                    job.seq = await conn.fetchval("SELECT nextval('job_seq')")
                await conn.execute(
                    f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({_params(JOB_COLUMN_COUNT)})",
                    *job_row(job),
                )
                await _link_job_images(conn, job.id, (image.sha256 for image in inputs))
                if job.result_image is not None:  # a delivered copy (a branch)
                    await conn.execute(
                        "UPDATE jobs SET result_image = $1 WHERE id = $2", job.result_image, job.id
                    )
        except asyncpg.UniqueViolationError as exc:
            if job.dedupe and exc.constraint_name == "jobs_dedupe":
                raise DuplicateJobError(job.dedupe) from None
            raise
        return job

    async def get_job(self, job_id: str) -> Job | None:
        rows = await self._fetch(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1", job_id)
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
        values = transition_values(target, changes, time.time(), admission)
        states = [source.value for source in sources]
        assignments = [f"{column} = ${n}" for n, column in enumerate(values, start=1)]
        if target is JobState.QUEUED and not changes.keep_place:  # at the end of the line
            assignments.append("seq = nextval('job_seq')")
        if changes.uncounted:
            assignments.append("attempts = GREATEST(attempts - 1, 0)")
        n = len(values)
        async with self._transaction() as conn:
            if target is JobState.QUEUED and admission is not None:
                state = await conn.fetchval(
                    "SELECT state FROM jobs WHERE id = $1 FOR UPDATE", job_id
                )
                if state not in states:
                    return None  # moved on already: nothing to check
                await _admit(conn, admission)
            row = await conn.fetchrow(
                f"UPDATE jobs SET {', '.join(assignments)} "
                f"WHERE id = ${n + 1} AND state = ANY(${n + 2}::text[]) RETURNING {JOB_COLUMNS}",
                *values.values(),
                job_id,
                states,
            )
        return job_from_row(row) if row else None

    async def claim_next(
        self,
        *,
        max_running: int,
        max_per_user: int,
        owner: str | None = None,
        shards: Shards = ALL_SHARDS,
    ) -> Job | None:
        async with self._transaction() as conn:
            await _lock(conn, _CLAIM_LOCK)
            running = await conn.fetchval("SELECT COUNT(*) FROM jobs WHERE state = 'running'")
            if running >= max_running:
                return None
            candidate = await conn.fetchval(
                "SELECT j.id FROM jobs j WHERE j.state = 'queued' "
                f"AND {shard_filter(shards, 'j.guild_id')} "
                "AND (SELECT COUNT(*) FROM jobs r WHERE r.state = 'running' "
                "     AND r.user_id = j.user_id) < $1 "
                "AND (j.lane IS NULL OR NOT EXISTS (SELECT 1 FROM jobs e WHERE e.lane = j.lane "
                f"     AND e.state IN {ACTIVE} AND e.seq < j.seq)) "
                "AND NOT EXISTS (SELECT 1 FROM guild_pauses p WHERE p.guild_id = j.guild_id) "
                "ORDER BY j.seq LIMIT 1 FOR UPDATE OF j SKIP LOCKED",
                max_per_user,
            )
            if candidate is None:
                return None
            row = await conn.fetchrow(
                "UPDATE jobs SET state = 'running', started_at = $1, attempts = attempts + 1, "
                f"owner = $2 WHERE id = $3 RETURNING {JOB_COLUMNS}",
                time.time(),
                owner,
                candidate,
            )
        assert row is not None, "the claimed row is locked until the transaction ends"
        return job_from_row(row)

    async def queue(self) -> list[QueuePlace]:
        columns = ", ".join(f"j.{column}" for column in JOB_COLUMNS.split(", "))
        rows = await self._fetch(
            f"SELECT {columns}, EXISTS (SELECT 1 FROM jobs e WHERE e.lane = j.lane "
            f"AND e.state IN {ACTIVE} AND e.seq < j.seq), p.message "
            "FROM jobs j LEFT JOIN guild_pauses p ON p.guild_id = j.guild_id "
            "WHERE j.state = 'queued' ORDER BY j.seq"
        )
        places = []
        for ahead, row in enumerate(rows):
            *job, behind_own_lane, paused = row.values()
            places.append(QueuePlace(job_from_row(job), ahead, behind_own_lane, paused))
        return places

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
        async with self._transaction() as conn:
            state = await conn.fetchval("SELECT state FROM jobs WHERE id = $1 FOR UPDATE", job_id)
            if state != JobState.RUNNING.value:
                return None
            await _insert_images(conn, images)
            row = await conn.fetchrow(
                "UPDATE jobs SET state = $1, parent_job = $2, parent_candidate = $3, "
                "outputs = $4, chosen = 0, cost_usd = $5, error_kind = $6, error_message = $7, "
                f"finished_at = $8, result_image = $9, report = $10 WHERE id = $11 "
                f"RETURNING {JOB_COLUMNS}",
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
            )
            assert row is not None, "the job's row is locked until the transaction ends"
            await _link_job_images(conn, job_id, (image.sha256 for image in images))
            await _insert_turns(conn, job_id, turns, now)
            job = job_from_row(row)
            if job.state is JobState.DELIVERED:
                await _add_to_hourly_usage(conn, job)
                if job.thread_id is not None and outcome.moves_head:
                    await _replace_head(conn, job, now)
        return job

    async def mark_shown(
        self, job_id: str, message_id: int, channel_id: int, *, thread_wanted: bool = False
    ) -> None:
        now = time.time()
        async with self._transaction() as conn:
            await conn.execute(
                "UPDATE jobs SET shown_at = $1, message_id = $2, channel_id = $3 WHERE id = $4",
                now,
                message_id,
                channel_id,
                job_id,
            )
            if thread_wanted:
                await conn.execute(
                    "INSERT INTO threads_owed (job_id, created_at) VALUES ($1, $2) "
                    "ON CONFLICT DO NOTHING",
                    job_id,
                    now,
                )

    async def open_conversation(self, conversation: Conversation, job_id: str) -> None:
        now = time.time()
        async with self._transaction() as conn:
            await conn.execute(
                f"INSERT INTO conversations ({CONVERSATION_COLUMNS}, last_image) "
                f"SELECT {_params(CONVERSATION_COLUMN_COUNT)}, result_image FROM jobs "
                f"WHERE id = ${CONVERSATION_COLUMN_COUNT + 1} ON CONFLICT DO NOTHING",
                *conversation_row(conversation, head_job=job_id, updated_at=now),
                job_id,
            )
            await conn.execute(
                "UPDATE jobs SET thread_id = $1 WHERE id = $2", conversation.thread_id, job_id
            )
            await conn.execute("DELETE FROM threads_owed WHERE job_id = $1", job_id)

    async def no_thread(self, job_id: str) -> None:
        await self._execute("DELETE FROM threads_owed WHERE job_id = $1", job_id)

    async def threads_owed(self, shards: Shards = ALL_SHARDS) -> list[Job]:
        rows = await self._fetch(
            f"{OWED_THREADS} WHERE {shard_filter(shards, 'j.guild_id')} ORDER BY o.created_at"
        )
        return [job_from_row(row) for row in rows]

    async def owing_thread(self, message_id: int) -> Job | None:
        rows = await self._fetch(f"{OWED_THREADS} WHERE j.message_id = $1", message_id)
        return job_from_row(rows[0]) if rows else None

    async def set_message(self, job_id: str, message_id: int, channel_id: int) -> None:
        await self._execute(
            "UPDATE jobs SET message_id = $1, channel_id = $2 WHERE id = $3",
            message_id,
            channel_id,
            job_id,
        )

    async def jobs_in(self, states: Iterable[JobState]) -> list[Job]:
        rows = await self._fetch(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE state = ANY($1::text[]) "
            "ORDER BY COALESCE(seq, 0), created_at",
            [state.value for state in states],
        )
        return [job_from_row(row) for row in rows]

    async def revise_pending(self, job_id: str, request: JobRequest) -> Job | None:
        rows = await self._fetch(
            "UPDATE jobs SET request = $1 WHERE id = $2 AND state = 'pending' "
            f"RETURNING {JOB_COLUMNS}",
            request.model_dump_json(),
            job_id,
        )
        return job_from_row(rows[0]) if rows else None

    async def recent_jobs(self, user_id: int, guild_id: int | None, limit: int) -> list[Job]:
        guild = "guild_id IS NULL" if guild_id is None else "guild_id = $3"
        rows = await self._fetch(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE user_id = $1 AND {guild} "
            "ORDER BY created_at DESC LIMIT $2",
            user_id,
            limit,
            *([] if guild_id is None else [guild_id]),
        )
        return [job_from_row(row) for row in rows]

    # Processes sharing the store ------------------------------------------------------------

    async def register_process(self, process: ProcessEntry) -> list[ProcessEntry]:
        async with self._transaction() as conn:
            await _lock(conn, _PROCESS_LOCK)
            rows = await conn.fetch(f"SELECT {PROCESS_COLUMNS} FROM processes")
            replaced = [
                other
                for other in map(process_from_row, rows)
                if other.id != process.id and other.shards.overlaps(process.shards)
            ]
            await conn.execute(
                "DELETE FROM processes WHERE id = ANY($1::text[])", [p.id for p in replaced]
            )
            await conn.execute(
                f"INSERT INTO processes ({PROCESS_COLUMNS}) VALUES ({_params(6)}) "
                "ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                *process_row(process),
            )
        return replaced

    async def heartbeat(self, process_id: str, now: float) -> bool:
        status = await self._execute(
            "UPDATE processes SET heartbeat_at = $1 WHERE id = $2", now, process_id
        )
        return _row_count(status) > 0

    async def deregister_process(self, process_id: str) -> None:
        await self._execute("DELETE FROM processes WHERE id = $1", process_id)

    async def processes(self) -> list[ProcessEntry]:
        rows = await self._fetch(f"SELECT {PROCESS_COLUMNS} FROM processes ORDER BY started_at")
        return [process_from_row(row) for row in rows]

    async def adopt_orphans(
        self, owner: str, shards: Shards, *, alive_since: float, unowned: bool = False
    ) -> list[Job]:
        owned = "TRUE" if unowned else "j.owner IS NOT NULL"
        orphan = (
            f"{shard_filter(shards, 'j.guild_id')} AND {owned} "
            "AND j.owner IS DISTINCT FROM $1 AND NOT EXISTS (SELECT 1 FROM processes p "
            "WHERE p.id = j.owner AND p.heartbeat_at >= $2)"
        )
        rows: list[asyncpg.Record] = []
        async with self._transaction() as conn:
            # Rows another process is adopting right now are skipped: it gets them.
            for jobs in ("j.state = 'running'", f"j.shown_at IS NULL AND j.state NOT IN {ENDED}"):
                rows += await conn.fetch(
                    "UPDATE jobs SET owner = $1 WHERE id IN (SELECT j.id FROM jobs j "
                    f"WHERE {jobs} AND {orphan} FOR UPDATE SKIP LOCKED) RETURNING {JOB_COLUMNS}",
                    owner,
                    alive_since,
                )
        return sorted((job_from_row(row) for row in rows), key=lambda job: job.created_at)

    async def pace(self) -> Pace | None:
        rows = await self._fetch("SELECT concurrency, paused_until, last_cut FROM pace")
        return Pace(*rows[0].values()) if rows else None

    async def update_pace(self, change: PaceChange) -> Pace:
        async with self._transaction() as conn:
            await _lock(conn, _PACE_LOCK)
            row = await conn.fetchrow("SELECT concurrency, paused_until, last_cut FROM pace")
            running = await conn.fetchval("SELECT COUNT(*) FROM jobs WHERE state = 'running'")
            pace = change(Pace(*row.values()) if row else None, running)
            await conn.execute(
                "INSERT INTO pace (id, concurrency, paused_until, last_cut) VALUES (1, $1, $2, $3) "
                "ON CONFLICT (id) DO UPDATE SET concurrency = excluded.concurrency, "
                "paused_until = excluded.paused_until, last_cut = excluded.last_cut",
                pace.limit,
                pace.paused_until,
                pace.last_cut,
            )
        return pace

    # Quotas and admin controls -----------------------------------------------------------

    async def usage(self, user_id: int, guild_id: int | None, window: Window) -> Usage:
        with self._storage_errors():
            async with self._pool.acquire() as conn:
                return await _usage(conn, user_id, guild_id, window)

    async def usage_lines(self, guild_id: int, window: Window) -> list[UsageLine]:
        rows = await self._fetch(
            f"SELECT user_id, request::json ->> 'model', COUNT(*), SUM({_COUNTED_IMAGES}), "
            f"SUM({_COUNTED_USD}) FROM jobs "
            "WHERE guild_id = $1 AND charged_at >= $2 AND charged_at < $3 "
            f"AND state IN ('delivered', {ACTIVE[1:-1]}) GROUP BY 1, 2",
            guild_id,
            window.start,
            window.end,
        )
        lines = [UsageLine(row[0], row[1], row[2], int(row[3]), row[4]) for row in rows]
        spent: dict[int, float] = {}
        for line in lines:
            spent[line.user_id] = spent.get(line.user_id, 0.0) + line.usd
        return sorted(lines, key=lambda line: (-spent[line.user_id], line.user_id, line.model))

    async def charged_jobs(self, guild_id: int, window: Window) -> list[Job]:
        rows = await self._fetch(
            f"SELECT {JOB_COLUMNS} FROM jobs "
            "WHERE guild_id = $1 AND charged_at >= $2 AND charged_at < $3 ORDER BY charged_at",
            guild_id,
            window.start,
            window.end,
        )
        return [job_from_row(row) for row in rows]

    async def quota_overrides(self, guild_id: int) -> list[Override]:
        rows = await self._fetch(
            "SELECT target, target_id, name, value FROM quota_overrides WHERE guild_id = $1 "
            "ORDER BY updated_at",
            guild_id,
        )
        return [Override(row[0], row[1], Limit(row[2]), row[3]) for row in rows]

    async def set_quota_override(
        self, guild_id: int, override: Override, *, by_user: int, now: float
    ) -> None:
        await self._execute(
            "INSERT INTO quota_overrides (guild_id, target, target_id, name, value, by_user, "
            "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (guild_id, target, target_id, name) DO UPDATE SET "
            "value = excluded.value, by_user = excluded.by_user, updated_at = excluded.updated_at",
            guild_id,
            override.target,
            override.target_id,
            override.limit.value,
            override.value,
            by_user,
            now,
        )

    async def clear_quota_override(self, guild_id: int, override: Override) -> bool:
        status = await self._execute(
            "DELETE FROM quota_overrides WHERE guild_id = $1 AND target = $2 "
            "AND target_id = $3 AND name = $4",
            guild_id,
            override.target,
            override.target_id,
            override.limit.value,
        )
        return _row_count(status) > 0

    async def standing(self, guild_id: int | None, user_id: int) -> MemberStanding:
        rows = await self._fetch(
            "SELECT (SELECT message FROM guild_pauses WHERE guild_id = $1), "
            "EXISTS (SELECT 1 FROM bans WHERE guild_id = $1 AND user_id = $2)",
            guild_id,
            user_id,
        )
        return MemberStanding(paused=rows[0][0], banned=bool(rows[0][1]))

    async def pause(self, guild_id: int, message: str, *, by_user: int, now: float) -> None:
        await self._execute(
            "INSERT INTO guild_pauses (guild_id, message, by_user, created_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (guild_id) DO UPDATE SET "
            "message = excluded.message, by_user = excluded.by_user, "
            "created_at = excluded.created_at",
            guild_id,
            message,
            by_user,
            now,
        )

    async def resume(self, guild_id: int) -> bool:
        status = await self._execute("DELETE FROM guild_pauses WHERE guild_id = $1", guild_id)
        return _row_count(status) > 0

    async def ban(
        self, guild_id: int, user_id: int, *, by_user: int, reason: str, now: float
    ) -> bool:
        status = await self._execute(
            "INSERT INTO bans (guild_id, user_id, by_user, reason, created_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            guild_id,
            user_id,
            by_user,
            reason,
            now,
        )
        return _row_count(status) > 0

    async def unban(self, guild_id: int, user_id: int) -> bool:
        status = await self._execute(
            "DELETE FROM bans WHERE guild_id = $1 AND user_id = $2", guild_id, user_id
        )
        return _row_count(status) > 0

    # Images -----------------------------------------------------------------------------

    async def get_image(self, sha256: str) -> Media | None:
        found = await self.get_images([sha256])
        return found[0] if found else None

    async def get_images(self, digests: Sequence[str]) -> list[Media]:
        if not digests:
            return []
        rows = await self._fetch(
            "SELECT sha256, mime_type, data FROM images WHERE sha256 = ANY($1::text[])",
            list(dict.fromkeys(digests)),
        )
        found = {row[0]: _media(row) for row in rows}
        return [found[digest] for digest in digests if digest in found]

    # Conversations ----------------------------------------------------------------------

    async def get_conversation(self, thread_id: int) -> Conversation | None:
        rows = await self._fetch(
            f"SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE thread_id = $1", thread_id
        )
        return Conversation(*rows[0].values()) if rows else None

    async def set_head(self, thread_id: int, job_id: str, chosen: int) -> None:
        now = time.time()
        async with self._transaction() as conn:
            stored = await conn.fetchval(
                "SELECT outputs FROM jobs WHERE id = $1 FOR UPDATE", job_id
            )
            outputs = json.loads(stored) if stored else []
            if not 0 <= chosen < len(outputs):
                raise ValueError(f"job {job_id} has no image {chosen + 1}")
            await conn.execute(
                "UPDATE jobs SET chosen = $1, result_image = $2 WHERE id = $3",
                chosen,
                outputs[chosen],
                job_id,
            )
            await _move_head(conn, thread_id, job_id, chosen, outputs[chosen], now)

    async def history(
        self, head_job: str, limits: HistoryLimits, candidate: int | None = None
    ) -> list[StoredTurn]:
        with self._storage_errors():
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                rows = await conn.fetch(
                    "WITH RECURSIVE chain(id, parent, candidate, parent_candidate, depth) AS ("
                    "  SELECT id, parent_job, COALESCE($1::integer, chosen), parent_candidate, 0 "
                    "  FROM jobs WHERE id = $2 "
                    "  UNION ALL SELECT j.id, j.parent_job, c.parent_candidate, "
                    "  j.parent_candidate, c.depth + 1 "
                    "  FROM jobs j JOIN chain c ON j.id = c.parent WHERE c.depth < $3) "
                    "SELECT c.depth, t.role, t.content, t.image_refs, t.image_count, "
                    "t.image_bytes FROM chain c "
                    "JOIN job_turns t ON t.job_id = c.id AND t.candidate = c.candidate "
                    "ORDER BY c.depth, t.id",
                    candidate,
                    head_job,
                    limits.max_turns - 1,
                )
                chosen = within_budget(exchanges(rows), limits)
                refs = [referenced_images(row["image_refs"]) for row in chosen]
                images = await _images(conn, {d for ref in refs for d in ref.values()})
        return [
            StoredTurn(row["content"], {index: images[d] for index, d in ref.items()})
            for row, ref in zip(chosen, refs, strict=True)
        ]

    # References -------------------------------------------------------------------------

    async def save_reference(self, reference: Reference, image: Media, *, limit: int) -> bool:
        key = reference_key(reference.name)
        owner = (reference.guild_id, reference.owner_id)
        async with self._transaction() as conn:
            # One owner's saves take turns, so two at once cannot both pass the limit.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('refs'), hashtext($1))", f"{owner}"
            )
            row = await conn.fetchrow(
                "SELECT COUNT(*), COUNT(*) FILTER (WHERE key = $1) FROM refs "
                "WHERE guild_id = $2 AND owner_id = $3",
                key,
                *owner,
            )
            assert row is not None, "an aggregate returns one row"
            count, replacing = row.values()
            if limit and not replacing and count >= limit:
                raise ReferenceLimitError(limit)
            await _insert_images(conn, [image])
            await conn.execute(
                "INSERT INTO refs (guild_id, owner_id, key, name, kind, sha256, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (guild_id, owner_id, key) "
                "DO UPDATE SET name = excluded.name, kind = excluded.kind, "
                "sha256 = excluded.sha256, created_at = excluded.created_at",
                *owner,
                key,
                reference.name,
                reference.kind.value,
                image.sha256,
                reference.created_at,
            )
        return bool(replacing)

    async def references(self, guild_id: int, user_id: int) -> list[Reference]:
        rows = await self._fetch(
            f"SELECT {REFERENCE_COLUMNS} FROM refs WHERE guild_id = $1 "
            "AND owner_id = ANY(ARRAY[$2, 0]::bigint[]) ORDER BY key, owner_id DESC",
            guild_id,
            user_id,
        )
        return [reference_from_row(row.values()) for row in rows]

    async def delete_reference(self, guild_id: int, owner_id: int, name: str) -> bool:
        status = await self._execute(
            "DELETE FROM refs WHERE guild_id = $1 AND owner_id = $2 AND key = $3",
            guild_id,
            owner_id,
            reference_key(name),
        )
        return _row_count(status) > 0

    async def delete_older_than(self, cutoff: float) -> CleanupReport:
        # Rows another transaction holds are left for the next run (SKIP LOCKED), so the
        # sweep never waits for, or undoes, work in progress in another process.
        conversations = await self._delete_in_batches(
            "DELETE FROM conversations WHERE thread_id IN (SELECT thread_id FROM conversations "
            "WHERE updated_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            cutoff,
        )
        # Finished jobs no live conversation needs; a job others continued from goes after
        # them (leaves first), so a chain is never cut in the middle.
        jobs = await self._delete_in_batches(
            "DELETE FROM jobs WHERE id IN (SELECT j.id FROM jobs j WHERE j.created_at < $1 "
            f"AND j.state NOT IN {ACTIVE} "
            "AND (j.thread_id IS NULL OR NOT EXISTS "
            "     (SELECT 1 FROM conversations c WHERE c.thread_id = j.thread_id)) "
            "AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.parent_job = j.id) "
            "LIMIT $2 FOR UPDATE SKIP LOCKED)",
            cutoff,
        )
        images = await self._delete_in_batches(
            "DELETE FROM images WHERE sha256 IN (SELECT i.sha256 FROM images i "
            "WHERE i.created_at < $1 AND "
            "NOT EXISTS (SELECT 1 FROM job_images j WHERE j.sha256 = i.sha256) AND "
            "NOT EXISTS (SELECT 1 FROM conversations c WHERE c.last_image = i.sha256) AND "
            "NOT EXISTS (SELECT 1 FROM refs r WHERE r.sha256 = i.sha256) "
            "LIMIT $2)",
            time.time(),
            lock=_IMAGES_LOCK,
        )
        await self._delete_in_batches(
            "DELETE FROM usage_hours WHERE (guild_id, hour) IN (SELECT guild_id, hour "
            "FROM usage_hours WHERE hour < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            cutoff // 3600,
        )
        return CleanupReport(conversations, jobs, images)

    async def _delete_in_batches(self, sql: str, cutoff: float, lock: int | None = None) -> int:
        """Run a `... LIMIT $2` delete until it deletes nothing, one short transaction at a
        time, so other work gets the rows in between."""
        total = 0
        while True:
            async with self._transaction() as conn:
                if lock is not None:
                    await _lock(conn, lock)
                deleted = _row_count(await conn.execute(sql, cutoff, DELETE_BATCH))
            total += deleted
            if deleted == 0:
                return total
            await asyncio.sleep(0)


async def _migrate(pool: asyncpg.Pool[asyncpg.Record]) -> None:
    """Apply the missing steps, one transaction each. Processes starting together take
    turns (the migration lock), so every step runs once."""
    while True:
        async with pool.acquire() as conn, conn.transaction():
            await _lock(conn, _MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            current = await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            if current >= len(MIGRATIONS):
                return
            await conn.execute(MIGRATIONS[current])
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", current + 1)


def _params(n: int, start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, start + n))


def _row_count(status: str) -> int:
    """The number in a command status such as "DELETE 12"."""
    return int(status.rsplit(" ", 1)[-1])


def _reason(exc: BaseException, url: str) -> str:
    """Why opening failed, in the driver's words, never with the password."""
    text = str(exc) or type(exc).__name__
    secret = password(url)
    return text.replace(secret, "***") if secret else text


async def _lock(conn: Connection, what: int) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", _LOCK_SPACE, what)


async def _admit(conn: Connection, admission: Admission) -> None:
    """Inside the caller's transaction: QuotaExceededError when the job does not fit. The
    admission lock, held to the end of the transaction, keeps admissions one at a time."""
    if not admission.limits.any:
        return
    await _lock(conn, _ADMISSION_LOCK)
    usage = await _usage(
        conn, admission.user_id, admission.guild_id, admission.window, admission.limits
    )
    hit = quotas.check(admission, usage)
    if hit is not None:
        raise QuotaExceededError(hit)


async def _usage(
    conn: Connection,
    user_id: int,
    guild_id: int | None,
    window: Window,
    needed: Limits | None = None,
) -> Usage:
    """One query (one snapshot) for the usage figures `needed` limits check (all of them when
    None); the others stay 0. Each sum reads only its scope's jobs of the window, through an
    index."""

    def wanted(*limits: Limit) -> bool:
        return needed is None or any(needed.of(limit) for limit in limits)

    params: list[Any] = []

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    def member() -> str:  # `= NULL` matches nothing, and IS NOT DISTINCT FROM no index
        guild = "guild_id IS NULL" if guild_id is None else f"guild_id = {param(guild_id)}"
        return f"user_id = {param(user_id)} AND {guild}"

    def window_of() -> str:
        return f"charged_at >= {param(window.start)} AND charged_at < {param(window.end)}"

    def delivered(scope: int) -> str:  # hourly totals of delivered jobs
        hours = f"hour >= {param(int(window.start // 3600))} AND hour < "
        hours += param(int(window.end // 3600))
        return f"SELECT SUM(usd) FROM usage_hours WHERE guild_id = {param(scope)} AND {hours}"

    def active() -> str:
        return f"SELECT SUM(reserved_usd) FROM jobs WHERE state IN {ACTIVE} AND {window_of()}"

    figures: list[str] = []  # scalar subqueries, in the order of Usage's fields
    if wanted(Limit.MEMBER_IMAGES, Limit.MEMBER_USD):  # the member's own jobs of the window
        for counted in (_COUNTED_IMAGES, _COUNTED_USD):
            figures.append(f"SELECT SUM({counted}) FROM jobs WHERE {member()} AND {window_of()}")
    else:
        figures += ["SELECT 0", "SELECT 0"]
    if wanted(Limit.GUILD_USD) and guild_id is not None:
        figures.append(
            f"SELECT COALESCE(({delivered(guild_id)}), 0) "
            f"+ COALESCE(({active()} AND guild_id = {param(guild_id)}), 0)"
        )
    else:
        figures.append("SELECT 0")
    if wanted(Limit.BOT_USD):
        figures.append(f"SELECT COALESCE(({delivered(_WHOLE_BOT)}), 0) + COALESCE(({active()}), 0)")
    else:
        figures.append("SELECT 0")
    if wanted(Limit.WAITING):
        figures.append(f"SELECT COUNT(*) FROM jobs WHERE {member()} AND state IN {ACTIVE}")
    else:
        figures.append("SELECT 0")
    if wanted(Limit.COOLDOWN):
        figures.append(
            f"SELECT MAX(charged_at) FROM jobs WHERE {member()} AND charged_at IS NOT NULL"
        )
    else:
        figures.append("SELECT NULL::double precision")
    row = await conn.fetchrow(f"SELECT {', '.join(f'({sql})' for sql in figures)}", *params)
    assert row is not None, "a SELECT without FROM returns one row"
    images, member_usd, guild_usd, bot_usd, waiting, last = row.values()
    return Usage(
        member_images=int(images or 0),
        member_usd=float(member_usd or 0.0),
        guild_usd=float(guild_usd or 0.0),
        bot_usd=float(bot_usd or 0.0),
        member_waiting=int(waiting or 0),
        member_last_at=last,
    )


async def _add_to_hourly_usage(conn: Connection, job: Job) -> None:
    """A delivered job's cost, in the hourly totals of the bot and of its server."""
    if job.charged_at is None:  # recorded without a reservation: counts nowhere
        return
    hour = int(job.charged_at // 3600)
    scopes = [_WHOLE_BOT] if job.guild_id is None else [_WHOLE_BOT, job.guild_id]
    await conn.executemany(
        "INSERT INTO usage_hours (guild_id, hour, images, usd) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (guild_id, hour) DO UPDATE SET "
        "images = usage_hours.images + excluded.images, usd = usage_hours.usd + excluded.usd",
        [(scope, hour, len(job.outputs), job.cost_usd) for scope in scopes],
    )


async def _insert_images(conn: Connection, images: Iterable[Media]) -> None:
    unique = {image.sha256: image for image in images}
    if not unique:
        return
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1, $2)", _LOCK_SPACE, _IMAGES_LOCK)
    now = time.time()
    await conn.executemany(
        "INSERT INTO images (sha256, mime_type, size, data, created_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
        [(i.sha256, i.mime_type, i.size, i.data, now) for i in unique.values()],
    )


async def _link_job_images(conn: Connection, job_id: str, digests: Iterable[str]) -> None:
    rows = [(job_id, digest) for digest in dict.fromkeys(digests)]
    if rows:
        await conn.executemany(
            "INSERT INTO job_images (job_id, sha256) VALUES ($1, $2) ON CONFLICT DO NOTHING", rows
        )


async def _insert_turns(
    conn: Connection, job_id: str, turns: Sequence[tuple[int, str, StoredTurn]], now: float
) -> None:
    if not turns:
        return
    await conn.executemany(
        "INSERT INTO job_turns (job_id, candidate, role, content, image_refs, image_count, "
        "image_bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (job_id, candidate, role, t.json, t.image_refs, len(t.images), t.image_bytes, now)
            for candidate, role, t in turns
        ],
    )


async def _replace_head(conn: Connection, job: Job, now: float) -> None:
    """A delivered job of a conversation becomes its head; the head it replaces is kept on
    the job (and on `job` itself), for Undo."""
    assert job.thread_id is not None
    row = await conn.fetchrow(
        "UPDATE jobs SET previous_head = c.head_job, previous_candidate = c.head_candidate "
        "FROM conversations c WHERE c.thread_id = $1 AND jobs.id = $2 "
        "RETURNING previous_head, previous_candidate",
        job.thread_id,
        job.id,
    )
    if row is not None:
        job.previous_head, job.previous_candidate = row[0], row[1]
    await _move_head(conn, job.thread_id, job.id, 0, job.result_image, now)


async def _move_head(
    conn: Connection,
    thread_id: int,
    job_id: str,
    candidate: int,
    image: str | None,
    now: float,
) -> None:
    await conn.execute(
        "UPDATE conversations SET head_job = $1, head_candidate = $2, last_image = $3, "
        "updated_at = $4 WHERE thread_id = $5",
        job_id,
        candidate,
        image,
        now,
        thread_id,
    )


async def _images(conn: Connection, digests: set[str]) -> dict[str, Media]:
    if not digests:
        return {}
    rows = await conn.fetch(
        "SELECT sha256, mime_type, data FROM images WHERE sha256 = ANY($1::text[])", list(digests)
    )
    return {row[0]: _media(row) for row in rows}


def _media(row: asyncpg.Record) -> Media:
    """A stored image (its sha256 is the key it was read by)."""
    return Media.stored(bytes(row[2]), row[1], row[0])
