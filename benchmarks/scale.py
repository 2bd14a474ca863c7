"""8. Scale: PostgresStore with 1,000,000 conversations (quick: 20,000), and the job queue
worked by two processes against one.

Seeding: one conversation is made through the store's public API (an /imagine and a
refinement, each with its user and model turn and an image, the thread opened as the bot
opens it); PostgreSQL then copies its rows with `generate_series`, each copy with its own
ids, thread, time and images (a pool of distinct 2 KB images: many conversations share
one, as popular uploads do). Measured: the latest state of random conversations
(`get_conversation` + `history`, what every message in a thread needs), p50 and p99.

Jobs per second: a queue of accepted jobs (servers spread over two shards) worked by one
process serving every shard, then by two processes serving shard 0 and shard 1 of 2,
each with its own connection pool and `JOBS_AT_ONCE` jobs in flight. A job's store work is
all of it here: claimed (`claim_next` with its shards and owner), finished with its image
and exchange, marked shown; Gemini's and Discord's time is left out, so this is the most
jobs the shared store lets the processes complete, whatever they run on.

PostgreSQL: TEST_DATABASE_URL's server, else a throw-away one from `.ci/postgres` (without
fsync), else the benchmark is skipped.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import time
from typing import Any

import asyncpg

from benchmarks.harness import BenchResult, Json, Target, percentile, progress, summary
from benchmarks.store import (
    MODEL,
    latest_state,
    model_content,
    postgres_server,
    user_content,
)
from bot.jobs.records import Basis, Conversation, Job, JobRequest, JobState
from bot.jobs.shards import ALL_SHARDS, Shards
from bot.media import Media, sha256_hex
from bot.store import Exchange, Outcome, PostgresStore
from bot.store.codec import dehydrate
from tests.postgres import create_database, drop_database

NAME = "scale"
FULL_CONVERSATIONS, QUICK_CONVERSATIONS = 1_000_000, 20_000
IMAGE_POOL = 10_000  # distinct images the copies use
BATCH = 50_000  # conversations per INSERT … SELECT
LOOKUPS, QUICK_LOOKUPS = 2_000, 300
QUEUE, QUICK_QUEUE = 4_000, 600  # jobs worked per run
JOBS_AT_ONCE = 16  # in flight per process (the bot runs many at once; they mostly wait)
GUILD_ON = (6 << 22, 7 << 22)  # servers on shard 0 and shard 1 of 2
TEMPLATE_THREAD = 10**15
IMAGE_BYTES = 2048


def _template_jobs() -> tuple[Job, Job]:
    imagine = Job(
        id="tmpl0001",
        kind="imagine",
        user_id=42,
        guild_id=GUILD_ON[0],
        channel_id=9,
        request=JobRequest(prompt="a lighthouse at dawn", model=MODEL),
    )
    refine = Job(
        id="tmpl0002",
        kind="refine",
        user_id=42,
        guild_id=GUILD_ON[0],
        channel_id=TEMPLATE_THREAD,
        thread_id=TEMPLATE_THREAD,
        request=JobRequest(prompt="make it night-time", model=MODEL, basis=Basis.CONVERSATION),
    )
    return imagine, refine


def _delivered(prompt: str, image: bytes, rng: random.Random, parent: str | None = None) -> Outcome:
    """A delivered job's outcome: its image, and its exchange to keep as history."""
    model = dehydrate(model_content(image, rng))
    exchange = Exchange(dehydrate(user_content(prompt, [])), model)
    return Outcome(
        JobState.DELIVERED,
        parent_job=parent,
        outputs=[Media(image, "image/png")],
        exchanges=[exchange],
    )


async def _make_template(store: PostgresStore) -> tuple[str, str]:
    """The conversation every copy is made from, through the public API; its images."""
    rng = random.Random(8)
    images = (rng.randbytes(IMAGE_BYTES), rng.randbytes(IMAGE_BYTES))
    imagine, refine = _template_jobs()
    parent = None
    for job, image, prompt in zip(
        (imagine, refine), images, ("a lighthouse", "at night"), strict=True
    ):
        await store.add_job(job)
        claimed = await store.claim_next(max_running=10, max_per_user=10)
        assert claimed is not None
        assert claimed.id == job.id
        assert await store.finish(job.id, _delivered(prompt, image, rng, parent)) is not None
        await store.mark_shown(job.id, 1, 9, thread_wanted=parent is None)
        if parent is None:  # its thread opened
            conversation = Conversation(
                thread_id=TEMPLATE_THREAD,
                guild_id=job.guild_id,
                channel_id=9,
                owner_id=42,
                workflow=job.request.workflow,
                model=MODEL,
            )
            await store.open_conversation(conversation, job.id)
        parent = job.id
    made = await store.get_conversation(TEMPLATE_THREAD)
    assert made is not None
    assert made.head_job == refine.id
    return sha256_hex(images[0]), sha256_hex(images[1])


