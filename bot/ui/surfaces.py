"""Where a job shows itself: one Discord message that is edited from progress to result.

An `InteractionSurface` is a slash command's own (deferred) response; a `MessageSurface` is a
message the bot posted, e.g. its reply to a member in a conversation thread.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Sequence
from typing import Any, Protocol

import discord

from bot.images import OutputImage

_NONE = discord.AllowedMentions.none()


class Surface(Protocol):
    @property
    def upload_limit(self) -> int:
        """Largest file, in bytes, this place accepts."""

    @property
    def message_id(self) -> int | None:
        """The id of the message that shows the job, once known."""

    async def edit_text(self, text: str) -> None:
        """Show a short status line (progress), replacing what was shown."""

    async def show(
        self,
        *,
        content: str | None,
        embed: discord.Embed,
        images: Sequence[tuple[OutputImage, str]] = (),
        view: discord.ui.View | None = None,
    ) -> discord.Message:
        """Replace the message with a final content, embed, image files (each with its
        filename) and buttons; return the message."""


def _final(
    content: str | None,
    embed: discord.Embed,
    images: Sequence[tuple[OutputImage, str]],
    view: discord.ui.View | None,
) -> dict[str, Any]:
    """The edit that turns a status message into its final form (no pings, ever)."""
    files = [discord.File(io.BytesIO(output.data), filename=name) for output, name in images]
    return {
        "content": content,
        "embed": embed,
        "attachments": files,
        "view": view,
        "allowed_mentions": _NONE,
    }


class InteractionSurface:
    """The message an interaction answers with: a command's own response, or (for a button
    or a modal opened from one) the message the button is on.

    An interaction's token works for 15 minutes. A job that waits longer (a long queue) edits
    its message through the channel instead, as any bot can edit its own public messages.
    """

    token_life = datetime.timedelta(minutes=14)  # with a minute to spare

    def __init__(self, interaction: discord.Interaction, message_id: int | None) -> None:
        self._interaction = interaction
        self._message_id = message_id

    @classmethod
    async def defer(cls, interaction: discord.Interaction) -> InteractionSurface:
        """Acknowledge at once: 'thinking…' for a command, a silent update for a component."""
        if interaction.message is not None:  # a button, a select, or a modal opened by one
            await interaction.response.defer()
            return cls(interaction, interaction.message.id)
        callback = await interaction.response.defer(thinking=True)
        return cls(interaction, callback.message_id if callback else None)

    @property
    def upload_limit(self) -> int:
        return self._interaction.filesize_limit

    @property
    def message_id(self) -> int | None:
        return self._message_id

    async def edit_text(self, text: str) -> None:
        if self._expired():
            await self._channel_message().edit(content=text, allowed_mentions=_NONE)
            return
        await self._interaction.edit_original_response(content=text, allowed_mentions=_NONE)

    async def show(
        self,
        *,
        content: str | None,
        embed: discord.Embed,
        images: Sequence[tuple[OutputImage, str]] = (),
        view: discord.ui.View | None = None,
    ) -> discord.Message:
        edit = (
            self._channel_message().edit
            if self._expired()
            else self._interaction.edit_original_response
        )
        return await edit(**_final(content, embed, images, view))

    def _expired(self) -> bool:
        age = discord.utils.utcnow() - self._interaction.created_at
        return self._message_id is not None and age > self.token_life

    def _channel_message(self) -> discord.PartialMessage:
        interaction = self._interaction
        channel = interaction.client.get_partial_messageable(
            interaction.channel_id or 0, guild_id=interaction.guild_id
        )
        assert self._message_id is not None
        return channel.get_partial_message(self._message_id)


class MessageSurface:
    def __init__(self, message: discord.Message) -> None:
        self._message = message

    @classmethod
    async def reply_to(cls, message: discord.Message, text: str) -> MessageSurface:
        """Post the status message as a reply to `message` (without pinging its author)."""
        sent = await message.reply(text, mention_author=False, allowed_mentions=_NONE)
        return cls(sent)

    @classmethod
    async def post(cls, channel: discord.abc.Messageable, text: str) -> MessageSurface:
        return cls(await channel.send(text, allowed_mentions=_NONE))

    @property
    def message_id(self) -> int | None:
        return self._message.id

    @property
    def upload_limit(self) -> int:
        guild = self._message.guild
        return guild.filesize_limit if guild else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES

    async def edit_text(self, text: str) -> None:
        self._message = await self._message.edit(content=text, allowed_mentions=_NONE)

    async def show(
        self,
        *,
        content: str | None,
        embed: discord.Embed,
        images: Sequence[tuple[OutputImage, str]] = (),
        view: discord.ui.View | None = None,
    ) -> discord.Message:
        self._message = await self._message.edit(**_final(content, embed, images, view))
        return self._message
