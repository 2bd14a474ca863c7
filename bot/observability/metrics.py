"""The bot's Prometheus metrics, in a registry of its own (one per bot, so tests can run many).

Counters and histograms are updated as things happen (`job_finished`, the Discord trace);
gauges that mirror live state read it when scraped (`track`), and the two that need I/O
(queue depth from the dispatcher's last look, the database size from a stat off the loop)
are refreshed by `refresh` just before each scrape. Label values come from closed sets (job
states, block reasons, failure kinds, catalog models), so the number of series stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import aiohttp
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)

from bot.jobs.records import Job, JobState

# Gemini image calls take seconds to minutes; the bot's own work takes milliseconds.
MODEL_BUCKETS = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0)
OVERHEAD_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# X-RateLimit-Scope values Discord documents for a 429; anything else (a Cloudflare ban has
# no header at all) is "unknown".
_RATE_LIMIT_SCOPES = frozenset({"user", "global", "shared"})


class Metrics:
    def __init__(self, store_path: Path | str | None) -> None:
        """`store_path`: the SQLite database, whose size is reported (None: no such gauge)."""
        # No `*_created` series beside every counter and histogram (prometheus_client's
        # default): they double the page and nobody graphs them. A process-wide switch.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        on_disk = store_path is not None and str(store_path) != ":memory:"
        self._store_path = Path(store_path) if on_disk and store_path is not None else None
        r = self.registry
        ProcessCollector(registry=r)  # process_resident_memory_bytes, CPU seconds, open fds
        self.jobs = Counter(
            "imagine_bot_jobs", "Jobs that reached an outcome, by outcome", ["outcome"], registry=r
        )
        for state in (JobState.DELIVERED, JobState.BLOCKED, JobState.FAILED, JobState.CANCELLED):
            self.jobs.labels(state.value)
        self.blocks = Counter(
            "imagine_bot_blocks",
            "Jobs Gemini blocked, by stage and reason as the API gave it (e.g. prompt:SAFETY)",
            ["reason"],
            registry=r,
        )
        self.failures = Counter(
            "imagine_bot_failures",
            "Jobs that failed, by kind (rate_limited, daily_quota, no_quota, timeout, ...)",
            ["kind"],
            registry=r,
        )
        self.throttled = Counter(
            "imagine_bot_gemini_throttled",
            "Jobs put back in line because Gemini's per-minute quota ran out, by model",
            ["model"],
            registry=r,
        )
        self.model_latency = Histogram(
            "imagine_bot_model_latency_seconds",
            "Time Gemini took to answer a job (its slowest call), by model",
            ["model"],
            buckets=MODEL_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "imagine_bot_overhead_seconds",
            "Time a job spent in the bot besides the model: from its start to its result "
            "posted, minus the model's time",
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.spend = Counter(
            "imagine_bot_estimated_spend_usd",
            "Estimated cost of the images made, from the catalog's price_usd, by model",
            ["model"],
            registry=r,
        )
        self.discord_429s = Counter(
            "imagine_bot_discord_rate_limited",
            "HTTP 429 answers from Discord's API, by X-RateLimit-Scope (discord.py waits and "
            "retries them)",
            ["scope"],
            registry=r,
        )
        self.queue_depth = Gauge("imagine_bot_queue_depth", "Jobs waiting in the queue", registry=r)
        self.running = Gauge(
            "imagine_bot_running_jobs", "Jobs this process is running now", registry=r
        )
        self.concurrency_limit = Gauge(
            "imagine_bot_concurrency_limit",
            "How many jobs may run at the same time right now",
            registry=r,
        )
        self.store_size = Gauge(
            "imagine_bot_store_size_bytes",
            "Size of the SQLite database on disk, its write-ahead log included (0 on PostgreSQL)",
            registry=r,
        )

    def track(self, *, running: Callable[[], int], concurrency_limit: Callable[[], int]) -> None:
        """Gauges that read live state when scraped (cheap, synchronous callables)."""
        self.running.set_function(running)
        self.concurrency_limit.set_function(concurrency_limit)

    def job_finished(self, job: Job, *, duration_s: float | None, model_s: float) -> None:
        self.jobs.labels(job.state.value).inc()
        if job.state is JobState.BLOCKED:
            self.blocks.labels(job.error_kind or "unknown").inc()
        elif job.state is JobState.FAILED:
            self.failures.labels(job.error_kind or "unknown").inc()
        model = job.request.model
        if model_s > 0:
            self.model_latency.labels(model).observe(model_s)
            if duration_s is not None:
                self.overhead.observe(max(duration_s - model_s, 0.0))
        if job.cost_usd > 0:
            self.spend.labels(model).inc(job.cost_usd)

    async def refresh(self) -> None:
        """Before a scrape: the database size (a stat, off the event loop)."""
        if self._store_path is not None:
            self.store_size.set(await asyncio.to_thread(_size_on_disk, self._store_path))

    def discord_trace(self) -> aiohttp.TraceConfig:
        """For discord.Client(http_trace=...): counts every 429 Discord answers, retried ones
        included, whatever discord.py then does with it."""
        trace = aiohttp.TraceConfig()

        async def on_request_end(
            session: aiohttp.ClientSession,
            context: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            if params.response.status == 429:
                scope = params.response.headers.get("X-RateLimit-Scope", "").lower()
                self.discord_429s.labels(scope if scope in _RATE_LIMIT_SCOPES else "unknown").inc()

        trace.on_request_end.append(on_request_end)
        return trace


def _size_on_disk(path: Path) -> int:
    total = 0
    for file in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(FileNotFoundError):
            total += file.stat().st_size
    return total
