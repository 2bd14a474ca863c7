"""The one application-command error handler: every failure gets an answer.

Errors the bot expects (`BotError`) are shown as they are. Anything else is a bug: it is
logged with a short error id, and the member sees only that id to quote to the operator.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import BotError
from bot.records import new_job_id
from bot.ui.replies import answer_privately

if TYPE_CHECKING:
    from bot.app import ImagineBot

log = logging.getLogger(__name__)


def explain(error: app_commands.AppCommandError) -> str | None:
    """A member-facing explanation for errors that are not bugs; None for bugs."""
    original = getattr(error, "original", error)
    if isinstance(original, BotError):
        return original.user_message
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in a server channel, not in direct messages."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} seconds."
    if isinstance(error, app_commands.BotMissingPermissions):
        missing = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
        return f"I am missing permissions in this channel: {missing}. Ask a moderator."
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use this command here."
    if isinstance(original, discord.Forbidden):
        return (
            "Discord did not let me do that here (missing permissions). Ask a moderator to "
            "check my permissions in this channel."
        )
    return None


def unexpected_error_text(error_id: str) -> str:
    return (
        "Something went wrong on my side and the request could not finish. If it keeps "
        f"happening, give the bot's operator this error id: `{error_id}`."
    )


class Errors(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.tree.error(self.on_app_command_error)

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        text = explain(error)
        if text is None:
            error_id = new_job_id()
            name = interaction.command.qualified_name if interaction.command else "?"
            log.error(
                "unexpected error %s in /%s",
                error_id,
                name,
                exc_info=getattr(error, "original", error),
            )
            text = unexpected_error_text(error_id)
        try:
            await answer_privately(interaction, text)
        except discord.HTTPException:
            log.warning("could not tell the member about an error (interaction %s)", interaction.id)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Errors(bot))
