"""A protocol-faithful fake of the Gemini REST API (and the Imagen ``:predict`` endpoint).

It serves 127.0.0.1 with aiohttp so tests and benchmarks drive the real, unmodified
google-genai SDK against it through ``HttpOptions(base_url=fake.base_url)``. Wire format and
quirks: /work/shared/notes/gemini-api.md.

Requests are validated like the real service (400 INVALID_ARGUMENT, and each problem is also
recorded in ``violations`` so tests can assert there were none), per model: what each model
accepts comes from gemini_models.toml, written from Google's documentation. Retired and
unknown models answer 404 NOT_FOUND; ``v1`` refuses the image-generation fields, as the real
``v1`` does; ``models.get`` and ``models.list`` answer GETs. Answers are scripted with the
``*_reply`` builders (``quota_reply`` for real-shaped 429s); the default answer is
``image_reply()`` (or ``imagen_reply()`` for ``:predict``): a real-sized, photo-like image.
``FakeGemini(image_px=N)`` answers tiny solid-colour images instead, where a test needs them.

    async with FakeGemini() as fake:
        fake.enqueue(error_reply(503), image_reply(thought_image=True))
        client = genai.Client(api_key=fake.api_key, http_options=types.HttpOptions(
            base_url=fake.base_url, api_version="v1beta", timeout=5_000))  # milliseconds
        # Imagen needs Vertex mode; "express mode" (an API key, no project) reaches the fake
        # at /v1beta1/publishers/google/models/{model}:predict without Google credentials:
        vertex = genai.Client(vertexai=True, api_key=fake.api_key,
                              http_options=types.HttpOptions(base_url=fake.base_url))
        ...
        assert fake.violations == []
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import colorsys
import dataclasses
import hashlib
import io
import itertools
import json
import math
import re
import secrets
import struct
import threading
import time
import tomllib
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from aiohttp import web
from PIL import Image

from tests.fakes import fake_vertex_media as vertex_media

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import TracebackType

MODELS_FILE = Path(__file__).with_name("gemini_models.toml")
API_VERSIONS = frozenset({"v1", "v1beta", "v1alpha", "v1beta1"})
# v1 has no image output: its GenerationConfig lacks these fields (Google documents image
# generation on v1beta only), so v1 answers them with "Unknown name ... Cannot find field".
V1BETA_ONLY_CONFIG_KEYS = frozenset({"responseModalities", "imageConfig"})
ALL_ASPECT_RATIOS = frozenset(
    {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
    | {"1:4", "4:1", "1:8", "8:1"}
)
# mime type -> Pillow format name; None: Pillow cannot decode it, check the ISO-BMFF brand.
KNOWN_IMAGE_MIMES: dict[str, str | None] = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/webp": "WEBP",
    "image/heic": None,
    "image/heif": None,
}
# The formats image_reply()/imagen_reply() can generate.
_GENERATED_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
IMAGEN_ASPECT_RATIOS = frozenset({"1:1", "3:4", "4:3", "9:16", "16:9"})
IMAGEN_SIZES = frozenset({"1K", "2K"})
IMAGEN_OUTPUT_MIMES = frozenset({"image/png", "image/jpeg"})
# Inline data per request: 100 MB since January 2026 (was 20 MB); Google's blog post
# "Increased file size limits and expanded inputs support in Gemini API".
MAX_REQUEST_BYTES = 100 * 1024 * 1024
# Pixels per size: 512 ~0.25 MP, 1K ~1 MP, 2K ~4 MP, 4K ~16 MP (Vertex AI model pages).
SIZE_EDGE = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}


@dataclass(frozen=True)
class ModelSpec:
    """One model of gemini_models.toml: what Google documents it accepts and returns."""

    id: str
    provider: str  # "gemini" (native image), "imagen" (:predict) or "text"
    label: str
    max_input_images: int = 0
    aspect_ratios: frozenset[str] = frozenset()
    image_sizes: tuple[str, ...] = ()
    default_size: str = ""
    input_mimes: frozenset[str] = frozenset()
    max_inline_image_bytes: int | None = None
    output_mimes: tuple[str, ...] = ("image/png",)
    thought_images: bool = False
    grounding: bool = False
    image_tokens: dict[str, int] = dataclasses.field(default_factory=dict)
    input_image_tokens: int = 258
    methods: tuple[str, ...] = ()
    version: str = "001"
    description: str = ""
    input_token_limit: int = 32768
    output_token_limit: int = 8192
    retired: bool = False
    durations_s: tuple[int, ...] = ()  # veo: the video lengths it makes
    audio_required: bool = False  # veo: generateAudio must be given

    @property
    def method(self) -> str:
        """The generation method the bot calls on this model."""
        if self.provider == "veo":
            return "predictLongRunning"
        return "predict" if self.provider in ("imagen", "upscale") else "generateContent"

    def output_tokens(self, size: str) -> int:
        return self.image_tokens.get(size, self.image_tokens.get(self.default_size, 1290))

    def resource(self) -> dict[str, Any]:
        """The model as models.get and models.list show it (ai.google.dev/api/models)."""
        resource: dict[str, Any] = {
            "name": f"models/{self.id}",
            "version": self.version,
            "displayName": self.label,
            "description": self.description or self.label,
            "inputTokenLimit": self.input_token_limit,
            "outputTokenLimit": self.output_token_limit,
            "supportedGenerationMethods": list(self.methods),
        }
        if self.provider != "imagen":
            resource |= {"temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2}
            resource["thinking"] = self.id.startswith("gemini-3")
        return resource


def load_model_table(path: Path = MODELS_FILE) -> dict[str, ModelSpec]:
    """The models of gemini_models.toml, by id."""
    with path.open("rb") as fh:
        tables = tomllib.load(fh)["models"]
    specs = {}
    for model_id, table in tables.items():
        fields = dict(table)
        mb = fields.pop("max_inline_image_mb", None)
        fields["max_inline_image_bytes"] = None if mb is None else int(mb * 1024 * 1024)
        for key in ("aspect_ratios", "input_mimes"):
            if key in fields:
                fields[key] = frozenset(fields[key])
        for key in ("image_sizes", "output_mimes", "methods", "durations_s"):
            if key in fields:
                fields[key] = tuple(fields[key])
        specs[model_id] = ModelSpec(id=model_id, **fields)
    return specs


MODEL_TABLE = load_model_table()
AVAILABLE_MODELS = frozenset(m for m, spec in MODEL_TABLE.items() if not spec.retired)


def _spec_for(model: str) -> ModelSpec:
    """The table's entry, or a permissive one for a model a test added by hand."""
    if model in MODEL_TABLE:
        return MODEL_TABLE[model]
    if model.startswith("imagen-"):
        return ModelSpec(model, "imagen", model, methods=("predict",))
    if "image" not in model:
        return ModelSpec(model, "text", model, methods=("generateContent",))
    return ModelSpec(
        model,
        "gemini",
        model,
        max_input_images=14,
        aspect_ratios=ALL_ASPECT_RATIOS,
        image_sizes=tuple(SIZE_EDGE),
        default_size="1K",
        input_mimes=frozenset(KNOWN_IMAGE_MIMES),
        methods=("generateContent", "countTokens"),
    )


