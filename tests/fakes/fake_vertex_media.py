"""Vertex AI's media endpoints for the fake Gemini server: Veo's long-running video
operations and Imagen's upscaler, as the real google-genai SDK calls them (Vertex mode).

Written from Google's documentation and checked against the SDK's own converters
(google/genai/models.py `_GenerateVideosParameters_to_vertex`,
`_GenerateVideosOperation_from_vertex`, `_UpscaleImageAPIParameters_to_vertex`;
operations.py `get`):

- `POST .../publishers/google/models/{veo}:predictLongRunning` with
  `{"instances": [{"prompt", "image": {"bytesBase64Encoded", "mimeType"}}],
  "parameters": {"sampleCount", "durationSeconds", "aspectRatio", "resolution",
  "generateAudio", "personGeneration", ...}}` answers `{"name": "projects/P/locations/L/
  publishers/google/models/{veo}/operations/{id}"}` (Vertex "Veo on Vertex AI API").
- `POST {the name up to /operations}:fetchPredictOperation` with `{"operationName": name}`
  answers `{"name"}` while it runs, then `{"name", "done": true, "response": {"@type":
  ".../GenerateVideoResponse", "raiMediaFilteredCount", "videos": [{"bytesBase64Encoded",
  "mimeType": "video/mp4"}]}}` (no storageUri: the bytes come inline), or `{"name",
  "done": true, "error": {"code", "message"}}`. Filtered videos are counted, with
  `raiMediaFilteredReasons` naming a support code ("Responsible AI and usage guidelines
  for Veo": 58061214/17301594 child, 29310472/15236754 celebrity).
- `POST .../models/{upscaler}:predict` with `{"instances": [{"image": {...}}],
  "parameters": {"mode": "upscale", "upscaleConfig": {"upscaleFactor": "x2"|"x3"|"x4"},
  "sampleCount": 1, "outputOptions": {"mimeType"}, "includeRaiReason", ...}}` answers
  `{"predictions": [{"bytesBase64Encoded", "mimeType"}]}` (or `{"raiFilteredReason"}`);
  base images up to 10 MB ("Imagen upscale API").

Videos are real-sized: an ISO-BMFF (MP4) file with `ftyp`, `moov` (its duration) and an
`mdat` of incompressible bytes at Veo's bit rate (about 4 Mbit/s at 720p, 9 at 1080p).
"""

from __future__ import annotations

import base64
import io
import secrets
import struct
from dataclasses import dataclass
from typing import Any

from PIL import Image

VIDEO_RESPONSE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
VIDEO_PARAMETER_KEYS = frozenset(
    {
        "sampleCount",
        "storageUri",
        "fps",
        "durationSeconds",
        "seed",
        "aspectRatio",
        "resolution",
        "personGeneration",
        "pubsubTopic",
        "negativePrompt",
        "enhancePrompt",
        "generateAudio",
        "compressionQuality",
        "resizeMode",
    }
)
VIDEO_PERSON_GENERATION = frozenset({"allow_adult", "dont_allow", "allow_all"})
UPSCALE_PARAMETER_KEYS = frozenset(
    {
        "mode",
        "upscaleConfig",
        "sampleCount",
        "outputOptions",
        "includeRaiReason",
        "personGeneration",
        "safetySetting",
        "storageUri",
        "addWatermark",
    }
)
UPSCALE_FACTORS = frozenset({"x2", "x3", "x4"})
UPSCALE_MAX_INPUT_BYTES = 10 * 1024 * 1024
IMAGE_INPUT_MIMES = frozenset({"image/png", "image/jpeg"})
BITS_PER_SECOND = {"720p": 4_000_000, "1080p": 9_000_000}
FILTERED_CHILD = (
    "Unable to generate videos because the input image contains content that violates "
    "Vertex AI's usage guidelines (children). Support codes: 58061214"
)


