"""Start a new image conversation from a slash or context-menu command.

The interaction is deferred at once; its response becomes the job's progress message and
then its result, and a thread is opened from that result for the conversation to continue.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import discord

from bot.errors import InputError
from bot.generation import GenerationRequest
from bot.images import ImageInput
from bot.records import Conversation, Job, JobRequest, new_job_id
from bot.store.codec import ImageBlob, sha256_hex
from bot.ui import render
from bot.ui.replies import answer_privately
from bot.ui.runner import Outcome
from bot.ui.surfaces import InteractionSurface
from bot.ui.uploads import check_count, read_images, upload_limits

if TYPE_CHECKING:
    from bot.app import ImagineBot

log = logging.getLogger(__name__)

_THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440  # a day without messages


@dataclass(frozen=True)
class LaunchRequest:
    prompt: str
    model: str
    aspect_ratio: str | None = None
    image_size: str | None = None
    attachments: Sequence[discord.Attachment] = ()
    workflow: str = "imagine"
    kind: str = "imagine"


async def launch(bot: ImagineBot, interaction: discord.Interaction, request: LaunchRequest) -> None:
    info = bot.settings.models.info(request.model)
    try:
        check_count(len(request.attachments), info.max_input_images, info.label)
    except InputError as exc:
        await answer_privately(interaction, exc.user_message)
        return
    await interaction.response.defer(thinking=True)
    try:
        inputs = await read_images(request.attachments, upload_limits(bot.settings.uploads))
    except InputError as exc:
        await answer_privately(interaction, exc.user_message)
        return
    job = _new_job(interaction, request, inputs)
    await bot.store.add_job(job, [ImageBlob.of(i.data, i.mime_type) for i in inputs])
    outcome = await bot.runner.run(
        job,
        GenerationRequest(
            model=request.model,
            prompt=request.prompt,
            images=inputs,
            aspect_ratio=request.aspect_ratio,
            image_size=request.image_size,
        ),
        InteractionSurface(interaction),
    )
    await _open_conversation(bot, interaction, outcome)


def _new_job(
    interaction: discord.Interaction, request: LaunchRequest, inputs: Sequence[ImageInput]
) -> Job:
    return Job(
        id=new_job_id(),
        kind=request.kind,
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        request=JobRequest(
            prompt=request.prompt,
            model=request.model,
            aspect_ratio=request.aspect_ratio,
            image_size=request.image_size,
            input_images=tuple(sha256_hex(image.data) for image in inputs),
            workflow=request.workflow,
        ),
    )


async def _open_conversation(
    bot: ImagineBot, interaction: discord.Interaction, outcome: Outcome
) -> None:
    """Open a thread on a successful result and record the first turn; else just the job."""
    job, result = outcome.job, outcome.result
    job.message_id = outcome.message.id
    if not outcome.succeeded or result is None:
        await bot.store.save_job(job)
        return
    thread = await outcome.message.create_thread(
        name=render.thread_name(job.request.prompt),
        auto_archive_duration=_THREAD_ARCHIVE_MINUTES,
    )
    job.thread_id = thread.id
    conversation = Conversation(
        thread_id=thread.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        owner_id=interaction.user.id,
        workflow=job.request.workflow,
        model=job.request.model,
        aspect_ratio=job.request.aspect_ratio,
        image_size=job.request.image_size,
        last_image=outcome.image_sha,
    )
    await bot.store.record_turn(
        conversation, job, result.user_turn, result.model_turn, blocked=False
    )
    anyone = bot.settings.conversations.who_can_refine == "anyone"
    await thread.send(render.thread_welcome(interaction.user.mention, anyone=anyone))
