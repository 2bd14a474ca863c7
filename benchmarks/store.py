"""4. Store: SQLiteStore with 100,000 conversations and 500,000 turns (quick: 10,000 / 50,000),
and the same data in PostgresStore when a PostgreSQL server is at hand.

Building the database through the public API would take most of an hour, so it is seeded
in bulk: the schema comes from `SQLiteStore.open` (the real migrations), then one plain
sqlite3 transaction (journal off, synchronous off) inserts rows shaped exactly like the
store's own: turn contents are real google-genai `Content`s passed through
`bot.store.codec.dehydrate`, job requests are real `JobRequest` JSON, each conversation is a
chain of jobs (`parent_job`) with its `head_job`.

The data mix, in time order (turn ids grow with time, conversations interleave):
- 2.5 exchanges (user + model turn) per conversation on average, a long tail up to 40;
- each model turn has one new image (3% of exchanges are blocked: a user turn only);
- 30% of /imagine turns attach an upload from a shared pool (popular images, Zipf-like);
  12% of refinements re-send the conversation's current image, 8% attach a pool image;
- image blobs are random bytes of 2 KB (stand-ins: real results are ~1.5 MB, which at this
  scale would need ~400 GB); one extra measurement uses real-sized images.

Measured: the time to load a conversation's latest state (`get_conversation` + `history`
with the default limits), insert rates through the public API, the database size against
the unique image bytes (the dedup), and start-up times on the big database.

PostgreSQL: the server named by TEST_DATABASE_URL, else a throw-away one from
`.ci/postgres` when PostgreSQL's server binaries are installed (else this part is skipped).
A database of its own gets the real schema from `PostgresStore.open`, then the seeded
SQLite rows by COPY; measured are the latest-state load over the same conversations and the
job write path. The throw-away server runs without fsync (as the SQLite file runs with
synchronous=NORMAL): both measure the stores, not the disk.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from google.genai import types

from benchmarks.harness import (
    MB,
    BenchResult,
    Json,
    Target,
    bot_running,
    bot_settings,
    fakes_running,
    percentile,
    progress,
    summary,
)
from bot.jobs.records import _JOB_ID_ALPHABET, Basis, Job, JobRequest, JobState
from bot.media import Media, sha256_hex
from bot.store import Exchange as StoredExchange
from bot.store import HistoryLimits, Outcome, PostgresStore, SQLiteStore, Store
from bot.store.codec import dehydrate
from tests.postgres import create_database, drop_database, server_url

NAME = "store"
MODEL = "gemini-3.1-flash-image"
GUILD = 1_000_000_000_000_000
CHANNEL = 2_000_000_000_000_000
THREAD_BASE = 3_000_000_000_000_000
CONCURRENT_WRITERS = 50
REAL_IMAGE_BYTES = 1_500_000
BLOCKED_SHARE = 0.03


@dataclass(frozen=True)
class Scale:
    conversations: int
    turns: int
    pool_images: int
    image_bytes: int
    lookups: int
    inserts: int


FULL = Scale(100_000, 500_000, 2_000, 2048, lookups=3000, inserts=1000)
QUICK = Scale(10_000, 50_000, 500, 2048, lookups=500, inserts=200)


# --------------------------------------------------------------------------- realistic rows


def _signature(rng: random.Random) -> bytes:
    return rng.randbytes(512)  # thought signatures are opaque bytes, hundreds of bytes long


def user_content(prompt: str, images: list[bytes]) -> types.Content:
    parts = [types.Part.from_bytes(data=data, mime_type="image/png") for data in images]
    parts.append(types.Part.from_text(text=prompt))
    return types.Content(role="user", parts=parts)


def model_content(image: bytes, rng: random.Random) -> types.Content:
    return types.Content(
        role="model",
        parts=[
            types.Part(text="Here is your image.", thought_signature=_signature(rng)),
            types.Part(
                inline_data=types.Blob(mime_type="image/png", data=image),
                thought_signature=_signature(rng),
            ),
        ],
    )


@dataclass
class Exchange:
    conversation: int
    index: int  # 0: the /imagine, then refinements
    at: float
    uploads: list[int]  # image numbers the user turn carries
    result: int | None  # the model's image number; None: blocked


class Seeder:
    """Generates the data set and writes it with plain sqlite3, in one transaction."""

    def __init__(self, scale: Scale, seed: int = 6) -> None:
        self.scale = scale
        self.rng = random.Random(seed)
        self.image_count = scale.pool_images  # numbers below this are the shared pool
        self.exchanges = self._plan()
        self.references = 0  # image references from turns (what storing per turn would cost)

    def _exchange_counts(self) -> list[int]:
        scale, rng = self.scale, self.rng
        total = round(scale.turns / (2 - BLOCKED_SHARE))  # a blocked exchange has one turn
        counts = [min(40, 1 + int(rng.expovariate(1 / 1.5))) for _ in range(scale.conversations)]
        while (diff := total - sum(counts)) != 0:
            index = rng.randrange(scale.conversations)
            if diff > 0:
                counts[index] += 1
            elif counts[index] > 1:
                counts[index] -= 1
        return counts

    def _pool_pick(self) -> int:
        # Zipf-like: a few popular uploads are shared very often.
        return min(self.scale.pool_images - 1, int(self.rng.paretovariate(1.1)) - 1)

    def _plan(self) -> list[Exchange]:
        rng = self.rng
        exchanges: list[Exchange] = []
        span = 90 * 86400.0  # the retention window
        for conversation, count in enumerate(self._exchange_counts()):
            at = rng.uniform(0, span)
            current: int | None = None
            for index in range(count):
                uploads: list[int] = []
                roll = rng.random()
                if index == 0 and roll < 0.30:
                    uploads.append(self._pool_pick())
                elif index > 0 and roll < 0.12 and current is not None:
                    uploads.append(current)
                elif index > 0 and roll < 0.20:
                    uploads.append(self._pool_pick())
                result: int | None = None
                if rng.random() >= BLOCKED_SHARE:
                    result = self.image_count
                    self.image_count += 1
                    current = result
                exchanges.append(Exchange(conversation, index, at, uploads, result))
                at += rng.uniform(20, 600)
        exchanges.sort(key=lambda e: e.at)
        return exchanges

    def image_bytes(self, number: int) -> bytes:
        # Deterministic per number, so the same image always has the same sha256.
        return random.Random(number * 7919 + 13).randbytes(self.scale.image_bytes)

    def write(self, path: Path) -> Json:
        started = time.perf_counter()
        db = sqlite3.connect(path, isolation_level=None)
        try:
            for pragma in (
                "PRAGMA journal_mode=OFF",
                "PRAGMA synchronous=OFF",
                "PRAGMA cache_size=-262144",
                "PRAGMA foreign_keys=OFF",
            ):
                db.execute(pragma)
            db.execute("BEGIN")
            digests = self._write_images(db)
            rows = self._write_turns(db, digests)
            db.execute("COMMIT")
            db.execute("PRAGMA journal_mode=WAL")
        finally:
            db.close()
        elapsed = time.perf_counter() - started
        return {
            "seconds": round(elapsed, 2),
            "rows": rows,
            "rows_per_s": round(sum(rows.values()) / elapsed),
            "method": "sqlite3, one transaction, journal_mode=OFF, synchronous=OFF, "
            "256 MB cache, executemany per table, rows generated in time order",
        }

    def _write_images(self, db: sqlite3.Connection) -> list[str]:
        digests: list[str] = []

        def rows() -> Iterator[tuple[Any, ...]]:
            for number in range(self.image_count):
                data = self.image_bytes(number)
                digest = sha256_hex(data)
                digests.append(digest)
                yield (digest, "image/png", len(data), data, 0.0)

        db.executemany(
            "INSERT INTO images (sha256, mime_type, size, data, created_at) VALUES (?, ?, ?, ?, ?)",
            rows(),
        )
        return digests

    def _write_turns(self, db: sqlite3.Connection, digests: list[str]) -> dict[str, int]:
        rng = self.rng
        templates = _Templates(rng)
        turns: list[tuple[Any, ...]] = []
        job_images: list[tuple[str, str]] = []  # every image a job's turns use
        jobs: list[tuple[Any, ...]] = []
        heads: dict[int, tuple[str, str, float, float]] = {}  # thread -> job, image, times
        turn_id = 0
        for number, exchange in enumerate(self.exchanges):
            thread_id = THREAD_BASE + exchange.conversation
            job = job_id(number)
            head = heads.get(thread_id)
            upload_digests = [digests[n] for n in exchange.uploads]
            result_digest = None
            if exchange.result is not None:  # a blocked job keeps no exchange
                result_digest = digests[exchange.result]
                turn_id += 1
                json_text, refs = templates.user(exchange.index, upload_digests)
                size = self.scale.image_bytes
                turns.append(
                    (turn_id, job, "user", json_text, refs, len(upload_digests),
                     size * len(upload_digests), exchange.at)
                )  # fmt: skip
                turn_id += 1
                turns.append(
                    (turn_id, job, "model", templates.model_json,
                     json.dumps({"1": result_digest}), 1, size, exchange.at + 9)
                )  # fmt: skip
            used = dict.fromkeys([*upload_digests, *([result_digest] if result_digest else [])])
            job_images.extend((job, digest) for digest in used)
            self.references += len(upload_digests) + (result_digest is not None)
            request = JobRequest(
                prompt=templates.prompt(exchange.index),
                model=MODEL,
                input_images=tuple(upload_digests),
                workflow="imagine",
                basis=Basis.NEW if exchange.index == 0 else Basis.CONVERSATION,
            ).model_dump_json()
            state = JobState.DELIVERED if result_digest else JobState.BLOCKED
            kind = "imagine" if exchange.index == 0 else "refine"
            owner = 42 + exchange.conversation % 5000
            channel = thread_id if exchange.index else CHANNEL
            outputs = json.dumps([result_digest] if result_digest else [])
            jobs.append(
                (job, kind, state.value, owner, GUILD, channel, thread_id,
                 thread_id + number + 1, request, 0.067, exchange.at, exchange.at + 1,
                 exchange.at + 9, exchange.at + 9, result_digest, outputs,
                 head[0] if head else None)
            )  # fmt: skip
            if result_digest:
                created = head[2] if head else exchange.at
                heads[thread_id] = (job, result_digest, created, exchange.at + 9)
        db.executemany(
            "INSERT INTO job_turns (id, job_id, role, content, image_refs, image_count, "
            "image_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            turns,
        )
        db.executemany(
            "INSERT INTO jobs (id, kind, state, user_id, guild_id, channel_id, thread_id, "
            "message_id, request, cost_usd, created_at, started_at, finished_at, shown_at, "
            "result_image, outputs, parent_job) VALUES (" + ", ".join("?" * 17) + ")",
            jobs,
        )
        db.executemany("INSERT INTO job_images (job_id, sha256) VALUES (?, ?)", job_images)
        db.executemany(
            "INSERT INTO conversations (thread_id, guild_id, channel_id, owner_id, workflow, "
            "model, aspect_ratio, image_size, head_job, last_image, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'imagine', ?, NULL, NULL, ?, ?, ?, ?)",
            [
                (
                    thread,
                    GUILD,
                    CHANNEL,
                    42 + (thread - THREAD_BASE) % 5000,
                    MODEL,
                    job,
                    image,
                    c,
                    u,
                )
                for thread, (job, image, c, u) in heads.items()
            ],
        )
        return {
            "images": self.image_count,
            "turns": len(turns),
            "job_images": len(job_images),
            "jobs": len(jobs),
            "conversations": len(heads),
        }


class _Templates:
    """Dehydrated JSON of real Contents (the same text for turns that differ only in images)."""

    PROMPTS = (
        "a lighthouse in a storm, oil painting, dramatic light",
        "make it night-time",
        "add a red scarf to the person on the left",
        "change the style to watercolour",
        "zoom out a little and add more sky",
    )

    def __init__(self, rng: random.Random) -> None:
        placeholder = b"\x89PNG placeholder"
        self.model_json = dehydrate(model_content(placeholder, rng)).json
        self._user: dict[tuple[int, int], str] = {}
        self._placeholder = placeholder

    def prompt(self, index: int) -> str:
        return self.PROMPTS[0] if index == 0 else self.PROMPTS[1 + index % 4]

    def user(self, index: int, digests: list[str]) -> tuple[str, str]:
        key = (0 if index == 0 else 1 + index % 4, len(digests))
        if key not in self._user:
            content = user_content(self.prompt(index), [self._placeholder] * len(digests))
            self._user[key] = dehydrate(content).json
        refs = json.dumps({str(i): d for i, d in enumerate(digests)})
        return self._user[key], refs


# --------------------------------------------------------------------------- measurements


def job_id(number: int) -> str:
    """The number as a job id of the bot's own format (8 characters of its alphabet)."""
    digits = []
    for _ in range(8):
        number, digit = divmod(number, len(_JOB_ID_ALPHABET))
        digits.append(_JOB_ID_ALPHABET[digit])
    return "".join(reversed(digits))


