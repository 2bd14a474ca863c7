"""Image bytes in and out: validating uploads and fitting results to an upload limit.

Everything here is BLOCKING (Pillow): call it through `asyncio.to_thread`, never on the
event loop. No Discord imports. Results are posted exactly as the model made them; only one
that is too large for the upload limit is re-encoded, once.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from bot.config import UploadSettings
from bot.errors import InputError
from bot.media import Media

# Formats accepted from members. Everything is re-encoded before it reaches Gemini, which
# takes PNG, JPEG and WEBP; GIF (first frame) and AVIF are converted. HEIC/HEIF would need a
# Pillow plugin this bot does not install, so such files get a clear refusal.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "AVIF")
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
_JPEG_QUALITY = 90


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_edge_px: int
    max_pixels: int

    @classmethod
    def of(cls, settings: UploadSettings) -> UploadLimits:
        return cls(settings.max_file_bytes, settings.max_edge_px, settings.max_pixels)


def normalize_upload(data: bytes, *, filename: str, limits: UploadLimits) -> Media:
    """Validate an uploaded image by its content and re-encode it for Gemini.

    EXIF orientation is applied and all metadata (GPS included) is dropped; the image is
    downscaled to `limits.max_edge_px`. Raises InputError naming the file and the limit.
    """
    if len(data) > limits.max_bytes:
        raise InputError(
            f"`{filename}` is {_mb(len(data))}; images can be at most {_mb(limits.max_bytes)}."
        )
    if _is_heif(data):
        raise InputError(
            f"`{filename}` is a HEIC/HEIF photo, which this bot cannot read. "
            "Export it as JPEG or PNG (or set your phone's camera to 'Most compatible') "
            "and try again."
        )
    try:
        with warnings.catch_warnings():
            # Pillow warns about, then refuses, images with absurd pixel counts; the limit
            # below is far lower, so its warning adds nothing.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise InputError(
            f"`{filename}` is not an image this bot can read. Use PNG, JPEG, WEBP, GIF or AVIF."
        ) from None
    except Image.DecompressionBombError:
        raise InputError(
            f"`{filename}` claims to be far larger than any photo; images can have at most "
            f"{limits.max_pixels / 1e6:.0f} megapixels."
        ) from None
    except (OSError, ValueError, SyntaxError):
        raise InputError(
            f"`{filename}` could not be decoded: the file looks corrupt or truncated."
        ) from None
    width, height = image.size
    if width * height > limits.max_pixels:
        raise InputError(
            f"`{filename}` is {width}x{height} pixels; images can have at most "
            f"{limits.max_pixels / 1e6:.0f} megapixels."
        )
    try:
        return _reencode(image, limits.max_edge_px)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise InputError(
            f"`{filename}` could not be decoded: the file looks corrupt or truncated."
        ) from None


def _reencode(image: Image.Image, max_edge: int) -> Media:
    source_format = image.format
    resample = Image.Resampling.LANCZOS
    if source_format == "JPEG":
        # Draft mode lets libjpeg decode at 1/2, 1/4 or 1/8 scale: far less work for big photos.
        # That scaling already averages the pixels away, so the rest of the way (less than
        # 2x) needs no more than a bilinear filter: same result, a third of LANCZOS's time.
        image.draft("RGB", _draft_target(image.size, max_edge))
        resample = Image.Resampling.BILINEAR
    image.seek(0)  # GIF: first frame only
    # In place: loads the pixels (raising on corrupt data) without a copy of the whole image.
    ImageOps.exif_transpose(image, in_place=True)
    image.thumbnail((max_edge, max_edge), resample, reducing_gap=3.0)
    buffer = io.BytesIO()
    if _has_alpha(image) or source_format in ("PNG", "GIF"):
        mode = "RGBA" if _has_alpha(image) else "RGB"
        if image.mode != mode:
            image = image.convert(mode)
        image.save(buffer, "PNG", compress_level=1)
        return Media(buffer.getvalue(), "image/png")
    if image.mode != "RGB":
        image = image.convert("RGB")
    image.save(buffer, "JPEG", quality=_JPEG_QUALITY)
    return Media(buffer.getvalue(), "image/jpeg")


def _draft_target(size: tuple[int, int], max_edge: int) -> tuple[int, int]:
    """The size to ask draft() for so the decoded image is still >= max_edge on its long side."""
    width, height = size
    scale = max_edge / max(width, height)
    if scale >= 1:
        return size
    return (max(1, int(width * scale)), max(1, int(height * scale)))


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )


def _is_heif(data: bytes) -> bool:
    return data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def verify_image(data: bytes) -> None:
    """Raise ValueError unless `data` is an image Pillow can open (structure and checksums)."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a readable image: {exc}") from exc


def fit_to_limit(image: Media, limit: int) -> Media:
    """`image` as it is when it fits `limit` bytes, else one JPEG small enough to fit.

    Quality drops first, then the size, so the result looks as good as the limit allows.
    (No `optimize`: its extra pass makes files about 5 % smaller at three times the CPU.)
    """
    if image.size <= limit:
        return image
    with Image.open(io.BytesIO(image.data)) as source:
        picture = source.convert("RGB")
    for scale in (1.0, 0.75, 0.5, 0.35, 0.25):
        scaled = picture
        if scale < 1.0:
            size = (max(1, int(picture.width * scale)), max(1, int(picture.height * scale)))
            scaled = picture.resize(size, Image.Resampling.LANCZOS)
        for quality in (92, 85, 75, 60):
            buffer = io.BytesIO()
            scaled.save(buffer, "JPEG", quality=quality)
            if buffer.tell() <= limit:
                return Media(buffer.getvalue(), "image/jpeg")
    raise ValueError(f"cannot fit the image into {limit} bytes")


def nearest_ratio(data: bytes, ratios: list[str]) -> str | None:
    """The ratio of `ratios` ("16:9") closest to the image's shape; None if unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    if not ratios or not height:
        return None
    shape = width / height

    def distance(ratio: str) -> float:
        across, down = _ratio(ratio)
        return abs(math.log(shape * down / across))

    return min(ratios, key=distance)


_PLACEHOLDER_EDGE = 256
_PLACEHOLDER_GREY = (54, 57, 63)  # close to Discord's dark theme, so the gap reads as empty


@functools.lru_cache(maxsize=32)
def placeholder(aspect_ratio: str | None) -> Media:
    """A plain grey PNG in the shape of `aspect_ratio` ("16:9"; None: square) that stands in
    for an image that was not made, so a grid keeps its places. A few hundred bytes."""
    width, height = _ratio(aspect_ratio)
    scale = _PLACEHOLDER_EDGE / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    buffer = io.BytesIO()
    Image.new("RGB", size, _PLACEHOLDER_GREY).save(buffer, "PNG", optimize=True)
    return Media(buffer.getvalue(), "image/png")


def _ratio(aspect_ratio: str | None) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in (aspect_ratio or "1:1").split(":"))
    except ValueError:
        return 1, 1
    return (width, height) if width > 0 and height > 0 else (1, 1)
