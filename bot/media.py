"""The one type for image (and video) bytes that move through the bot. Pure: no I/O.

A `Media` is bytes with their mime type; its sha256 (the key it is stored under) is computed
once, the first time it is asked for. Uploads, model answers, stored images and posted files
are all `Media`, so nothing converts between look-alike types or hashes the same bytes twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

# Magic numbers of the formats the bot meets, to trust the bytes over a declared mime type.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"ftypavif", 4, "image/avif"),
)
_MP4_BRANDS = (b"isom", b"iso2", b"mp41", b"mp42", b"avc1", b"dash")
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/avif": "avif",
    "video/mp4": "mp4",
}


def sha256_hex(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def sniff_mime(data: bytes, declared: str | None = None) -> str:
    """The mime type the bytes really have; `declared` (or octet-stream) when unknown."""
    for magic, offset, mime in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return mime
    if data[4:8] == b"ftyp" and data[8:12] in _MP4_BRANDS:
        return "video/mp4"
    return declared or "application/octet-stream"


@dataclass(frozen=True, eq=False)
class Media:
    data: bytes
    mime_type: str

    @cached_property
    def sha256(self) -> str:
        return sha256_hex(self.data)

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.mime_type, "bin")

    @property
    def size(self) -> int:
        return len(self.data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Media):
            return NotImplemented
        return self.mime_type == other.mime_type and self.data == other.data

    def __hash__(self) -> int:
        return hash(self.sha256)

    @classmethod
    def stored(cls, data: bytes, mime_type: str, sha256: str) -> Media:
        """Bytes read back by their digest: the digest is known, not computed again."""
        media = cls(data, mime_type)
        media.__dict__["sha256"] = sha256  # what cached_property would have stored
        return media
