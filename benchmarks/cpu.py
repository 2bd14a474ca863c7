"""6. CPU per /imagine with real-sized results: the bot's process, and its Gemini workers.

Gemini answers at once with a real-sized 1K image (photo-like: ~2.7 MB as PNG, ~1.5 MB as
JPEG), one format at a time. `/imagine` runs one after the other; measured: the CPU time of
the bot's process per job (its event loop and threads), the CPU time of the Gemini worker
processes per job, and the wall time, with the calls in worker processes (the default,
`[gemini] worker_processes = "auto"`) and in the bot's own process (0), and the CPU time of
the fakes (they share the machine's cores). Three batches each; the median batch is reported.
The same with small solid-colour images (a few KB) shows what a job costs whatever its image.
A profile of the bot's event loop thread, grouped by package, shows where the remaining time
goes.
"""

from __future__ import annotations

import collections
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from benchmarks.harness import (
    BenchResult,
    CpuMeter,
    Fakes,
    Json,
    RunningBot,
    Target,
    bot_running,
    bot_settings,
    fakes_running,
    progress,
    settle,
)

NAME = "cpu"
TARGET_MS = 10.0
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}
BATCHES = 3


async def _measure(fakes: Fakes, running: RunningBot, jobs: int, label: str) -> Json:
    """`BATCHES` batches of `jobs`: the batch with the median bot CPU, and the spread (this
    VM's speed drifts from minute to minute)."""
    for n in range(3):
        await fakes.call("imagine", prompt=f"warm-up {label} {n}")
    await settle()
    batches = []
    for batch in range(BATCHES):
        meter, started = CpuMeter(running, fakes), time.perf_counter()
        for n in range(jobs):
            await fakes.call("imagine", prompt=f"a lighthouse at dusk, {label} {batch}-{n}")
        await settle()
        wall_ms = (time.perf_counter() - started) * 1000
        batches.append({"jobs": jobs, **meter.per_job_ms(jobs), "wall_ms_per_job": wall_ms / jobs})
    batches.sort(key=lambda b: float(b["bot_cpu_ms_per_job"]))
    return {**batches[len(batches) // 2], "batches": batches}


async def _profile(fakes: Fakes, jobs: int) -> Json:
    """Where the event loop thread's CPU goes, per job, by package (cProfile inflates
    Python-heavy code, so the shares matter more than the totals)."""
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    for n in range(jobs):
        await fakes.call("imagine", prompt=f"profiled {n}")
    await settle()
    profile.disable()
    groups: collections.Counter[str] = collections.Counter()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (path, _, function), (_, _, own, _, _) in stats.items():
        groups[_package(path, function)] += own
    total = sum(groups.values())
    return {
        "profiled_ms_per_job": round(total * 1000 / jobs, 2),
        "share_by_package": {
            name: round(100 * spent / total, 1) for name, spent in groups.most_common(12)
        },
    }


def _package(path: str, function: str) -> str:
    if path == "~":
        return f"builtin {function}"
    for marker in ("site-packages/", "/python3.11/", "/work/main/", "/repo/"):
        if marker in path:
            return path.split(marker, 1)[1].split("/")[0].removesuffix(".py")
    return Path(path).stem


async def run(quick: bool) -> BenchResult:
    result = BenchResult(NAME, quick)
    jobs = 10 if quick else 30
    target = Target("<=", TARGET_MS)
    details: Json = {}
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        async with fakes_running() as fakes:
            assert fakes.info is not None
            await fakes.call("configure", real_images=True)
            for mode, workers in (("workers", "auto"), ("in-process", 0)):
                settings = bot_settings(
                    fakes.info,
                    Path(tmp) / f"{mode}.db",
                    gemini={"worker_processes": workers},
                )
                async with bot_running(fakes, settings) as running:
                    for label, mime in FORMATS.items():
                        progress(f"{mode}, 1K {label}: {jobs} x /imagine one after the other")
                        await fakes.call("configure", output_mime=mime)
                        measured = await _measure(fakes, running, jobs, label)
                        details[f"{mode} {label}"] = measured
                        result.add(
                            f"bot CPU per /imagine, 1K {label}, {mode}",
                            measured["bot_cpu_ms_per_job"],
                            "ms",
                            target if mode == "workers" else None,
                            f"{measured['bot_loop_cpu_ms_per_job']} ms on its event loop; "
                            + (
                                f"+ {measured['workers_cpu_ms_per_job']} ms in "
                                f"{measured['workers']} worker(s)"
                                if measured["workers"]
                                else "all in the bot's process"
                            )
                            + f"; the fakes: {measured['fakes_cpu_ms_per_job']} ms",
                        )
                    if mode == "workers":
                        progress("profile of the event loop thread")
                        details["profile"] = await _profile(fakes, max(5, jobs // 3))
                        progress(f"{mode}, small solid-colour images: the cost of a job itself")
                        await fakes.call("configure", real_images=False, output_mime="")
                        small = await _measure(fakes, running, jobs, "small")
                        details[f"{mode} small"] = small
                        result.add(
                            "bot CPU per /imagine, small images, workers",
                            small["bot_cpu_ms_per_job"],
                            "ms",
                            note=f"{small['bot_loop_cpu_ms_per_job']} ms on its event loop: "
                            "what a job costs whatever its image",
                        )
                        await fakes.call("configure", real_images=True)
            await fakes.call("configure", output_mime="")
    result.details = details
    return result
