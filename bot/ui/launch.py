"""Start a new image conversation from a slash command, a context menu or a modal.

Cheap checks answer at once (privately); then the interaction is deferred, uploads are
downloaded and validated, and the job runs on the interaction's own response, from which a
thread is opened for the conversation to continue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot.errors import InputError
from bot.records import JobRequest
from bot.store.codec import sha256_hex
from bot.ui.replies import answer_privately
from bot.ui.service import Context, Origin
from bot.ui.surfaces import InteractionSurface
from bot.ui.uploads import check_count, read_images, upload_limits

if TYPE_CHECKING:
    from bot.app import ImagineBot


@dataclass(frozen=True)
class LaunchRequest:
    prompt: str
    model: str
    aspect_ratio: str | None = None
    image_size: str | None = None
    attachments: Sequence[discord.Attachment] = ()
    workflow: str = "imagine"
    kind: str = "imagine"
    redo: bool = True
    job_id: str | None = None  # a pending job this launch accepts


def origin_of(interaction: discord.Interaction) -> Origin:
    return Origin(
        user_id=interaction.user.id,
        user_mention=interaction.user.mention,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
    )


async def launch(bot: ImagineBot, interaction: discord.Interaction, request: LaunchRequest) -> None:
    with bot.service.track():
        await _launch(bot, interaction, request)


async def _launch(
    bot: ImagineBot, interaction: discord.Interaction, request: LaunchRequest
) -> None:
    info = bot.settings.models.info(request.model)
    try:
        check_count(len(request.attachments), info.max_input_images, info.label)
    except InputError as exc:
        await answer_privately(interaction, exc.user_message)
        return
    surface = await InteractionSurface.defer(interaction)
    try:
        uploads = await read_images(request.attachments, upload_limits(bot.settings.uploads))
    except InputError as exc:
        await answer_privately(interaction, exc.user_message)
        return
    job_request = JobRequest(
        prompt=request.prompt,
        model=request.model,
        aspect_ratio=request.aspect_ratio,
        image_size=request.image_size,
        input_images=tuple(sha256_hex(image.data) for image in uploads),
        workflow=request.workflow,
        redo=request.redo,
    )
    context = Context(origin_of(interaction))
    await bot.service.run(
        request.kind, job_request, uploads, surface, context, job_id=request.job_id
    )