def _new_job(number: int, thread_id: int) -> Job:
    return Job(
        id=job_id(10**9 + number),
        kind="refine",
        user_id=42,
        guild_id=GUILD,
        channel_id=thread_id,
        thread_id=thread_id,
        request=JobRequest(prompt="make it night-time", model=MODEL, basis=Basis.CONVERSATION),
    )


LIMITS = HistoryLimits(max_turns=10, max_images=14, max_bytes=12 * MB)  # the defaults


async def latest_state(store: Store, thread_ids: list[int]) -> tuple[list[float], Json]:
    times: list[float] = []
    exchanges: list[int] = []
    for thread_id in thread_ids:
        started = time.perf_counter()
        conversation = await store.get_conversation(thread_id)
        assert conversation is not None
        assert conversation.head_job is not None
        history = await store.history(conversation.head_job, LIMITS)
        times.append(time.perf_counter() - started)
        exchanges.append(len(history) // 2)
    return times, {
        "exchanges_returned_mean": round(sum(exchanges) / len(exchanges), 2),
        "exchanges_returned_max": max(exchanges),
    }


async def _run_job(
    store: Store, job: Job, user: types.Content, model: types.Content, parent: str | None
) -> None:
    """The store's part of one job: accepted, claimed, its outcome kept, marked posted."""
    await store.add_job(job)
    claimed = await store.claim_next(max_running=10**6, max_per_user=10**6)
    assert claimed is not None
    image = model.parts[-1].inline_data if model.parts else None
    assert image is not None
    assert image.data is not None
    outcome = Outcome(
        JobState.DELIVERED,
        parent_job=parent,
        outputs=[Media(image.data, "image/png")],
        exchanges=[StoredExchange(dehydrate(user), dehydrate(model))],
    )
    assert await store.finish(claimed.id, outcome) is not None
    await store.mark_shown(claimed.id, message_id=1, channel_id=job.channel_id)


async def _insert_rates(store: Store, count: int, image_bytes: int, first: int = 0) -> Json:
    """The store's whole write path per job (add, claim, finish), sequential and concurrent
    (claims are serialised by the store; that is the point). Job numbers `first` onwards."""
    rng = random.Random(7)
    thread_id = THREAD_BASE + 10_000_000

    def exchange() -> tuple[types.Content, types.Content]:
        return user_content("make it night-time", []), model_content(os.urandom(image_bytes), rng)

    jobs = [_new_job(first + n, thread_id) for n in range(count)]
    contents = [exchange() for _ in jobs]
    started = time.perf_counter()
    for job, (user, model) in zip(jobs, contents, strict=True):
        await _run_job(store, job, user, model, None)
    sequential_s = time.perf_counter() - started

    jobs = [_new_job(first + count + n, thread_id) for n in range(count)]
    contents = [exchange() for _ in jobs]
    gate = asyncio.Semaphore(CONCURRENT_WRITERS)

    async def gated(job: Job, user: types.Content, model: types.Content) -> None:
        async with gate:
            await _run_job(store, job, user, model, None)

    started = time.perf_counter()
    await asyncio.gather(*(gated(job, u, m) for job, (u, m) in zip(jobs, contents, strict=True)))
    concurrent_s = time.perf_counter() - started
    return {
        "image_bytes": image_bytes,
        "turns_per_s_sequential": round(2 * count / sequential_s, 1),
        "job_lifecycle_per_s_sequential": round(count / sequential_s, 1),
        "job_lifecycle_per_s_concurrent": round(count / concurrent_s, 1),
        "count": count,
        "concurrent_writers": CONCURRENT_WRITERS,
    }


async def _realistic_history(store: Store, runs: int) -> Json:
    """A conversation of 12 exchanges with real-sized (1.5 MB) images: latest-state load."""
    rng = random.Random(8)
    thread_id = THREAD_BASE + 20_000_000
    parent = None
    for n in range(12):
        job = _new_job(900_000 + n, thread_id)
        model = model_content(os.urandom(REAL_IMAGE_BYTES), rng)
        await _run_job(store, job, user_content("again", []), model, parent)
        parent = job.id
    assert parent is not None
    times: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        history = await store.history(parent, LIMITS)
        times.append(time.perf_counter() - started)
    return {"latest_state_ms": summary(times, 1000), "exchanges_returned": len(history) // 2}


# --------------------------------------------------------------------------- PostgreSQL

REPO = Path(__file__).resolve().parent.parent
# Referenced tables before the tables referring to them.
COPY_ORDER = ("images", "jobs", "conversations", "job_turns", "job_images")


@asynccontextmanager
async def postgres_server() -> AsyncIterator[str | None]:
    """TEST_DATABASE_URL, else a throw-away server for the run; None when there is none."""
    if (url := server_url()) is not None:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
        script = str(REPO / ".ci" / "postgres")
        started = await asyncio.create_subprocess_exec(
            script, "start", tmp, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await started.communicate()
        if started.returncode != 0:
            progress(f"no PostgreSQL: {err.decode().strip() or 'cannot start one'}")
            yield None
            return
        try:
            yield out.decode().strip().removeprefix("export TEST_DATABASE_URL=")
        finally:
            stopped = await asyncio.create_subprocess_exec(script, "stop", tmp)
            await stopped.wait()


async def _copy_to_postgres(path: Path, url: str) -> Json:
    """The seeded SQLite rows into the PostgreSQL schema, by COPY, in chunks."""
    started = time.perf_counter()
    db = sqlite3.connect(path)
    conn = await asyncpg.connect(url)
    rows: dict[str, int] = {}
    try:
        for table in COPY_ORDER:
            wanted = await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
                "AND table_schema = current_schema() ORDER BY ordinal_position",
                table,
            )
            present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            columns = [row[0] for row in wanted if row[0] in present]
            cursor = db.execute(f"SELECT {', '.join(columns)} FROM {table}")
            rows[table] = 0
            while chunk := cursor.fetchmany(20_000):
                await conn.copy_records_to_table(table, records=chunk, columns=columns)
                rows[table] += len(chunk)
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('job_turns', 'id'), MAX(id)) FROM job_turns"
        )
        await conn.execute("ANALYZE")
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
        db.close()
    elapsed = time.perf_counter() - started
    return {"seconds": round(elapsed, 2), "rows": rows, "db_bytes": size}


