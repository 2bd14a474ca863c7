"""Storing a google-genai `Content` without its image bytes, and restoring it exactly.

Image bytes are stored once, content-addressed, in the images table; a turn keeps its Content
as JSON with each inline image's data removed, plus the sha256 of each removed image by part
index. Restoring puts the bytes back, so the Content is equal to the one sent or received,
thought signatures and `thought` parts included.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from google.genai import types


@dataclass(frozen=True)
class ImageBlob:
    sha256: str
    mime_type: str
    data: bytes

    @classmethod
    def of(cls, data: bytes, mime_type: str) -> ImageBlob:
        return cls(sha256_hex(data), mime_type, data)


@dataclass(frozen=True)
class DehydratedContent:
    json: str  # the Content without inline image bytes
    image_refs: str  # JSON object: part index -> sha256 hex
    images: tuple[ImageBlob, ...]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dehydrate(content: types.Content) -> DehydratedContent:
    stripped = content.model_copy(deep=True)
    refs: dict[str, str] = {}
    blobs: list[ImageBlob] = []
    for index, part in enumerate(stripped.parts or []):
        blob = part.inline_data
        if blob is None or blob.data is None:
            continue
        digest = sha256_hex(blob.data)
        refs[str(index)] = digest
        blobs.append(ImageBlob(digest, blob.mime_type or "application/octet-stream", blob.data))
        blob.data = None
    return DehydratedContent(
        json=stripped.model_dump_json(exclude_none=True),
        image_refs=json.dumps(refs),
        images=tuple(blobs),
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


def count_images(content: types.Content) -> int:
    return sum(1 for part in content.parts or [] if part.inline_data is not None)
