"""Members' image attachments -> validated, normalised images ready for Gemini."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import discord

from bot.errors import InputError
from bot.images import ImageInput, UploadLimits, normalize_upload


def image_attachments(message: discord.Message) -> list[discord.Attachment]:
    """Attachments that claim to be images (their content is checked when downloaded)."""
    return [a for a in message.attachments if (a.content_type or "").startswith("image/")]


def check_count(count: int, max_count: int, model_label: str) -> None:
    if count > max_count:
        if max_count == 0:
            raise InputError(f"{model_label} cannot take images as input; send text only.")
        raise InputError(
            f"You attached {count} images, but {model_label} accepts at most {max_count} "
            "here. Send fewer images."
        )


async def read_images(
    attachments: Sequence[discord.Attachment], limits: UploadLimits
) -> list[ImageInput]:
    """Download and normalise each attachment (off the event loop); InputError on bad input.

    Sizes are checked before anything is downloaded; content is checked after, by Pillow.
    """
    for attachment in attachments:
        if attachment.size > limits.max_bytes:
            raise InputError(
                f"`{attachment.filename}` is {attachment.size / 1048576:.1f} MB; images can be "
                f"at most {limits.max_bytes / 1048576:.1f} MB."
            )
    try:
        blobs = await asyncio.gather(*(attachment.read() for attachment in attachments))
    except (discord.HTTPException, discord.NotFound) as exc:
        raise InputError(
            "I could not download your attachment from Discord. Try attaching it again."
        ) from exc
    # One at a time: decoding a large photo can take ~170 MB, so a message with several
    # must not decode them all at once.
    return [
        await asyncio.to_thread(normalize_upload, data, filename=a.filename, limits=limits)
        for a, data in zip(attachments, blobs, strict=True)
    ]