async def _columns(conn: asyncpg.Connection, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
        "AND table_schema = current_schema() AND is_identity = 'NO' ORDER BY ordinal_position",
        table,
    )
    return [row[0] for row in rows]


def _copy_sql(table: str, columns: list[str], overrides: dict[str, str], where: str) -> str:
    """INSERT … SELECT of the template's rows once per `i` of the batch."""
    values = ", ".join(overrides.get(column, f"t.{column}") for column in columns)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} "
        f"FROM generate_series($1::bigint, $2::bigint) AS i CROSS JOIN {table} t "
        f"WHERE {where} ORDER BY i{', t.id' if table == 'job_turns' else ''}"
    )


async def _seed(url: str, conversations: int, digests: tuple[str, str]) -> Json:
    """Copies of the template conversation, by SQL alone."""
    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO images (sha256, mime_type, size, data, created_at) "
            "SELECT encode(sha256(('pool' || i)::bytea), 'hex'), 'image/png', $2, "
            "decode(repeat(md5(i::text), $2 / 16), 'hex'), 0 FROM generate_series(1, $1) i",
            IMAGE_POOL,
            IMAGE_BYTES,
        )
        # Each copy's two images: pool images chosen by its number.
        first = f"encode(sha256(('pool' || (1 + (2 * i) % {IMAGE_POOL}))::bytea), 'hex')"
        second = f"encode(sha256(('pool' || (1 + (2 * i + 1) % {IMAGE_POOL}))::bytea), 'hex')"
        swap = f"replace(replace({{}}, '{digests[0]}', {first}), '{digests[1]}', {second})"
        job_id = "('c' || i || substr(t.id, 8))"  # tmpl0001 -> c<i>1, tmpl0002 -> c<i>2
        thread = f"({TEMPLATE_THREAD} + i)"
        # Older copies earlier, half a second apart.
        at = f"(t.{{}} - ({conversations} - i) * 0.5)"
        statements = [
            _copy_sql(
                "jobs",
                await _columns(conn, "jobs"),
                {
                    "id": job_id,
                    "guild_id": "((i % 1000) << 22)",
                    "thread_id": f"CASE WHEN t.thread_id IS NULL THEN NULL ELSE {thread} END",
                    "channel_id": thread,
                    "parent_job": "CASE WHEN t.parent_job IS NULL THEN NULL "
                    "ELSE 'c' || i || '1' END",
                    "outputs": swap.format("t.outputs"),
                    "result_image": swap.format("t.result_image"),
                    "created_at": at.format("created_at"),
                    "finished_at": at.format("finished_at"),
                    "charged_at": at.format("charged_at"),
                    "seq": "NULL",
                },
                "t.id LIKE 'tmpl%'",
            ),
            _copy_sql(
                "job_images",
                await _columns(conn, "job_images"),
                {"job_id": job_id.replace("t.id", "t.job_id"), "sha256": swap.format("t.sha256")},
                "t.job_id LIKE 'tmpl%'",
            ),
            _copy_sql(
                "job_turns",
                await _columns(conn, "job_turns"),
                {
                    "job_id": job_id.replace("t.id", "t.job_id"),
                    "image_refs": swap.format("t.image_refs"),
                },
                "t.job_id LIKE 'tmpl%'",
            ),
            _copy_sql(
                "conversations",
                await _columns(conn, "conversations"),
                {
                    "thread_id": thread,
                    "guild_id": "((i % 1000) << 22)",
                    "head_job": "'c' || i || '2'",
                    "last_image": second,
                    "created_at": at.format("created_at"),
                    "updated_at": at.format("updated_at"),
                },
                f"t.thread_id = {TEMPLATE_THREAD}",
            ),
        ]
        for low in range(1, conversations + 1, BATCH):
            high = min(conversations, low + BATCH - 1)
            async with conn.transaction():
                for sql in statements:
                    await conn.execute(sql, low, high)
            progress(f"seeded {high:,} of {conversations:,} conversations")
        await conn.execute("ANALYZE")
        counts = {
            table: await conn.fetchval(f"SELECT COUNT(*) FROM {table}")
            for table in ("conversations", "jobs", "job_turns", "images")
        }
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return {"seconds": round(time.perf_counter() - started, 1), "rows": counts, "db_bytes": size}


# Jobs per second ---------------------------------------------------------------------------


