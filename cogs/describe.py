"""/describe: four prompts that would make an image like the member's, each with an Imagine
button. A job like any other (through the guard rails and the queue), answered on the
command's own response."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_ui.attachments import uploads_of
from bot.discord_ui.starts import start_job
from bot.jobs.describe import WORKFLOW, describe_request

if TYPE_CHECKING:
    from bot.discord_ui.app import ImagineBot


class Describe(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="describe", description="Prompts that would make an image like yours"
    )
    @app_commands.describe(image="The image to describe (PNG, JPEG, WEBP, GIF or AVIF)")
    @app_commands.allowed_installs(guilds=True, users=False)  # it needs the bot there
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def describe(self, interaction: discord.Interaction, image: discord.Attachment) -> None:
        request = describe_request(self.bot.settings)
        await start_job(self.bot, interaction, request, WORKFLOW, uploads_of([image]))


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Describe(bot))