async def _postgres(path: Path, scale: Scale, threads: list[int], quick: bool) -> Json | None:
    """Latest state and the job write path on PostgreSQL, on the same data as SQLite."""
    async with postgres_server() as server:
        if server is None:
            return None
        url = await create_database(server)
        try:
            store = await PostgresStore.open(url)  # the schema, by the real migrations
            progress("copying the seeded rows to PostgreSQL")
            copied = await _copy_to_postgres(path, url)
            progress(f"copied in {copied['seconds']} s; measuring PostgreSQL")
            try:
                await latest_state(store, threads[:100])  # warm-up
                times, lookup_info = await latest_state(store, threads)
                # Job numbers past those of the SQLite run, whose jobs were copied too.
                writes = await _insert_rates(
                    store, scale.inserts, scale.image_bytes, first=3 * scale.inserts
                )
                real = await _insert_rates(
                    store, 6 if quick else 50, REAL_IMAGE_BYTES, first=5 * scale.inserts
                )
                opens = []
                for _ in range(3):
                    started = time.perf_counter()
                    again = await PostgresStore.open(url)
                    opens.append(time.perf_counter() - started)
                    await again.close()
            finally:
                await store.close()
        finally:
            await drop_database(server, url)
    return {
        "copy": copied,
        "latest_state_ms": summary(times, 1000),
        "latest_state": lookup_info,
        "insert_small_images": writes,
        "insert_real_images": real,
        "store_open_ms": summary(opens, 1000),
        "server": "TEST_DATABASE_URL" if server_url() else ".ci/postgres (fsync off)",
    }


