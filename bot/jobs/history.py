"""What /jobs and /show say about a member's jobs. Pure: the Discord side gives the links.

Every line names the job id, which /show takes to post a result again with live buttons.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from bot.config import Settings
from bot.jobs.cards import model_label
from bot.jobs.quotas import usd
from bot.jobs.records import Job, JobState

RECENT = 10  # jobs /jobs lists
JOB_ID = re.compile(r"[a-z2-9]{8}")
_PROMPT_CHARS = 60

OUTCOMES = {
    JobState.PENDING: "💬 waiting for Generate",
    JobState.QUEUED: "⏳ waiting",
    JobState.RUNNING: "🎨 being made",
    JobState.DELIVERED: "✅ made",
    JobState.BLOCKED: "🚫 blocked",
    JobState.FAILED: "⚠️ failed",
    JobState.CANCELLED: "✖️ cancelled",
    JobState.INTERRUPTED: "🔄 interrupted",
}

Link = Callable[[Job], str | None]  # where a job's message is, when it has one


def jobs_text(jobs: Sequence[Job], settings: Settings, link: Link) -> str:
    """The member's recent jobs, newest first, one line each."""
    if not jobs:
        return "You have no jobs in this server yet. Make one with /imagine."
    return "\n".join(job_line(job, settings, link(job)) for job in jobs)


def job_line(job: Job, settings: Settings, link: str | None) -> str:
    """`abcd2345` · 5 minutes ago · ✅ made · Gemini 3.1 Flash Image · 1K · 4 images ·
    $0.27 · the prompt, linked to the job's message."""
    request = job.request
    parts = [f"`{job.id}`", f"<t:{int(job.created_at)}:R>", OUTCOMES[job.state]]
    parts.append(model_label(settings, request.model))
    if request.image_size:
        parts.append(request.image_size)
    if request.count > 1:
        parts.append(f"{request.count} images")
    if job.state is JobState.DELIVERED:
        parts.append(usd(job.cost_usd))
    prompt = "/describe of an image" if request.prompts else _plain(request.prompt)
    parts.append(f"[{prompt}]({link})" if link else prompt)
    return " · ".join(parts)


def not_shown(job: Job, link: str | None) -> str:
    """Why /show has nothing to post for a job that made no image (yet)."""
    where = f" Its message: {link}" if link else ""
    if job.state in (JobState.PENDING, JobState.QUEUED, JobState.RUNNING):
        return f"Job `{job.id}` is still being made ({OUTCOMES[job.state]}).{where}"
    return (
        f"Job `{job.id}` made no image ({OUTCOMES[job.state]}), so there is nothing to show.{where}"
    )


def _plain(prompt: str) -> str:
    """The prompt on one line, short, without what would break a markdown link."""
    text = " ".join(prompt.split()).replace("[", "(").replace("]", ")")
    return text if len(text) <= _PROMPT_CHARS else text[: _PROMPT_CHARS - 1].rstrip() + "…"