# Field names the SDK converters (models.py, Gemini API and Vertex) can put in a request;
# proto JSON also accepts the snake_case spelling of each.
_REQUEST_KEYS = frozenset(
    {
        "contents",
        "generationConfig",
        "systemInstruction",
        "safetySettings",
        "tools",
        "toolConfig",
        "labels",
        "cachedContent",
        "serviceTier",
        "store",
        "continuationToken",
        "modelArmorConfig",
        "outputConfig",
    }
)
_GENERATION_CONFIG_KEYS = frozenset(
    {
        "temperature",
        "topP",
        "topK",
        "candidateCount",
        "maxOutputTokens",
        "stopSequences",
        "responseLogprobs",
        "logprobs",
        "presencePenalty",
        "frequencyPenalty",
        "seed",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "mediaResolution",
        "speechConfig",
        "thinkingConfig",
        "imageConfig",
        "enableEnhancedCivicAnswers",
        "audioTranscriptionConfig",
        "audioTimestamp",
        "routingConfig",
        "modelConfig",
    }
)
_IMAGE_CONFIG_KEYS = frozenset({"aspectRatio", "imageSize"})
_VERTEX_IMAGE_CONFIG_KEYS = _IMAGE_CONFIG_KEYS | {
    "personGeneration",
    "prominentPeople",
    "imageOutputOptions",
}
_IMAGEN_PARAMETER_KEYS = frozenset(
    {
        "sampleCount",
        "aspectRatio",
        "personGeneration",
        "negativePrompt",
        "includeRaiReason",
        "includeSafetyAttributes",
        "outputOptions",
        "sampleImageSize",
        "addWatermark",
        "enhancePrompt",
        "guidanceScale",
        "language",
        "safetySetting",
        "seed",
        "storageUri",
    }
)
_PART_DATA_KEYS = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
_IMAGE_MODALITIES = frozenset({"TEXT", "IMAGE"})
_HEIF_MIMES = frozenset({"image/heic", "image/heif"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
# Google documents these as "skip validation" signatures for injected history.
_DUMMY_SIGNATURES = frozenset(
    {"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"}
)
_TROUBLESHOOTING = (
    "Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
)

_STATUS_TEXT = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_DEFAULT_MESSAGE = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: f"An internal error has occurred. {_TROUBLESHOOTING}",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}


# --------------------------------------------------------------------------- recorded requests


@dataclass
class GeminiRequest:
    """One request as the fake received it."""

    version: str
    model: str
    method: str  # "generateContent" | "predict" ("" when the path was not a model call)
    body: dict[str, Any]
    headers: dict[str, str]
    path: str = ""
    status: int | None = None  # what the fake answered, once it has
    answer: bytes = b""

    @property
    def answer_json(self) -> dict[str, Any]:
        """The answer's JSON body (raises if the fake sent something else)."""
        parsed: dict[str, Any] = json.loads(self.answer)
        return parsed

    @property
    def contents(self) -> list[dict[str, Any]]:
        """``body["contents"]`` (only its objects, should the request be malformed)."""
        contents = self.body.get("contents")
        return [c for c in contents if isinstance(c, dict)] if isinstance(contents, list) else []

    @property
    def generation_config(self) -> dict[str, Any]:
        return _dict_field(self.body, "generationConfig")

    @property
    def image_config(self) -> dict[str, Any]:
        return _dict_field(self.generation_config, "imageConfig")

    def texts(self) -> list[str]:
        """Text parts of the last user content (for ``predict``: the instance prompts)."""
        if self.method == "predict":
            instances = self.body.get("instances")
            return [i["prompt"] for i in instances or [] if isinstance(i, dict) and "prompt" in i]
        return [p["text"] for p in _parts(self._last_user_content()) if "text" in p]

    def images(self) -> list[tuple[str, bytes]]:
        """(mime, bytes) of the inline images in the last user content."""
        return [_decode_blob(b) for b in _blobs(_parts(self._last_user_content()))]

    def all_images(self) -> list[tuple[str, str, bytes]]:
        """(role, mime, bytes) of every inline image, across all contents."""
        return [
            (content.get("role", "user"), *_decode_blob(blob))
            for content in self.contents
            for blob in _blobs(_parts(content))
        ]

    def _last_user_content(self) -> dict[str, Any]:
        users = [c for c in self.contents if c.get("role", "user") == "user"]
        return users[-1] if users else {}


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class Reply:
    """A scripted answer; build one with the ``*_reply`` functions."""

    render: Callable[[_ReplyContext], Awaitable[_Answer]]
    delay: float | None = None  # seconds before answering; None: FakeGemini.default_delay
    method: str | None = None  # the only method this reply can answer; None: any


def image_reply(
    *,
    text: str | None = "Here is your image.",
    image: bytes | None = None,
    mime: str | None = None,
    declared_mime: str | None = None,
    thought_signature: bool = True,
    thought_image: bool | None = None,
    thought_image_signed: bool = True,
    finish_reason: str = "STOP",
    delay: float | None = None,
) -> Reply:
    """A generated image. With ``image=None`` the fake renders one the size the request asked
    for (aspect ratio and imageSize, else the model's default) in the model's output format
    (Gemini 3 models alternate PNG and JPEG); ``mime`` forces a format. ``declared_mime``
    labels the part with another type than its bytes, as Gemini 3 sometimes does.
    ``thought_image``: True adds an interim ``thought`` image, False never does, None (the
    default) does what the model does: only when the request sets
    ``thinkingConfig.includeThoughts`` and the model makes thought images.
    ``thought_image_signed=False`` sends that interim image without a thoughtSignature."""
    for forced in (mime, declared_mime):
        if image is None and forced is not None and forced not in _GENERATED_FORMATS:
            raise ValueError(f"can only generate {sorted(_GENERATED_FORMATS)}; pass image= bytes")

    async def render(ctx: _ReplyContext) -> _Answer:
        fmt = mime or ("image/png" if image is not None else ctx.output_mime())
        label = declared_mime or fmt
        with_draft = ctx.wants_thought_image() if thought_image is None else thought_image
        parts = []
        if with_draft:
            draft = await ctx.generated_image(fmt, thought=True)
            sign = thought_signature and thought_image_signed
            parts.append(ctx.image_part(draft, label, sign=sign, thought=True))
        if text is not None:
            parts.append(ctx.text_part(text, sign=thought_signature))
        final = image if image is not None else await ctx.generated_image(fmt)
        parts.append(ctx.image_part(final, label, sign=thought_signature))
        usage = ctx.usage(text=text or "", images=1, thought_images=int(with_draft))
        candidate = _candidate(parts, finish_reason)
        if ctx.wants_grounding():
            candidate["groundingMetadata"] = _grounding_metadata(ctx.request.texts())
        return _json_answer(ctx.envelope(candidates=[candidate], usage=usage))

    return Reply(render, delay=delay, method="generateContent")


def text_reply(text: str, *, finish_reason: str = "STOP") -> Reply:
    """A refusal: the model answers with text and no image."""

    async def render(ctx: _ReplyContext) -> _Answer:
        parts = [ctx.text_part(text, sign=True)]
        usage = ctx.usage(text=text)
        return _json_answer(
            ctx.envelope(candidates=[_candidate(parts, finish_reason)], usage=usage)
        )

    return Reply(render, method="generateContent")


def prompts_reply(prompts: list[str] | None = None) -> Reply:
    """A text model's answer. Asked for JSON (responseMimeType application/json) with a
    responseJsonSchema of an array of strings, it gives that many strings (`prompts`, or
    made-up ones) as a JSON array; otherwise plain text."""

    async def render(ctx: _ReplyContext) -> _Answer:
        config = ctx.request.generation_config
        schema = _dict_field(config, "responseJsonSchema") or _dict_field(config, "responseSchema")
        count = int(schema.get("minItems") or schema.get("min_items") or 3)
        items = prompts or [
            f"A watercolour of a lighthouse on a cliff at dusk, seen from the sea (take {n})"
            for n in range(1, count + 1)
        ]
        json_asked = _field(config, "responseMimeType") == "application/json"
        text = json.dumps(items) if json_asked else "\n".join(items)
        parts = [ctx.text_part(text, sign=True)]
        return _json_answer(
            ctx.envelope(candidates=[_candidate(parts, "STOP")], usage=ctx.usage(text=text))
        )

    return Reply(render, method="generateContent")


def blocked_prompt(
    reason: str = "SAFETY",
    *,
    message: str | None = None,
    ratings: list[dict[str, Any]] | None = None,
) -> Reply:
    """A blocked prompt: promptFeedback only, no candidates."""
    feedback: dict[str, Any] = {"blockReason": reason}
    if message is not None:
        feedback["blockReasonMessage"] = message
    if ratings is not None:
        feedback["safetyRatings"] = ratings

    async def render(ctx: _ReplyContext) -> _Answer:
        return _json_answer(ctx.envelope(promptFeedback=feedback, usage=ctx.usage()))

    return Reply(render, method="generateContent")


def finish_reply(
    reason: str,
    *,
    message: str | None = None,
    ratings: list[dict[str, Any]] | None = None,
    text: str | None = None,
) -> Reply:
    """A candidate that stopped with ``reason`` (any string, even one the SDK does not know)
    and carries no image; ``text`` adds a text part."""

    async def render(ctx: _ReplyContext) -> _Answer:
        parts = None if text is None else [ctx.text_part(text, sign=True)]
        candidate = _candidate(parts, reason, message=message, ratings=ratings)
        usage = ctx.usage(text=text or "")
        return _json_answer(ctx.envelope(candidates=[candidate], usage=usage))

    return Reply(render, method="generateContent")


def error_reply(
    status: int,
    message: str = "",
    *,
    status_text: str | None = None,
    retry_delay: float | None = None,
) -> Reply:
    """A Google API error; ``retry_delay`` adds a google.rpc.RetryInfo detail like quota errors."""
    details = None
    if retry_delay is not None:
        details = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_delay:g}s"}
        ]
    answer = _error_answer(status, message, status_text=status_text, details=details)

    async def render(ctx: _ReplyContext) -> _Answer:
        return answer

    return Reply(render)


