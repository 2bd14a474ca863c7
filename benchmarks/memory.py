"""5. Memory: RSS with 1,000 active conversations against idle (quick: 100).

Every Gemini answer is a distinct ~1 MB PNG (the same picture with a different text chunk,
so each has its own sha256, as real results do): if the bot kept result images, history or
uploads in memory, 1,000 conversations with an /imagine and a refinement each would hold
~2 GB and show at once.

Idle: the bot connected and warmed up (a few conversations done), garbage collected. Active:
the same bot after N new conversations, each with one refinement, all finished moments ago.
RSS is reported as it is (what the machine sees) and after gc + malloc_trim (what is still
referenced, without the allocator's free pages), with discord.py's caches for context.
"""

from __future__ import annotations

import gc
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import (
    MB,
    BenchResult,
    Fakes,
    Json,
    RunningBot,
    Target,
    bot_running,
    bot_settings,
    fakes_running,
    peak_rss_bytes,
    progress,
    reset_peak_rss,
    rss_bytes,
    settle,
    trim_heap,
)

NAME = "memory"
IMAGE_BYTES = 1_000_000
BATCH = 25  # conversations started (or refined) at once
TARGET_GROWTH_MB = 100.0


async def _conversations(fakes: Fakes, users: list[Json], count: int, label: str) -> list[str]:
    """Start `count` conversations (an /imagine each) and refine each once; thread ids."""
    threads: list[str] = []
    owners: list[Json] = []
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        batch_users = [users[(start + n) % len(users)] for n in range(size)]
        tracks = await fakes.call(
            "imagine_many",
            prompts=[f"{label} lighthouse #{start + n}" for n in range(size)],
            users=batch_users,
        )
        threads += [t["ref"] for t in tracks]
        owners += batch_users
        await settle()
        await fakes.call("forget")
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        await fakes.call(
            "refine_many",
            thread_ids=threads[start : start + size],
            contents=[f"make it night-time #{start + n}" for n in range(size)],
            users=owners[start : start + size],
        )
        await settle()
        await fakes.call("forget")
    return threads


def _files_size(folder: Path, pattern: str) -> int:
    return sum(path.stat().st_size for path in folder.glob(pattern))


def _snapshot(running: RunningBot) -> Json:
    bot = running.bot
    return {
        "rss_mb": round(rss_bytes() / MB, 1),
        "python_blocks": sys.getallocatedblocks(),
        "gc_objects": len(gc.get_objects()),
        "cached_messages": len(bot.cached_messages),
        "cached_threads": sum(len(guild.threads) for guild in bot.guilds),
    }


async def run(quick: bool) -> BenchResult:
    result = BenchResult(NAME, quick)
    count = 30 if quick else 1000
    warmup = 10
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        async with fakes_running(image_px=1024) as fakes:
            assert fakes.info is not None
            await fakes.call("configure", unique_image_bytes=IMAGE_BYTES)
            settings = bot_settings(
                fakes.info, Path(tmp) / "bot.db", jobs={"max_concurrent": BATCH}
            )
            async with bot_running(fakes, settings) as running:
                users: list[Json] = await fakes.call("add_members", count=BATCH, prefix="owner")
                progress(f"warm-up: {warmup} conversations")
                await _conversations(fakes, users, warmup, "warm-up")
                gc.collect()
                idle = _snapshot(running)
                trim_heap()
                idle_trimmed = _snapshot(running)
                reset_peak_rss()
                progress(f"{count} conversations, each with a refinement ({BATCH} at a time)")
                threads = await _conversations(fakes, users, count, "active")
                peak = peak_rss_bytes()
                gc.collect()
                active = _snapshot(running)
                trim_heap()
                active_trimmed = _snapshot(running)
            violations = await fakes.violations()
        db_bytes = _files_size(Path(tmp), "bot.db*")

    growth = active["rss_mb"] - idle["rss_mb"]
    result.add("idle RSS", idle["rss_mb"], "MB")
    result.add(f"RSS with {count} active conversations", active["rss_mb"], "MB")
    result.add("growth over idle", round(growth, 1), "MB", Target("<", TARGET_GROWTH_MB))
    result.add(
        "growth over idle, both after malloc_trim",
        round(active_trimmed["rss_mb"] - idle_trimmed["rss_mb"], 1),
        "MB",
        note="memory still referenced, without the allocator's free pages",
    )
    result.add("growth per conversation", round(growth * 1024 / count, 1), "KB")
    result.add("peak RSS during the run", round(peak / MB, 1), "MB")
    result.details = {
        "conversations": count,
        "threads_created": len(threads),
        "image_bytes_per_result": IMAGE_BYTES,
        "result_image_bytes_total_mb": round(2 * count * IMAGE_BYTES / MB, 1),
        "database_mb": round(db_bytes / MB, 1),
        "measured_after": "gc.collect(); *_trimmed also after malloc_trim(0)",
        "idle": idle,
        "idle_trimmed": idle_trimmed,
        "active": active,
        "active_trimmed": active_trimmed,
        "fake_violations": violations,
    }
    return result
