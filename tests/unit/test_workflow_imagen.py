"""Imagen through the real SDK in Vertex mode, against the fake `:predict` endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from google import genai
from google.genai import types

from bot.errors import GenerationError
from bot.imagen import ImagenRequest, generate_imagen
from bot.safety import RAI_FILTERED
from tests.fakes.fake_gemini import FakeGemini, error_reply, imagen_reply

pytestmark = pytest.mark.filterwarnings("ignore:The generate_images method is deprecated")

MODEL = "imagen-4.0-generate-001"
REQUEST = ImagenRequest(
    model=MODEL,
    prompt="a lighthouse in a storm",
    number_of_images=4,
    aspect_ratio="16:9",
    image_size="2K",
    person_generation="allow_adult",
    negative_prompt="people",
)
# Vertex puts support codes in the reason; 63429089 is a documented harm category.
SEXUAL = "Filtered by the safety filter. Support codes: 63429089"


@pytest.fixture
def fake(gemini_fake: FakeGemini) -> FakeGemini:
    gemini_fake.reset()
    return gemini_fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vertex(gemini_fake: FakeGemini) -> AsyncIterator[genai.Client]:
    """Vertex AI "express mode" (an API key, no project): reaches the fake without Google."""
    client = genai.Client(
        vertexai=True,
        api_key=gemini_fake.api_key,
        http_options=types.HttpOptions(base_url=gemini_fake.base_url),
    )
    yield client
    await client.aio.aclose()


async def test_one_filtered_image_among_four_is_reported(
    fake: FakeGemini, vertex: genai.Client
) -> None:
    fake.enqueue(imagen_reply(4, filtered={2: SEXUAL}))

    result = await generate_imagen(vertex, REQUEST)

    assert result.ok
    assert len(result.images) == 3
    assert {image.mime_type for image in result.images} == {"image/png"}
    assert result.filtered == (SEXUAL,)
    assert result.model_turn is None
    assert result.user_turn.parts is not None
    assert result.user_turn.parts[0].text == REQUEST.prompt
    (request,) = fake.requests
    assert request.texts() == [REQUEST.prompt]
    assert request.body["parameters"] == {
        "sampleCount": 4,
        "aspectRatio": "16:9",
        "sampleImageSize": "2K",
        "personGeneration": "ALLOW_ADULT",
        "negativePrompt": "people",
        "includeRaiReason": True,
    }
    assert fake.violations == []


async def test_when_every_image_is_filtered_the_block_says_why(
    fake: FakeGemini, vertex: genai.Client
) -> None:
    fake.enqueue(imagen_reply(2, filtered={0: SEXUAL, 1: SEXUAL}))

    result = await generate_imagen(vertex, REQUEST)

    assert not result.ok
    assert result.images == ()
    assert result.filtered == (SEXUAL, SEXUAL)
    block = result.block
    assert block is not None
    assert (block.stage, block.reason, block.info) == ("response", "RAI_FILTERED", RAI_FILTERED)
    assert block.api_message == SEXUAL
    assert block.code_category == "sexual content"


async def test_errors_are_explained_like_gemini_errors(
    fake: FakeGemini, vertex: genai.Client
) -> None:
    fake.enqueue(error_reply(429, retry_delay=7))

    with pytest.raises(GenerationError) as caught:
        await generate_imagen(vertex, REQUEST)

    assert (caught.value.kind, caught.value.retry_after_s) == ("rate_limited", 7)


async def test_without_vertex_ai_the_operator_is_told(fake: FakeGemini) -> None:
    client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=fake.base_url))

    with pytest.raises(GenerationError) as caught:
        await generate_imagen(client, REQUEST)

    assert (caught.value.kind, caught.value.retryable) == ("needs_vertex", False)
    assert "Vertex AI" in caught.value.user_message
    assert fake.requests == []