QUOTA_KINDS = ("per_minute", "per_day", "no_billing")
_RATE_LIMITS_URL = "https://ai.google.dev/gemini-api/docs/rate-limits"
_REQUESTS_METRIC = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
_TOKENS_METRIC = "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count"
_PER_MINUTE_ID = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
_PER_DAY_ID = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
_TOKENS_PER_MINUTE_ID = "GenerateContentInputTokensPerModelPerMinute-FreeTier"


def quota_reply(
    kind: str = "per_minute",
    *,
    limit: int | None = None,
    retry_delay: float = 17.5,
    model: str | None = None,
) -> Reply:
    """429 RESOURCE_EXHAUSTED for an exhausted quota, shaped like the Gemini API's: the
    message lists each quota with its limit, and ``details`` hold a google.rpc.Help link,
    google.rpc.QuotaFailure violations (quotaMetric, quotaId, quotaDimensions, quotaValue)
    and google.rpc.RetryInfo (retryDelay, whole seconds). ``kind``: "per_minute" (requests
    per minute), "per_day" (requests per day) or "no_billing" (every limit is 0, as for
    image models on a project without billing). ``model``: the requested one by default."""
    if kind not in QUOTA_KINDS:
        raise ValueError(f"kind must be one of {QUOTA_KINDS}")

    async def render(ctx: _ReplyContext) -> _Answer:
        name = model or ctx.request.model
        if kind == "per_minute":
            quotas = [(_REQUESTS_METRIC, _PER_MINUTE_ID, 10 if limit is None else limit)]
        elif kind == "per_day":
            quotas = [(_REQUESTS_METRIC, _PER_DAY_ID, 250 if limit is None else limit)]
        else:
            quotas = [
                (_TOKENS_METRIC, _TOKENS_PER_MINUTE_ID, 0),
                (_REQUESTS_METRIC, _PER_MINUTE_ID, 0),
                (_REQUESTS_METRIC, _PER_DAY_ID, 0),
            ]
        return _quota_answer(name, quotas, retry_delay)

    return Reply(render)


def _quota_answer(model: str, quotas: list[tuple[str, str, int]], retry_delay: float) -> _Answer:
    lines = "".join(
        f"* Quota exceeded for metric: {metric}, limit: {value}, model: {model}\n"
        for metric, _, value in quotas
    )
    message = (
        "You exceeded your current quota, please check your plan and billing details. For "
        f"more information on this error, head to: {_RATE_LIMITS_URL}. To monitor your "
        f"current usage, head to: https://ai.dev/rate-limit. \n{lines}"
        f"Please retry in {retry_delay:g}s."
    )
    violations = []
    for metric, quota_id, value in quotas:
        violation: dict[str, Any] = {
            "quotaMetric": metric,
            "quotaId": quota_id,
            "quotaDimensions": {"location": "global", "model": model},
        }
        if value:  # proto3 JSON leaves out a zero int64
            violation["quotaValue"] = str(value)
        violations.append(violation)
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {"description": "Learn more about Gemini API quotas", "url": _RATE_LIMITS_URL}
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": violations},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{int(retry_delay)}s"},
    ]
    return _error_answer(429, message, details=details)


def raw_reply(status: int, body: bytes, content_type: str = "application/json") -> Reply:
    """Exactly these bytes, for malformed responses."""
    answer = _Answer(status, body, content_type)

    async def render(ctx: _ReplyContext) -> _Answer:
        return answer

    return Reply(render)


def empty_reply() -> Reply:
    """200 with an empty candidate list."""

    async def render(ctx: _ReplyContext) -> _Answer:
        return _json_answer(ctx.envelope(candidates=[], usage=ctx.usage()))

    return Reply(render, method="generateContent")


def no_parts_reply() -> Reply:
    """A candidate whose content has a role but no parts."""

    async def render(ctx: _ReplyContext) -> _Answer:
        candidate = _candidate([], "STOP")
        return _json_answer(ctx.envelope(candidates=[candidate], usage=ctx.usage()))

    return Reply(render, method="generateContent")


def corrupt_image_reply() -> Reply:
    """An inlineData image part whose bytes are not a decodable image."""
    return image_reply(text=None, image=b"\x89PNG\r\n\x1a\n-- truncated, not an image --")


def hang_reply(seconds: float) -> Reply:
    """Wait ``seconds``, then answer normally (for client time-outs)."""
    return dataclasses.replace(image_reply(), delay=seconds)


def imagen_reply(n: int = 4, *, filtered: dict[int, str] | None = None) -> Reply:
    """``:predict`` predictions: ``n`` images, where ``filtered`` maps index -> raiFilteredReason.
    Like Vertex, filtered images are dropped silently unless the request set includeRaiReason."""
    filtered = filtered or {}

    async def render(ctx: _ReplyContext) -> _Answer:
        params = _dict_field(ctx.request.body, "parameters")
        mime = _dict_field(params, "outputOptions").get("mimeType", "image/png")
        predictions: list[dict[str, Any]] = []
        for index in range(n):
            if index in filtered:
                if params.get("includeRaiReason"):
                    predictions.append({"raiFilteredReason": filtered[index]})
                continue
            data = await ctx.generated_image(mime)
            predictions.append({"bytesBase64Encoded": _b64(data), "mimeType": mime})
        if params.get("includeSafetyAttributes"):
            predictions.append(
                {
                    "safetyAttributes": {"categories": [], "scores": []},
                    "contentType": "Positive Prompt",
                }
            )
        return _json_answer({"predictions": predictions})

    return Reply(render, method="predict")


GROUNDING_REDIRECT = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/"
_GROUNDING_SITES = ("en.wikipedia.org", "britannica.com", "nasa.gov")


def _grounding_metadata(prompts: list[str]) -> dict[str, Any]:
    """What a grounded answer carries (ai.google.dev "Grounding with Google Search";
    google-genai's GroundingMetadata): the queries Google ran, the search suggestions chip
    (HTML that Google requires to be shown), and each web source with a redirect link and
    its site as the title."""
    topic = " ".join(" ".join(prompts).split()[:6]) or "image"
    queries = [topic, f"{topic} facts"]
    chunks = [
        {"web": {"uri": GROUNDING_REDIRECT + secrets.token_urlsafe(48), "title": site}}
        for site in _GROUNDING_SITES
    ]
    chips = "".join(
        f'<a class="chip" href="https://www.google.com/search?q={q}">{q}</a>' for q in queries
    )
    chip_style = "<style>.chip{display:inline-block}</style>"
    return {
        "webSearchQueries": queries,
        "searchEntryPoint": {"renderedContent": f'{chip_style}<div class="carousel">{chips}</div>'},
        "groundingChunks": chunks,
        "groundingSupports": [
            {
                "segment": {"startIndex": 0, "endIndex": 5, "text": "Here "},
                "groundingChunkIndices": [0, 1],
                "confidenceScores": [0.9, 0.7],
            }
        ],
    }


