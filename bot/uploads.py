"""Members' uploads -> validated, normalised images. Discord-free.

Declared sizes are checked before anything is downloaded. Files are then downloaded and
decoded one at a time (a large photo can take ~170 MB to decode), and the whole bot decodes
at most a few at once, however many members upload together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.errors import InputError
from bot.images import UploadLimits, normalize_upload
from bot.media import Media

Fetch = Callable[[], Awaitable[bytes]]


@dataclass(frozen=True)
class Upload:
    """A file a member attached, not downloaded yet."""

    filename: str
    size: int  # as declared by the sender
    fetch: Fetch  # raises InputError when it cannot be downloaded


class UploadReader:
    def __init__(self, limits: UploadLimits, *, max_decodes: int = 2) -> None:
        self._limits = limits
        self._decoding = asyncio.Semaphore(max_decodes)

    def check_count(self, count: int, max_count: int, model_label: str) -> None:
        if count > max_count:
            if max_count == 0:
                raise InputError(f"{model_label} cannot take images as input; send text only.")
            raise InputError(
                f"You attached {count} images, but {model_label} accepts at most {max_count} "
                "here. Send fewer images."
            )

    async def read(self, uploads: Sequence[Upload]) -> list[Media]:
        """Each upload validated and normalised; InputError naming the first bad file."""
        limit = self._limits.max_bytes
        for upload in uploads:
            if upload.size > limit:
                raise InputError(
                    f"`{upload.filename}` is {upload.size / 1048576:.1f} MB; images can be at "
                    f"most {limit / 1048576:.1f} MB."
                )
        images = []
        for upload in uploads:
            data = await upload.fetch()
            async with self._decoding:
                images.append(
                    await asyncio.to_thread(
                        normalize_upload, data, filename=upload.filename, limits=self._limits
                    )
                )
        return images
