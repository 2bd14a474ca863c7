"""Answering one member privately, whatever state their interaction is in, and turning any
exception into an answer (a bug gets an error id the member can quote)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.discord_ui.translator import localized
from bot.errors import BotError
from bot.jobs.records import new_job_id

log = logging.getLogger(__name__)

_NONE = discord.AllowedMentions.none()


class Refused(app_commands.CheckFailure):
    """A command check that failed with an answer for the member: its text (shown privately
    by the error handler)."""


MISSING_PERMISSIONS = (
    "Discord did not let me do that here (missing permissions). Ask a moderator to check my "
    "permissions in this channel."
)


async def answer_privately(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral answer, in the member's language where a translation exists. If a public
    'thinking…' response was already started, it is removed first, so the channel is not left
    with an empty or half-finished message."""
    text = localized(interaction, text)
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=_NONE)
        return
    thinking = interaction.response.type is discord.InteractionResponseType.deferred_channel_message
    if interaction.message is None or thinking:  # our own response, not a button's message
        try:
            await interaction.delete_original_response()
        except discord.HTTPException as exc:  # already gone, or not ours to delete
            log.debug("could not delete the original response: %s", exc)
    await interaction.followup.send(text, ephemeral=True, allowed_mentions=_NONE)


def unexpected_error_text(error_id: str) -> str:
    return (
        "Something went wrong on my side and the request could not finish. If it keeps "
        f"happening, give the bot's operator this error id: `{error_id}`."
    )


async def report_exception(interaction: discord.Interaction, exc: BaseException, what: str) -> None:
    """Answer the member about `exc`: a BotError as it is, missing permissions plainly, and
    anything else (a bug) with an error id that is also in the log, with the traceback."""
    if isinstance(exc, BotError):
        text = exc.user_message
    elif isinstance(exc, discord.Forbidden):
        text = MISSING_PERMISSIONS
    else:
        error_id = new_job_id()
        log.error("unexpected error %s in %s", error_id, what, exc_info=exc)
        text = unexpected_error_text(error_id)
    try:
        await answer_privately(interaction, text)
    except discord.HTTPException:
        log.warning("could not tell the member about an error (interaction %s)", interaction.id)