def _file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def _sizes(path: Path) -> Json:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        unique = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM images").fetchone()
        referenced = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(i.size), 0) FROM job_images t "
            "JOIN images i ON i.sha256 = t.sha256"
        ).fetchone()
        tables = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
    image_tables = tables.get("images", 0) + tables.get("sqlite_autoindex_images_1", 0)
    return {
        "db_bytes": _file_bytes(path),
        "bytes_by_table": dict(sorted(tables.items(), key=lambda item: -item[1])),
        "image_table_bytes": image_tables,
        "non_image_bytes": sum(tables.values()) - image_tables,
        "unique_images": unique[0],
        "unique_image_bytes": unique[1],
        "image_references": referenced[0],
        "referenced_image_bytes": referenced[1],
    }


async def run(quick: bool) -> BenchResult:
    scale = QUICK if quick else FULL
    result = BenchResult(NAME, quick)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        path = Path(tmp) / "big.sqlite3"
        store = await SQLiteStore.open(path)  # the schema, by the real migrations
        await store.close()
        progress(f"seeding {scale.conversations:,} conversations / {scale.turns:,} turns")
        seeder = Seeder(scale)
        seeding = await asyncio.to_thread(seeder.write, path)
        progress(f"seeded in {seeding['seconds']} s; measuring")
        sizes = await asyncio.to_thread(_sizes, path)

        opens = []
        for _ in range(3 if quick else 5):
            started = time.perf_counter()
            store = await SQLiteStore.open(path)
            opens.append(time.perf_counter() - started)
            await store.close()

        store = await SQLiteStore.open(path)
        try:
            rng = random.Random(9)
            # Conversations whose every exchange was blocked have no image to continue from,
            # so no conversation row: they are never looked up.
            answered = sorted({e.conversation for e in seeder.exchanges if e.result is not None})
            threads = [THREAD_BASE + rng.choice(answered) for _ in range(100)]
            await latest_state(store, threads)  # warm-up
            threads = [THREAD_BASE + rng.choice(answered) for _ in range(scale.lookups)]
            times, lookup_info = await latest_state(store, threads)
            long_threads = [
                THREAD_BASE + e.conversation for e in seeder.exchanges if e.index >= 10
            ][: scale.lookups]
            long_times, long_info = await latest_state(store, long_threads)
            progress("insert rates")
            small = await _insert_rates(store, scale.inserts, scale.image_bytes)
            real = await _insert_rates(
                store, 6 if quick else 50, REAL_IMAGE_BYTES, first=2 * scale.inserts
            )
            progress("history with real-sized images")
            realistic = await _realistic_history(store, 10 if quick else 100)
        finally:
            await store.close()

        postgres = await _postgres(path, scale, threads, quick)

        progress("bot start-up on the big database")
        startups: list[float] = []
        empty_startups: list[float] = []
        async with fakes_running() as fakes:
            assert fakes.info is not None
            for db_path, sink in ((path, startups), (Path(tmp) / "empty.sqlite3", empty_startups)):
                for _ in range(1 if quick else 3):
                    async with bot_running(fakes, bot_settings(fakes.info, db_path)) as running:
                        sink.append(running.started_s)

    latest = summary(times, 1000)
    result.add("latest state load p50", latest["p50"], "ms", Target("<", 1.0))
    result.add("latest state load p99", latest["p99"], "ms")
    result.add(
        "latest state load p50, 10+ exchanges",
        summary(long_times, 1000)["p50"],
        "ms",
        note="conversations long enough to fill the history limit",
    )
    result.add(
        "latest state load p50, 1.5 MB images",
        realistic["latest_state_ms"]["p50"],
        "ms",
        note=f"{realistic['exchanges_returned']} exchanges of real-sized images fit the budget",
    )
    result.add("turns written (2 KB images)", small["turns_per_s_sequential"], "turns/s")
    result.add("turns written (1.5 MB images)", real["turns_per_s_sequential"], "turns/s")
    result.add(
        f"job write path, {CONCURRENT_WRITERS} concurrent",
        small["job_lifecycle_per_s_concurrent"],
        "jobs/s",
        note="add_job + claim_next + finish + mark_shown per job",
    )
    result.add("bulk seeding rate", seeding["rows_per_s"], "rows/s")
    result.add("database size", sizes["db_bytes"] / MB, "MB")
    result.add(
        "database / unique image bytes",
        round(sizes["db_bytes"] / max(1, sizes["unique_image_bytes"]), 3),
        "x",
        note=f"{scale.image_bytes} B stand-in images; 1.0 would be images only",
    )
    real_images = sizes["unique_images"] * REAL_IMAGE_BYTES
    result.add(
        "database / unique image bytes, 1.5 MB images",
        round((real_images * 1.001 + sizes["non_image_bytes"]) / real_images, 3),
        "x",
        note="projected: same rows, real-sized images (overflow pages waste ~0.1%)",
    )
    result.add(
        "non-image bytes per turn",
        round(sizes["non_image_bytes"] / seeding["rows"]["turns"]),
        "B",
        note="turn JSON (thought signatures), jobs, indexes",
    )
    result.add(
        "image bytes saved by dedup",
        round(100 * (1 - sizes["unique_image_bytes"] / max(1, sizes["referenced_image_bytes"])), 1),
        "%",
    )
    result.add("SQLiteStore.open on the big DB", percentile(opens, 50) * 1000, "ms")
    if postgres is not None:
        result.add("PostgreSQL: latest state load p50", postgres["latest_state_ms"]["p50"], "ms")
        result.add("PostgreSQL: latest state load p99", postgres["latest_state_ms"]["p99"], "ms")
        result.add(
            "PostgreSQL: turns written (2 KB images)",
            postgres["insert_small_images"]["turns_per_s_sequential"],
            "turns/s",
        )
        result.add(
            "PostgreSQL: turns written (1.5 MB images)",
            postgres["insert_real_images"]["turns_per_s_sequential"],
            "turns/s",
        )
        result.add(
            f"PostgreSQL: job write path, {CONCURRENT_WRITERS} concurrent",
            postgres["insert_small_images"]["job_lifecycle_per_s_concurrent"],
            "jobs/s",
            note="add_job + claim_next + finish + mark_shown per job, one process, a pool of 10",
        )
        result.add("PostgreSQL: database size", postgres["copy"]["db_bytes"] / MB, "MB")
        result.add("PostgresStore.open", postgres["store_open_ms"]["p50"], "ms")
    result.add("bot start-up to ready, big DB", percentile(startups, 50) * 1000, "ms")
    result.add("bot start-up to ready, empty DB", percentile(empty_startups, 50) * 1000, "ms")
    result.details = {
        "scale": scale.__dict__,
        "seeding": seeding,
        "sizes": sizes,
        "latest_state_ms": latest,
        "latest_state": lookup_info,
        "latest_state_long_ms": summary(long_times, 1000),
        "latest_state_long": long_info,
        "latest_state_real_images": realistic,
        "insert_small_images": small,
        "insert_real_images": real,
        "store_open_ms": summary(opens, 1000),
        "bot_startup_big_db_ms": summary(startups, 1000),
        "bot_startup_empty_db_ms": summary(empty_startups, 1000),
        "postgres": postgres,
    }
    return result
