"""Which card shows a job's state, and which actions it offers. Pure.

A card is built from the job record alone (its report and stored images), so an outcome
posted again after a restart looks exactly like the first time.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.config import Settings
from bot.jobs import describe
from bot.jobs.display import (
    Action,
    BlockCard,
    BriefingCard,
    Card,
    DescribeCard,
    FailureCard,
    NoticeCard,
    ResultCard,
)
from bot.jobs.pricing import estimate_usd
from bot.jobs.records import Basis, Job, JobState, Report
from bot.jobs.redo import upscale_offer
from bot.media import Media
from bot.styles import style_choices

BLOCK_ACTIONS = (Action.RETRY, Action.EDIT_PROMPT)
BRANCH_KIND = "branch"  # a job that copies another's image into a new thread
BRIEFING_ACTIONS = (Action.GENERATE, Action.EDIT_PROMPT, Action.CANCEL)


def model_label(settings: Settings, model: str) -> str:
    info = settings.models.catalog.get(model)
    return info.label if info else model


def is_editing(job: Job) -> bool:
    return job.request.basis is not Basis.NEW or bool(job.request.input_images)


def shown_images(job: Job) -> tuple[str, ...]:
    """The images its card shows: what it made, or the image a /describe read."""
    return job.request.input_images[:1] if job.request.prompts else job.outputs


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
    if job.state is JobState.DELIVERED and request.prompts:
        return DescribeCard(
            image=images[0] if images else None,
            prompts=tuple(describe.prompts_of(job)),
            model_label=model_label(settings, request.model),
            cost_usd=job.cost_usd,
            elapsed_s=report.elapsed_s,
            actions=(Action.DELETE,),
        )
    if job.state is JobState.DELIVERED:
        slots = len(job.slots())
        return ResultCard(
            images=tuple(images),
            prompt=request.prompt,
            text=report.text,
            model_label=model_label(settings, request.model),
            aspect_ratio=request.aspect_ratio,
            size=request.image_size,
            cost_usd=job.cost_usd,
            elapsed_s=report.elapsed_s,
            missing=missing(job),
            actions=result_actions(job, settings),
            styles=tuple(style_choices()) if request.redo else (),
            grid=slots if request.redo and slots > 1 else 0,
            upscale=upscale_offer(job, settings) if request.redo else None,
            notes=result_notes(job, settings),
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
    if upscale_offer(job, settings) is not None:
        actions.append(Action.UPSCALE)
    if settings.upscale.faithful_model:
        actions.append(Action.UPSCALE_FAITHFUL)
    if job.thread_id is not None:  # a result in a conversation's thread
        if job.previous_head is not None:
            actions.append(Action.UNDO)
        actions.append(Action.BRANCH)
    return (*actions, *animate, Action.DELETE)


def missing(job: Job) -> tuple[tuple[int, str], ...]:
    """Where each withheld side-by-side image was, and why."""
    report = job.report or Report()
    empty = [slot for slot, output in enumerate(job.slots()) if output is None]
    return tuple(zip(empty, report.withheld, strict=False))


def result_notes(job: Job, settings: Settings) -> tuple[str, ...]:
    request, notes = job.request, []
    if request.references:
        notes.append(f"📎 References: {', '.join(request.references)}")
    info = settings.models.catalog.get(request.model)
    if request.left_out and info is not None:
        notes.append(
            f"⚠️ Left out: {', '.join(request.left_out)} ({info.label} takes at most "
            f"{info.max_input_images} images in one request, your attachments first)"
        )
    if job.kind == BRANCH_KIND and job.parent_job is not None:
        notes.append(
            f"🌿 A branch of job `{job.parent_job}`: changes here leave the thread it came "
            "from as it was."
        )
    return tuple(notes)
