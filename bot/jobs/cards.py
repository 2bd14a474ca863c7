"""Which card shows a job's state, and which actions it offers. Pure.

A card is built from the job record alone (its report and stored images), so an outcome
posted again after a restart looks exactly like the first time.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.config import Settings
from bot.jobs.display import (
    Action,
    BlockCard,
    BriefingCard,
    Card,
    FailureCard,
    NoticeCard,
    ResultCard,
)
from bot.jobs.pricing import estimate_usd
from bot.jobs.records import Basis, Job, JobState, Report
from bot.media import Media
from bot.styles import style_choices

BLOCK_ACTIONS = (Action.RETRY, Action.EDIT_PROMPT)
BRIEFING_ACTIONS = (Action.GENERATE, Action.EDIT_PROMPT, Action.CANCEL)


def model_label(settings: Settings, model: str) -> str:
    info = settings.models.catalog.get(model)
    return info.label if info else model


def upscale_size(settings: Settings, model: str, size: str | None) -> str | None:
    """The next larger output size than `size` that `model` offers, if any."""
    info = settings.models.catalog.get(model)
    if info is None:
        return None
    current = size or info.default_size
    if current not in info.image_sizes:
        return None
    bigger = info.image_sizes[info.image_sizes.index(current) + 1 :]
    return bigger[0] if bigger else None


def is_editing(job: Job) -> bool:
    return job.request.basis is not Basis.NEW or bool(job.request.input_images)


def card_for(job: Job, images: Sequence[Media], settings: Settings) -> Card:
    """The card for a job's current state (an outcome, or a pending job's briefing)."""
    request, report = job.request, job.report or Report()
    if job.state is JobState.PENDING:
        return BriefingCard(
            prompt=request.prompt,
            model_label=model_label(settings, request.model),
            count=request.count,
            aspect_ratio=request.aspect_ratio,
            size=request.image_size,
            input_images=len(request.input_images),
            actions=BRIEFING_ACTIONS,
            cost_usd=estimate_usd(request, settings),
            confirm_above_usd=settings.quotas.confirm_above_usd,
        )
    if job.state is JobState.DELIVERED:
        return ResultCard(
            images=tuple(images),
            prompt=request.prompt,
            text=report.text,
            model_label=model_label(settings, request.model),
            aspect_ratio=request.aspect_ratio,
            size=request.image_size,
            cost_usd=job.cost_usd,
            elapsed_s=report.elapsed_s,
            withheld=report.withheld,
            actions=result_actions(job, settings),
            styles=tuple(style_choices()) if request.redo else (),
            choices=len(images) if request.redo and len(images) > 1 else 0,
            # A video or an upscale is no image to edit further: no thread for it.
            open_conversation=job.thread_id is None and request.call == "generate",
            sources=report.sources,
            search_queries=report.search_queries,
        )
    if job.state is JobState.BLOCKED and report.block is not None:
        return BlockCard(report.block, BLOCK_ACTIONS)
    if job.state is JobState.INTERRUPTED:
        return NoticeCard("interrupted", request.prompt, None, (Action.RETRY,))
    if job.state is JobState.CANCELLED:
        return NoticeCard("cancelled", request.prompt, report.by_user, (Action.RETRY,))
    actions = (Action.RETRY,) if report.retryable else ()
    return FailureCard(job.error_message or "The image could not be made.", actions)


def result_actions(job: Job, settings: Settings) -> tuple[Action, ...]:
    request = job.request
    # Animate (Vertex AI) works on any image; a video is not animated again.
    animate = (Action.ANIMATE,) if settings.video.model and request.call != "animate" else ()
    if not request.redo:
        return (*animate, Action.DELETE)
    actions = [Action.REROLL, Action.REFINE]
    if upscale_size(settings, request.model, request.image_size) is not None:
        actions.append(Action.UPSCALE)
    if settings.upscale.faithful_model:
        actions.append(Action.UPSCALE_FAITHFUL)
    return (*actions, *animate, Action.DELETE)
