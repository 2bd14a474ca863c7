"""Where a job shows itself: one Discord message that is edited from progress to result.

An `InteractionSurface` is a slash command's own (deferred) response; a `MessageSurface` is a
message the bot posted, e.g. its reply to a member in a conversation thread.
"""

from __future__ import annotations

import io
from typing import Protocol

import discord

from bot.images import OutputImage

_NONE = discord.AllowedMentions.none()


class Surface(Protocol):
    @property
    def upload_limit(self) -> int:
        """Largest file, in bytes, this place accepts."""

    async def edit_text(self, text: str) -> None:
        """Show a short status line (progress), replacing what was shown."""

    async def show(
        self,
        *,
        content: str | None,
        embed: discord.Embed,
        image: tuple[OutputImage, str] | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message:
        """Replace the message with a final content, embed, optional image file (with its
        filename) and buttons; return the message."""


def _file(image: tuple[OutputImage, str] | None) -> list[discord.File]:
    if image is None:
        return []
    output, filename = image
    return [discord.File(io.BytesIO(output.data), filename=filename)]


class InteractionSurface:
    def __init__(self, interaction: discord.Interaction) -> None:
        self._interaction = interaction

    @property
    def upload_limit(self) -> int:
        return self._interaction.filesize_limit

    async def edit_text(self, text: str) -> None:
        await self._interaction.edit_original_response(content=text, allowed_mentions=_NONE)

    async def show(
        self,
        *,
        content: str | None,
        embed: discord.Embed,
        image: tuple[OutputImage, str] | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message:
        return await self._interaction.edit_original_response(
            content=content,
            embed=embed,
            attachments=_file(image),
            view=view,
            allowed_mentions=_NONE,
        )


class MessageSurface:
    def __init__(self, message: discord.Message) -> None:
        self._message = message

    @classmethod
    async def reply_to(cls, message: discord.Message, text: str) -> MessageSurface:
        """Post the status message as a reply to `message` (without pinging its author)."""
        sent = await message.reply(text, mention_author=False, allowed_mentions=_NONE)
        return cls(sent)

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
        image: tuple[OutputImage, str] | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message:
        self._message = await self._message.edit(
            content=content,
            embed=embed,
            attachments=_file(image),
            view=view,
            allowed_mentions=_NONE,
        )
        return self._message
