"""Vertex AI's media calls against the fake (real SDK, Vertex express mode): what is sent."""

from __future__ import annotations

import base64
import io
import json
import os

from google import genai
from google.genai import types
from PIL import Image

from bot.calls import call_model
from bot.errors import GenerationError
from bot.generation import CallInputs
from bot.jobs.records import JobRequest
from bot.media import Media
from bot.vertex_media import UPSCALE_MAX_INPUT_BYTES, upscale
from tests.fakes.fake_gemini import FakeGemini, raw_reply, video_reply


async def test_an_image_over_the_upscalers_limit_is_sent_re_encoded(
    gemini_fake: FakeGemini,
) -> None:
    gemini_fake.reset()
    noise = Image.frombytes("RGB", (2000, 2000), os.urandom(2000 * 2000 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG", compress_level=1)
    big = Media(out.getvalue(), "image/png")
    assert big.size > UPSCALE_MAX_INPUT_BYTES
    client = genai.Client(
        vertexai=True,
        api_key=gemini_fake.api_key,
        http_options=types.HttpOptions(base_url=gemini_fake.base_url),
    )
    small = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(small, "PNG")
    prediction = {"bytesBase64Encoded": base64.b64encode(small.getvalue()).decode()}
    answer = json.dumps({"predictions": [prediction | {"mimeType": "image/png"}]})
    gemini_fake.enqueue(raw_reply(200, answer.encode()))  # the upscale itself: not the point
    request = JobRequest(
        prompt="upscale", model="imagen-4.0-upscale-preview", call="upscale", image_size="x2"
    )
    try:
        result = await upscale(client, request, CallInputs(images=[big]))
    finally:
        await client.aio.aclose()
    assert result.ok
    (sent,) = gemini_fake.requests
    assert sent.body["instances"][0]["image"]["mimeType"] == "image/jpeg"
    assert gemini_fake.violations == []


async def test_a_video_that_takes_too_long_is_given_up_with_retry(gemini_fake: FakeGemini) -> None:
    gemini_fake.reset()
    gemini_fake.enqueue(video_reply(polls=1000))
    client = genai.Client(
        vertexai=True,
        api_key=gemini_fake.api_key,
        http_options=types.HttpOptions(base_url=gemini_fake.base_url),
    )
    photo = io.BytesIO()
    Image.new("RGB", (64, 36), "teal").save(photo, "PNG")
    request = JobRequest(
        prompt="waves", model="veo-3.1-fast-generate-001", call="animate", duration_s=4, audio=True
    )
    inputs = CallInputs(
        images=[Media(photo.getvalue(), "image/png")], poll_interval_s=0.01, max_wait_s=0.1
    )
    try:
        (answer,) = await call_model(client, request, inputs)
    finally:
        await client.aio.aclose()
    assert isinstance(answer, GenerationError)
    assert answer.kind == "timeout"
    assert answer.retryable
    assert "did not finish the video" in answer.user_message
    polls = [r for r in gemini_fake.requests if r.method == "fetchPredictOperation"]
    assert 3 <= len(polls) <= 15  # polled without blocking, then given up
