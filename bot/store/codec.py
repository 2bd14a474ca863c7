"""Storing a google-genai `Content` without its image bytes, and restoring it exactly.

Image bytes are stored once, content-addressed, in the images table; a turn keeps its Content
as JSON with each inline image's data removed, plus the sha256 of each removed image by part
index. Restoring puts the bytes back, so the Content is equal to the one sent or received,
thought signatures and `thought` parts included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from google.genai import types

from bot.media import Media


@dataclass(frozen=True)
class DehydratedContent:
    json: str  # the Content without inline image bytes
    image_refs: str  # JSON object: part index -> sha256 hex
    images: tuple[Media, ...]

    @property
    def image_bytes(self) -> int:
        return sum(image.size for image in self.images)


def dehydrate(content: types.Content) -> DehydratedContent:
    refs: dict[str, str] = {}
    media: list[Media] = []
    parts = []
    for index, part in enumerate(content.parts or []):
        blob = part.inline_data
        if blob is None or blob.data is None:
            parts.append(part)
            continue
        image = Media(blob.data, blob.mime_type or "application/octet-stream")
        refs[str(index)] = image.sha256
        media.append(image)
        # A shallow copy without the bytes: the turn is stored without copying the image.
        stripped = blob.model_copy(update={"data": None})
        parts.append(part.model_copy(update={"inline_data": stripped}))
    stored = content.model_copy(update={"parts": parts})
    return DehydratedContent(
        json=stored.model_dump_json(exclude_none=True),
        image_refs=json.dumps(refs),
        images=tuple(media),
    )


def referenced_images(image_refs: str) -> dict[int, str]:
    return {int(index): digest for index, digest in json.loads(image_refs).items()}


def rehydrate(content_json: str, image_refs: str, images: dict[str, bytes]) -> types.Content:
    """The original Content. `images` maps sha256 hex to bytes for every referenced image."""
    content = types.Content.model_validate_json(content_json)
    parts = content.parts or []
    for index, digest in referenced_images(image_refs).items():
        blob = parts[index].inline_data
        assert blob is not None, "a referenced part always has inline_data"
        blob.data = images[digest]
    return content
