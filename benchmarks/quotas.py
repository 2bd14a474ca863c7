"""What the quotas cost when a job is accepted: `Store.add_job` with an admission that checks
every limit (member images and spend, server and bot spend, waiting jobs, cooldown) against
a day that already holds many jobs, next to the same insert without one, and the `/usage`
read. The day's jobs are bulk-seeded (1,000 members in 10 servers, a mix of states)."""

from __future__ import annotations

import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from benchmarks.harness import BenchResult, Target, percentile, progress, summary
from bot.jobs.quotas import Admission, Limits, day_window
from bot.jobs.records import Job, JobRequest, new_job_id
from bot.store import SQLiteStore

NAME = "quotas"
MEMBERS, GUILDS = 1000, 10
LIMITS = Limits(
    member_daily_images=10**6,
    member_daily_usd=10**6,
    guild_daily_usd=10**6,
    bot_daily_usd=10**6,
    member_max_waiting=10**6,
    cooldown_s=0.001,
)
STATES = ["delivered"] * 8 + ["blocked", "failed", "cancelled"]
ACTIVE = 500  # of the seeded jobs, waiting in line (a long queue)


def _seed(path: Path, count: int, now: float) -> None:
    rng = random.Random(11)
    request = JobRequest(prompt="a lighthouse", model="gemini-3.1-flash-image").model_dump_json()
    start = day_window(now, 0).start
    rows = []
    for n in range(count):
        state = "queued" if n < ACTIVE else rng.choice(STATES)
        at = start + rng.random() * (now - start)
        outputs = json.dumps([f"{n:064x}"]) if state == "delivered" else "[]"
        rows.append(
            (
                f"s{n:07d}",
                state,
                rng.randrange(MEMBERS),
                rng.randrange(GUILDS),
                request,
                0.068 if state == "delivered" else 0.0,
                outputs,
                0.075,
                1,
                at,
                at,
                n + 1 if state == "queued" else None,
            )
        )
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO jobs (id, kind, state, user_id, guild_id, channel_id, request, "
            "cost_usd, outputs, reserved_usd, reserved_images, created_at, charged_at, seq) "
            "VALUES (?, 'imagine', ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    db.close()


def _job(user_id: int, guild_id: int) -> Job:
    return Job(
        id=new_job_id(),
        kind="imagine",
        user_id=user_id,
        guild_id=guild_id,
        channel_id=1,
        request=JobRequest(prompt="a fox", model="gemini-3.1-flash-image"),
    )


async def _accept(store: SQLiteStore, count: int, now: float, *, checked: bool) -> list[float]:
    rng = random.Random(5)
    times = []
    for n in range(count):
        user, guild = rng.randrange(MEMBERS), rng.randrange(GUILDS)
        admission = Admission(user, guild, 0.075, 1, LIMITS, day_window(now, 0), now + n)
        started = time.perf_counter()
        await store.add_job(_job(user, guild), admission=admission if checked else None)
        times.append(time.perf_counter() - started)
    return times


async def run(quick: bool) -> BenchResult:
    day_jobs = 5_000 if quick else 100_000
    samples = 100 if quick else 1000
    result = BenchResult(NAME, quick)
    now = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-quotas-") as tmp:
        path = Path(tmp) / "day.sqlite3"
        store = await SQLiteStore.open(path)
        await store.close()
        progress(f"seeding {day_jobs:,} jobs today")
        _seed(path, day_jobs, now)
        store = await SQLiteStore.open(path)
        try:
            await _accept(store, 20, now, checked=True)  # warm-up
            plain = await _accept(store, samples, now, checked=False)
            checked = await _accept(store, samples, now + 60, checked=True)
            reads = []
            for user in range(samples):
                started = time.perf_counter()
                await store.usage(user % MEMBERS, user % GUILDS, day_window(now, 0))
                reads.append(time.perf_counter() - started)
        finally:
            await store.close()
    p99 = percentile(checked, 99) * 1000
    label = f"add_job with every limit, {day_jobs:,} jobs today"
    result.add(f"{label}, p50", percentile(checked, 50) * 1000, "ms")
    result.add(f"{label}, p99", p99, "ms", Target("<", 10.0))
    result.add("add_job without limits, p50", percentile(plain, 50) * 1000, "ms")
    result.add("/usage read, p50", percentile(reads, 50) * 1000, "ms")
    result.details = {
        "day_jobs": day_jobs,
        "members": MEMBERS,
        "guilds": GUILDS,
        "checked_ms": summary(checked, 1000),
        "plain_ms": summary(plain, 1000),
        "usage_read_ms": summary(reads, 1000),
    }
    return result
