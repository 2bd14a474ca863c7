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
from google import genai

from bot import images
from bot.config import Settings
from bot.errors import GenerationError
from bot.generation import GenerationRequest, GenerationResult, generate
from bot.images import OutputImage
from bot.jobs import JobQueue
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

_ARCHIVED_THREAD = 50083


def upscale_size(settings: Settings, job: Job) -> str | None:
    """The next larger output size the job's model offers, if any."""
    info = settings.models.info(job.request.model)
    current = job.request.image_size or info.default_size
    if current not in info.image_sizes:
        return None
    bigger = info.image_sizes[info.image_sizes.index(current) + 1 :]
    return bigger[0] if bigger else None


def place_is_gone(exc: discord.HTTPException) -> bool:
    """The message or thread was deleted, locked, or we may no longer post there."""
    return exc.status in (403, 404) or exc.code == _ARCHIVED_THREAD


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
    image: PreparedImage | None = None


@dataclass
class Outcome:
    job: Job
    message: discord.Message
    result: GenerationResult | None = None  # None when the call failed
    image_sha: str | None = None  # the delivered image, as generated (before any re-encode)

    @property
    def succeeded(self) -> bool:
        return self.job.state is JobState.SUCCEEDED


class JobRunner:
    def __init__(
        self, *, client: genai.Client, store: Store, queue: JobQueue, settings: Settings
    ) -> None:
        self._client = client
        self._store = store
        self._queue = queue
        self._settings = settings

    async def run(
        self,
        job: Job,
        request: GenerationRequest,
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
        prepared: PreparedImage | None = None
        try:
            async with self._queue.slot(ticket):
                job.state, job.started_at = JobState.RUNNING, time.time()
                await self._store.save_job(job)
                progress.started()
                try:
                    result = await generate(self._client, request)
                    if result.ok:
                        prepared = await asyncio.to_thread(
                            self._prepare_image, result, job, surface.upload_limit
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
        image_sha = sha256_hex(result.images[-1].data) if prepared and result else None
        return Outcome(job, message, result, image_sha)

    def _compose(
        self,
        job: Job,
        result: GenerationResult | None,
        error: GenerationError | None,
        prepared: PreparedImage | None,
    ) -> Delivery:
        """Set the job's final state and build the message that shows it."""
        if error is not None or result is None:
            assert error is not None
            log.info("job %s failed: %s", job.id, error.kind)
            job.state, job.error_kind = JobState.FAILED, error.kind
            job.error_message = error.user_message
            actions = (Action.RETRY,) if error.retryable else ()
            return Delivery(None, render.failure_embed(error, job), views.buttons(job.id, *actions))
        if result.block is not None or prepared is None:
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
            job, info, filename=prepared.filename, elapsed_s=result.elapsed_s
        )
        return Delivery(render.result_content(result.text), embed, self._result_view(job), prepared)

    def _result_view(self, job: Job) -> discord.ui.View:
        if not job.request.redo:
            return views.buttons(job.id, Action.DELETE)
        actions = [Action.REROLL, Action.REFINE]
        if upscale_size(self._settings, job) is not None:
            actions.append(Action.UPSCALE)
        view = views.buttons(job.id, *actions, Action.DELETE)
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
        """Show the delivery; if Discord still finds the file too large, shrink it and retry."""
        image = delivery.image
        try:
            return await surface.show(
                content=delivery.content,
                embed=delivery.embed,
                image=(image.output, image.filename) if image else None,
                view=delivery.view,
            )
        except discord.HTTPException as exc:
            if exc.status != 413 or image is None:
                raise
            limit = len(image.output.data) // 2
            log.info("upload refused as too large; re-fitting to %d bytes", limit)
            smaller = await asyncio.to_thread(images.fit_to_limit, image.png, limit)
            filename = f"{image.filename.rsplit('.', 1)[0]}.{smaller.extension}"
            return await surface.show(
                content=delivery.content,
                embed=delivery.embed.set_image(url=f"attachment://{filename}"),
                image=(smaller, filename),
                view=delivery.view,
            )

    @staticmethod
    def _prepare_image(result: GenerationResult, job: Job, upload_limit: int) -> PreparedImage:
        """Blocking: tag the final image with its prompt and model, and fit the upload limit."""
        final = result.images[-1]
        metadata = {"prompt": job.request.prompt, "model": job.request.model, "job": job.id}
        png = images.tag_result(final.data, metadata=metadata)
        output = images.fit_to_limit(png, upload_limit)
        filename = render.image_filename(job.request.prompt, output.extension)
        return PreparedImage(png, output, filename)
