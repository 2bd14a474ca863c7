"""/jobs: a member's recent jobs, with links; /show: a result posted again with live
buttons (job ids are on every result card)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_ui import messages
from bot.discord_ui.members import place_of, role_ids
from bot.discord_ui.replies import answer_privately
from bot.jobs import access, history
from bot.jobs.cards import card_for, shown_images
from bot.jobs.display import DescribeCard, ResultCard
from bot.jobs.records import Job, JobState

if TYPE_CHECKING:
    from bot.discord_ui.app import ImagineBot

_NONE = discord.AllowedMentions.none()


class History(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @app_commands.command(name="jobs", description="Your recent jobs: prompts, costs, links")
    @app_commands.allowed_installs(guilds=True, users=False)  # it needs the bot there
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def jobs(self, interaction: discord.Interaction) -> None:
        if not access.server_allowed(self.bot.settings.access, interaction.guild_id):
            await answer_privately(interaction, access.NOT_ENABLED)
            return
        recent = await self.bot.jobs.store.recent_jobs(
            interaction.user.id, interaction.guild_id, history.RECENT
        )
        text = history.jobs_text(recent, self.bot.settings, _link)
        embed = discord.Embed(
            title="Your recent jobs",
            description=messages.clip(text, messages.EMBED_DESCRIPTION_LIMIT),
            colour=messages.COLOR_OK,
        )
        embed.set_footer(text="Post a result again, with its buttons: /show job:<id>")
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=_NONE)

    @app_commands.command(name="show", description="Post a result again, with live buttons")
    @app_commands.describe(job="The job id on the result card (or in /jobs), e.g. abcd2345")
    @app_commands.allowed_installs(guilds=True, users=False)  # it needs the bot there
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def show(self, interaction: discord.Interaction, job: str) -> None:
        jobs = self.bot.jobs
        found = await self._find(job.strip().lower(), interaction)
        if isinstance(found, str):
            await answer_privately(interaction, found)
            return
        if found.state is not JobState.DELIVERED:
            await answer_privately(interaction, history.not_shown(found, _link(found)))
            return
        await interaction.response.defer(thinking=True)
        images = await jobs.store.get_images(shown_images(found))
        card = card_for(found, images, self.bot.settings)
        assert isinstance(card, ResultCard | DescribeCard)  # what a delivered job shows
        await jobs.display.repost(interaction, found, card)

    async def _find(self, job_id: str, interaction: discord.Interaction) -> Job | str:
        """The job of this server named `job_id`, or what to tell the member."""
        place, roles = place_of(interaction), role_ids(interaction.user)
        if not access.allowed(self.bot.settings.access, place, roles):
            return access.NOT_ENABLED
        if not history.JOB_ID.fullmatch(job_id):
            return (
                f"`{messages.clip(job_id, 20)}` is not a job id: they are 8 letters and digits, "
                "like `abcd2345`, on every result card and in /jobs."
            )
        job = await self.bot.jobs.store.get_job(job_id)
        if job is None or job.guild_id != interaction.guild_id:
            days = self.bot.settings.storage.retention_days
            return (
                f"There is no job `{job_id}` in this server (results are kept for {days} days "
                "after their conversation was last used)."
            )
        return job


def _link(job: Job) -> str | None:
    if job.message_id is None or job.guild_id is None:
        return None
    return f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.message_id}"


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(History(bot))
