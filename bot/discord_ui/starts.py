"""A job started by a slash command, shown on the command's own response (first "thinking…",
then its progress and its card, all one message)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from bot.discord_ui.members import place_of, role_ids
from bot.discord_ui.replies import answer_privately
from bot.errors import BotError
from bot.jobs.intake import NewJob
from bot.jobs.records import JobRequest, new_job_id
from bot.uploads import Upload

if TYPE_CHECKING:
    from bot.discord_ui.app import ImagineBot


async def start_job(
    bot: ImagineBot,
    interaction: discord.Interaction,
    request: JobRequest,
    kind: str,
    uploads: Sequence[Upload] = (),
    *,
    confirm: bool = False,
    references: tuple[str, ...] = (),
) -> None:
    """Screen the member (refused privately, before anything shows in the channel; so is
    everyone while the bot shuts down), then answer "thinking…" and hand the job over; a
    refusal after that replaces the answer."""
    jobs, roles, place = bot.jobs, role_ids(interaction.user), place_of(interaction)
    try:
        jobs.intake.check_accepting()
        await jobs.guard.screen(interaction.user.id, roles, place, request.prompt)
    except BotError as exc:
        await answer_privately(interaction, exc.user_message)
        return
    callback = await interaction.response.defer(thinking=True)
    job_id = new_job_id()
    jobs.display.bind(job_id, interaction)
    new = NewJob(
        request=request,
        kind=kind,
        user_id=interaction.user.id,
        guild_id=place.guild_id,
        channel_id=place.channel_id,
        message_id=callback.message_id if callback else None,
        confirm=confirm,
        job_id=job_id,
        role_ids=roles,
        parent_channel_id=place.parent_id,
        references=references,
    )
    try:
        await jobs.intake.submit(new, uploads)
    except BotError as exc:
        jobs.display.release(job_id)
        await answer_privately(interaction, exc.user_message)
