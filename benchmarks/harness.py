"""Shared benchmark machinery: results, statistics, RSS, a loop-lag probe, fakes and the bot.

The bot under test is the real `ImagineBot` (discord.py and google-genai unmodified), run in
the benchmark's own process and event loop. The fakes run in a child process
(`benchmarks.fakes_server`) so that what is measured here (loop stalls, CPU, RSS) is the
bot's alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import resource
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bot.config import Settings
from bot.credentials import Credentials, GeminiAuth
from tests import support
from tests.support import settings_against

if TYPE_CHECKING:  # imported when a bot is made: the image benchmark never needs discord.py
    from bot.discord_ui.app import ImagineBot

REPO = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
Json = dict[str, Any]

# The SDK's aiohttp session honours proxy variables; the fakes are local.
os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1,localhost"]))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Target:
    op: Literal["<", "<=", ">", ">="]
    bound: float

    def met_by(self, value: float) -> bool:
        return {
            "<": value < self.bound,
            "<=": value <= self.bound,
            ">": value > self.bound,
            ">=": value >= self.bound,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}"


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    unit: str
    target: Target | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met_by(self.value)

    def as_json(self) -> Json:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "target": None if self.target is None else str(self.target),
            "met": self.met,
            "note": self.note,
        }


@dataclass
class BenchResult:
    name: str
    quick: bool
    metrics: list[Metric] = field(default_factory=list)
    details: Json = field(default_factory=dict)
    duration_s: float = 0.0

    def add(
        self,
        name: str,
        value: float,
        unit: str,
        target: Target | None = None,
        note: str = "",
    ) -> None:
        self.metrics.append(Metric(name, value, unit, target, note))

    def as_json(self) -> Json:
        return {
            "name": self.name,
            "quick": self.quick,
            "duration_s": round(self.duration_s, 3),
            "metrics": [m.as_json() for m in self.metrics],
            "details": self.details,
        }


def progress(message: str) -> None:
    """A progress line on stderr (stdout is kept for results)."""
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- statistics


def percentile(samples: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), linear between closest ranks (numpy's default)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(samples: Sequence[float], scale: float = 1.0, digits: int = 3) -> Json:
    """n, mean, p50, p90, p99 and max of `samples`, multiplied by `scale` (1000: s -> ms)."""
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "mean": round(sum(samples) / len(samples) * scale, digits),
        "p50": round(percentile(samples, 50) * scale, digits),
        "p90": round(percentile(samples, 90) * scale, digits),
        "p99": round(percentile(samples, 99) * scale, digits),
        "max": round(max(samples) * scale, digits),
    }


# --------------------------------------------------------------------------- memory


def _status_kb(key: str, pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size now (VmRSS)."""
    return _status_kb("VmRSS", pid) * 1024


def peak_rss_bytes(pid: int | str = "self") -> int:
    """Peak resident set size since start or the last `reset_peak_rss()` (VmHWM)."""
    return _status_kb("VmHWM", pid) * 1024


def reset_peak_rss(pid: int | str = "self") -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if the kernel refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def process_cpu_s(pid: int, thread: int | None = None) -> float:
    """CPU time (user + system) a process (or one of its threads) has used so far."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    with open(path) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pids(running: RunningBot) -> list[int]:
    """The bot's Gemini worker processes (benchmarks look inside the bot on purpose)."""
    pool = running.bot._workers
    return [w.process.pid for w in pool._workers if w.process.pid] if pool else []


class CpuMeter:
    """CPU time spent since it was made, per job: by the bot's process (its event loop and
    threads; the loop's thread alone as `bot_loop`), its Gemini workers, and the fakes'
    process (which shares the machine's cores)."""

    def __init__(self, running: RunningBot, fakes: Fakes) -> None:
        self._pids = {"workers": worker_pids(running), "fakes": [fakes.pid]}
        self._before = self._now()

    def _now(self) -> dict[str, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "bot": own.ru_utime + own.ru_stime,
            "bot_loop": process_cpu_s(os.getpid(), thread=threading.get_native_id()),
            **{name: sum(process_cpu_s(pid) for pid in pids) for name, pids in self._pids.items()},
        }

    def per_job_ms(self, jobs: int) -> Json:
        now = self._now()
        return {
            f"{name}_cpu_ms_per_job": round((now[name] - self._before[name]) * 1000 / jobs, 2)
            for name in now
        } | {"workers": len(self._pids["workers"])}