def mp4(seconds: int, resolution: str = "720p") -> bytes:
    """A real-sized MP4 container of `seconds` at Veo's bit rate for `resolution`."""
    payload = secrets.token_bytes(BITS_PER_SECOND.get(resolution, 4_000_000) // 8 * seconds)
    timescale = 1000
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    mvhd = _box(
        b"mvhd",
        struct.pack(">IIIII", 0, 0, 0, timescale, seconds * timescale)
        + struct.pack(">IH", 0x00010000, 0x0100)
        + bytes(10)
        + struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
        + bytes(24)
        + struct.pack(">I", 2),
    )
    return ftyp + _box(b"moov", mvhd) + _box(b"mdat", payload)


def mp4_seconds(data: bytes) -> float:
    """The duration in an MP4's mvhd box (for tests)."""
    at = data.index(b"mvhd") + 4
    timescale, duration = struct.unpack(">II", data[at + 12 : at + 20])
    return float(duration / timescale)


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


@dataclass
class VideoOutcome:
    """How a scripted operation ends, and after how many polls."""

    polls: int = 1  # fetchPredictOperation answers "not done" this many times first
    filtered: tuple[str, ...] = ()  # raiMediaFilteredReasons (no video then)
    error: dict[str, Any] | None = None  # the operation fails with this google.rpc.Status
    seconds: int | None = None  # the video's length (default: what was asked)


@dataclass
class Operation:
    name: str
    outcome: VideoOutcome
    parameters: dict[str, Any]
    polls_left: int

    def answer(self) -> dict[str, Any]:
        """One fetchPredictOperation answer (the next state of the operation)."""
        if self.polls_left > 0:
            self.polls_left -= 1
            return {"name": self.name}
        if self.outcome.error is not None:
            return {"name": self.name, "done": True, "error": self.outcome.error}
        response: dict[str, Any] = {"@type": VIDEO_RESPONSE_TYPE}
        if self.outcome.filtered:
            response["raiMediaFilteredCount"] = 1
            response["raiMediaFilteredReasons"] = list(self.outcome.filtered)
            return {"name": self.name, "done": True, "response": response}
        seconds = self.outcome.seconds or int(self.parameters.get("durationSeconds", 8))
        video = mp4(seconds, str(self.parameters.get("resolution", "720p")))
        response["raiMediaFilteredCount"] = 0
        response["videos"] = [
            {"bytesBase64Encoded": base64.b64encode(video).decode(), "mimeType": "video/mp4"}
        ]
        return {"name": self.name, "done": True, "response": response}


def operation_name(model: str, project: str = "fake-project", location: str = "us-central1") -> str:
    return (
        f"projects/{project}/locations/{location}/publishers/google/models/{model}"
        f"/operations/{secrets.token_hex(16)}"
    )


def validate_video_request(
    body: dict[str, Any],
    *,
    aspect_ratios: frozenset[str],
    resolutions: tuple[str, ...],
    durations: tuple[int, ...],
    audio_required: bool,
) -> list[str]:
    """What Vertex refuses with 400 INVALID_ARGUMENT in a predictLongRunning request."""
    problems = [
        f"Unknown name \"{key}\" at '': Cannot find field."
        for key in body
        if key not in ("instances", "parameters", "labels")
    ]
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1:
        return [*problems, "instances must hold exactly one instance"]
    instance = instances[0]
    if not isinstance(instance, dict) or not (instance.get("prompt") or instance.get("image")):
        problems.append("an instance needs a prompt or an image")
    elif "image" in instance:
        problems += _image_problems(instance["image"], "instances[0].image")
    params = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    assert isinstance(params, dict)
    problems += [
        f"Unknown name \"{key}\" at 'parameters': Cannot find field."
        for key in params
        if key not in VIDEO_PARAMETER_KEYS
    ]
    if params.get("aspectRatio", "16:9") not in aspect_ratios:
        problems.append(f"Unsupported aspect ratio: {params['aspectRatio']!r}")
    if params.get("resolution", resolutions[0] if resolutions else "") not in resolutions:
        problems.append(f"Unsupported resolution: {params['resolution']!r}")
    duration = params.get("durationSeconds", durations[-1] if durations else 8)
    if duration not in durations:
        problems.append(f"Unsupported durationSeconds: {duration!r}; supported: {list(durations)}")
    count = params.get("sampleCount", 1)
    if not isinstance(count, int) or not 1 <= count <= 4:
        problems.append(f"sampleCount must be between 1 and 4, got {count!r}")
    if params.get("personGeneration", "allow_adult") not in VIDEO_PERSON_GENERATION:
        problems.append(f"Unsupported personGeneration: {params['personGeneration']!r}")
    if audio_required and not isinstance(params.get("generateAudio"), bool):
        problems.append("generateAudio is required for this model")
    if "storageUri" not in params and count > 1:
        problems.append("without storageUri only one video can be returned inline")
    return problems


def validate_upscale_request(body: dict[str, Any]) -> list[str]:
    """What Vertex refuses in an upscale (:predict) request."""
    problems = [
        f"Unknown name \"{key}\" at '': Cannot find field."
        for key in body
        if key not in ("instances", "parameters", "labels")
    ]
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        return [*problems, "instances must hold exactly one instance"]
    problems += _image_problems(instances[0].get("image"), "instances[0].image", mime_needed=False)
    params = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    assert isinstance(params, dict)
    problems += [
        f"Unknown name \"{key}\" at 'parameters': Cannot find field."
        for key in params
        if key not in UPSCALE_PARAMETER_KEYS
    ]
    if params.get("mode") != "upscale":
        problems.append('parameters.mode must be "upscale"')
    factor = (params.get("upscaleConfig") or {}).get("upscaleFactor")
    if factor not in UPSCALE_FACTORS:
        problems.append(f"Unsupported upscaleFactor: {factor!r}")
    mime = (params.get("outputOptions") or {}).get("mimeType", "image/png")
    if mime not in IMAGE_INPUT_MIMES:
        problems.append(f"Unsupported output mime type: {mime!r}")
    return problems


def _image_problems(image: Any, where: str, *, mime_needed: bool = True) -> list[str]:
    if not isinstance(image, dict) or "bytesBase64Encoded" not in image:
        return [f"{where}: bytesBase64Encoded or gcsUri is required"]
    mime = image.get("mimeType")
    if mime_needed and mime not in IMAGE_INPUT_MIMES:
        return [f"{where}.mimeType: unsupported {mime!r} (image/png or image/jpeg)"]
    try:
        data = base64.b64decode(image["bytesBase64Encoded"], validate=True)
    except ValueError:
        return [f"{where}.bytesBase64Encoded: base64 decoding failed"]
    if len(data) > UPSCALE_MAX_INPUT_BYTES:
        return [f"{where}: the image is larger than 10 MB"]
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.verify()
    except Exception:  # Pillow raises many types for undecodable input
        return [f"{where}: the image cannot be decoded"]
    return []


def upscaled(data: bytes, factor: str, mime: str) -> bytes:
    """Blocking: the image enlarged by `factor`, in `mime`."""
    scale = int(factor.removeprefix("x"))
    with Image.open(io.BytesIO(data)) as source:
        bigger = source.convert("RGB").resize((source.width * scale, source.height * scale))
    out = io.BytesIO()
    bigger.save(out, "PNG" if mime == "image/png" else "JPEG", compress_level=1)
    return out.getvalue()
