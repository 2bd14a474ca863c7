"""Who is asking and where, as the plain data the guard rails take (`bot.jobs.access`)."""

from __future__ import annotations

import discord

from bot.discord_ui.reach import home_guild
from bot.jobs.access import Place
from bot.jobs.permissions import Actor


def role_ids(user: discord.User | discord.Member) -> frozenset[int]:
    """The member's roles (without @everyone); none outside a server."""
    if not isinstance(user, discord.Member):
        return frozenset()
    return frozenset(role.id for role in user.roles if not role.is_default())


def actor_of(interaction: discord.Interaction) -> Actor:
    return Actor(
        interaction.user.id,
        manages_messages=interaction.permissions.manage_messages,
        role_ids=role_ids(interaction.user),
    )


def place_of(interaction: discord.Interaction) -> Place:
    """The interaction's server (None where the bot is not installed in one: see
    `bot.discord_ui.reach`) and channel, and the channel a thread is in."""
    channel = interaction.channel
    parent = channel.parent_id if isinstance(channel, discord.Thread) else None
    return Place(home_guild(interaction), interaction.channel_id or 0, parent)
