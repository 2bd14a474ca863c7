"""Every image job, whatever started it, goes through `ImageService.run`.

A slash command, a message in a thread, a Retry or Reroll button: each builds a JobRequest,
a Surface (the message that will show the job) and a Context (who asked, which conversation,
which history), and the service does the rest: record the job, assemble the model's input,
run it through the queue, and file the outcome (a conversation turn, a new thread, or just
the job's final state).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import discord
from google.genai import types

from bot.generation import GenerationResult
from bot.images import ImageInput
from bot.providers import editing_model, produce
from bot.records import Conversation, Job, JobRequest, JobState, new_job_id
from bot.store import HistoryLimits
from bot.store.codec import ImageBlob
from bot.ui import render
from bot.ui.runner import Outcome, place_is_gone
from bot.ui.surfaces import MessageSurface, Surface

if TYPE_CHECKING:
    from bot.app import ImagineBot

log = logging.getLogger(__name__)

_THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440  # a day without messages
QUEUED_TEXT = "⏳ Queued…"


@dataclass(frozen=True)
class Origin:
    """Who asked, and the channel (or thread) where the job's message is."""

    user_id: int
    user_mention: str
    guild_id: int | None
    channel_id: int


@dataclass(frozen=True)
class Context:
    """What the model sees besides the new request."""

    origin: Origin
    conversation: Conversation | None = None  # None: a new conversation, opened on success
    use_history: bool = True  # send the conversation's earlier turns
    history_before: str | None = None  # only turns before this job's (re-doing that job)
    base_image: str | None = None  # sha256 of an image to edit, sent before the uploads


