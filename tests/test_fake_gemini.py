"""Drives the real google-genai SDK (aiohttp transport) against FakeGemini."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import itertools
import json
import random
import socket
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import pytest_asyncio
from google import genai
from google.genai import errors, types
from PIL import Image

from bot.config import EXAMPLE_CONFIG, ModelInfo, load_settings
from tests.fakes.fake_gemini import (
    AVAILABLE_MODELS,
    MODEL_TABLE,
    FakeGemini,
    blocked_prompt,
    corrupt_image_reply,
    empty_reply,
    error_reply,
    finish_reply,
    hang_reply,
    image_reply,
    imagen_reply,
    no_parts_reply,
    quota_reply,
    raw_reply,
    safety_rating,
    text_reply,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

# Noise from the SDK itself (google/genai/_api_client.py subclasses aiohttp.ClientSession).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)

MODEL = "gemini-3-pro-image"
IMAGE_CONFIG = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"])
FAST_RETRY = types.HttpRetryOptions(attempts=3, initial_delay=0.01, max_delay=0.02)


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


# Random pixels, so the URL-safe base64 the SDK sends contains "-" and "_".
NOISE_PNG = _encode(Image.frombytes("RGB", (16, 16), random.Random(7).randbytes(768)), "PNG")
RED_PNG = _encode(Image.new("RGB", (8, 8), "red"), "PNG")
RED_JPEG = _encode(Image.new("RGB", (8, 8), "red"), "JPEG")
RED_GIF = _encode(Image.new("RGB", (8, 8), "red"), "GIF")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def fake(gemini_fake: FakeGemini) -> FakeGemini:
    gemini_fake.reset()
    gemini_fake.default_delay = 0.0
    return gemini_fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(gemini_fake: FakeGemini) -> AsyncIterator[genai.Client]:
    """One SDK client for the module: building one costs ~0.2 s (SSL context)."""
    options = types.HttpOptions(base_url=gemini_fake.base_url, api_version="v1beta")
    client = genai.Client(api_key=gemini_fake.api_key, http_options=options)
    yield client
    await client.aio.aclose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# --------------------------------------------------------------------------- helpers


async def _generate(
    client: genai.Client, prompt: Any = "a red fox", **config: Any
) -> types.GenerateContentResponse:
    merged = IMAGE_CONFIG.model_copy(update=config)
    return await client.aio.models.generate_content(model=MODEL, contents=prompt, config=merged)


def _parts(response: types.GenerateContentResponse) -> list[types.Part]:
    assert response.candidates
    content = response.candidates[0].content
    assert content is not None
    assert content.parts is not None
    return content.parts


def _final_image(response: types.GenerateContentResponse) -> bytes:
    images = [p.inline_data.data for p in _parts(response) if p.inline_data and not p.thought]
    assert len(images) == 1
    assert images[0] is not None
    return images[0]


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


async def _post(
    http: aiohttp.ClientSession,
    fake: FakeGemini,
    body: dict[str, Any] | bytes,
    *,
    model: str = MODEL,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """A raw REST call, bypassing the SDK."""
    url = f"{fake.base_url}/v1beta/models/{model}:generateContent"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if headers is None:
        headers = {"x-goog-api-key": fake.api_key, "Content-Type": "application/json"}
    async with http.post(url, data=data, headers=headers) as response:
        return response.status, await response.json()


_HI = {"text": "hi"}


def _user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


def _inline(data: bytes, mime: str = "image/png") -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}}


def _body(*contents: dict[str, Any], **generation_config: Any) -> dict[str, Any]:
    config = {"responseModalities": ["TEXT", "IMAGE"], **generation_config}
    return {"contents": list(contents), "generationConfig": config}


# --------------------------------------------------------------------------- generation


async def test_image_follows_aspect_ratio_and_request_is_recorded(
    fake: FakeGemini, client: genai.Client
) -> None:
    response = await _generate(client, image_config=types.ImageConfig(aspect_ratio="16:9"))

    width, height = _size(_final_image(response))
    assert width * height == pytest.approx(1024 * 1024, rel=0.02)  # the model's default: 1K
    assert width / height == pytest.approx(16 / 9, rel=0.01)
    assert all(part.thought_signature for part in _parts(response))
    assert response.usage_metadata is not None
    assert response.usage_metadata.candidates_token_count
    assert response.model_version == MODEL
    assert response.response_id
    (request,) = fake.requests
    assert (request.version, request.model, request.method) == ("v1beta", MODEL, "generateContent")
    assert request.texts() == ["a red fox"]
    assert request.generation_config["responseModalities"] == ["TEXT", "IMAGE"]
    assert request.image_config == {"aspectRatio": "16:9"}
    assert fake.violations == []


async def test_large_generated_png_decodes(http: aiohttp.ClientSession) -> None:
    # 600 x 1067 spans many repeated deflate blocks plus a partial one.
    async with FakeGemini(image_px=600) as big:
        status, payload = await _post(
            http, big, _body(_user(_HI), imageConfig={"aspectRatio": "9:16"})
        )

    assert status == 200
    data = payload["candidates"][0]["content"]["parts"][1]["inlineData"]["data"]
    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        image.load()
        assert image.size == (600, 1067)
        assert image.getpixel((0, 0)) == image.getpixel((599, 1066))


async def test_each_generated_image_differs(fake: FakeGemini, client: genai.Client) -> None:
    first, second = [_final_image(await _generate(client)) for _ in range(2)]

    assert first != second


async def test_response_has_the_real_wire_shape(
    fake: FakeGemini, http: aiohttp.ClientSession
) -> None:
    url = f"{fake.base_url}/v1beta/models/{MODEL}:generateContent"
    body = json.dumps(_body(_user({"text": "hi"}))).encode()
    async with http.post(url, data=body, headers={"x-goog-api-key": fake.api_key}) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        payload = await response.json()

    candidate = payload["candidates"][0]
    assert candidate["content"]["role"] == "model"
    assert [set(part) for part in candidate["content"]["parts"]] == [
        {"text", "thoughtSignature"},
        {"inlineData", "thoughtSignature"},
    ]
    assert set(candidate["content"]["parts"][1]["inlineData"]) == {"mimeType", "data"}
    assert (candidate["finishReason"], candidate["index"]) == ("STOP", 0)
    details = payload["usageMetadata"]["candidatesTokensDetails"]
    assert {"modality": "IMAGE", "tokenCount": 1120} in details  # Gemini 3 Pro Image at 1K
    assert {"modelVersion", "responseId"} <= set(payload)


async def test_sdk_inline_image_quirks_are_accepted(fake: FakeGemini, client: genai.Client) -> None:
    part = types.Part.from_bytes(data=NOISE_PNG, mime_type="image/png")

    await _generate(client, [part, "make it blue"])

    (request,) = fake.requests
    blob = request.contents[0]["parts"][0]["inlineData"]
    assert "mime_type" in blob  # the SDK's snake_case quirk
    assert {"-", "_"} & set(blob["data"])  # ... and URL-safe base64
    assert request.images() == [("image/png", NOISE_PNG)]
    assert request.texts() == ["make it blue"]
    assert fake.violations == []


async def test_camel_mime_type_and_standard_base64_are_accepted(
    fake: FakeGemini, http: aiohttp.ClientSession
) -> None:
    status, _ = await _post(http, fake, _body(_user(_inline(NOISE_PNG), {"text": "blue"})))

    assert status == 200
    assert fake.requests[0].all_images() == [("user", "image/png", NOISE_PNG)]
    assert fake.violations == []


# --------------------------------------------------------------------------- request validation

_INVALID_BODIES = {
    "no contents": ({}, "contents is not specified"),
    "empty contents": ({"contents": []}, "contents is not specified"),
    "content without parts": (_body({"role": "user", "parts": []}), "must not be empty"),
    "bad role": (_body({"role": "assistant", "parts": [_HI]}), "valid role"),
    "ends with model": (_body(_user(_HI), {"role": "model", "parts": [_HI]}), "last content"),
    "empty part": (_body(_user({})), "required oneof field 'data'"),
    "bad base64": (
        _body(_user({"inlineData": {"mimeType": "image/png", "data": "%%%"}})),
        "Base64 decoding failed",
    ),
    "not an image": (_body(_user(_inline(b"hello"))), "Unable to process input image"),
    "jpeg declared png": (_body(_user(_inline(RED_JPEG))), "mime type: image/jpeg"),
    "gif": (_body(_user(_inline(RED_GIF, "image/gif"))), "Unsupported MIME type"),
    "unknown config key": (_body(_user(_HI), responseModality=["IMAGE"]), "Unknown name"),
    "unknown request key": ({**_body(_user(_HI)), "prompt": "hi"}, "Unknown name"),
    "no IMAGE modality": (_body(_user(_HI), responseModalities=["TEXT"]), "modalities"),
    "bad aspect ratio": (_body(_user(_HI), imageConfig={"aspectRatio": "7:3"}), "aspect ratio"),
    "ratio of another model": (
        _body(_user(_HI), imageConfig={"aspectRatio": "8:1"}),  # gemini-3.1-flash-image only
        "aspect ratio",
    ),
    "size of another model": (_body(_user(_HI), imageConfig={"imageSize": "512"}), "image size"),
    "bad image size": (_body(_user(_HI), imageConfig={"imageSize": "1k"}), "image size"),
    "two candidates": (_body(_user(_HI), candidateCount=2), "Multiple candidates"),
}


@pytest.mark.parametrize(("body", "expected"), _INVALID_BODIES.values(), ids=_INVALID_BODIES)
async def test_invalid_request_is_rejected(
    fake: FakeGemini, http: aiohttp.ClientSession, body: dict[str, Any], expected: str
) -> None:
    fake.enqueue(text_reply("must stay queued"))

    status, payload = await _post(http, fake, body)

    assert (status, payload["error"]["status"]) == (400, "INVALID_ARGUMENT")
    assert expected in payload["error"]["message"]
    assert fake.violations
    assert all(expected in v for v in fake.violations)
    _, answer = await _post(http, fake, _body(_user(_HI)))
    assert answer["candidates"][0]["content"]["parts"][0]["text"] == "must stay queued"


async def test_too_many_images_for_the_model(fake: FakeGemini, http: aiohttp.ClientSession) -> None:
    fake.models.add("gemini-2.5-flash-image")  # retired, but its limits are in the table
    four_images = _body(_user(*[_inline(RED_PNG)] * 4, _HI))

    status, payload = await _post(http, fake, four_images, model="gemini-2.5-flash-image")

    assert (status, len(fake.violations)) == (400, 1)
    assert "at most 3" in payload["error"]["message"]
    assert (await _post(http, fake, four_images))[0] == 200  # Gemini 3 takes up to 14


async def test_missing_api_key_is_permission_denied(
    fake: FakeGemini, http: aiohttp.ClientSession
) -> None:
    status, payload = await _post(http, fake, _body(_user(_HI)), headers={})

    assert (status, payload["error"]["status"]) == (403, "PERMISSION_DENIED")


async def test_unsupported_call_is_a_violation(
    fake: FakeGemini, http: aiohttp.ClientSession
) -> None:
    url = f"{fake.base_url}/v1beta/models/{MODEL}:embedContent"
    headers = {"x-goog-api-key": fake.api_key}

    async with http.post(url, json=_body(_user(_HI)), headers=headers) as response:
        assert response.status == 404
    assert "embedContent" in fake.violations[0]


async def test_oversized_request_is_rejected(fake: FakeGemini, http: aiohttp.ClientSession) -> None:
    huge = b'{"contents": [{"parts": [{"text": "' + b"x" * (101 * 1024 * 1024) + b'"}]}]}'

    status, payload = await _post(http, fake, huge)

    assert status == 400
    assert payload["error"]["message"] == (
        f"Request payload size exceeds the limit: {100 * 1024 * 1024} bytes."
    )
    assert fake.violations


# --------------------------------------------------------------------------- thought signatures


async def test_chat_round_trip_passes_the_signature_check(
    fake: FakeGemini, client: genai.Client
) -> None:
    fake.enqueue(image_reply(thought_image=True))
    chat = client.aio.chats.create(model=MODEL, config=IMAGE_CONFIG)
    first = await chat.send_message("draw a cat")
    await chat.send_message("make it blue")

    draft = _parts(first)[0]
    assert draft.thought
    assert draft.inline_data
    assert draft.inline_data.data != _final_image(first)
    model_turn = fake.requests[-1].contents[1]
    assert model_turn["role"] == "model"
    assert all("thoughtSignature" in part for part in model_turn["parts"])

    saved = [content.model_dump_json(exclude_none=True) for content in chat.get_history()]
    history: list[types.ContentOrDict] = [types.Content.model_validate_json(t) for t in saved]
    restored = client.aio.chats.create(model=MODEL, config=IMAGE_CONFIG, history=history)
    await restored.send_message("now green")

    assert [c["role"] for c in fake.requests[-1].contents] == ["user", "model"] * 2 + ["user"]
    assert fake.violations == []


async def _history_with_edited_parts(
    client: genai.Client, *, images: bool, **update: Any
) -> list[types.ContentOrDict]:
    """A one-turn chat history whose image (or else text) parts are edited with ``update``."""
    chat = client.aio.chats.create(model=MODEL, config=IMAGE_CONFIG)
    await chat.send_message("draw a cat")
    user, model = chat.get_history()
    assert model.parts is not None
    parts = [
        p.model_copy(update=update) if bool(p.inline_data) == images else p for p in model.parts
    ]
    return [user, model.model_copy(update={"parts": parts})]


@pytest.mark.parametrize(
    ("images", "expected"),
    [(True, "Image part is missing a thought_signature"), (False, "Text part is missing")],
)
async def test_stripped_signature_is_rejected(
    fake: FakeGemini, client: genai.Client, images: bool, expected: str
) -> None:
    history = await _history_with_edited_parts(client, images=images, thought_signature=None)
    chat = client.aio.chats.create(model=MODEL, config=IMAGE_CONFIG, history=history)

    with pytest.raises(errors.ClientError) as caught:
        await chat.send_message("make it blue")

    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert expected in (caught.value.message or "")
    assert len(fake.violations) == 1


async def test_foreign_signature_is_rejected(fake: FakeGemini, client: genai.Client) -> None:
    history = await _history_with_edited_parts(client, images=True, thought_signature=b"forged")
    chat = client.aio.chats.create(model=MODEL, config=IMAGE_CONFIG, history=history)

    with pytest.raises(errors.ClientError):
        await chat.send_message("make it blue")

    assert ["never issued" in v for v in fake.violations] == [True]


# --------------------------------------------------------------------------- safety and odd replies


async def test_blocked_prompt_parses(fake: FakeGemini, client: genai.Client) -> None:
    rating = safety_rating("HARM_CATEGORY_SEXUALLY_EXPLICIT")
    fake.enqueue(blocked_prompt("PROHIBITED_CONTENT", message="nope", ratings=[rating]))

    response = await _generate(client)

    assert not response.candidates
    feedback = response.prompt_feedback
    assert feedback is not None
    assert feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT
    assert feedback.block_reason_message == "nope"
    assert feedback.safety_ratings
    assert feedback.safety_ratings[0].blocked


async def test_unknown_finish_reason_parses(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(finish_reply("SOMETHING_NEW", message="code 123", text="sorry"))

    with pytest.warns(UserWarning, match="SOMETHING_NEW"):
        response = await _generate(client)

    assert response.candidates
    candidate = response.candidates[0]
    assert candidate.finish_reason == "SOMETHING_NEW"
    assert candidate.finish_message is None  # parsed in Vertex mode only
    assert response.text == "sorry"


async def test_image_safety_finish(fake: FakeGemini, client: genai.Client) -> None:
    rating = safety_rating("HARM_CATEGORY_DANGEROUS_CONTENT", "MEDIUM")
    fake.enqueue(finish_reply("IMAGE_SAFETY", ratings=[rating]))

    response = await _generate(client)

    assert response.candidates
    candidate = response.candidates[0]
    assert candidate.finish_reason == types.FinishReason.IMAGE_SAFETY
    assert candidate.content is None
    assert candidate.safety_ratings
    assert candidate.safety_ratings[0].probability == types.HarmProbability.MEDIUM


async def test_refusal_is_text_without_image(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(text_reply("I can't draw that."))

    response = await _generate(client)

    assert [p.text for p in _parts(response)] == ["I can't draw that."]
    assert response.candidates
    assert response.candidates[0].finish_reason == types.FinishReason.STOP


async def test_degenerate_replies(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(empty_reply(), no_parts_reply(), corrupt_image_reply())

    empty, no_parts, corrupt = [await _generate(client) for _ in range(3)]

    assert empty.candidates == []
    assert no_parts.candidates
    assert no_parts.candidates[0].content is not None
    assert no_parts.candidates[0].content.parts is None
    with pytest.raises(OSError, match="Truncated"):
        _size(_final_image(corrupt))


# --------------------------------------------------------------------------- errors


async def test_quota_error_raises_client_error(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(error_reply(429, retry_delay=7))

    with pytest.raises(errors.ClientError) as caught:
        await _generate(client)

    assert (caught.value.code, caught.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert caught.value.details["error"]["details"][0]["retryDelay"] == "7s"


async def test_server_error_without_retry_options(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(error_reply(503))

    with pytest.raises(errors.ServerError) as caught:
        await _generate(client)

    assert (caught.value.code, caught.value.status) == (503, "UNAVAILABLE")
    assert len(fake.requests) == 1


async def test_sdk_retries_server_error(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(error_reply(503), image_reply())

    # Per-request HttpOptions work like the client-wide ones.
    response = await _generate(client, http_options=types.HttpOptions(retry_options=FAST_RETRY))

    assert _final_image(response)
    assert len(fake.requests) == 2


async def test_bad_api_key(fake: FakeGemini) -> None:
    wrong_key = genai.Client(
        api_key="wrong", http_options=types.HttpOptions(base_url=fake.base_url)
    )
    async with wrong_key.aio as aio:
        with pytest.raises(errors.ClientError) as caught:
            await aio.models.generate_content(model=MODEL, contents="hi")

    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.message == "API key not valid. Please pass a valid API key."


async def test_unknown_model_is_not_found(fake: FakeGemini, client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.generate_content(model="gemini-9-image", contents="hi")

    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")
    assert fake.violations == []


@pytest.mark.parametrize("status", [200, 500])
async def test_malformed_json_raises_json_decode_error(
    fake: FakeGemini, client: genai.Client, status: int
) -> None:
    fake.enqueue(raw_reply(status, b'{"candidates": ['))

    # Not an APIError: json.JSONDecodeError (a ValueError), even for a 5xx.
    with pytest.raises(json.JSONDecodeError):
        await _generate(client)


async def test_non_json_error_page_raises_server_error(
    fake: FakeGemini, client: genai.Client
) -> None:
    fake.enqueue(raw_reply(502, b"<html>Bad Gateway</html>", "text/html"))

    with pytest.raises(errors.ServerError) as caught:
        await _generate(client)

    assert (caught.value.code, caught.value.status) == (502, "Bad Gateway")


async def test_time_out_raises_timeout_error(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(hang_reply(1.0))
    options = types.HttpOptions(timeout=200, retry_options=FAST_RETRY)  # milliseconds
    started = time.perf_counter()

    with pytest.raises(TimeoutError):  # aiohttp's total time-out; is asyncio.TimeoutError
        await _generate(client, http_options=options)

    assert time.perf_counter() - started < 0.9
    assert len(fake.requests) == 1  # HttpRetryOptions does not retry aiohttp time-outs


async def test_connection_refused_raises_client_connector_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # With retry_options the SDK skips its implicit 1-10 s sleep-and-retry.
    options = types.HttpOptions(
        base_url=f"http://127.0.0.1:{port}",
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    async with genai.Client(api_key="k", http_options=options).aio as aio:
        with pytest.raises(aiohttp.ClientConnectorError):
            await aio.models.generate_content(model=MODEL, contents="hi")


# --------------------------------------------------------------------------- Imagen (Vertex)


@pytest.mark.filterwarnings("ignore:The generate_images method is deprecated")
@pytest.mark.parametrize(
    ("project", "path_prefix"),
    [(None, "/v1beta1/publishers/google/models/"), ("proj", "/v1beta1/projects/proj/locations/")],
)
async def test_imagen_in_vertex_express_mode(
    fake: FakeGemini, project: str | None, path_prefix: str
) -> None:
    fake.enqueue(imagen_reply(4, filtered={1: "Filtered by RAI."}))
    location = "us-central1" if project else None
    vertex = genai.Client(
        vertexai=True,
        api_key=fake.api_key,
        project=project,
        location=location,
        http_options=types.HttpOptions(base_url=fake.base_url),
    )
    config = types.GenerateImagesConfig(
        number_of_images=4, aspect_ratio="16:9", include_rai_reason=True
    )
    async with vertex.aio as aio:
        response = await aio.models.generate_images(
            model="imagen-4.0-generate-001", prompt="a lighthouse", config=config
        )

    images = response.generated_images
    assert images is not None
    assert [image.rai_filtered_reason for image in images] == [None, "Filtered by RAI.", None, None]
    image_bytes = [image.image.image_bytes for image in images if image.image]
    assert [_size(b) for b in image_bytes if b] == [(1360, 768)] * 3  # 1K at 16:9
    (request,) = fake.requests
    assert (request.version, request.method) == ("v1beta1", "predict")
    assert request.path.startswith(path_prefix)
    assert request.texts() == ["a lighthouse"]
    assert request.body["parameters"]["sampleCount"] == 4
    assert fake.violations == []


async def test_imagen_drops_filtered_images_without_rai_reason(
    fake: FakeGemini, http: aiohttp.ClientSession
) -> None:
    fake.enqueue(imagen_reply(2, filtered={0: "Filtered by RAI."}))
    url = f"{fake.base_url}/v1beta1/publishers/google/models/imagen-4.0-fast-generate-001:predict"
    body = {"instances": [{"prompt": "a cat"}], "parameters": {"sampleCount": 2}}

    async with http.post(url, json=body, headers={"x-goog-api-key": fake.api_key}) as response:
        predictions = (await response.json())["predictions"]

    assert [set(p) for p in predictions] == [{"bytesBase64Encoded", "mimeType"}]


# --------------------------------------------------------------------------- the fake itself


async def test_concurrent_requests_overlap(fake: FakeGemini, client: genai.Client) -> None:
    fake.default_delay = 0.3
    started = time.perf_counter()

    responses = await asyncio.gather(*[_generate(client) for _ in range(30)])

    # One after the other would take 9 s; side by side, the delay counts once (plus the
    # work of 30 real-sized answers on a machine that may be busy).
    assert time.perf_counter() - started < 3.0
    assert len({_final_image(response) for response in responses}) == 30


async def test_reply_for_another_method_is_a_violation(
    fake: FakeGemini, client: genai.Client
) -> None:
    fake.enqueue(imagen_reply())

    with pytest.raises(errors.ServerError):
        await _generate(client)

    assert fake.violations


async def test_reset_clears_state_but_keeps_signatures(
    fake: FakeGemini, client: genai.Client
) -> None:
    chat = client.aio.chats.create(model=MODEL, config=IMAGE_CONFIG)
    await chat.send_message("draw a cat")
    fake.enqueue(text_reply("queued"))

    fake.reset()
    await chat.send_message("make it blue")

    assert (len(fake.requests), fake.violations) == (1, [])
    assert _parts(await _generate(client))[-1].inline_data  # the queue was cleared


# --------------------------------------------------------------------------- per-model capabilities


def _catalog() -> dict[str, ModelInfo]:
    return load_settings(EXAMPLE_CONFIG).models.catalog


GEMINI_CATALOG = {
    n: i for n, i in _catalog().items() if i.provider == "gemini" and i.output == "image"
}


def test_the_catalogs_text_models_are_text_models_of_the_api() -> None:
    texts = [name for name, info in _catalog().items() if info.output == "text"]
    assert texts
    for name in texts:
        assert name in AVAILABLE_MODELS
        assert MODEL_TABLE[name].provider == "text"


@pytest.mark.parametrize("model", sorted(GEMINI_CATALOG))
async def test_every_catalog_choice_is_accepted_by_the_model(
    http: aiohttp.ClientSession, model: str
) -> None:
    # The fake's table is written from Google's documentation, independently of the catalog:
    # a size, ratio or image count the catalog offers but the model refuses fails here.
    info = GEMINI_CATALOG[model]
    async with FakeGemini(image_px=8) as tiny:
        assert model in tiny.models, f"{model} is retired or unknown to the Gemini API"
        sizes: list[str | None] = [*info.image_sizes] or [None]
        for size, ratio in itertools.product(sizes, info.aspect_ratios):
            image_config = {"aspectRatio": ratio} | ({"imageSize": size} if size else {})
            body = _body(_user(_HI), imageConfig=image_config)
            status, payload = await _post(http, tiny, body, model=model)
            assert status == 200, (size, ratio, payload)
        images = [_inline(RED_PNG)] * info.max_input_images
        status, payload = await _post(http, tiny, _body(_user(*images, _HI)), model=model)
        assert status == 200, (info.max_input_images, payload)
        assert tiny.violations == []


def test_the_fake_refuses_what_a_model_does_not_offer() -> None:
    flash, pro = MODEL_TABLE["gemini-3.1-flash-image"], MODEL_TABLE["gemini-3-pro-image"]

    assert {"1:8", "8:1"} <= flash.aspect_ratios
    assert not {"1:8", "8:1"} & pro.aspect_ratios
    assert "512" in flash.image_sizes
    assert "512" not in pro.image_sizes


async def test_a_model_without_grounding_refuses_google_search(
    fake: FakeGemini, http: aiohttp.ClientSession
) -> None:
    fake.models.add("gemini-2.5-flash-image")
    grounded = {**_body(_user(_HI)), "tools": [{"googleSearch": {}}]}

    status, payload = await _post(http, fake, grounded, model="gemini-2.5-flash-image")
    assert (status, payload["error"]["status"]) == (400, "INVALID_ARGUMENT")
    assert "Search Grounding is not supported" in payload["error"]["message"]
    assert (await _post(http, fake, grounded))[0] == 200  # Gemini 3 Pro Image grounds


async def test_input_mime_types_are_per_model(
    fake: FakeGemini, http: aiohttp.ClientSession
) -> None:
    fake.models.add("gemini-2.5-flash-image")
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
    body = _body(_user(_inline(heic, "image/heic"), _HI))

    status, payload = await _post(http, fake, body, model="gemini-2.5-flash-image")
    assert status == 400
    assert "Unsupported MIME type: image/heic" in payload["error"]["message"]
    assert (await _post(http, fake, body))[0] == 200


async def test_a_text_model_makes_no_images(fake: FakeGemini, http: aiohttp.ClientSession) -> None:
    status, payload = await _post(http, fake, _body(_user(_HI)), model="gemini-3-flash")

    assert status == 400
    assert "does not support the requested response modalities" in payload["error"]["message"]


@pytest.mark.parametrize("model", ["gemini-3-pro-image-preview", "gemini-2.5-flash-image"])
async def test_a_retired_model_is_not_found(
    fake: FakeGemini, client: genai.Client, model: str
) -> None:
    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.generate_content(model=model, contents="hi", config=IMAGE_CONFIG)

    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")
    assert caught.value.message == (
        f"models/{model} is not found for API version v1beta, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their "
        "supported methods."
    )


async def test_vertex_limits_each_inline_image(fake: FakeGemini) -> None:
    noise = Image.frombytes("RGB", (1600, 1600), random.Random(3).randbytes(1600 * 1600 * 3))
    big = _encode(noise, "PNG")
    assert len(big) > 7 * 1024 * 1024
    vertex = genai.Client(
        vertexai=True, api_key=fake.api_key, http_options=types.HttpOptions(base_url=fake.base_url)
    )
    contents: list[types.PartUnion] = [types.Part.from_bytes(data=big, mime_type="image/png"), "hi"]

    async with vertex.aio as aio:
        with pytest.raises(errors.ClientError) as caught:
            await aio.models.generate_content(model=MODEL, contents=contents)

    assert caught.value.code == 400
    assert "at most 7340032 bytes per inline image" in (caught.value.message or "")


# --------------------------------------------------------------------------- API versions


async def test_v1_refuses_the_image_generation_fields(fake: FakeGemini) -> None:
    v1 = genai.Client(
        api_key=fake.api_key,
        http_options=types.HttpOptions(base_url=fake.base_url, api_version="v1"),
    )
    async with v1.aio as aio:
        with pytest.raises(errors.ClientError) as caught:
            await aio.models.generate_content(model=MODEL, contents="hi", config=IMAGE_CONFIG)
        plain = await aio.models.generate_content(model=MODEL, contents="hi")

    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.message == (
        'Invalid JSON payload received. Unknown name "responseModalities" at '
        "'generation_config': Cannot find field."
    )
    (bad_request,) = caught.value.details["error"]["details"]
    assert bad_request["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert bad_request["fieldViolations"] == [
        {"field": "generation_config", "description": caught.value.message}
    ]
    assert plain.candidates  # the same model without image fields answers on v1


# --------------------------------------------------------------------------- realistic answers


async def test_default_answers_are_real_sized_photos(
    fake: FakeGemini, client: genai.Client
) -> None:
    first, second = [_final_image(await _generate(client)) for _ in range(2)]

    # Gemini 3 models answer PNG or JPEG: the fake alternates, so both show up.
    assert {first[:2], second[:2]} == {b"\x89P", b"\xff\xd8"}
    for data in (first, second):
        assert 1_000_000 < len(data) < 3_500_000  # a 1K result is about 1-3.5 MB
        assert _size(data) == (1024, 1024)
    assert hashlib.sha256(first).digest() != hashlib.sha256(second).digest()


async def test_bigger_sizes_are_bigger_and_stay_unique(
    fake: FakeGemini, client: genai.Client
) -> None:
    config = types.ImageConfig(aspect_ratio="9:16", image_size="2K")
    images = [_final_image(await _generate(client, image_config=config)) for _ in range(3)]

    width, height = _size(images[0])
    assert width * height == pytest.approx(2048 * 2048, rel=0.02)
    assert height / width == pytest.approx(16 / 9, rel=0.01)
    assert all(len(data) > 4_000_000 for data in images)
    assert len(set(images)) == 3


async def test_a_jpeg_can_come_labelled_png(fake: FakeGemini, client: genai.Client) -> None:
    fake.enqueue(image_reply(mime="image/jpeg", declared_mime="image/png"))
    chat = client.aio.chats.create(model=MODEL, config=IMAGE_CONFIG)

    first = await chat.send_message("draw a cat")
    final = [p.inline_data for p in _parts(first) if p.inline_data and not p.thought]
    assert final[0] is not None
    assert (final[0].mime_type, (final[0].data or b"")[:2]) == ("image/png", b"\xff\xd8")

    # Sent back as it came, Gemini refuses the mismatch.
    with pytest.raises(errors.ClientError) as caught:
        await chat.send_message("make it blue")
    assert "Unhandled generated data mime type: image/jpeg" in (caught.value.message or "")


async def test_thought_images_come_when_thoughts_are_asked_for(
    fake: FakeGemini, client: genai.Client
) -> None:
    thinking = types.ThinkingConfig(include_thoughts=True)
    chat = client.aio.chats.create(
        model=MODEL, config=IMAGE_CONFIG.model_copy(update={"thinking_config": thinking})
    )

    plain = await _generate(client)
    fake.enqueue(image_reply(thought_image_signed=False))
    first = await chat.send_message("draw a cat")
    await chat.send_message("make it blue")  # unsigned thought images may go back unsigned

    assert not any(p.thought for p in _parts(plain))
    draft, *_ = _parts(first)
    assert draft.thought
    assert draft.thought_signature is None
    assert all(p.thought_signature for p in _parts(first)[1:])
    assert fake.violations == []


# --------------------------------------------------------------------------- quota answers


@pytest.mark.parametrize(
    ("kind", "quota_ids", "limit"),
    [
        ("per_minute", ["GenerateRequestsPerMinutePerProjectPerModel-FreeTier"], "10"),
        ("per_day", ["GenerateRequestsPerDayPerProjectPerModel-FreeTier"], "250"),
        (
            "no_billing",
            [
                "GenerateContentInputTokensPerModelPerMinute-FreeTier",
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            ],
            None,  # a zero limit is left out of the JSON, and named in the message
        ),
    ],
)
async def test_quota_errors_have_the_real_shape(
    fake: FakeGemini, client: genai.Client, kind: str, quota_ids: list[str], limit: str | None
) -> None:
    fake.enqueue(quota_reply(kind, retry_delay=21.7))

    with pytest.raises(errors.ClientError) as caught:
        await _generate(client)

    assert (caught.value.code, caught.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert (caught.value.message or "").startswith("You exceeded your current quota")
    assert (caught.value.message or "").endswith("Please retry in 21.7s.")
    help_link, quota_failure, retry_info = caught.value.details["error"]["details"]
    assert help_link["@type"] == "type.googleapis.com/google.rpc.Help"
    assert quota_failure["@type"] == "type.googleapis.com/google.rpc.QuotaFailure"
    violations = quota_failure["violations"]
    assert [v["quotaId"] for v in violations] == quota_ids
    assert {v.get("quotaValue") for v in violations} == {limit}
    assert all(v["quotaDimensions"] == {"location": "global", "model": MODEL} for v in violations)
    assert retry_info == {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "21s"}
    if limit is None:
        assert (caught.value.message or "").count("limit: 0, model: gemini-3-pro-image") == 3


# --------------------------------------------------------------------------- models.get, .list


async def test_models_get_shows_the_model(fake: FakeGemini, client: genai.Client) -> None:
    model = await client.aio.models.get(model="gemini-3.1-flash-image")

    assert model.name == "models/gemini-3.1-flash-image"
    assert model.display_name
    assert model.supported_actions is not None
    assert "generateContent" in model.supported_actions
    assert (model.input_token_limit, model.output_token_limit) == (131072, 32768)
    (request,) = fake.requests
    assert (request.path, request.method) == ("/v1beta/models/gemini-3.1-flash-image", "get")


async def test_models_get_of_a_retired_model_is_not_found(
    fake: FakeGemini, client: genai.Client
) -> None:
    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.get(model="gemini-2.5-flash-image-preview")

    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")


async def test_models_list_pages_through_every_available_model(
    fake: FakeGemini, client: genai.Client
) -> None:
    pager = await client.aio.models.list(config={"page_size": 3})
    names = [model.name or "" async for model in pager]

    assert sorted(names) == sorted(f"models/{m}" for m in fake.models)
    assert "models/gemini-3-flash" in names  # text models are listed too
    assert "models/gemini-3-pro-image-preview" not in names
    pages = [r for r in fake.requests if r.method == "list"]
    assert len(pages) == -(-len(fake.models) // 3)
    assert all(r.path == "/v1beta/models" for r in pages)


async def test_models_calls_need_a_valid_key(fake: FakeGemini) -> None:
    wrong_key = genai.Client(
        api_key="wrong", http_options=types.HttpOptions(base_url=fake.base_url)
    )
    async with wrong_key.aio as aio:
        with pytest.raises(errors.ClientError) as caught:
            await aio.models.get(model=MODEL)

    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
