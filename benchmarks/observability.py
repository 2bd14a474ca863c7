"""6. Observability: what /metrics and /healthz cost the bot's event loop.

The bot runs with its HTTP server on, makes some real jobs (so the job series exist), and its
registry is then filled to a pessimistic size: 20 block reasons, 15 failure kinds, and model
latency and spend for 6 models (a long-running bot with a varied week). Then:

- rendering the metrics text in-process, as the /metrics handler does (prometheus_client's
  `generate_latest` on the bot's registry): time per render and body size; that is how long
  one scrape holds the event loop;
- GET /metrics and GET /healthz over loopback HTTP, one after the other, from this process:
  round-trip times, the health probe's database transaction included;
- the loop-lag probe (5 ms sleeps) while /metrics is scraped 20 times a second, against the
  same probe with no scraping: the stall a scrape adds for every other coroutine.

The HTTP client runs on the bot's loop too, so the round trips and stalls are upper bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import time
from pathlib import Path

import aiohttp
from prometheus_client import generate_latest

from benchmarks.harness import (
    BenchResult,
    Fakes,
    LoopLagProbe,
    Target,
    bot_running,
    bot_settings,
    fakes_running,
    progress,
    settle,
    summary,
)
from bot.jobs.records import Job, JobRequest, JobState, Report
from bot.observability.metrics import Metrics

NAME = "observability"
TARGET_RENDER_P99_MS = 5.0
TARGET_STALL_ADDED_MS = 5.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fill(metrics: Metrics) -> None:
    """Series a bot that ran for a long time with many models and outcomes would have."""
    for n in range(6):
        model = f"bench-model-{n}"
        for m in range(50):
            elapsed = 1.0 + m % 40
            request = JobRequest(prompt="x", model=model)
            job = Job(
                id=f"bench{n}{m:03d}",
                kind="imagine",
                user_id=1,
                guild_id=2,
                channel_id=3,
                request=request,
                state=JobState.DELIVERED,
                cost_usd=0.067,
                report=Report(elapsed_s=elapsed),
            )
            metrics.job_finished(job, duration_s=elapsed + 0.02, model_s=elapsed)
    for n in range(20):
        metrics.blocks.labels(f"response:REASON_{n}").inc()
    for n in range(15):
        metrics.failures.labels(f"kind_{n}").inc()
    for scope in ("user", "global", "shared", "unknown"):
        metrics.discord_429s.labels(scope).inc()


async def _round_trips(session: aiohttp.ClientSession, url: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        async with session.get(url) as response:
            await response.read()
            assert response.status == 200, (url, response.status)
        times.append(time.perf_counter() - started)
    return times


async def _scrape_forever(session: aiohttp.ClientSession, url: str, every_s: float) -> None:
    while True:
        async with session.get(url) as response:
            await response.read()
        await asyncio.sleep(every_s)


async def _jobs(fakes: Fakes, count: int) -> None:
    for n in range(count):
        await fakes.call("imagine", prompt=f"a lighthouse {n}")
        await settle()


async def run(quick: bool) -> BenchResult:
    result = BenchResult(NAME, quick)
    renders = 200 if quick else 2000
    requests = 50 if quick else 500
    probe_s = 2.0 if quick else 10.0
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-observability-") as tmp:
        async with fakes_running(image_px=256) as fakes:
            assert fakes.info is not None
            settings = bot_settings(
                fakes.info,
                Path(tmp) / "bot.db",
                observability={"http_host": "127.0.0.1", "http_port": port},
            )
            async with bot_running(fakes, settings) as running:
                progress("a few real jobs, then a full registry")
                await _jobs(fakes, 5 if quick else 20)
                metrics = running.bot.metrics
                _fill(metrics)
                body = generate_latest(metrics.registry)
                series = sum(1 for line in body.decode().splitlines() if not line.startswith("#"))

                progress(f"{renders} renders in-process")
                render_times = []
                for _ in range(renders):
                    started = time.perf_counter()
                    generate_latest(metrics.registry)
                    render_times.append(time.perf_counter() - started)

                base = f"http://127.0.0.1:{port}"
                async with aiohttp.ClientSession() as session:
                    progress(f"{requests} GET /metrics and /healthz")
                    metrics_rtt = await _round_trips(session, f"{base}/metrics", requests)
                    health_rtt = await _round_trips(session, f"{base}/healthz", requests)

                    progress(f"loop lag for {probe_s:g}s idle, then {probe_s:g}s while scraped")
                    async with LoopLagProbe() as idle:
                        await asyncio.sleep(probe_s)
                    scraper = asyncio.create_task(_scrape_forever(session, f"{base}/metrics", 0.05))
                    try:
                        async with LoopLagProbe() as scraped:
                            await asyncio.sleep(probe_s)
                    finally:
                        scraper.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await scraper
            violations = await fakes.violations()

    render = summary(render_times, 1000)
    result.add("/metrics render p50", render["p50"], "ms")
    result.add("/metrics render p99", render["p99"], "ms", Target("<", TARGET_RENDER_P99_MS))
    result.add("/metrics body", len(body) / 1024, "KB")
    result.add("/metrics round trip p99", summary(metrics_rtt, 1000)["p99"], "ms")
    result.add("/healthz round trip p99", summary(health_rtt, 1000)["p99"], "ms")
    idle_lag, scraped_lag = idle.report()["lag_ms"], scraped.report()["lag_ms"]
    added = scraped_lag["p99"] - idle_lag["p99"]
    result.add("loop stall p99 added by scraping", added, "ms", Target("<", TARGET_STALL_ADDED_MS))
    result.details = {
        "series": series,
        "render_ms": render,
        "metrics_round_trip_ms": summary(metrics_rtt, 1000),
        "healthz_round_trip_ms": summary(health_rtt, 1000),
        "loop_lag_idle": idle.report(),
        "loop_lag_scraped_every_50ms": scraped.report(),
        "fake_violations": violations,
    }
    return result
