"""/imagine: a prompt (and optional photos) in, an image in a new thread out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.ui.catalog import MAX_IMAGE_OPTIONS, image_option, imagine_spec
from bot.ui.commands import build_command
from bot.ui.launch import LaunchRequest, launch

if TYPE_CHECKING:
    from bot.app import ImagineBot


class Imagine(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        spec = imagine_spec(bot.settings)
        self.command = build_command(spec.name, spec.description, spec.options, self.imagine)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.command)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.command.name)

    async def imagine(self, interaction: discord.Interaction, values: dict[str, Any]) -> None:
        attachments = [
            values[name]
            for n in range(1, MAX_IMAGE_OPTIONS + 1)
            if (name := image_option(n)) in values
        ]
        await launch(
            self.bot,
            interaction,
            LaunchRequest(
                prompt=values["prompt"],
                model=self.bot.settings.models.default,
                aspect_ratio=values.get("aspect_ratio"),
                attachments=attachments,
            ),
        )


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Imagine(bot))