def video_reply(
    *,
    polls: int = 1,
    filtered: tuple[str, ...] = (),
    error: dict[str, Any] | None = None,
    seconds: int | None = None,
) -> Reply:
    """Veo's predictLongRunning: an operation that fetchPredictOperation reports running
    `polls` times, then done with a real-sized MP4, or RAI-filtered (`filtered`: the
    reasons), or failed (`error`: a google.rpc.Status such as {"code": 13, "message": ...})."""
    outcome = vertex_media.VideoOutcome(polls, filtered, error, seconds)

    async def render(ctx: _ReplyContext) -> _Answer:
        name = vertex_media.operation_name(ctx.request.model)
        params = _dict_field(ctx.request.body, "parameters")
        operation = vertex_media.Operation(name, outcome, params, outcome.polls)
        with ctx._fake._lock:
            ctx._fake._operations[name] = operation
        return _json_answer({"name": name})

    return Reply(render, method="predictLongRunning")


def upscale_reply(*, filtered: str | None = None) -> Reply:
    """Imagen's upscaler (:predict with mode "upscale"): the image enlarged as asked, or,
    with `filtered`, withheld with that raiFilteredReason (sent only with includeRaiReason)."""

    async def render(ctx: _ReplyContext) -> _Answer:
        params = _dict_field(ctx.request.body, "parameters")
        if filtered is not None:
            withheld = [{"raiFilteredReason": filtered}] if params.get("includeRaiReason") else []
            return _json_answer({"predictions": withheld})
        instance = ctx.request.body["instances"][0]
        source = _b64decode(instance["image"]["bytesBase64Encoded"])
        factor = _dict_field(params, "upscaleConfig")["upscaleFactor"]
        mime = _dict_field(params, "outputOptions").get("mimeType", "image/png")
        data = await asyncio.to_thread(vertex_media.upscaled, source, factor, mime)
        return _json_answer({"predictions": [{"bytesBase64Encoded": _b64(data), "mimeType": mime}]})

    return Reply(render, method="predict")


def safety_rating(
    category: str, probability: str = "HIGH", *, blocked: bool = True
) -> dict[str, Any]:
    """One safetyRatings entry, for ``blocked_prompt`` / ``finish_reply``."""
    return {"category": category, "probability": probability, "blocked": blocked}


