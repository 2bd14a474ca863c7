"""3. Image pipeline: `bot.images.normalize_upload` on big uploads.

Inputs: a 24-megapixel photo-like JPEG (6000x4000, smooth colour fields plus sensor-like
noise, quality 90, camera EXIF) and a 4000x4000 illustration-like PNG; both under the
default 20 MB upload limit. Each is normalised to the configured `max_edge_px` (2048 by
default) and compared with the straightforward way: decode in full, resize with LANCZOS to
the same size, encode the same way.

Time: the median of several runs after one warm-up run, in a process of its own.

Memory: Pillow allocates pixel buffers in C (its block arena), which tracemalloc does not
see, so each measurement runs in a fresh process: the upload's bytes are read and the
codecs primed on a tiny image first, garbage is collected and freed heap returned to the
OS (malloc_trim), then the peak RSS (VmHWM, reset through /proc/self/clear_refs) is reset
and one call made. Peak minus the RSS before the call is the memory the call needed.
Pillow's own allocator counters (`Image.core.get_stats()`) are recorded alongside.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import io
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

from benchmarks.harness import (
    MB,
    REPO,
    BenchResult,
    Json,
    Target,
    peak_rss_bytes,
    percentile,
    progress,
    reset_peak_rss,
    rss_bytes,
    trim_heap,
)

NAME = "images"
JPEG_SIZE = (6000, 4000)
PNG_SIZE = (4000, 4000)
CACHE = Path(tempfile.gettempdir()) / "gemini-bot-bench-images-v1"


# --------------------------------------------------------------------------- test images


def _random_image(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    return Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))


def photo_jpeg(size: tuple[int, int] = JPEG_SIZE, seed: int = 1) -> bytes:
    """A camera-like JPEG: smooth colour fields, mid-scale texture, sensor noise, EXIF."""
    rng = random.Random(seed)
    base = _random_image(rng, (24, 16)).resize(size, Image.Resampling.BILINEAR)
    texture = _random_image(rng, (size[0] // 50, size[1] // 50)).resize(
        size, Image.Resampling.BILINEAR
    )
    image = Image.blend(base, texture, 0.35)
    amplitude = 12  # uniform noise of +-12 levels: ~6 MB at quality 90, like a phone photo
    lut = [128 - amplitude + (v * (2 * amplitude + 1)) // 256 for v in range(256)] * 3
    image = ImageChops.add(image, _random_image(rng, size).point(lut), 1.0, -128)
    exif = Image.Exif()
    exif[0x010F] = "BenchCam"  # Make
    exif[0x0110] = "Model 24"  # Model
    exif[0x0112] = 1  # Orientation: upright
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def illustration_png(size: tuple[int, int] = PNG_SIZE, seed: int = 2) -> bytes:
    """A drawing-like PNG: gradients, 300 flat shapes, and a noisy (painted) top quarter."""
    rng = random.Random(seed)
    image = _random_image(rng, (8, 8)).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(300):
        x, y, r = rng.randrange(size[0]), rng.randrange(size[1]), rng.randrange(20, 400)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    band = (size[0], size[1] // 4)
    lut = [128 - 3 + (v * 7) // 256 for v in range(256)] * 3
    noisy = ImageChops.add(
        image.crop((0, 0, *band)), _random_image(rng, band).point(lut), 1.0, -128
    )
    image.paste(noisy, (0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _cached(name: str, make: Callable[[], bytes]) -> Path:
    path = CACHE / name
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(make())
        partial.replace(path)
    return path


# --------------------------------------------------------------------------- what is measured


def straightforward(data: bytes, max_edge: int) -> bytes:
    """Full decode, LANCZOS resize to the same size normalize_upload makes, same encoding."""
    with Image.open(io.BytesIO(data)) as image:
        source_format = image.format
        image.load()
        scale = min(1.0, max_edge / max(image.size))
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        resized = image.resize(size, Image.Resampling.LANCZOS) if scale < 1 else image
        buffer = io.BytesIO()
        if source_format == "PNG":
            resized.convert("RGB").save(buffer, "PNG", compress_level=1)
        else:
            resized.convert("RGB").save(buffer, "JPEG", quality=90)
        return buffer.getvalue()


def normalize(data: bytes, max_edge: int) -> bytes:
    from bot.images import UploadLimits, normalize_upload

    limits = UploadLimits(max_bytes=20 * MB, max_edge_px=max_edge, max_pixels=80_000_000)
    return normalize_upload(data, filename="upload", limits=limits).data


FUNCTIONS: dict[str, Callable[[bytes, int], bytes]] = {
    "normalize_upload": normalize,
    "straightforward": straightforward,
}


def _tiny(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(buffer, fmt)
    return buffer.getvalue()


def _pillow_stats() -> dict[str, int]:
    """Pillow's block allocator counters (its C extension's get_stats())."""
    stats: dict[str, int] = importlib.import_module("PIL._imaging").get_stats()
    return stats


def measure(function: str, path: Path, repeat: int, max_edge: int) -> Json:
    """In this (fresh) process: peak memory of one call, then `repeat` timed calls."""
    call = FUNCTIONS[function]
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as probe:
        fmt = probe.format or "PNG"
        source_size = probe.size
    call(_tiny(fmt), max_edge)  # imports and primes the codec
    trim_heap()
    before = rss_bytes()
    stats_before = _pillow_stats()
    reset_peak_rss()
    output = call(data, max_edge)
    peak = peak_rss_bytes()
    stats_after = _pillow_stats()
    with Image.open(io.BytesIO(output)) as result:
        output_size = result.size
    output_bytes = len(output)
    del output
    trim_heap()
    times = []  # the measured call above was the warm-up
    for _ in range(repeat):
        started = time.perf_counter()
        call(data, max_edge)
        times.append(time.perf_counter() - started)
    return {
        "function": function,
        "input": {"format": fmt, "size": source_size, "bytes": len(data)},
        "output": {"size": output_size, "bytes": output_bytes},
        "time_ms": {
            "p50": round(percentile(times, 50) * 1000, 2),
            "min": round(min(times) * 1000, 2),
            "max": round(max(times) * 1000, 2),
            "n": len(times),
        },
        "rss_before_mb": round(before / MB, 1),
        "peak_extra_mb": round((peak - before) / MB, 1),
        "pillow_blocks": {
            key: stats_after[key] - stats_before.get(key, 0)
            for key in ("new_count", "allocated_blocks", "freed_blocks")
            if key in stats_after
        },
    }


def _measure_in_subprocess(function: str, path: Path, repeat: int, max_edge: int) -> Json:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.image_pipeline",
            function,
            str(path),
            "--repeat",
            str(repeat),
            "--max-edge",
            str(max_edge),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    result: Json = json.loads(completed.stdout)
    return result


async def run(quick: bool) -> BenchResult:
    from bot.config import EXAMPLE_CONFIG, load_settings

    result = BenchResult(NAME, quick)
    repeat = 2 if quick else 10
    max_edge = load_settings(EXAMPLE_CONFIG).uploads.max_edge_px
    progress("making the test images (cached between runs)")
    images = {
        "jpeg": await asyncio.to_thread(_cached, "photo-6000x4000-q90.jpg", photo_jpeg),
        "png": await asyncio.to_thread(_cached, "illustration-4000x4000.png", illustration_png),
    }
    measured: dict[str, dict[str, Json]] = {}
    for kind, path in images.items():
        measured[kind] = {}
        for function in FUNCTIONS:
            if quick and kind == "png" and function == "straightforward":
                continue  # informational only (no target): left out to keep --quick quick
            runs = 1 if quick and kind == "png" else repeat
            progress(f"{kind}: {function} x{runs}")
            measured[kind][function] = await asyncio.to_thread(
                _measure_in_subprocess, function, path, runs, max_edge
            )
    for kind, label in (("jpeg", "24 MP JPEG"), ("png", "16 MP PNG")):
        ours = measured[kind]["normalize_upload"]
        result.add(f"{label}: normalize_upload time", ours["time_ms"]["p50"], "ms")
        result.add(f"{label}: normalize_upload peak memory", ours["peak_extra_mb"], "MB")
        plain = measured[kind].get("straightforward")
        if plain is None:
            continue
        ratio = plain["time_ms"]["p50"] / ours["time_ms"]["p50"]
        result.add(f"{label}: full decode + resize time", plain["time_ms"]["p50"], "ms")
        result.add(f"{label}: full decode + resize peak memory", plain["peak_extra_mb"], "MB")
        result.add(
            f"{label}: speed-up over full decode",
            round(ratio, 2),
            "x",
            Target(">=", 3.0) if kind == "jpeg" else None,
            "draft mode" if kind == "jpeg" else "PNG has no draft mode; reduce() + LANCZOS",
        )
    result.details = {
        "max_edge_px": max_edge,
        "measurements": measured,
        "memory_method": (
            "fresh process per measurement; codecs primed on a tiny image; gc + malloc_trim; "
            "VmHWM reset via /proc/self/clear_refs; peak_extra = VmHWM after one call - VmRSS "
            "before it (the input bytes are already resident)"
        ),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure one image function in this process.")
    parser.add_argument("function", choices=sorted(FUNCTIONS))
    parser.add_argument("path", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-edge", type=int, default=2048)
    args = parser.parse_args()
    print(json.dumps(measure(args.function, args.path, args.repeat, args.max_edge)))


if __name__ == "__main__":
    main()
