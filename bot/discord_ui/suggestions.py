"""Autocomplete answers: what a member may mean while typing an option."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

if TYPE_CHECKING:
    from bot.discord_ui.app import ImagineBot


async def reference_names(
    bot: ImagineBot, interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Saved reference names completing what the member types (refs: takes several, with
    commas between them)."""
    if interaction.guild_id is None:
        return []
    values = await bot.jobs.references.suggest(interaction.guild_id, interaction.user.id, current)
    return [app_commands.Choice(name=value, value=value) for value in values]