async def _queue_jobs(url: str, count: int, prefix: str) -> None:
    """`count` accepted jobs, in line, their servers spread over both shards."""
    conn = await asyncpg.connect(url)
    try:
        request = JobRequest(prompt="a lighthouse", model=MODEL).model_dump_json()
        await conn.execute(
            "INSERT INTO jobs (id, kind, state, user_id, guild_id, channel_id, request, seq, "
            "created_at, charged_at) SELECT $4 || i, 'imagine', 'queued', i, "
            f"({GUILD_ON[0]} + (i % 2) * (1 << 22)), 9, $2, nextval('job_seq'), $3, $3 "
            "FROM generate_series(1, $1) i",
            count,
            request,
            time.time(),
            prefix,
        )
    finally:
        await conn.close()


async def _work(url: str, owner: str, shards: Shards, start_at: float) -> tuple[int, float]:
    """Claim and finish jobs of `shards` until none is left; (jobs done, seconds)."""
    store = await PostgresStore.open(url)
    rng = random.Random(owner)
    done = 0
    try:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        started = time.perf_counter()

        async def worker() -> None:
            nonlocal done
            while job := await store.claim_next(
                max_running=10**6, max_per_user=10**6, owner=owner, shards=shards
            ):
                outcome = _delivered(job.request.prompt, os.urandom(IMAGE_BYTES), rng)
                assert await store.finish(job.id, outcome) is not None
                await store.mark_shown(job.id, 1, job.channel_id)
                done += 1

        await asyncio.gather(*(worker() for _ in range(JOBS_AT_ONCE)))
        return done, time.perf_counter() - started
    finally:
        await store.close()


def _process(url: str, owner: str, shards: Shards, start_at: float, out: Any) -> None:
    out.put(asyncio.run(_work(url, owner, shards, start_at)))


async def _jobs_per_s(url: str, layout: list[Shards], count: int) -> Json:
    """Work a queue of `count` with one process per entry of `layout`."""
    await _queue_jobs(url, count, prefix=f"q{len(layout)}-")
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    start_at = time.time() + 3.0  # every process connected by then
    processes = [
        context.Process(target=_process, args=(url, f"p{n}", shards, start_at, out))
        for n, shards in enumerate(layout)
    ]
    for process in processes:
        process.start()
    results = [await asyncio.to_thread(out.get) for _ in processes]
    for process in processes:
        await asyncio.to_thread(process.join)
    jobs = sum(done for done, _ in results)
    seconds = max(elapsed for _, elapsed in results)
    assert jobs == count, (jobs, count)
    return {
        "processes": len(layout),
        "jobs": jobs,
        "seconds": round(seconds, 2),
        "jobs_per_s": round(jobs / seconds, 1),
        "per_process": [done for done, _ in results],
    }


async def run(quick: bool) -> BenchResult:
    result = BenchResult(NAME, quick)
    conversations = QUICK_CONVERSATIONS if quick else FULL_CONVERSATIONS
    async with postgres_server() as server:
        if server is None:
            result.details["skipped"] = "no PostgreSQL server"
            return result
        url = await create_database(server)
        try:
            store = await PostgresStore.open(url)
            try:
                digests = await _make_template(store)
                progress(f"seeding {conversations:,} conversations with generate_series")
                seeded = await _seed(url, conversations, digests)
                rng = random.Random(9)
                count = QUICK_LOOKUPS if quick else LOOKUPS
                threads = [TEMPLATE_THREAD + rng.randint(1, conversations) for _ in range(count)]
                await latest_state(store, threads[:50])  # warm-up
                times, returned = await latest_state(store, threads)
                assert returned["exchanges_returned_max"] == 2  # both of every copy
            finally:
                await store.close()
            queue = QUICK_QUEUE if quick else QUEUE
            progress(f"working {queue:,} jobs with one process, then two")
            one = await _jobs_per_s(url, [ALL_SHARDS], queue)
            two = await _jobs_per_s(url, [Shards.of(2, [0]), Shards.of(2, [1])], queue)
        finally:
            await drop_database(server, url)
    result.add(
        "latest_state_p50_ms",
        round(percentile(times, 50) * 1000, 2),
        "ms",
        Target("<", 20),
        f"get_conversation + history at {conversations:,} conversations",
    )
    result.add("latest_state_p99_ms", round(percentile(times, 99) * 1000, 2), "ms", Target("<", 50))
    result.add("jobs_per_s_one_process", one["jobs_per_s"], "jobs/s", note="store work only")
    result.add("jobs_per_s_two_processes", two["jobs_per_s"], "jobs/s", note="shards 0 and 1 of 2")
    result.details = {
        "conversations": conversations,
        "seed": seeded,
        "latest_state_ms": summary(times, 1000),
        "jobs_one_process": one,
        "jobs_two_processes": two,
        "jobs_at_once_per_process": JOBS_AT_ONCE,
        "server": "TEST_DATABASE_URL" if os.environ.get("TEST_DATABASE_URL") else ".ci/postgres",
    }
    return result
