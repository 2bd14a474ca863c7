"""1. Overhead: what the bot adds to one job when Gemini answers at once.

The shipped settings (Gemini calls in worker processes), with real-sized 2K results (the
model's default size set to 2K: photo-like images of several megabytes, PNG and JPEG in
turn). `/imagine`: the time from the fake dispatching the interaction to the final state (the
deferred response edited with the image and embed, and the thread created), minus the time
the fake Gemini itself spent handling the request. Then the same for a refinement in a thread
whose history holds 10 exchanges (the default `max_history_turns`) of such images: from the
member's message to the bot's reply showing the image. The history sent is what fits
`[conversations] history_budget_mb` (oldest exchanges left out first). The refinements take
turns over six threads, as members of a busy server would: one thread refined back to back
hits Discord's limit of 5 messages per 5 s in a channel, and its waits are not the bot's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.harness import (
    BenchResult,
    CpuMeter,
    Fakes,
    GcPauses,
    Json,
    RunningBot,
    Target,
    bot_running,
    bot_settings,
    fakes_running,
    percentile,
    progress,
    settle,
    summary,
)
from bot.config import Settings

NAME = "overhead"
TARGET_P99_MS = 50.0
HISTORY_EXCHANGES = 10
THREADS = 6


async def _imagines(fakes: Fakes, count: int, label: str) -> list[Json]:
    runs = []
    for n in range(count):
        runs.append(await fakes.call("imagine", prompt=f"a lighthouse in a storm, {label} {n}"))
        await settle()
        await fakes.call("forget")  # the fakes keep every request: gigabytes of 2K images
    return runs


async def _refinements(fakes: Fakes, threads: list[str], count: int, label: str) -> list[Json]:
    """`count` refinements, one after the other, taking turns over `threads`."""
    runs = []
    for n in range(count):
        thread_id = threads[n % len(threads)]
        runs.append(
            await fakes.call("refine", thread_id=thread_id, content=f"make it night, {label} {n}")
        )
        await settle()
        await fakes.call("forget")
    return runs


def _overheads(runs: list[Json], final: str) -> list[float]:
    return [r["marks"][final] - r["started"] - r["gemini_s"] for r in runs]


def _breakdown(runs: list[Json], final: str) -> Json:
    """Medians (ms) of each milestone after dispatch, and of the fakes' own time."""

    def p50(values: list[float]) -> float:
        return round(percentile(values, 50) * 1000, 3)

    marks = sorted({m for r in runs for m in r["marks"]})
    return {
        "milestones_p50_ms": {m: p50([r["marks"][m] - r["started"] for r in runs]) for m in marks},
        "gemini_fake_p50_ms": p50([r["gemini_s"] for r in runs]),
        "discord_fake_p50_ms": p50([r["discord_s"] for r in runs]),
        "discord_requests_p50": percentile([r["discord_requests"] for r in runs], 50),
        "overhead_excluding_both_fakes_ms": summary(
            [r["marks"][final] - r["started"] - r["gemini_s"] - r["discord_s"] for r in runs],
            1000,
        ),
        "all_ok": all(r["ok"] for r in runs),
    }


async def run(quick: bool) -> BenchResult:
    result = BenchResult(NAME, quick)
    warmup = 5 if quick else 20
    imagine_runs = 30 if quick else 250
    refine_runs = 25 if quick else 200
    target = Target("<", TARGET_P99_MS)
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        async with fakes_running(default_delay=0.0) as fakes:
            assert fakes.info is not None
            await fakes.call("configure", real_images=True)
            settings = _at_2k(
                bot_settings(
                    fakes.info,
                    Path(tmp) / "bot.db",
                    gemini={"worker_processes": "auto"},
                    jobs={"progress_interval_s": 60.0},
                )
            )
            async with bot_running(fakes, settings) as running:
                progress(f"imagine: {warmup} warm-up + {imagine_runs} runs")
                await _imagines(fakes, warmup, "warm-up")
                with GcPauses() as imagine_gc:
                    meter = CpuMeter(running, fakes)
                    imagines = await _imagines(fakes, imagine_runs, "run")
                    cpu = {"imagine": meter.per_job_ms(imagine_runs)}
                threads = [run["ref"] for run in imagines[-THREADS:]]

                history = HISTORY_EXCHANGES * THREADS
                progress(f"refine: {history} to build history + {refine_runs} runs")
                await _refinements(fakes, threads, history, "history")
                with GcPauses() as refine_gc:
                    meter = CpuMeter(running, fakes)
                    refines = await _refinements(fakes, threads, refine_runs, "run")
                    cpu["refine"] = meter.per_job_ms(refine_runs)
                history_sent = await _history_size(running, threads[0])
            violations = await fakes.violations()

    for label, runs, final, pauses in (
        ("imagine", imagines, "thread", imagine_gc),
        ("refine", refines, "result", refine_gc),
    ):
        overheads = _overheads(runs, final)
        stats = summary(overheads, 1000)
        result.add(f"{label} overhead p50", stats["p50"], "ms")
        result.add(f"{label} overhead p99", stats["p99"], "ms", target)
        result.details[label] = {
            "runs": len(runs),
            "final": final,
            "overhead_ms": stats,
            "end_to_end_ms": summary([r["marks"][final] - r["started"] for r in runs], 1000),
            "gc_pauses": pauses.report(),
            "cpu": cpu[label],
            **_breakdown(runs, final),
        }
    result.details["refine"]["history_exchanges_sent"] = history_sent
    result.details["config"] = {
        "gemini_image": "real-sized 2K (PNG and JPEG in turn), answered at once",
        "worker_processes": "auto",
        "history_exchanges": HISTORY_EXCHANGES,
        "refined_threads": THREADS,
        "history_budget_mb": settings.conversations.history_budget_mb,
    }
    result.details["fake_violations"] = violations
    return result


def _at_2k(settings: Settings) -> Settings:
    """The default model making 2K images unless asked otherwise."""
    models = settings.models
    info = models.catalog[models.default].model_copy(update={"default_size": "2K"})
    catalog = {**models.catalog, models.default: info}
    return settings.model_copy(update={"models": models.model_copy(update={"catalog": catalog})})


async def _history_size(running: RunningBot, thread_id: str) -> int:
    from bot.store import HistoryLimits

    settings = running.bot.settings
    store = running.bot.jobs.store
    conversation = await store.get_conversation(int(thread_id))
    assert conversation is not None
    assert conversation.head_job is not None
    history = await store.history(
        conversation.head_job,
        HistoryLimits(
            max_turns=settings.conversations.max_history_turns,
            max_images=settings.models.info(settings.models.default).max_input_images,
            max_bytes=int(settings.conversations.history_budget_mb * 1024 * 1024),
        ),
    )
    return len(history) // 2
