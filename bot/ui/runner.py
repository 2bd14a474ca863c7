"""Run one job: wait in line, generate, and show the outcome on its surface.

The runner owns the job's live state (queued -> running -> succeeded | blocked | failed) and
the message that shows it. Whatever happens, the member sees an answer on that message: the
image, why it was blocked, or what failed (with Retry where it makes sense). Persisting the
finished job is the caller's last step, because the caller knows what else belongs in the
same transaction (a conversation's turns, say).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

from bot import images
from bot.config import Settings
from bot.errors import GenerationError
from bot.generation import GeneratedImage, GenerationResult
from bot.images import OutputImage
from bot.jobs import JobQueue
from bot.providers import editing_model
from bot.records import Job, JobState
from bot.store import Store
from bot.store.codec import sha256_hex
from bot.styles import style_choices
from bot.ui import render, views
from bot.ui.progress import Progress
from bot.ui.surfaces import Surface
from bot.ui.views import Action

log = logging.getLogger(__name__)

# Where to show the outcome when the job's own message can no longer be used.
Fallback = Callable[[], Awaitable[Surface]]
# The model call itself (see bot.providers).
Produce = Callable[[], Awaitable[GenerationResult]]

_ARCHIVED_THREAD = 50083
_INVALID_WEBHOOK_TOKEN = 50027  # an interaction's 15 minutes are over


def upscale_size(settings: Settings, model: str, size: str | None) -> str | None:
    """The next larger output size than `size` that Gemini model `model` offers, if any."""
    info = settings.models.info(model)
    if info.provider != "gemini":
        return None
    current = size or info.default_size
    if current not in info.image_sizes:
        return None
    bigger = info.image_sizes[info.image_sizes.index(current) + 1 :]
    return bigger[0] if bigger else None


def place_is_gone(exc: discord.HTTPException) -> bool:
    """The message or thread was deleted or locked, we may no longer post there, or the
    interaction that owned the message has expired (a long wait in the queue)."""
    return exc.status in (401, 403, 404) or exc.code in (_ARCHIVED_THREAD, _INVALID_WEBHOOK_TOKEN)


@dataclass(frozen=True)
class PreparedImage:
    png: bytes  # tagged with prompt and model; kept to re-fit a smaller upload limit
    output: OutputImage
    filename: str


@dataclass(frozen=True)
class Delivery:
    content: str | None
    embed: discord.Embed
    view: discord.ui.View
    images: tuple[PreparedImage, ...] = ()


@dataclass
class Outcome:
    job: Job
    message: discord.Message
    result: GenerationResult | None = None  # None when the call failed
    shown: tuple[GeneratedImage, ...] = ()  # the images delivered, as generated

    @property
    def image_sha(self) -> str | None:
        """The main image: the one a conversation continues from."""
        return sha256_hex(self.shown[0].data) if self.shown else None

    @property
    def succeeded(self) -> bool:
        return self.job.state is JobState.SUCCEEDED


class JobRunner:
    def __init__(self, *, store: Store, queue: JobQueue, settings: Settings) -> None:
        self._store = store
        self._queue = queue
        self._settings = settings

    async def run(
        self,
        job: Job,
        produce: Produce,
        surface: Surface,
        *,
        what: str = "Generating your image",
        fallback: Fallback | None = None,
    ) -> Outcome:
        ticket = self._queue.ticket(job.user_id)
        progress = Progress(
            surface.edit_text,
            interval_s=self._settings.jobs.progress_interval_s,
            position=lambda: self._queue.position(ticket),
            what=what,
        )
        progress.start()
        result: GenerationResult | None = None
        error: GenerationError | None = None
        prepared: tuple[PreparedImage, ...] = ()
        try:
            async with self._queue.slot(ticket):
                job.state, job.started_at = JobState.RUNNING, time.time()
                # Before any await: a job that starts at once is never shown as queued (one
                # edit fewer: under a burst every REST call is a loop turn and a connection).
                progress.started()
                await self._store.save_job(job)
                try:
                    result = await produce()
                    if result.ok:
                        prepared = await asyncio.to_thread(
                            self._prepare_images,
                            shown_images(result, job),
                            job,
                            surface.upload_limit,
                        )
                except GenerationError as exc:
                    error = exc
                except Exception as exc:  # a bug: the member still gets an answer, with Retry
                    log.error("unexpected error in job %s", job.id, exc_info=exc)
                    error = GenerationError(render.INTERNAL_ERROR, kind="internal")
        finally:
            await progress.stop()
        job.finished_at = time.time()
        delivery = self._compose(job, result, error, prepared)
        message = await self._show(surface, delivery, fallback)
        shown = shown_images(result, job) if prepared and result else ()
        return Outcome(job, message, result, shown)

    def _compose(
        self,
        job: Job,
        result: GenerationResult | None,
        error: GenerationError | None,
        prepared: tuple[PreparedImage, ...],
    ) -> Delivery:
        """Set the job's final state and build the message that shows it."""
        if error is not None or result is None:
            assert error is not None
            log.info("job %s failed: %s", job.id, error.kind)
            job.state, job.error_kind = JobState.FAILED, error.kind
            job.error_message = error.user_message
            actions = (Action.RETRY,) if error.retryable else ()
            return Delivery(None, render.failure_embed(error, job), views.buttons(job.id, *actions))
        if result.block is not None or not prepared:
            assert result.block is not None
            block = result.block
            log.info("job %s blocked: %s %s", job.id, block.stage, block.reason)
            job.state, job.error_kind = JobState.BLOCKED, f"{block.stage}:{block.reason}"
            return Delivery(
                None,
                render.block_embed(block, job),
                views.buttons(job.id, Action.RETRY, Action.EDIT_PROMPT),
            )
        info = self._settings.models.info(job.request.model)
        job.state = JobState.SUCCEEDED
        job.cost_usd = info.price_for(job.request.image_size) * len(result.images)
        embed = render.result_embed(
            job,
            info,
            filename=prepared[0].filename,
            elapsed_s=result.elapsed_s,
            withheld=result.filtered,
        )
        view = self._result_view(job, len(prepared))
        return Delivery(render.result_content(result.text), embed, view, prepared)

    def _result_view(self, job: Job, images: int) -> discord.ui.View:
        if not job.request.redo:
            return views.buttons(job.id, Action.DELETE)
        actions = [Action.REROLL, Action.REFINE]
        editor = editing_model(job.request, self._settings)
        if upscale_size(self._settings, editor, job.request.image_size) is not None:
            actions.append(Action.UPSCALE)
        view = views.buttons(job.id, *actions, Action.DELETE)
        if images > 1:
            views.with_choices(view, job.id, images)
        return views.with_styles(view, job.id, style_choices())

    async def _show(
        self, surface: Surface, delivery: Delivery, fallback: Fallback | None
    ) -> discord.Message:
        try:
            return await self._show_fitted(surface, delivery)
        except discord.HTTPException as exc:
            if fallback is None or not place_is_gone(exc):
                raise
            log.info("job message unusable (%s); showing the outcome elsewhere", exc)
            return await self._show_fitted(await fallback(), delivery)

    async def _show_fitted(self, surface: Surface, delivery: Delivery) -> discord.Message:
        """Show the delivery; if Discord still finds a file too large, shrink them and retry."""
        try:
            return await surface.show(
                content=delivery.content,
                embed=delivery.embed,
                images=[(image.output, image.filename) for image in delivery.images],
                view=delivery.view,
            )
        except discord.HTTPException as exc:
            if exc.status != 413 or not delivery.images:
                raise
            smaller = await asyncio.to_thread(_halved, delivery.images)
            log.info("upload refused as too large; sending %d smaller file(s)", len(smaller))
            return await surface.show(
                content=delivery.content,
                embed=delivery.embed.set_image(url=f"attachment://{smaller[0].filename}"),
                images=[(image.output, image.filename) for image in smaller],
                view=delivery.view,
            )

    @staticmethod
    def _prepare_images(
        shown: tuple[GeneratedImage, ...], job: Job, upload_limit: int
    ) -> tuple[PreparedImage, ...]:
        """Blocking: tag each image with its prompt and model, and fit the upload limit."""
        metadata = {"prompt": job.request.prompt, "model": job.request.model, "job": job.id}
        prepared = []
        for number, image in enumerate(shown, start=1):
            png = images.tag_result(image.data, metadata=metadata)
            output = images.fit_to_limit(png, upload_limit)
            suffix = f"-{number}" if len(shown) > 1 else ""
            filename = render.image_filename(job.request.prompt, output.extension, suffix)
            prepared.append(PreparedImage(png, output, filename))
        return tuple(prepared)


def shown_images(result: GenerationResult, job: Job) -> tuple[GeneratedImage, ...]:
    """What a result shows: every Imagen image; Gemini's final image (its last one)."""
    if job.request.provider == "imagen":
        return result.images
    return result.images[-1:]


def _halved(prepared: tuple[PreparedImage, ...]) -> tuple[PreparedImage, ...]:
    """Blocking: each image re-fitted to half its current size."""
    smaller = []
    for image in prepared:
        output = images.fit_to_limit(image.png, len(image.output.data) // 2)
        filename = f"{image.filename.rsplit('.', 1)[0]}.{output.extension}"
        smaller.append(PreparedImage(image.png, output, filename))
    return tuple(smaller)
