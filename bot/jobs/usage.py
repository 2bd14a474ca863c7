"""What `/usage` says: a member's day against their limits, a server's day and month by member
and model, and the month's jobs as CSV. Pure: plain text from the store's figures.

Every figure counts jobs as the quotas do (`bot.jobs.quotas`): waiting or running ones with
their reservation, delivered ones at their cost, others not at all.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Callable, Sequence

from bot.jobs.quotas import Limits, Usage, Window, at_and_in, duration, usd
from bot.jobs.records import Job, JobState
from bot.store import UsageLine

CSV_COLUMNS = (
    "accepted_utc",
    "job_id",
    "member_id",
    "kind",
    "model",
    "size",
    "state",
    "images",
    "usd",
)


def counted(job: Job) -> tuple[int, float]:
    """The images and dollars a job counts for in its day (as the store sums them)."""
    if job.state is JobState.DELIVERED:
        return len(job.outputs), job.cost_usd
    if job.state in (JobState.QUEUED, JobState.RUNNING):
        return job.reserved_images, job.reserved_usd
    return 0, 0.0


def member_text(usage: Usage, limits: Limits, day: Window, now: float) -> str:
    """A member's day: what they used and what is left under each limit."""
    lines = [f"**Your use today** (a new day starts at {at_and_in(day.end, now)})"]
    lines.append(
        "Images: " + _of(usage.member_images, limits.member_daily_images, lambda n: f"{n:g}")
    )
    lines.append("Spend: about " + _of(usage.member_usd, limits.member_daily_usd, usd))
    if limits.member_max_waiting:
        lines.append(
            f"Waiting or being made: {usage.member_waiting} "
            f"(at most {limits.member_max_waiting:g} at once)"
        )
    if limits.cooldown_s:
        lines.append(_cooldown(usage, limits, now))
    if limits.guild_daily_usd:
        lines.append(
            "This server today: about " + _of(usage.guild_usd, limits.guild_daily_usd, usd)
        )
    if limits.bot_daily_usd:
        lines.append("The whole bot today: about " + _of(usage.bot_usd, limits.bot_daily_usd, usd))
    return "\n".join(lines)


def _of(used: float, allowed: float, show: Callable[[float], str]) -> str:
    if not allowed:
        return f"{show(used)} (no limit)"
    return f"{show(used)} of {show(allowed)} ({show(max(allowed - used, 0))} left)"


def _cooldown(usage: Usage, limits: Limits, now: float) -> str:
    text = f"One request every {duration(limits.cooldown_s)}"
    if usage.member_last_at is not None and now < usage.member_last_at + limits.cooldown_s:
        return f"{text}: your next in {duration(usage.member_last_at + limits.cooldown_s - now)}"
    return text


def server_text(
    today: Sequence[UsageLine],
    month: Sequence[UsageLine],
    month_window: Window,
    label: Callable[[str], str],
    *,
    limit: int = 15,
) -> str:
    """The server's use today and this month, per member and model (the biggest first)."""
    since = datetime.datetime.fromtimestamp(month_window.start, datetime.UTC)
    parts = [
        _section("**This server today**", today, label, limit),
        _section(f"**This month** (since {since:%d %b %H:%M} UTC)", month, label, limit),
    ]
    return "\n\n".join(parts)


def _section(
    title: str, lines: Sequence[UsageLine], label: Callable[[str], str], limit: int
) -> str:
    jobs = sum(line.jobs for line in lines)
    images = sum(line.images for line in lines)
    spent = sum(line.usd for line in lines)
    rows = [f"{title}: {jobs} job(s), {images} image(s), about {usd(spent)}"]
    rows += [
        f"<@{line.user_id}> · {label(line.model)}: {line.jobs} job(s), {line.images} image(s), "
        f"{usd(line.usd)}"
        for line in lines[:limit]
    ]
    if len(lines) > limit:
        rows.append(f"… and {len(lines) - limit} more (all of them in the CSV)")
    return "\n".join(rows)


def csv_bytes(jobs: Sequence[Job]) -> bytes:
    """One row per job accepted in the window, with what it counts for."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for job in jobs:
        images, spent = counted(job)
        accepted = datetime.datetime.fromtimestamp(job.charged_at or job.created_at, datetime.UTC)
        writer.writerow(
            [
                accepted.isoformat(timespec="seconds"),
                job.id,
                job.user_id,
                job.kind,
                job.request.model,
                job.request.image_size or "",
                job.state.value,
                images,
                f"{spent:.6f}",
            ]
        )
    return out.getvalue().encode()
