"""/usage: what a member used today and what is left; for members who can manage the server,
also the server's day and month by member and model, with the month's jobs as a CSV file.
Always a private answer."""

from __future__ import annotations

import datetime
import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_ui import messages
from bot.discord_ui.members import role_ids
from bot.discord_ui.reach import home_guild
from bot.discord_ui.replies import answer_privately
from bot.jobs import access, usage
from bot.jobs.cards import model_label
from bot.jobs.quotas import day_window, month_window

if TYPE_CHECKING:
    from bot.discord_ui.app import ImagineBot

_NONE = discord.AllowedMentions.none()


class Usage(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @app_commands.command(name="usage", description="What you used today and what is left")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def usage(self, interaction: discord.Interaction) -> None:
        guild_id = home_guild(interaction)  # None: the member's use outside the bot's servers
        if not access.server_allowed(self.bot.settings.access, guild_id):
            await answer_privately(interaction, access.NOT_ENABLED)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        jobs, reset_hour = self.bot.jobs, self.bot.settings.quotas.reset_hour_utc
        now = jobs.guard.now()
        day = day_window(now, reset_hour)
        user = interaction.user
        limits = await jobs.guard.limits(user.id, guild_id, role_ids(user))
        mine = await jobs.store.usage(user.id, guild_id, day)
        embeds = [_embed(usage.member_text(mine, limits, day, now))]
        files = []
        if guild_id is not None and interaction.permissions.manage_guild:
            month = month_window(now, reset_hour)
            text = usage.server_text(
                await jobs.store.usage_lines(guild_id, day),
                await jobs.store.usage_lines(guild_id, month),
                month,
                lambda model: model_label(self.bot.settings, model),
            )
            embeds.append(_embed(text))
            rows = usage.csv_bytes(await jobs.store.charged_jobs(guild_id, month))
            started = datetime.datetime.fromtimestamp(month.start, datetime.UTC)
            name = f"usage-{guild_id}-{started:%Y-%m}.csv"
            files.append(discord.File(io.BytesIO(rows), filename=name))
        await interaction.followup.send(
            embeds=embeds, files=files, ephemeral=True, allowed_mentions=_NONE
        )


def _embed(text: str) -> discord.Embed:
    return discord.Embed(description=messages.clip(text, messages.EMBED_DESCRIPTION_LIMIT))


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Usage(bot))
