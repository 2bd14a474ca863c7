"""2. Concurrency: 200 `/imagine` at once, each taking Gemini 2 s.

200 distinct members run `/imagine` in the same instant (the fake dispatches the 200
interactions without yielding in between) with `[jobs] max_concurrent = 200` and Gemini
answering each after 2 s. Measured: the total time from the first dispatch to the last
final result (image shown and thread created), the event loop's worst stall (a task that
sleeps 5 ms again and again and records how late it wakes), the gateway heartbeat's
acknowledgement delay (discord.py's `bot.latency`, with the fake's heartbeat interval set
to 100 ms so there are samples during the burst; and the heartbeats' arrival gaps at the
fake), each job's initial response time (Discord's limit is 3 s) and the peak RSS.
"""

from __future__ import annotations

import asyncio
import itertools
import resource
import tempfile
from pathlib import Path

from benchmarks.harness import (
    MB,
    BenchResult,
    Fakes,
    GcPauses,
    Json,
    LoopLagProbe,
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
    summary,
    trim_heap,
)

NAME = "concurrency"
JOBS = 200
GEMINI_DELAY_S = 2.0
HEARTBEAT_MS = 100
SPREAD_CHANNELS = 20


def _cpu_seconds() -> float:
    """CPU time of this process (the bot: its loop and its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _burst(
    fakes: Fakes,
    running: RunningBot,
    users: list[Json],
    round_: int,
    channels: list[str] | None = None,
) -> Json:
    """One burst; `channels`: spread the jobs over these channels (default: all in one)."""
    trim_heap()
    rss_before = rss_bytes()
    reset_peak_rss()
    await fakes.call("heartbeats")  # forget the beats before the burst
    cpu_before = _cpu_seconds()
    with GcPauses() as pauses:
        async with LoopLagProbe(0.005, running.bot) as probe:
            await asyncio.sleep(0.3)  # a few heartbeats before
            tracks: list[Json] = await fakes.call(
                "imagine_many",
                prompts=[f"a lighthouse in a storm, #{round_}-{n}" for n in range(len(users))],
                users=users,
                channel_ids=[channels[n % len(channels)] for n in range(len(users))]
                if channels
                else None,
                timeout=60.0,
            )
            await settle(60)
            await asyncio.sleep(0.3)  # and a few after
    cpu = _cpu_seconds() - cpu_before
    beats: list[float] = await fakes.call("heartbeats")
    peak = peak_rss_bytes()
    first = min(t["started"] for t in tracks)
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    return {
        "total_s": max(t["marks"]["thread"] for t in tracks) - first,
        "all_ok": all(t["ok"] for t in tracks),
        "job_s": summary([t["marks"]["thread"] - t["started"] for t in tracks], 1, 3),
        "initial_response_s": summary([t["marks"]["ack"] - t["started"] for t in tracks], 1, 3),
        "loop": probe.report(),
        "max_lag_ms": max(probe.lags) * 1000,
        "max_heartbeat_latency_ms": max(probe.latencies, default=float("nan")) * 1000,
        "heartbeat_gap_overshoot_ms": summary([gap - HEARTBEAT_MS / 1000 for gap in gaps], 1000),
        "bot_cpu_s": round(cpu, 3),
        "bot_cpu_ms_per_job": round(cpu * 1000 / len(tracks), 2),
        "gc_pauses": pauses.report(),
        "rss_before_mb": rss_before / MB,
        "peak_rss_mb": peak / MB,
        "peak_rss_growth_mb": (peak - rss_before) / MB,
    }


async def run(quick: bool) -> BenchResult:
    result = BenchResult(NAME, quick)
    rounds = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp:
        async with fakes_running(heartbeat_ms=HEARTBEAT_MS, image_px=1024) as fakes:
            assert fakes.info is not None
            settings = bot_settings(
                fakes.info,
                Path(tmp) / "bot.db",
                jobs={"max_concurrent": JOBS, "max_concurrent_per_user": JOBS},
            )
            async with bot_running(fakes, settings) as running:
                users: list[Json] = await fakes.call("add_members", count=JOBS, prefix="member")
                progress("warm-up: 5 jobs")
                for n in range(5):
                    await fakes.call("imagine", prompt=f"warm-up {n}", user=users[n])
                await settle()
                await fakes.call("configure", default_delay=GEMINI_DELAY_S)
                rounds_data = []
                for round_ in range(rounds):
                    progress(f"round {round_ + 1}/{rounds}: {JOBS} x /imagine at once")
                    rounds_data.append(await _burst(fakes, running, users, round_))
                spread: Json | None = None
                if not quick:
                    progress(f"{JOBS} x /imagine at once over {SPREAD_CHANNELS} channels")
                    channels = await fakes.call("add_channels", count=SPREAD_CHANNELS)
                    await asyncio.sleep(0.2)  # the bot learns about the channels
                    spread = await _burst(fakes, running, users, rounds, channels)
            violations = await fakes.violations()

    def worst(key: str) -> float:
        return max(float(r[key]) for r in rounds_data)

    result.add(
        "total time, 200 jobs of 2 s", worst("total_s"), "s", Target("<", 2.5), "worst round"
    )
    result.add("event loop worst stall", worst("max_lag_ms"), "ms", Target("<", 50))
    result.add("heartbeat ACK latency max", worst("max_heartbeat_latency_ms"), "ms")
    result.add(
        "heartbeat send delay max",
        max(r["heartbeat_gap_overshoot_ms"]["max"] for r in rounds_data),
        "ms",
        note=f"gap between heartbeats at the fake minus the {HEARTBEAT_MS} ms interval",
    )
    result.add(
        "initial response max",
        max(r["initial_response_s"]["max"] for r in rounds_data) * 1000,
        "ms",
        Target("<", 3000),
        "Discord's deadline for the deferral",
    )
    if spread is not None:
        result.add(
            f"total time, 200 jobs over {SPREAD_CHANNELS} channels",
            spread["total_s"],
            "s",
            note="no per-channel queue for thread creation",
        )
    result.add("peak RSS", worst("peak_rss_mb"), "MB")
    result.add("peak RSS growth in the burst", worst("peak_rss_growth_mb"), "MB")
    result.details = {
        "config": {
            "jobs": JOBS,
            "distinct_members": JOBS,
            "gemini_delay_s": GEMINI_DELAY_S,
            "gemini_image": "1024x1024 solid PNG",
            "max_concurrent": JOBS,
            "progress_interval_s": settings.jobs.progress_interval_s,
            "heartbeat_interval_ms": HEARTBEAT_MS,
            "loop_probe_interval_ms": 5,
        },
        "rounds": rounds_data,
        "spread_over_channels": spread,
        "note": (
            "all jobs in one channel: discord.py sends one thread-creation request at a time "
            "per channel when the server sends no rate-limit headers (the fake sends none); "
            "spread_over_channels shows the same burst without that queue"
        ),
        "fake_violations": violations,
    }
    return result
