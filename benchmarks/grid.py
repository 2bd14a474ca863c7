"""Grid: posting a 4-up of real-sized images as one Components V2 message.

`/imagine count:4` on the shipped settings (Gemini calls in worker processes), Gemini
answering at once with real-sized 1K images (photo-like, about 1.5 MB as JPEG and 2.7 MB as
PNG, in turn), next to `/imagine` of one image. Measured from the fake dispatching the
interaction: the time until the card shows the image(s) and the thread is open, and the
posting alone (from Gemini's last answer to the card shown: the result stored, the gallery
composed, the files uploaded in one edit). Price confirmation is off here, so the grid runs
at once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.harness import (
    BenchResult,
    Fakes,
    Json,
    bot_running,
    bot_settings,
    fakes_running,
    progress,
    settle,
    summary,
)

NAME = "grid"


async def _runs(fakes: Fakes, count: int, runs: int, label: str) -> list[Json]:
    done = []
    for n in range(runs):
        options = {"count": str(count)} if count > 1 else {}
        done.append(
            await fakes.call(
                "imagine", prompt=f"four owls on a branch, {label} {n}", options=options
            )
        )
        await settle()
    return done


async def run(quick: bool) -> BenchResult:
    result = BenchResult(NAME, quick)
    warmup, runs = (2, 8) if quick else (5, 40)
    with tempfile.TemporaryDirectory(prefix="bench-grid-") as tmp:
        async with fakes_running(default_delay=0.0) as fakes:
            assert fakes.info is not None
            await fakes.call("configure", real_images=True)
            settings = bot_settings(
                fakes.info,
                Path(tmp) / "bot.db",
                gemini={"worker_processes": "auto"},
                jobs={"progress_interval_s": 60.0},
                quotas={"confirm_above_usd": 0.0},
            )
            async with bot_running(fakes, settings):
                measured: dict[int, list[Json]] = {}
                for count in (1, 4):
                    progress(f"{count} image(s): {warmup} warm-up + {runs} runs")
                    await _runs(fakes, count, warmup, "warm-up")
                    measured[count] = await _runs(fakes, count, runs, "run")
                    await fakes.call("forget")
            violations = await fakes.violations()

    for count, label in ((1, "1 image"), (4, "4-up")):
        done = measured[count]
        shown = summary([r["marks"]["thread"] - r["started"] for r in done], 1000)
        posting = summary([r["marks"]["result"] - r["gemini_last_answer"] for r in done], 1000)
        overhead = summary(
            [r["marks"]["thread"] - r["started"] - r["gemini_s"] for r in done], 1000
        )
        result.add(f"{label}: shown, p50", shown["p50"], "ms")
        result.add(f"{label}: shown, p99", shown["p99"], "ms")
        result.add(f"{label}: posting after Gemini's last answer, p50", posting["p50"], "ms")
        result.details[label] = {
            "runs": len(done),
            "shown_ms": shown,
            "posting_ms": posting,
            "overhead_without_gemini_fake_ms": overhead,
            "gemini_requests_per_job": done[-1]["gemini_requests"],
            "discord_requests_per_job": done[-1]["discord_requests"],
            "all_ok": all(r["ok"] for r in done),
        }
    result.details["config"] = {
        "gemini_image": "real-sized 1K (JPEG and PNG in turn), answered at once",
        "worker_processes": "auto",
        "confirm_above_usd": 0.0,
    }
    result.details["fake_violations"] = violations
    return result