def trim_heap() -> None:
    """Collect garbage and hand free heap pages back to the OS (glibc malloc_trim)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


# --------------------------------------------------------------------------- loop lag


class LoopLagProbe:
    """A task that sleeps `interval_s` again and again and records how late it wakes up.

    The overshoot is how long the event loop was busy with something else: the stall any
    other coroutine (a gateway heartbeat, an interaction's 3-second deadline) would see.
    With a bot, it also samples `bot.latency` (discord.py's heartbeat-to-ACK time).
    """

    def __init__(self, interval_s: float = 0.005, bot: ImagineBot | None = None) -> None:
        self.interval_s = interval_s
        self.bot = bot
        self.lags: list[float] = []
        self.latencies: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopLagProbe:
        self._task = asyncio.create_task(self._run(), name="loop-lag-probe")
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_latency = self.bot.latency if self.bot else math.inf
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval_s)
            self.lags.append(loop.time() - before - self.interval_s)
            if self.bot is not None and self.bot.latency != last_latency:
                last_latency = self.bot.latency
                if math.isfinite(last_latency):
                    self.latencies.append(last_latency)

    def report(self) -> Json:
        return {
            "interval_ms": self.interval_s * 1000,
            "lag_ms": summary(self.lags, 1000),
            "heartbeat_latency_ms": summary(self.latencies, 1000),
        }


class GcPauses:
    """Records how long each garbage collection stops the process, by generation."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append(time.perf_counter() - self._started)

    def report(self) -> Json:
        return {f"gen{g}_ms": summary(p, 1000) for g, p in self.pauses.items()}


# --------------------------------------------------------------------------- fakes


@dataclass(frozen=True)
class FakesInfo:
    api_base_url: str
    gateway_url: str
    guild_id: str
    channel_id: str
    token: str
    gemini_base_url: str
    gemini_api_key: str
    alice: Json
    pid: int


class Fakes:
    """The fake Discord and Gemini, served by a child process (see benchmarks.fakes_server)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._ids = iter(range(1, sys.maxsize))
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._reader = asyncio.create_task(self._read_answers(), name="fakes-reader")
        self.info: FakesInfo | None = None

    @classmethod
    async def start(
        cls, *, heartbeat_ms: int | None = None, image_px: int = 1024, default_delay: float = 0.0
    ) -> Fakes:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.fakes_server",
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * MB,
        )
        fakes = cls(process)
        raw = await fakes.call(
            "start", heartbeat_ms=heartbeat_ms, image_px=image_px, default_delay=default_delay
        )
        fakes.info = FakesInfo(**raw)
        return fakes

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    async def call(self, op: str, **args: Any) -> Any:
        assert self._process.stdin is not None
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        line = json.dumps({"id": request_id, "op": op, "args": args}) + "\n"
        self._process.stdin.write(line.encode())
        await self._process.stdin.drain()
        return await future

    async def _read_answers(self) -> None:
        assert self._process.stdout is not None
        while line := await self._process.stdout.readline():
            answer = json.loads(line)
            future = self._waiting.pop(answer["id"])
            if answer["ok"]:
                future.set_result(answer["result"])
            else:
                future.set_exception(RuntimeError(f"fakes: {answer['error']}"))
        for future in self._waiting.values():
            future.set_exception(RuntimeError("the fakes process exited"))

    async def close(self) -> None:
        if self._process.returncode is None:
            with contextlib.suppress(RuntimeError, ConnectionError):
                await asyncio.wait_for(self.call("stop"), 10)
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        await self._reader

    async def violations(self) -> list[str]:
        stats = await self.call("stats")
        return [*stats["discord_violations"], *stats["gemini_violations"]]


@contextlib.asynccontextmanager
async def fakes_running(
    *, heartbeat_ms: int | None = None, image_px: int = 1024, default_delay: float = 0.0
) -> AsyncIterator[Fakes]:
    fakes = await Fakes.start(
        heartbeat_ms=heartbeat_ms, image_px=image_px, default_delay=default_delay
    )
    try:
        yield fakes
    finally:
        await fakes.close()


# --------------------------------------------------------------------------- the bot


def bot_settings(info: FakesInfo, db_path: Path, **sections: dict[str, Any]) -> Settings:
    """The example's settings pointed at the fakes; `sections` override single settings."""
    gemini = {"timeout_s": 60.0, **sections.pop("gemini", {})}
    return settings_against(
        api_base_url=info.api_base_url,
        gateway_url=info.gateway_url,
        guild_id=info.guild_id,
        gemini_base_url=info.gemini_base_url,
        db_path=db_path,
        gemini=gemini,
        **sections,
    )


async def settle(timeout: float = 30) -> None:
    """Wait until no event, command or component handler is still running."""
    await support.settle(timeout)


class ErrorCounter(logging.Handler):
    """Counts what the bot and its libraries log at ERROR (a benchmark should log none)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" | {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        self.messages.append(f"{record.name}: {text}"[:500])


def quiet_logging() -> ErrorCounter:
    """WARNING and above to stderr; returns a counter of ERROR records."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # "PyNaCl/davey is not installed, voice will NOT be supported": voice is not used.
    logging.getLogger("discord.client").setLevel(logging.ERROR)
    counter = ErrorCounter()
    logging.getLogger().addHandler(counter)
    return counter


def make_bot(settings: Settings, credentials: Credentials) -> ImagineBot:
    """The bot as the entry point builds it: its workflows (the slash commands) loaded."""
    from bot.discord_ui.app import ImagineBot
    from bot.workflows.loader import load_workflows, workflows_directory

    workflows = load_workflows(workflows_directory(settings), settings)
    return ImagineBot(settings, credentials, workflows, guild_ready_timeout=0.01)


@dataclass
class RunningBot:
    bot: ImagineBot
    task: asyncio.Task[None]
    started_s: float  # from constructing ImagineBot to ready


@contextlib.asynccontextmanager
async def bot_running(fakes: Fakes, settings: Settings) -> AsyncIterator[RunningBot]:
    """Start the real ImagineBot against the fakes, wait until ready; close it on exit."""
    info = fakes.info
    assert info is not None
    credentials = Credentials(
        discord_token=info.token, gemini=GeminiAuth(api_key=info.gemini_api_key)
    )
    started = time.perf_counter()
    bot = make_bot(settings, credentials)
    task = asyncio.create_task(bot.start(info.token), name="bot")
    try:
        ready = asyncio.create_task(bot.wait_until_ready())
        await asyncio.wait({ready, task}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            if task.done():
                task.result()  # the bot's own start-up error
            raise RuntimeError("the bot was not ready within 60 s")
        running = RunningBot(bot, task, time.perf_counter() - started)
        await fakes.call("wait_identified")
        yield running
    finally:
        with contextlib.suppress(RuntimeError):
            await settle()
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
