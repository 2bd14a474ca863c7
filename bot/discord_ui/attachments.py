"""Members' attachments as uploads the job pipeline reads (`bot.uploads.Upload`)."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.errors import InputError
from bot.uploads import Fetch, Upload


def image_attachments(message: discord.Message) -> list[discord.Attachment]:
    """Attachments that claim to be images (their content is checked when downloaded)."""
    return [a for a in message.attachments if (a.content_type or "").startswith("image/")]


def uploads_of(attachments: Sequence[discord.Attachment]) -> list[Upload]:
    return [Upload(a.filename, a.size, _reader(a)) for a in attachments]


def _reader(attachment: discord.Attachment) -> Fetch:
    async def read() -> bytes:
        try:
            return await attachment.read()
        except discord.HTTPException as exc:
            raise InputError(
                f"I could not download `{attachment.filename}` from Discord. Try attaching it "
                "again."
            ) from exc

    return read