class ImageService:
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self._active: set[asyncio.Task[object]] = set()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        """Mark the current task as work in progress, so `shutdown` can stop it cleanly."""
        task = asyncio.current_task()
        assert task is not None
        self._active.add(task)
        try:
            yield
        finally:
            self._active.discard(task)

    async def shutdown(self) -> None:
        """Stop work in progress before the connections close. Stopped jobs stay 'queued' or
        'running' in the store and are reported as interrupted at the next start."""
        tasks = [task for task in self._active if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run(
        self,
        kind: str,
        request: JobRequest,
        uploads: Sequence[ImageInput],
        surface: Surface,
        context: Context,
        *,
        what: str = "Generating your image",
        job_id: str | None = None,
    ) -> Outcome:
        """Run a job; `job_id` accepts a pending job (a briefing or a form) instead of making
        a new one."""
        store = self.bot.store
        conversation = context.conversation
        job = Job(
            id=job_id or new_job_id(),
            kind=kind,
            user_id=context.origin.user_id,
            guild_id=context.origin.guild_id,
            channel_id=context.origin.channel_id,
            thread_id=conversation.thread_id if conversation else None,
            message_id=surface.message_id,
            request=request,
        )
        await store.add_job(job, [ImageBlob.of(i.data, i.mime_type) for i in uploads])
        history = await self._history(context, len(uploads))
        base = context.base_image
        latest = context.use_history and context.history_before is None
        if base is None and conversation is not None and latest and not history:
            base = conversation.last_image  # the history did not fit: still edit the image
        images = [*(await self._stored(base)), *uploads]

        def call() -> Awaitable[GenerationResult]:
            return produce(self.bot.genai, request, images, history)

        try:
            outcome = await self.bot.runner.run(
                job, call, surface, what=what, fallback=lambda: self._elsewhere(context)
            )
        except Exception:
            # Delivery failed in a way nobody handled (the error handler tells the member):
            # the job must not stay "running" in the store.
            job.state, job.error_kind = JobState.FAILED, "delivery"
            await store.save_job(job)
            raise
        await self._file(outcome, context)
        return outcome

    async def status_message(
        self, channel_id: int, *, guild_id: int | None, fallback_id: int | None = None
    ) -> MessageSurface:
        """A new "queued" message in `channel_id`, or in `fallback_id` when that channel is
        gone or closed to the bot (a deleted or locked thread)."""
        try:
            channel = self.bot.get_partial_messageable(channel_id, guild_id=guild_id)
            return await MessageSurface.post(channel, QUEUED_TEXT)
        except discord.HTTPException as exc:
            if fallback_id is None or not place_is_gone(exc):
                raise
            log.info("cannot post in %s (%s); using %s", channel_id, exc, fallback_id)
            channel = self.bot.get_partial_messageable(fallback_id, guild_id=guild_id)
            return await MessageSurface.post(channel, QUEUED_TEXT)

    async def _elsewhere(self, context: Context) -> MessageSurface:
        """Where to show an outcome whose own message became unusable: the channel the
        conversation started in (or the job's channel), addressed to the member."""
        origin = context.origin
        channel_id = context.conversation.channel_id if context.conversation else origin.channel_id
        channel = self.bot.get_partial_messageable(channel_id, guild_id=origin.guild_id)
        return await MessageSurface.post(channel, f"{origin.user_mention} {QUEUED_TEXT}")

    async def _history(self, context: Context, uploads: int) -> list[types.Content]:
        conversation = context.conversation
        if conversation is None or not context.use_history or context.base_image is not None:
            return []
        info = self.bot.settings.models.info(conversation.model)
        return await self.bot.store.history(
            conversation.thread_id,
            HistoryLimits(
                max_turns=self.bot.settings.conversations.max_history_turns,
                max_images=info.max_input_images - uploads,
            ),
            before_job=context.history_before,
        )

    async def _stored(self, sha256: str | None) -> list[ImageInput]:
        if sha256 is None:
            return []
        image = await self.bot.store.get_image(sha256)
        return [ImageInput(image.data, image.mime_type)] if image else []

    async def _file(self, outcome: Outcome, context: Context) -> None:
        """Record the outcome: a turn in its conversation, a new conversation, or the job."""
        job, result = outcome.job, outcome.result
        job.message_id = outcome.message.id
        job.result_image = outcome.image_sha
        # The shown images are kept with the job, for the buttons that edit or pick them.
        outputs = [ImageBlob.of(image.data, image.mime_type) for image in outcome.shown]
        job.outputs = tuple(blob.sha256 for blob in outputs)
        store = self.bot.store
        if result is None:  # the call failed: nothing came back to keep
            await store.save_job(job)
            return
        conversation = context.conversation
        if conversation is None and outcome.succeeded:
            conversation = await self._open_thread(outcome, context.origin)
        if conversation is None:
            await store.save_job(job, outputs)
            return
        if outcome.succeeded:
            conversation = replace(conversation, last_image=outcome.image_sha)
        job.thread_id = conversation.thread_id
        await store.record_turn(
            conversation,
            job,
            result.user_turn,
            result.model_turn,
            blocked=not outcome.succeeded,
            outputs=outputs,
        )

    async def _open_thread(self, outcome: Outcome, origin: Origin) -> Conversation | None:
        """A thread on the result message for the conversation to continue in; None (and a
        note on the result) where Discord does not allow one."""
        message, request = outcome.message, outcome.job.request
        if isinstance(message.channel, discord.Thread):
            await _add_note(message, render.NO_THREAD_IN_THREAD)
            return None
        try:
            thread = await message.create_thread(
                name=render.thread_name(request.prompt),
                auto_archive_duration=_THREAD_ARCHIVE_MINUTES,
            )
        except discord.HTTPException as exc:
            log.info("no thread for job %s: %s", outcome.job.id, exc)
            await _add_note(message, render.no_thread_note(exc))
            return None
        anyone = self.bot.settings.conversations.who_can_refine == "anyone"
        try:
            await thread.send(render.thread_welcome(origin.user_mention, anyone=anyone))
        except discord.HTTPException as exc:  # the thread works without its welcome line
            log.info("no welcome message in thread %s: %s", thread.id, exc)
        return Conversation(
            thread_id=thread.id,
            guild_id=origin.guild_id,
            channel_id=origin.channel_id,
            owner_id=origin.user_id,
            workflow=request.workflow,
            model=editing_model(request, self.bot.settings),
            aspect_ratio=request.aspect_ratio,
            image_size=request.image_size if request.provider == "gemini" else None,
        )


async def _add_note(message: discord.Message, note: str) -> None:
    """Append a short note to a result message (best effort: the result is already shown)."""
    content = f"{message.content}\n\n{note}" if message.content else note
    try:
        await message.edit(content=render.clip(content, render.CONTENT_LIMIT))
    except discord.HTTPException as exc:
        log.info("could not add a note to message %s: %s", message.id, exc)
