"""Answering one member privately, whatever state their interaction is in."""

from __future__ import annotations

import logging

import discord

log = logging.getLogger(__name__)

_NONE = discord.AllowedMentions.none()


async def answer_privately(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral answer. If a public 'thinking…' response was already started, it is
    removed first, so the channel is not left with an empty or half-finished message."""
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=_NONE)
        return
    try:
        await interaction.delete_original_response()
    except discord.HTTPException as exc:  # already gone, or not ours to delete
        log.debug("could not delete the original response: %s", exc)
    await interaction.followup.send(text, ephemeral=True, allowed_mentions=_NONE)
