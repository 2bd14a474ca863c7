"""The one application-command error handler: every failure gets an answer.

Errors the bot expects (`BotError`) are shown as they are. Anything else is a bug: it is
logged with a short error id, and the member sees only that id to quote to the operator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_ui.replies import Refused, answer_privately, report_exception

if TYPE_CHECKING:
    from bot.discord_ui.app import ImagineBot


def explain(error: app_commands.AppCommandError) -> str | None:
    """A member-facing explanation for discord.py's own check failures; None otherwise."""
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in a server channel, not in direct messages."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} seconds."
    if isinstance(error, app_commands.BotMissingPermissions):
        missing = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
        return f"I am missing permissions in this channel: {missing}. Ask a moderator."
    if isinstance(error, Refused):
        return str(error)
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use this command here."
    return None


class Errors(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.tree.error(self.on_app_command_error)

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        text = explain(error)
        if text is not None:
            await answer_privately(interaction, text)
            return
        name = interaction.command.qualified_name if interaction.command else "?"
        await report_exception(interaction, getattr(error, "original", error), f"/{name}")


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Errors(bot))
