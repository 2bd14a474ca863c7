"""At start-up: jobs that were queued or running when the bot stopped are interrupted.

Each one is marked so, and its owner is told where the job was shown: its message becomes an
"interrupted" notice with a Retry button (or, if that message is gone, a new message in the
same channel says so).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import discord

from bot.records import JobState
from bot.ui import render, views
from bot.ui.views import Action

if TYPE_CHECKING:
    from bot.app import ImagineBot
    from bot.records import Job

log = logging.getLogger(__name__)


async def recover_interrupted_jobs(bot: ImagineBot) -> list[Job]:
    interrupted = []
    for job in await bot.store.unfinished_jobs():  # queued or running; briefings keep waiting
        job.state, job.error_kind = JobState.INTERRUPTED, "interrupted"
        job.finished_at = time.time()
        await bot.store.save_job(job)
        try:
            await _notify(bot, job)
        except discord.HTTPException as exc:
            log.warning("could not tell the owner of job %s about the restart: %s", job.id, exc)
        interrupted.append(job)
    if interrupted:
        log.info("%d job(s) were interrupted by the restart", len(interrupted))
    return interrupted


async def _notify(bot: ImagineBot, job: Job) -> None:
    channel = bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
    embed = render.interrupted_embed(job)
    mention = f"<@{job.user_id}>"
    owner = discord.AllowedMentions(users=[discord.Object(job.user_id)])  # ping only the owner
    view = views.buttons(job.id, Action.RETRY)
    if job.message_id is not None:
        try:
            await channel.get_partial_message(job.message_id).edit(
                content=mention, embed=embed, view=view, attachments=[], allowed_mentions=owner
            )
            return
        except discord.NotFound:
            pass  # the message was deleted: say it in a new one
    await channel.send(content=mention, embed=embed, view=view, allowed_mentions=owner)
