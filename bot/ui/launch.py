"""Start a new image conversation from a slash command, a context menu or a modal.

Cheap checks answer at once (privately); then the interaction is deferred, uploads are
downloaded and validated, and either the job runs on the interaction's own response (from
which a thread is opened for the conversation), or, for workflows that ask first, the
response becomes a briefing with Generate, Edit prompt and Cancel buttons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot.errors import InputError
from bot.images import UploadLimits
from bot.records import Job, JobRequest, JobState, new_job_id
from bot.store.codec import ImageBlob
from bot.ui import render, views
from bot.ui.replies import answer_privately
from bot.ui.service import Context, Origin
from bot.ui.surfaces import InteractionSurface
from bot.ui.uploads import check_count, read_images
from bot.ui.views import Action

if TYPE_CHECKING:
    from bot.app import ImagineBot

BRIEFING_ACTIONS = (Action.GENERATE, Action.EDIT_PROMPT, Action.CANCEL)


@dataclass(frozen=True)
class LaunchRequest:
    request: JobRequest  # everything but the uploads, which are read here
    attachments: Sequence[discord.Attachment] = ()
    kind: str = "imagine"
    job_id: str | None = None  # a pending job this launch accepts
    confirm: bool = False  # show a briefing and wait for Generate


def origin_of(interaction: discord.Interaction) -> Origin:
    return Origin(
        user_id=interaction.user.id,
        user_mention=interaction.user.mention,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
    )


async def launch(bot: ImagineBot, interaction: discord.Interaction, launch: LaunchRequest) -> None:
    with bot.service.track():
        await _launch(bot, interaction, launch)


async def _launch(bot: ImagineBot, interaction: discord.Interaction, launch: LaunchRequest) -> None:
    info = bot.settings.models.info(launch.request.model)
    try:
        check_count(len(launch.attachments), info.max_input_images, info.label)
    except InputError as exc:
        await answer_privately(interaction, exc.user_message)
        return
    surface = await InteractionSurface.defer(interaction)
    try:
        uploads = await read_images(launch.attachments, UploadLimits.of(bot.settings.uploads))
    except InputError as exc:
        await answer_privately(interaction, exc.user_message)
        return
    blobs = [ImageBlob.of(image.data, image.mime_type) for image in uploads]
    request = launch.request.model_copy(
        update={"input_images": tuple(blob.sha256 for blob in blobs)}
    )
    if launch.confirm:
        await _brief(bot, interaction, launch.kind, request, blobs, surface)
        return
    context = Context(origin_of(interaction))
    await bot.service.run(launch.kind, request, uploads, surface, context, job_id=launch.job_id)


async def _brief(
    bot: ImagineBot,
    interaction: discord.Interaction,
    kind: str,
    request: JobRequest,
    uploads: Sequence[ImageBlob],
    surface: InteractionSurface,
) -> None:
    """Keep the request as a pending job and show what will be generated, to confirm."""
    origin = origin_of(interaction)
    job = Job(
        id=new_job_id(),
        kind=kind,
        user_id=origin.user_id,
        guild_id=origin.guild_id,
        channel_id=origin.channel_id,
        message_id=surface.message_id,
        state=JobState.PENDING,
        request=request,
    )
    await bot.store.add_job(job, uploads)
    info = bot.settings.models.info(request.model)
    await interaction.edit_original_response(
        content=None,
        embed=render.briefing_embed(job, info),
        view=views.buttons(job.id, *BRIEFING_ACTIONS),
    )
