"""The fake's Vertex AI media endpoints, driven by the real google-genai SDK: Veo's
long-running operation (started, polled, done / failed / filtered) and the upscaler."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from google import genai
from google.genai import errors, types
from PIL import Image

from tests.fakes.fake_gemini import FakeGemini, upscale_reply, video_reply
from tests.fakes.fake_vertex_media import FILTERED_CHILD, mp4_seconds

VEO = "veo-3.1-fast-generate-001"


def jpeg(size: tuple[int, int] = (320, 180)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "teal").save(out, "JPEG")
    return out.getvalue()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def fake() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(image_px=16) as server:
        yield server


@pytest.fixture
def vertex(fake: FakeGemini) -> genai.Client:
    fake.reset()
    return genai.Client(
        vertexai=True, api_key=fake.api_key, http_options=types.HttpOptions(base_url=fake.base_url)
    )


def source() -> types.GenerateVideosSource:
    image = types.Image(image_bytes=jpeg(), mime_type="image/jpeg")
    return types.GenerateVideosSource(prompt="the waves roll in", image=image)


def config(**values: object) -> types.GenerateVideosConfig:
    defaults: dict[str, object] = {
        "number_of_videos": 1,
        "duration_seconds": 4,
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "generate_audio": True,
    }
    return types.GenerateVideosConfig(**(defaults | values))


async def test_an_operation_runs_then_returns_a_real_sized_video(
    fake: FakeGemini, vertex: genai.Client
) -> None:
    fake.enqueue(video_reply(polls=2))
    operation = await vertex.aio.models.generate_videos(model=VEO, source=source(), config=config())
    assert operation.name
    assert "/operations/" in operation.name
    states = []
    while not operation.done:
        states.append(operation.done)
        operation = await vertex.aio.operations.get(operation)
    assert len(states) == 3  # the start, then two polls that found it running
    assert operation.result
    assert operation.result.generated_videos
    video = operation.result.generated_videos[0].video
    assert video
    assert video.video_bytes
    assert video.mime_type == "video/mp4"
    assert video.video_bytes[4:8] == b"ftyp"
    assert mp4_seconds(video.video_bytes) == 4
    assert 1_500_000 < len(video.video_bytes) < 3_000_000  # ~4 Mbit/s for 4 s of 720p
    (start, *polls) = [r for r in fake.requests if r.model == VEO]
    assert start.path.endswith(f"/publishers/google/models/{VEO}:predictLongRunning")
    assert start.body["parameters"] == {
        "sampleCount": 1,
        "durationSeconds": 4,
        "aspectRatio": "16:9",
        "resolution": "720p",
        "generateAudio": True,
    }
    assert {p.method for p in polls} == {"fetchPredictOperation"}
    assert polls[0].body == {"operationName": operation.name}
    assert fake.violations == []


async def test_filtered_and_failed_operations(fake: FakeGemini, vertex: genai.Client) -> None:
    fake.enqueue(
        video_reply(polls=0, filtered=(FILTERED_CHILD,)),
        video_reply(polls=0, error={"code": 13, "message": "Internal error."}),
    )
    filtered = await vertex.aio.models.generate_videos(model=VEO, source=source(), config=config())
    filtered = await vertex.aio.operations.get(filtered)
    assert filtered.done
    assert filtered.result
    assert filtered.result.rai_media_filtered_count == 1
    assert filtered.result.rai_media_filtered_reasons == [FILTERED_CHILD]
    assert not filtered.result.generated_videos
    failed = await vertex.aio.models.generate_videos(model=VEO, source=source(), config=config())
    failed = await vertex.aio.operations.get(failed)
    assert failed.done
    assert failed.error == {"code": 13, "message": "Internal error."}
    assert fake.violations == []


async def test_what_veo_refuses(fake: FakeGemini, vertex: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as refused:
        await vertex.aio.models.generate_videos(
            model=VEO, source=source(), config=config(duration_seconds=5, generate_audio=None)
        )
    assert refused.value.code == 400
    assert "Unsupported durationSeconds: 5" in str(refused.value.message)
    assert "generateAudio is required" in str(refused.value.message)
    fake.violations.clear()


async def test_the_upscaler_enlarges_the_image_as_it_is(
    fake: FakeGemini, vertex: genai.Client
) -> None:
    image = types.Image(image_bytes=jpeg((200, 100)), mime_type="image/jpeg")
    upscaled = await vertex.aio.models.upscale_image(
        model="imagen-4.0-upscale-preview",
        image=image,
        upscale_factor="x2",
        config=types.UpscaleImageConfig(include_rai_reason=True, output_mime_type="image/png"),
    )
    (generated,) = upscaled.generated_images or []
    assert generated.image
    assert generated.image.image_bytes
    assert Image.open(io.BytesIO(generated.image.image_bytes)).size == (400, 200)
    fake.enqueue(upscale_reply(filtered="The image was filtered."))
    withheld = await vertex.aio.models.upscale_image(
        model="imagen-4.0-upscale-preview",
        image=image,
        upscale_factor="x4",
        config=types.UpscaleImageConfig(include_rai_reason=True),
    )
    assert [g.rai_filtered_reason for g in withheld.generated_images or []] == [
        "The image was filtered."
    ]
    assert fake.violations == []
