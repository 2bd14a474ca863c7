"""Where members can use the bot, and whether the bot itself is there.

A member can add the app to their own account (a user installation) and use its commands in
DMs, group DMs and servers that never installed the bot. There the bot is absent: it cannot
post in the channel, create threads or read messages. It answers only through the
interaction: its response, edits of that response and a few follow-ups, for 15 minutes. So a
result there opens no thread; its buttons and the Refine form carry the conversation, and the
history lives with the jobs, not in a thread.
"""

from __future__ import annotations

from typing import Any, TypeVar

import discord
from discord import app_commands

Offered = TypeVar(
    "Offered", app_commands.Command[Any, ..., Any], app_commands.ContextMenu, app_commands.Group
)

# Both installations (a server's, a member's) and every context: servers, the bot's DM, and
# group DMs and other DMs (those need the member's installation).
EVERY_INSTALL = app_commands.AppInstallationType(guild=True, user=True)
EVERY_CONTEXT = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)
SERVER_INSTALL = app_commands.AppInstallationType(guild=True)
SERVER_CONTEXT = app_commands.AppCommandContext(guild=True)


def offered_everywhere(command: Offered) -> Offered:
    """Offer `command` wherever the app is installed, the server's or the member's."""
    command.allowed_installs = EVERY_INSTALL
    command.allowed_contexts = EVERY_CONTEXT
    return command


def offered_in_servers(command: Offered) -> Offered:
    """Offer `command` only in servers that installed the bot (it needs the bot there)."""
    command.allowed_installs = SERVER_INSTALL
    command.allowed_contexts = SERVER_CONTEXT
    return command


def home_guild(interaction: discord.Interaction) -> int | None:
    """The server the interaction belongs to when that server installed the bot; None in
    DMs, group DMs and servers where only the member's installation answers. Jobs made
    outside the bot's servers count as the member's own, under no server's limits."""
    return interaction.guild_id if interaction.is_guild_integration() else None


def bot_is_absent(interaction: discord.Interaction) -> bool:
    """Whether the bot has no presence where the interaction happened (it can answer only
    through the interaction): a DM, a group DM, or a server only the member installed it for."""
    return home_guild(interaction) is None
