"""Uploads are judged by their content; results carry their prompt and fit upload limits."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.errors import InputError
from bot.images import UploadLimits, fit_to_limit, normalize_upload, verify_image
from bot.media import Media

LIMITS = UploadLimits(max_bytes=5 * 1024 * 1024, max_edge_px=512, max_pixels=40_000_000)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_png_is_downscaled_and_stays_png() -> None:
    data = encode(Image.new("RGB", (1024, 256), "red"), "PNG")
    result = normalize_upload(data, filename="wide.png", limits=LIMITS)
    assert result.mime_type == "image/png"
    assert decode(result.data).size == (512, 128)


def test_jpeg_orientation_is_applied_and_metadata_is_dropped() -> None:
    image = Image.new("RGB", (400, 200), "blue")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    exif[0x8825] = {1: "N", 2: (59.0, 19.0, 0.0)}  # a GPS IFD
    data = encode(image, "JPEG", exif=exif.tobytes())
    result = normalize_upload(data, filename="phone.jpg", limits=LIMITS)
    out = decode(result.data)
    assert result.mime_type == "image/jpeg"
    assert out.size == (200, 400)  # rotated upright
    assert not out.getexif()  # no orientation, no GPS


def test_big_jpeg_uses_draft_mode_and_still_reaches_the_max_edge() -> None:
    data = encode(Image.new("RGB", (4000, 3000), "green"), "JPEG", quality=80)
    out = decode(normalize_upload(data, filename="big.jpg", limits=LIMITS).data)
    assert max(out.size) == 512


def test_gif_keeps_its_first_frame() -> None:
    frames = [Image.new("P", (64, 64), color) for color in (1, 2)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    result = normalize_upload(buffer.getvalue(), filename="anim.gif", limits=LIMITS)
    assert result.mime_type == "image/png"
    assert decode(result.data).size == (64, 64)


def test_transparency_is_kept_as_png() -> None:
    data = encode(Image.new("RGBA", (32, 32), (0, 0, 0, 0)), "WEBP")
    result = normalize_upload(data, filename="sticker.webp", limits=LIMITS)
    assert result.mime_type == "image/png"
    assert decode(result.data).mode == "RGBA"


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        (b"hello, not an image", "notes.txt", "`notes.txt` is not an image"),
        (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64, "IMG_1.HEIC", "HEIC/HEIF"),
        (b"x" * (5 * 1024 * 1024 + 1), "huge.png", "images can be at most 5.0 MB"),
    ],
)
def test_bad_uploads_are_refused_with_the_file_name(
    data: bytes, filename: str, expected: str
) -> None:
    with pytest.raises(InputError, match=expected):
        normalize_upload(data, filename=filename, limits=LIMITS)


def test_truncated_image_is_called_corrupt() -> None:
    data = encode(Image.effect_noise((256, 256), 50).convert("RGB"), "PNG")
    with pytest.raises(InputError, match=r"`cut\.png` could not be decoded"):
        normalize_upload(data[: len(data) // 2], filename="cut.png", limits=LIMITS)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = encode(Image.new("1", (10_000, 5_000)), "PNG")  # tiny file, 50 megapixels
    assert len(bomb) < 100_000
    with pytest.raises(InputError, match="10000x5000 pixels"):
        normalize_upload(bomb, filename="bomb.png", limits=LIMITS)


def test_a_header_claiming_absurd_dimensions_is_refused_by_name() -> None:
    # Pillow itself refuses this before our check (DecompressionBombError): still an
    # InputError naming the file, never a crash.
    bomb = encode(Image.new("1", (1, 1)), "PNG")
    ihdr = bomb.index(b"IHDR")
    import struct
    import zlib

    header = struct.pack(">II", 20_000, 20_000) + bomb[ihdr + 12 : ihdr + 17]
    chunk = b"IHDR" + header
    bomb = bomb[:ihdr] + chunk + struct.pack(">I", zlib.crc32(chunk)) + bomb[ihdr + 21 :]
    with pytest.raises(InputError, match=r"`giant\.png` claims to be far larger"):
        normalize_upload(bomb, filename="giant.png", limits=LIMITS)


def test_verify_image_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a readable image"):
        verify_image(b"\x89PNG\r\n\x1a\nbroken")


def test_fit_to_limit_keeps_what_fits_and_reencodes_once_what_does_not() -> None:
    png = Media(encode(Image.effect_noise((512, 512), 80).convert("RGB"), "PNG"), "image/png")
    assert fit_to_limit(png, png.size) is png  # untouched: same bytes, same object
    fitted = fit_to_limit(png, 60_000)
    assert fitted.mime_type == "image/jpeg"
    assert fitted.size <= 60_000
    assert decode(fitted.data).size[0] <= 512
