"""Run one job: wait in line, generate, and show the outcome on its surface.

The runner owns the job's live state (queued -> running -> succeeded | blocked | failed) and
the message that shows it. Persisting the finished job is the caller's last step, because the
caller knows what else belongs in the same transaction (a conversation's turns, say).
"""

from __future__ import annotations

import asyncio
import logging
import time
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
from bot.ui import render
from bot.ui.progress import Progress
from bot.ui.surfaces import Surface

log = logging.getLogger(__name__)


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
        prepared: tuple[OutputImage, str] | None = None
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
        finally:
            await progress.stop()
        job.finished_at = time.time()
        return await self._deliver(job, result, error, prepared, surface)

    async def _deliver(
        self,
        job: Job,
        result: GenerationResult | None,
        error: GenerationError | None,
        prepared: tuple[OutputImage, str] | None,
        surface: Surface,
    ) -> Outcome:
        if error is not None or result is None:
            assert error is not None
            log.info("job %s failed: %s", job.id, error.kind)
            job.state, job.error_kind, job.error_message = (
                JobState.FAILED,
                error.kind,
                error.user_message,
            )
            message = await surface.show(content=None, embed=render.failure_embed(error, job))
            return Outcome(job, message)
        if result.block is not None or prepared is None:
            assert result.block is not None
            log.info("job %s blocked: %s %s", job.id, result.block.stage, result.block.reason)
            job.state, job.error_kind = (
                JobState.BLOCKED,
                f"{result.block.stage}:{result.block.reason}",
            )
            message = await surface.show(content=None, embed=render.block_embed(result.block, job))
            return Outcome(job, message, result)
        info = self._settings.models.info(job.request.model)
        job.state = JobState.SUCCEEDED
        job.cost_usd = info.price_for(job.request.image_size) * len(result.images)
        embed = render.result_embed(job, info, filename=prepared[1], elapsed_s=result.elapsed_s)
        message = await surface.show(
            content=render.result_content(result.text), embed=embed, image=prepared
        )
        return Outcome(job, message, result, sha256_hex(result.images[-1].data))

    @staticmethod
    def _prepare_image(
        result: GenerationResult, job: Job, upload_limit: int
    ) -> tuple[OutputImage, str]:
        """Blocking: tag the final image with its prompt and model, and fit the upload limit."""
        final = result.images[-1]
        metadata = {"prompt": job.request.prompt, "model": job.request.model, "job": job.id}
        png = images.tag_result(final.data, metadata=metadata)
        output = images.fit_to_limit(png, upload_limit)
        return output, render.image_filename(job.request.prompt, output.extension)
