"""`bot.jobs.moderation.Moderation` in Discord: copies in `[moderation] log_channel_id`.

Each result is posted with its images, prompt, member, job id and cost; each block and each
prompt refused for a blocked term with the prompt and the member. Nothing here raises: when
the bot may not post in the channel (or it is gone) it says so once in the log, and keeps
saying nothing until a copy gets through again, so generation never notices. A refused
prompt's copy is posted in the background: the member's answer never waits for it.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence

import discord

from bot import images as image_work
from bot.config import Settings
from bot.discord_ui import messages
from bot.jobs.access import Place
from bot.jobs.cards import model_label
from bot.jobs.quotas import usd
from bot.jobs.records import Job, JobState
from bot.media import Media

log = logging.getLogger(__name__)

_NONE = discord.AllowedMentions.none()
COPY_TASK = "moderation copy"


class ModerationLog:
    def __init__(self, client: discord.Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._channel_id = settings.moderation.log_channel_id
        self._failing = False  # the last copy could not be posted (already logged)
        self._background: set[asyncio.Task[None]] = set()

    async def outcome(self, job: Job, images: Sequence[Media]) -> None:
        if job.state is JobState.DELIVERED:
            embed = self._embed("Result", job.request.prompt, job.user_id, job, messages.COLOR_OK)
            embed.add_field(name="Cost", value=f"about {usd(job.cost_usd)}")
            await self._post(embed, images, f"job {job.id}")
            return
        block = job.report.block if job.report else None
        embed = self._embed("Blocked by Gemini", job.request.prompt, job.user_id, job)
        if block is not None:
            embed.add_field(name="Reason", value=f"`{block.reason}` ({block.info.category})")
        await self._post(embed, (), f"job {job.id}")

    async def refused_prompt(self, user_id: int, place: Place, prompt: str) -> None:
        embed = self._embed("Prompt refused: blocked term", prompt, user_id, None)
        embed.add_field(name="Where", value=f"<#{place.channel_id}>")
        task = asyncio.create_task(self._post(embed, (), "a refused prompt"), name=COPY_TASK)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _embed(
        self,
        title: str,
        prompt: str,
        user_id: int,
        job: Job | None,
        colour: discord.Colour = messages.COLOR_BLOCKED,
    ) -> discord.Embed:
        embed = discord.Embed(
            title=title,
            description=messages.clip(prompt, messages.EMBED_DESCRIPTION_LIMIT),
            colour=colour,
        )
        embed.add_field(name="Member", value=f"<@{user_id}> ({user_id})")
        if job is not None:
            embed.add_field(name="Job", value=f"`{job.id}` ({job.kind})")
            embed.add_field(name="Model", value=model_label(self._settings, job.request.model))
            embed.add_field(name="Where", value=f"<#{job.channel_id}>")
        return embed

    async def _post(self, embed: discord.Embed, images: Sequence[Media], what: str) -> None:
        channel = self._client.get_partial_messageable(self._channel_id)
        try:
            fitted = await asyncio.to_thread(_fit_all, images, self._upload_limit())
            files = [
                discord.File(io.BytesIO(image.data), filename=f"{n}.{image.extension}")
                for n, image in enumerate(fitted, start=1)
            ]
            if fitted and not fitted[0].mime_type.startswith("video/"):
                embed.set_image(url=f"attachment://{files[0].filename}")
            await channel.send(embed=embed, files=files, allowed_mentions=_NONE)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self._failing:
                log.warning(
                    "cannot post in the moderation log channel %s (%s); copies are skipped "
                    "until it works again: check that the channel exists and that the bot "
                    "may send messages, embed links and attach files there",
                    self._channel_id,
                    _reason(exc),
                )
            self._failing = True
            log.debug("copy of %s not posted: %r", what, exc)
            return
        if self._failing:
            log.info("the moderation log channel %s works again", self._channel_id)
        self._failing = False

    def _upload_limit(self) -> int:
        channel = self._client.get_channel(self._channel_id)
        guild = getattr(channel, "guild", None)
        limit: int = guild.filesize_limit if guild else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
        return limit


def _fit_all(media: Sequence[Media], limit: int) -> list[Media]:
    """Blocking: each image as it is, or re-encoded once to fit `limit` bytes; a video as it
    is, or left out when it is too large (videos are not re-encoded)."""
    return [
        item if item.mime_type.startswith("video/") else image_work.fit_to_limit(item, limit)
        for item in media
        if not (item.mime_type.startswith("video/") and item.size > limit)
    ]


def _reason(exc: Exception) -> str:
    if isinstance(exc, discord.Forbidden):
        return "missing permissions"
    if isinstance(exc, discord.NotFound):
        return "no such channel"
    return repr(exc)
