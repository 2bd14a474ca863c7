"""A google-genai `Content` as the store keeps it: its JSON without image bytes, and the
images by part index (each image is stored once, content-addressed). Pure: no I/O.

`dehydrate` and `rehydrate` are exact inverses: the Content sent or received comes back
equal, thought signatures and `thought` parts included. They run where the model call runs
(a worker process, when there are some), so the bot's event loop never converts SDK objects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from google.genai import types

from bot.media import Media


@dataclass(frozen=True)
class StoredTurn:
    json: str  # the Content without inline image bytes
    images: dict[int, Media] = field(default_factory=dict)  # part index -> image

    @property
    def image_refs(self) -> str:
        """JSON object: part index -> sha256 hex (what the store keeps beside the JSON)."""
        return json.dumps({str(index): image.sha256 for index, image in self.images.items()})

    @property
    def image_bytes(self) -> int:
        return sum(image.size for image in self.images.values())


def dehydrate(content: types.Content, known: Sequence[Media] = ()) -> StoredTurn:
    """`known`: images the content was built from, reused (their digests are computed)."""
    by_bytes = {id(image.data): image for image in known}
    images: dict[int, Media] = {}
    parts = []
    for index, part in enumerate(content.parts or []):
        blob = part.inline_data
        if blob is None or blob.data is None:
            parts.append(part)
            continue
        mime = blob.mime_type or "application/octet-stream"
        images[index] = by_bytes.get(id(blob.data)) or Media(blob.data, mime)
        # A shallow copy without the bytes: the turn is kept without copying the image.
        stripped = blob.model_copy(update={"data": None})
        parts.append(part.model_copy(update={"inline_data": stripped}))
    stored = content.model_copy(update={"parts": parts})
    return StoredTurn(stored.model_dump_json(exclude_none=True), images)


def referenced_images(image_refs: str) -> dict[int, str]:
    return {int(index): digest for index, digest in json.loads(image_refs).items()}


def rehydrate(turn: StoredTurn) -> types.Content:
    """The original Content, image bytes put back."""
    content = types.Content.model_validate_json(turn.json)
    parts = content.parts or []
    for index, image in turn.images.items():
        blob = parts[index].inline_data
        assert blob is not None, "a referenced part always has inline_data"
        blob.data = image.data
    return content