def _candidate(
    parts: list[dict[str, Any]] | None,
    finish_reason: str,
    *,
    message: str | None = None,
    ratings: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {}
    if parts is not None:
        candidate["content"] = {"role": "model", **({"parts": parts} if parts else {})}
    candidate["finishReason"] = finish_reason
    if message is not None:
        candidate["finishMessage"] = message
    candidate["index"] = 0
    candidate["safetyRatings"] = ratings or []
    return candidate


def _json_answer(payload: dict[str, Any], status: int = 200) -> _Answer:
    return _Answer(status, json.dumps(payload).encode())


def _error_answer(
    code: int,
    message: str = "",
    *,
    status_text: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> _Answer:
    error: dict[str, Any] = {
        "code": code,
        "message": message or _DEFAULT_MESSAGE.get(code, ""),
        "status": status_text or _STATUS_TEXT.get(code, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return _json_answer({"error": error}, code)


_UNKNOWN_NAME = re.compile(r"Unknown name \"[^\"]+\" at '([^']*)'")


def _invalid_argument(problems: list[str]) -> _Answer:
    """400 INVALID_ARGUMENT; unknown fields also get google.rpc.BadRequest fieldViolations."""
    violations = [
        {"field": match.group(1), "description": problem}
        for problem in problems
        if (match := _UNKNOWN_NAME.search(problem))
    ]
    details = None
    if violations:
        details = [
            {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations}
        ]
    return _error_answer(400, "\n".join(problems), details=details)


# --------------------------------------------------------------------------- rendering context


class _ReplyContext:
    """What a reply needs to render: the request, signatures and generated images."""

    def __init__(self, fake: FakeGemini, request: GeminiRequest, colour_index: int) -> None:
        self.request = request
        self._fake = fake
        self._colour_index = colour_index

    def text_part(self, text: str, *, sign: bool) -> dict[str, Any]:
        part: dict[str, Any] = {"text": text}
        if sign:
            part["thoughtSignature"] = self._fake._signatures.issue(_text_fingerprint(text))
        return part

    def image_part(
        self, data: bytes, mime: str, *, sign: bool, thought: bool = False
    ) -> dict[str, Any]:
        part: dict[str, Any] = {"inlineData": {"mimeType": mime, "data": _b64(data)}}
        if thought:
            part["thought"] = True
        if sign:
            part["thoughtSignature"] = self._fake._signatures.issue(_bytes_fingerprint(data))
        return part

    @property
    def spec(self) -> ModelSpec:
        return _spec_for(self.request.model)

    def output_mime(self) -> str:
        """The model's answer format; models with several alternate between them (unless
        the fake's `output_mime` fixes one, for benchmarks)."""
        if self._fake.output_mime is not None:
            return self._fake.output_mime
        formats = self.spec.output_mimes or ("image/png",)
        return formats[self._colour_index % len(formats)]

    def wants_grounding(self) -> bool:
        """The request sent the Google Search tool (and the model has grounding, or the
        request was refused before reaching here)."""
        tools = self.request.body.get("tools")
        return isinstance(tools, list) and any(
            isinstance(t, dict) and _field(t, "googleSearch") is not None for t in tools
        )

    def wants_thought_image(self) -> bool:
        thinking = _dict_field(self.request.generation_config, "thinkingConfig")
        return self.spec.thought_images and bool(_field(thinking, "includeThoughts"))

    def image_size(self) -> str:
        """The imageSize asked for (Imagen: sampleImageSize), else the model's default."""
        imagen = _dict_field(self.request.body, "parameters").get("sampleImageSize")
        asked = _field(self.request.image_config, "imageSize") or imagen
        return str(asked or self.spec.default_size or "1K")

    def aspect_ratio(self) -> str:
        imagen = _dict_field(self.request.body, "parameters").get("aspectRatio")
        return str(_field(self.request.image_config, "aspectRatio") or imagen or "1:1")

    async def generated_image(self, mime: str, *, thought: bool = False) -> bytes:
        """A photo-like image of the requested size and aspect ratio, unique to this answer;
        with FakeGemini(image_px=N), a solid-colour image whose short edge is N pixels."""
        variant = self._colour_index + int(thought)  # the draft differs from the final
        fmt = _GENERATED_FORMATS[mime]
        if self._fake.real_images:
            size = _pixel_size(self.image_size(), self.aspect_ratio())
            return await asyncio.to_thread(_PHOTOS.unique, fmt, size, variant)
        size = _image_dimensions(self.aspect_ratio(), self._fake.image_px)
        colour = _colour(self._colour_index)
        if thought:  # the draft gets the complementary colour, so it differs from the final
            colour = (255 - colour[0], 255 - colour[1], 255 - colour[2])
        return await asyncio.to_thread(_solid_image, size, colour, fmt)

    def usage(self, *, text: str = "", images: int = 0, thought_images: int = 0) -> dict[str, Any]:
        prompt_text, prompt_images = _prompt_tokens(self.request, self.spec.input_image_tokens)
        text_out = _text_tokens(text)
        per_image = self.spec.output_tokens(self.image_size())
        image_out = images * per_image
        thoughts = thought_images * per_image
        usage: dict[str, Any] = {
            "promptTokenCount": prompt_text + prompt_images,
            "candidatesTokenCount": text_out + image_out,
            "totalTokenCount": prompt_text + prompt_images + text_out + image_out + thoughts,
            "promptTokensDetails": _modality_counts(TEXT=prompt_text, IMAGE=prompt_images),
        }
        if text_out or image_out:
            usage["candidatesTokensDetails"] = _modality_counts(TEXT=text_out, IMAGE=image_out)
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return usage

    def envelope(self, *, usage: dict[str, Any], **payload: Any) -> dict[str, Any]:
        return {
            **payload,
            "usageMetadata": usage,
            "modelVersion": self.request.model,
            "responseId": secrets.token_urlsafe(17),
        }


def _text_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _prompt_tokens(request: GeminiRequest, per_image: int) -> tuple[int, int]:
    texts = [p.get("text", "") for c in request.contents for p in _parts(c)]
    images = sum(len(_blobs(_parts(c))) for c in request.contents)
    text_tokens = sum(_text_tokens(t) for t in texts if isinstance(t, str))
    return max(text_tokens, 1), images * per_image


def _modality_counts(**counts: int) -> list[dict[str, Any]]:
    return [{"modality": m, "tokenCount": n} for m, n in counts.items() if n]


def _image_dimensions(aspect_ratio: str, short_edge: int) -> tuple[int, int]:
    width, height = (int(x) for x in aspect_ratio.split(":"))
    if width >= height:
        return round(short_edge * width / height), short_edge
    return short_edge, round(short_edge * height / width)


def _pixel_size(image_size: str, aspect_ratio: str) -> tuple[int, int]:
    """Width and height of an answer: about SIZE_EDGE² pixels in the aspect ratio, in
    multiples of 16 (1K 1:1 is 1024 x 1024, 1K 16:9 about 1360 x 768)."""
    edge = SIZE_EDGE.get(image_size, 1024)
    width, height = (int(x) for x in aspect_ratio.split(":"))
    scale = (edge * edge / (width * height)) ** 0.5
    return max(16, round(width * scale / 16) * 16), max(16, round(height * scale / 16) * 16)


class _PhotoPool:
    """Photo-like images (gradients and colour noise, so they compress like photographs:
    a 1K PNG is ~2.7 MB, a 1K JPEG ~1.5 MB). Rendering one costs 0.1-1 s, so each
    (format, size, variant) is rendered once, lazily, and every answer gets a copy made
    unique by a metadata segment: content-addressed storage sees different images."""

    VARIANTS = 3

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._renders: dict[tuple[str, tuple[int, int], int], bytes] = {}
        self._render_locks: dict[tuple[str, tuple[int, int], int], threading.Lock] = {}
        self._serial = itertools.count()

    def unique(self, fmt: str, size: tuple[int, int], variant: int) -> bytes:
        """Blocking: run it in a worker thread."""
        if fmt == "WEBP":  # no cheap way to stamp a RIFF container: render each time
            return _encode(_photo(size, variant), fmt)
        key = (fmt, size, variant % self.VARIANTS)
        with self._lock:
            render_lock = self._render_locks.setdefault(key, threading.Lock())
        with render_lock:  # concurrent first requests wait for one render
            if key not in self._renders:
                self._renders[key] = _encode(_photo(size, key[2]), fmt)
        stamp = f"fake-gemini {next(self._serial)} {secrets.token_hex(8)}".encode()
        return _stamped(self._renders[key], fmt, stamp)


def _photo(size: tuple[int, int], variant: int) -> Image.Image:
    width, height = size
    gradients = [
        Image.linear_gradient("L").resize(size),
        Image.linear_gradient("L").rotate(90).resize(size),
        Image.radial_gradient("L").resize(size),
    ]
    shift = variant % len(gradients)
    base = Image.merge("RGB", gradients[shift:] + gradients[:shift])
    noise = Image.merge("RGB", [Image.effect_noise((width, height), 40) for _ in range(3)])
    return Image.blend(base, noise, 0.5)


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "PNG":
        image.save(out, fmt, compress_level=1)
    elif fmt == "JPEG":
        image.save(out, fmt, quality=95, subsampling=0)
    else:
        image.save(out, fmt)
    return out.getvalue()


def _stamped(data: bytes, fmt: str, stamp: bytes) -> bytes:
    """The same picture with ``stamp`` in a PNG tEXt chunk or a JPEG COM segment."""
    if fmt == "PNG":
        ihdr_end = 8 + 25  # signature, then IHDR is always the first chunk
        chunk = _png_chunk(b"tEXt", b"Comment\x00" + stamp)
        return data[:ihdr_end] + chunk + data[ihdr_end:]
    at = 2  # after SOI, and after a JFIF APP0 segment, which must come first
    if data[2:4] == b"\xff\xe0":
        at = 4 + struct.unpack(">H", data[4:6])[0]
    segment = b"\xff\xfe" + struct.pack(">H", len(stamp) + 2) + stamp
    return data[:at] + segment + data[at:]


_PHOTOS = _PhotoPool()


def _colour(index: int) -> tuple[int, int, int]:
    """A distinct colour per request: golden-ratio hue steps, cycling brightness levels."""
    hue = (index * 0.618033988749895) % 1.0
    saturation, value = (0.9, 0.95), (0.5, 0.75, 0.95)
    r, g, b = colorsys.hsv_to_rgb(hue, saturation[index % 2], value[index % 3])
    return round(r * 255), round(g * 255), round(b * 255)


def _solid_image(size: tuple[int, int], colour: tuple[int, int, int], fmt: str) -> bytes:
    """A solid-colour image (blocking: run it in a worker thread)."""
    if fmt == "PNG":
        return _solid_png(size, colour)
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def _solid_png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    """An RGB PNG written directly, ~10x faster than Pillow at 1K+ (benchmarks ask for
    hundreds at once): one deflate block of identical rows is compressed once and repeated.
    Each block comes from a fresh compressor ended by a full flush, so the copies are
    independent and byte-aligned."""
    width, height = size
    row = b"\x00" + bytes(colour) * width  # filter type 0, then the pixels
    rows_per_block = max(1, 65536 // len(row))
    full_blocks, last_rows = divmod(height, rows_per_block)

    def deflate_rows(count: int) -> bytes:
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        return compressor.compress(row * count) + compressor.flush(zlib.Z_FULL_FLUSH)

    stream = deflate_rows(rows_per_block) * full_blocks
    if last_rows:
        stream += deflate_rows(last_rows)
    stream += b"\x03\x00"  # an empty final block
    checksum = zlib.adler32(row * height)
    idat = b"\x78\x9c" + stream + struct.pack(">I", checksum)  # zlib header and trailer
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# --------------------------------------------------------------------------- thought signatures


class _Signatures:
    """Remembers every thoughtSignature issued, and for which part (by content fingerprint)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._part_by_signature: dict[bytes, str] = {}
        self._signed_parts: set[str] = set()

    def issue(self, fingerprint: str) -> str:
        signature = secrets.token_bytes(32)
        with self._lock:
            self._part_by_signature[signature] = fingerprint
            self._signed_parts.add(fingerprint)
        return _b64(signature)

    def check(self, contents: list[Any], *, strict_images: bool) -> list[str]:
        """Problems with the signatures of the model turns in ``contents``. With
        ``strict_images`` (Gemini 3) every model image part must carry one."""
        problems = []
        for ci, content in enumerate(contents):
            if not isinstance(content, dict) or content.get("role") != "model":
                continue
            for pi, part in enumerate(_parts(content)):
                problem = self._problem_with(part, strict_images=strict_images)
                if problem:
                    problems.append(
                        f"{problem} in content position {ci + 1}, part position {pi + 1}."
                    )
        return problems

    def _problem_with(self, part: dict[str, Any], *, strict_images: bool) -> str | None:
        fingerprint = _part_fingerprint(part)
        raw = _field(part, "thoughtSignature")
        if raw is None:
            is_image = _field(part, "inlineData") is not None
            with self._lock:
                was_signed = fingerprint in self._signed_parts
            # Interim thought images may come unsigned, and then go back unsigned.
            if was_signed or (is_image and strict_images and not part.get("thought")):
                kind = "Image" if is_image else "Text"
                return f"{kind} part is missing a thought_signature"
            return None
        try:
            signature = _b64decode(raw)
        except ValueError:
            return "Thought signature is not valid base64"
        if raw in _DUMMY_SIGNATURES or signature.decode("latin-1") in _DUMMY_SIGNATURES:
            return None
        with self._lock:
            issued_for = self._part_by_signature.get(signature, "")
        if not issued_for:
            return "Thought signature is not valid (never issued)"
        if issued_for != fingerprint:
            return "Thought signature was issued for a different part"
        return None


def _text_fingerprint(text: str) -> str:
    return "text:" + hashlib.sha256(text.encode()).hexdigest()


def _bytes_fingerprint(data: bytes) -> str:
    return "inline:" + hashlib.sha256(data).hexdigest()


def _part_fingerprint(part: dict[str, Any]) -> str | None:
    if isinstance(part.get("text"), str):
        return _text_fingerprint(part["text"])
    blob = _field(part, "inlineData")
    if isinstance(blob, dict):
        try:
            return _bytes_fingerprint(_b64decode(blob.get("data", "")))
        except ValueError:
            return None
    return None


# --------------------------------------------------------------------------- request validation


@dataclass(frozen=True)
class _CallContext:
    """What request validation needs to know besides the body."""

    spec: ModelSpec
    version: str
    vertex: bool
    signatures: _Signatures


def _validate_generate_content(body: dict[str, Any], call: _CallContext) -> list[str]:
    """Everything the real service would reject with 400 INVALID_ARGUMENT (blocking: decodes
    images, run it in a worker thread)."""
    problems = _unknown_keys(body, _REQUEST_KEYS, "")
    problems += _check_generation_config(_dict_field(body, "generationConfig"), call)
    problems += _check_tools(body.get("tools"), call.spec)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return [*problems, "* GenerateContentRequest.contents: contents is not specified"]
    problems += _check_contents(contents, call)
    if call.spec.provider == "gemini":
        problems += _check_image_count(contents, call.spec)
    strict = call.spec.id.startswith("gemini-3")
    problems += call.signatures.check(contents, strict_images=strict)
    return problems


def _check_generation_config(config: dict[str, Any], call: _CallContext) -> list[str]:
    known = _GENERATION_CONFIG_KEYS
    if call.version == "v1":
        known -= V1BETA_ONLY_CONFIG_KEYS
    problems = _unknown_keys(config, known, "generation_config")
    spec = call.spec
    modalities = _field(config, "responseModalities")
    unsupported = f"Model does not support the requested response modalities: {modalities}"
    if spec.provider == "text":
        if isinstance(modalities, list) and "IMAGE" in modalities:
            problems.append(unsupported)
        return problems
    if spec.provider != "gemini":
        return problems
    if modalities is not None and (
        "IMAGE" not in modalities or not _IMAGE_MODALITIES.issuperset(modalities)
    ):
        problems.append(unsupported)
    if _field(config, "candidateCount") not in (None, 1):
        problems.append(f"Multiple candidates is not enabled for models/{spec.id}")
    image_config = _dict_field(config, "imageConfig")
    allowed = _VERTEX_IMAGE_CONFIG_KEYS if call.vertex else _IMAGE_CONFIG_KEYS
    problems += _unknown_keys(image_config, allowed, "generation_config.image_config")
    aspect = _field(image_config, "aspectRatio")
    if aspect is not None and aspect not in spec.aspect_ratios:
        problems.append(
            f"Unsupported aspect ratio: {aspect!r}. Supported by models/{spec.id}: "
            f"{sorted(spec.aspect_ratios)}"
        )
    size = _field(image_config, "imageSize")
    if size is not None and size not in spec.image_sizes:
        problems.append(
            f"Unsupported image size: {size!r}. Supported by models/{spec.id}: "
            f"{list(spec.image_sizes)}"
        )
    return problems


def _check_tools(tools: Any, spec: ModelSpec) -> list[str]:
    if not isinstance(tools, list):
        return []
    searches = [t for t in tools if isinstance(t, dict) and _field(t, "googleSearch") is not None]
    if searches and not spec.grounding:
        return [f"Search Grounding is not supported for models/{spec.id}."]
    return []


def _check_contents(contents: list[Any], call: _CallContext) -> list[str]:
    problems = []
    for ci, content in enumerate(contents):
        where = f"contents[{ci}]"
        if not isinstance(content, dict):
            problems.append(f"Invalid value at '{where}': a Content object is required")
            continue
        if content.get("role", "user") not in ("user", "model"):
            problems.append(
                f"Please use a valid role: user, model. Got {content.get('role')!r} at {where}"
            )
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            problems.append(
                f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty."
            )
            continue
        for pi, part in enumerate(parts):
            problems += _check_part(part, f"{where}.parts[{pi}]", call)
    last = contents[-1]
    if isinstance(last, dict) and last.get("role") == "model":
        problems.append(
            "Please ensure that the last content has role user: "
            f"the history ends with a {last.get('role')!r} turn."
        )
    return problems


def _check_part(part: Any, where: str, call: _CallContext) -> list[str]:
    if not isinstance(part, dict):
        return [f"Invalid value at '{where}': a Part object is required"]
    data_fields = [key for key in _PART_DATA_KEYS if _field(part, key) is not None]
    if not data_fields:
        return [
            f"* GenerateContentRequest.{where}.data: "
            "required oneof field 'data' must have one initialized field"
        ]
    if len(data_fields) > 1:
        extra = data_fields[1]
        return [
            f"Invalid value at '{where}': oneof field 'data' is already set. Cannot set {extra!r}"
        ]
    if "text" in part and not isinstance(part["text"], str):
        return [f"Invalid value at '{where}.text' (TYPE_STRING)"]
    blob = _field(part, "inlineData")
    return [] if blob is None else _check_blob(blob, f"{where}.inline_data", call)


def _check_blob(blob: Any, where: str, call: _CallContext) -> list[str]:
    if not isinstance(blob, dict):
        return [f"Invalid value at '{where}': a Blob object is required"]
    mime = _field(blob, "mimeType")
    try:
        data = _b64decode(blob.get("data"))
    except ValueError:
        return [f"Invalid value at '{where}.data' (TYPE_BYTES), Base64 decoding failed"]
    accepted = call.spec.input_mimes or frozenset(KNOWN_IMAGE_MIMES)
    if mime not in accepted:
        return [f"Unsupported MIME type: {mime} (at {where})"]
    # Documented per inline image on Vertex AI only; the Developer API documents the total.
    limit = call.spec.max_inline_image_bytes
    if call.vertex and limit is not None and len(data) > limit:
        return [
            f"Inline image at {where} is {len(data)} bytes; models/{call.spec.id} accepts "
            f"at most {limit} bytes per inline image."
        ]
    actual = _image_mime(data)
    if actual is None:
        return [f"Unable to process input image: {where} is not a {mime} image. {_TROUBLESHOOTING}"]
    if actual != mime and not {actual, mime} <= _HEIF_MIMES:
        # What Gemini 3.1 Flash Image answers to a JPEG labelled image/png (open-webui #25127).
        return [f"Unhandled generated data mime type: {actual} (at {where}, declared {mime})"]
    return []


def _check_image_count(contents: list[Any], spec: ModelSpec) -> list[str]:
    # Interim thought images are the model's drafts; they do not count as inputs.
    count = sum(
        1
        for content in contents
        if isinstance(content, dict)
        for part in _parts(content)
        if _field(part, "inlineData") is not None and not part.get("thought")
    )
    if count <= spec.max_input_images:
        return []
    return [
        f"Too many images: {count} inline images, models/{spec.id} accepts at most "
        f"{spec.max_input_images}."
    ]


def _validate_predict(body: dict[str, Any]) -> list[str]:
    problems = _unknown_keys(body, frozenset({"instances", "parameters", "labels"}), "")
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        return [*problems, "instances must be a non-empty list"]
    if not all(
        isinstance(i, dict) and isinstance(i.get("prompt"), str) and i["prompt"] for i in instances
    ):
        problems.append("every instance needs a non-empty prompt")
    params = _dict_field(body, "parameters")
    problems += _unknown_keys(params, _IMAGEN_PARAMETER_KEYS, "parameters")
    count = params.get("sampleCount", 1)
    if not isinstance(count, int) or not 1 <= count <= 4:
        problems.append(f"sampleCount must be an integer between 1 and 4, got {count!r}")
    if params.get("aspectRatio", "1:1") not in IMAGEN_ASPECT_RATIOS:
        problems.append(f"Unsupported aspect ratio: {params['aspectRatio']!r}")
    if params.get("sampleImageSize", "1K") not in IMAGEN_SIZES:
        problems.append(f"Unsupported sampleImageSize: {params['sampleImageSize']!r}")
    mime = _dict_field(params, "outputOptions").get("mimeType", "image/png")
    if mime not in IMAGEN_OUTPUT_MIMES:
        problems.append(f"Unsupported output mime type: {mime!r}")
    return problems


def _image_mime(data: bytes) -> str | None:
    """The image type the bytes really are (of KNOWN_IMAGE_MIMES), or None."""
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:  # HEIC/HEIF: ISO-BMFF brand
        return "image/heic" if data[8:12].startswith(b"hei") else "image/heif"
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            fmt = image.format
    except Exception:  # Pillow raises many types for undecodable input
        return None
    return next((mime for mime, name in KNOWN_IMAGE_MIMES.items() if name == fmt), None)


def _unknown_keys(obj: dict[str, Any], known: frozenset[str], where: str) -> list[str]:
    return [
        f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field."
        for key in obj
        if _camel(key) not in known
    ]


# --------------------------------------------------------------------------- JSON helpers


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _field(obj: dict[str, Any], name: str) -> Any:
    """A proto JSON field, spelled lowerCamel (``name``) or snake_case."""
    value = obj.get(name)
    return obj.get(_snake(name)) if value is None else value


def _dict_field(obj: dict[str, Any], name: str) -> dict[str, Any]:
    value = _field(obj, name)
    return value if isinstance(value, dict) else {}


def _parts(content: dict[str, Any]) -> list[dict[str, Any]]:
    parts = content.get("parts")
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _blobs(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [blob for p in parts if isinstance(blob := _field(p, "inlineData"), dict)]


def _decode_blob(blob: dict[str, Any]) -> tuple[str, bytes]:
    return _field(blob, "mimeType"), _b64decode(blob.get("data"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: Any) -> bytes:
    """Decode standard or URL-safe base64, padded or not; ValueError if invalid."""
    if not isinstance(text, str):
        raise ValueError("base64 data must be a string")
    standard = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from exc


# --------------------------------------------------------------------------- the server


@dataclass(frozen=True)
class _Route:
    version: str
    model: str
    method: str
    vertex: bool


POLL = "fetchPredictOperation"
_METHODS = frozenset(
    {"generateContent", "streamGenerateContent", "predict", "predictLongRunning", POLL}
)
STREAM = "streamGenerateContent"
# POST .../models/{model}:{method}; GET .../models/{model} (models.get), GET .../models (list).
_MODEL_PATH = re.compile(
    r"(?P<project>projects/[^/]+/locations/[^/]+/)?(?P<publisher>publishers/[^/]+/)?"
    r"models(?:/(?P<model>[^/:]+)(?::(?P<method>\w+))?)?"
)
LIST_PAGE_SIZE = 50  # models.list: default page size; at most 1000 per page
MAX_LIST_PAGE_SIZE = 1000


def _parse_route(http_method: str, path: str) -> _Route | None:
    version, _, rest = path.lstrip("/").partition("/")
    match = _MODEL_PATH.fullmatch(rest)
    if match is None:
        return None
    vertex = bool(match["project"] or match["publisher"])
    model, method = match["model"] or "", match["method"]
    if http_method == "GET" and method is None and not vertex:
        return _Route(version, model, "get" if model else "list", vertex)
    if http_method == "GET" and method is None and match["publisher"] and model:
        return _Route(version, model, "get", vertex)  # Vertex AI: a publisher model
    if http_method == "POST" and model and method in _METHODS:
        return _Route(version, model, method, vertex)
    return None


class FakeGemini:
    """The fake server. ``await start()``, point the SDK at ``base_url``, ``await stop()``."""

    def __init__(self, *, api_key: str = "test-gemini-key", image_px: int | None = None) -> None:
        self.api_key = api_key
        # Without image_px: real-sized, photo-like answers. With it: solid-colour images whose
        # short edge is image_px pixels (tiny ones for unit tests, cheap ones for benchmarks).
        self.real_images = image_px is None
        self.image_px = image_px or 64
        self.base_url = ""
        # The models that answer; retired ones (in the table) and unknown ones get 404.
        self.models: set[str] = set(AVAILABLE_MODELS)
        self.requests: list[GeminiRequest] = []
        self.violations: list[str] = []
        self.default_delay = 0.0
        self.output_mime: str | None = None  # None: each model's own formats
        self.quota_refusals = 0  # 429s sent by the per-minute quota (see `limit_requests`)
        self.stream_pause_s = 0.0  # streamed answers: the thinking time after a thought part
        self._operations: dict[str, vertex_media.Operation] = {}  # Veo's, by name
        self._quota: tuple[int, float] | None = None
        self._calls: deque[float] = deque()  # when each counted call was made
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._signatures = _Signatures()
        self._colours = itertools.count()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        # Room above the 50 MB limit, so oversized requests get Gemini's 400 and not a 413.
        app = web.Application(client_max_size=2 * MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await self._runner.setup()
        # A deep accept backlog: benchmarks open hundreds of connections at once, and SYNs
        # dropped beyond the default 128 are retried by the client only after a second.
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def enqueue(self, *replies: Reply) -> None:
        """Script the next answers, first in first out."""
        with self._lock:
            self._queue.extend(replies)

    def limit_requests(self, requests: int | None, window_s: float = 60.0) -> None:
        """Enforce a project quota as Gemini does: at most `requests` generateContent calls
        per `window_s` (a minute, for real; shorter in tests), each call over it answered
        with the per-minute 429 and a RetryInfo saying when the window frees up. None lifts
        it."""
        self._quota = None if requests is None else (requests, window_s)
        self._calls.clear()

    def _over_quota(self, model: str) -> _Answer | None:
        if self._quota is None:
            return None
        requests, window = self._quota
        now = time.monotonic()
        with self._lock:
            while self._calls and self._calls[0] <= now - window:
                self._calls.popleft()
            if len(self._calls) < requests:
                self._calls.append(now)
                return None
            self.quota_refusals += 1
            wait = max(1.0, math.ceil(self._calls[0] + window - now))
        return _quota_answer(model, [(_REQUESTS_METRIC, _PER_MINUTE_ID, requests)], wait)

    def reset(self) -> None:
        """Forget requests, violations and scripted replies, and serve the default models again
        (issued signatures stay valid)."""
        with self._lock:
            self.requests.clear()
            self.violations.clear()
            self._queue.clear()
            self._operations.clear()
            self.models = set(AVAILABLE_MODELS)
        self.limit_requests(None)
        self.quota_refusals = 0

    # -- request handling

    async def _handle(self, http: web.Request) -> web.StreamResponse:
        route = _parse_route(http.method, http.path)
        raw = await http.read()
        body: dict[str, Any] = {}
        json_problem = None
        if len(raw) <= MAX_REQUEST_BYTES and http.method == "POST":
            body, json_problem = await asyncio.to_thread(_parse_body, raw)
        request = GeminiRequest(
            version=route.version if route else http.path.lstrip("/").partition("/")[0],
            model=route.model if route else "",
            method=route.method if route else "",
            body=body,
            headers=dict(http.headers),
            path=http.path,
        )
        with self._lock:
            self.requests.append(request)
        if route is None:
            self._violation(f"{http.method} {http.path}: not a call the fake (or the bot) makes")
            answer = _error_answer(404, f"Method not found: {http.method} {http.path}")
        elif route.method in ("get", "list"):
            answer = self._reject_caller(http, route) or self._model_info(http, route)
        else:
            answer = (
                self._reject_caller(http, route)
                or self._reject_model(route)
                or await self._reject_body(request, route, raw, json_problem)
                or self._over_quota(route.model)
                or (self._poll(request) if route.method == POLL else None)
                or await self._scripted_answer(request)
            )
        request.status, request.answer = answer.status, answer.body
        if route is not None and route.method == STREAM and answer.status == 200:
            if http.query.get("alt") != "sse":
                self._violation(f"{http.path}: streamGenerateContent without alt=sse")
            return await self._stream(http, json.loads(answer.body))
        return web.Response(
            status=answer.status,
            body=answer.body,
            content_type=answer.content_type,
            charset="UTF-8" if answer.content_type == "application/json" else None,
        )

    async def _stream(self, http: web.Request, answer: dict[str, Any]) -> web.StreamResponse:
        """An answer as streamGenerateContent sends it (server-sent events): one chunk per
        part, the last one with the finish reason, grounding and the full token usage. After
        a thought part the model goes on thinking for `stream_pause_s` seconds."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(http)
        for chunk, thought in _stream_chunks(answer):
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
            if thought:
                await asyncio.sleep(self.stream_pause_s)
        await response.write_eof()
        return response

    def _reject_caller(self, http: web.Request, route: _Route) -> _Answer | None:
        """Key and API version, checked first like the real service does."""
        key = http.headers.get("x-goog-api-key") or http.query.get("key")
        if key is None:
            return _error_answer(
                403,
                "Method doesn't allow unregistered callers (callers without established identity)."
                " Please use API Key or other form of API consumer identity to call this API.",
            )
        if key != self.api_key:
            return _error_answer(
                400, "API key not valid. Please pass a valid API key.", details=[_KEY_INVALID]
            )
        if route.version not in API_VERSIONS:
            self._violation(f"{http.path}: unknown API version {route.version!r}")
            return _error_answer(404, f"API version {route.version} not found.")
        return None

    def _reject_model(self, route: _Route) -> _Answer | None:
        method = {STREAM: "generateContent", POLL: "predictLongRunning"}.get(
            route.method, route.method
        )
        if method == "predictLongRunning" and not route.vertex:
            return _not_found(route.model, route.version, route.method)  # Vertex AI only
        if route.model in self.models and _spec_for(route.model).method == method:
            return None
        return _not_found(route.model, route.version, route.method)

    def _model_info(self, http: web.Request, route: _Route) -> _Answer:
        """models.get and models.list (pageSize, pageToken), like ai.google.dev/api/models."""
        if route.method == "get":
            if route.model not in self.models:
                return _not_found(route.model, route.version, "get")
            if route.vertex:  # a PublisherModel (Vertex AI's publishers.models.get)
                return _json_answer(
                    {
                        "name": f"publishers/google/models/{route.model}",
                        "versionId": "001",
                        "openSourceCategory": "PROPRIETARY",
                        "launchStage": "GA",
                    }
                )
            return _json_answer(_spec_for(route.model).resource())
        try:
            size = int(http.query.get("pageSize", LIST_PAGE_SIZE)) or LIST_PAGE_SIZE
            start = int(http.query.get("pageToken") or 0)
        except ValueError:
            return _error_answer(400, "Invalid pageSize or pageToken.")
        size = min(size, MAX_LIST_PAGE_SIZE)
        available = [_spec_for(m) for m in sorted(self.models)]
        page: dict[str, Any] = {"models": [m.resource() for m in available[start : start + size]]}
        if start + size < len(available):
            page["nextPageToken"] = str(start + size)
        return _json_answer(page)

    async def _reject_body(
        self, request: GeminiRequest, route: _Route, raw: bytes, json_problem: str | None
    ) -> _Answer | None:
        if len(raw) > MAX_REQUEST_BYTES:
            problems = [f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes."]
        elif json_problem is not None:
            problems = [json_problem]
        elif route.method == POLL:
            problems = []  # checked by _poll
        elif route.method == "predictLongRunning":
            spec = _spec_for(route.model)
            problems = await asyncio.to_thread(
                vertex_media.validate_video_request,
                request.body,
                aspect_ratios=spec.aspect_ratios,
                resolutions=spec.image_sizes,
                durations=spec.durations_s,
                audio_required=spec.audio_required,
            )
        elif route.method == "predict" and _spec_for(route.model).provider == "upscale":
            problems = await asyncio.to_thread(vertex_media.validate_upscale_request, request.body)
        elif route.method == "predict":
            problems = _validate_predict(request.body)
        else:
            spec = _spec_for(route.model)
            call = _CallContext(spec, route.version, route.vertex, self._signatures)
            problems = await asyncio.to_thread(_validate_generate_content, request.body, call)
        if not problems:
            return None
        for problem in problems:
            self._violation(f"{request.method} {request.model}: {problem}")
        return _invalid_argument(problems)

    async def _scripted_answer(self, request: GeminiRequest) -> _Answer:
        reply = self._next_reply(request.method, request.model)
        if reply.method not in (None, request.method.replace(STREAM, "generateContent")):
            self._violation(
                f"a reply scripted for {reply.method} was used to answer {request.method}"
            )
            return _error_answer(500, f"fake: scripted reply cannot answer {request.method}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.default_delay if reply.delay is None else reply.delay)
        answer = await reply.render(_ReplyContext(self, request, next(self._colours)))
        await asyncio.sleep(max(0.0, deadline - loop.time()))
        return answer

    def _next_reply(self, method: str, model: str = "") -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if method == "predictLongRunning":
            return video_reply()
        if method == "predict":
            return upscale_reply() if _spec_for(model).provider == "upscale" else imagen_reply()
        return prompts_reply() if _spec_for(model).provider == "text" else image_reply()

    def _poll(self, request: GeminiRequest) -> _Answer:
        """fetchPredictOperation: the operation's next state (the path names its model)."""
        name = request.body.get("operationName")
        with self._lock:
            operation = self._operations.get(name) if isinstance(name, str) else None
        if operation is None or not isinstance(name, str):
            self._violation(f"fetchPredictOperation of an unknown operation {name!r}")
            return _error_answer(404, f"Operation {name} not found.")
        if not name.startswith(request.path.split("/", 2)[2].rsplit(":", 1)[0] + "/operations/"):
            self._violation(f"fetchPredictOperation at {request.path} for another model: {name}")
        with self._lock:
            return _json_answer(operation.answer())

    def _violation(self, message: str) -> None:
        with self._lock:
            self.violations.append(message)


def _not_found(model: str, version: str, method: str) -> _Answer:
    return _error_answer(
        404,
        f"models/{model} is not found for API version {version}, or is not supported for"
        f" {method}. Call ListModels to see the list of available models and their supported"
        " methods.",
    )


_KEY_INVALID = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "API_KEY_INVALID",
    "domain": "googleapis.com",
    "metadata": {"service": "generativelanguage.googleapis.com"},
}


def _stream_chunks(answer: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    """(chunk, is a thought part) for each chunk a streamed `answer` arrives in."""
    envelope: dict[str, Any] = {k: answer[k] for k in ("modelVersion", "responseId") if k in answer}
    candidates = answer.get("candidates") or []
    if not candidates:
        return [(answer, False)]
    candidate = candidates[0]
    parts = (candidate.get("content") or {}).get("parts") or []
    chunks: list[tuple[dict[str, Any], bool]] = []
    for part in parts[:-1]:
        content: dict[str, Any] = {"role": "model", "parts": [part]}
        chunk: dict[str, Any] = {"candidates": [{"content": content, "index": 0}], **envelope}
        chunks.append((chunk, bool(part.get("thought"))))
    last = dict(candidate)
    if parts:
        last["content"] = {"role": "model", "parts": parts[-1:]}
    final = {k: v for k, v in answer.items() if k != "candidates"}
    chunks.append(({**final, "candidates": [last]}, False))
    return chunks


def _parse_body(raw: bytes) -> tuple[dict[str, Any], str | None]:
    """The JSON object in ``raw``, or ``{}`` and the problem the real service would report."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        return {}, f"Invalid JSON payload received. {exc}"
    if not isinstance(body, dict):
        return {}, "Invalid JSON payload received. Expected an object at the top level."
    return body, None
