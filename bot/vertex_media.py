"""Google's Vertex-AI-only media models: Veo (an image to a short video) and Imagen's
faithful upscaler. No Discord; like `bot.generation`, plain data in and out, so it can run
in a worker process.

`animate` starts Veo's long-running operation and polls it without blocking (asyncio sleeps
between polls) until it is done, failed, or `max_wait_s` has passed. `upscale` is one call.
Both answer with a `GenerationResult` whose model turn is None: nothing of them is replayed
to Gemini as history. Safety filters come back as a `Block`, like Gemini's.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from google import genai
from google.genai import types

from bot import failures, images
from bot.errors import GenerationError
from bot.generation import CallInputs, GenerationResult, Usage, user_turn
from bot.jobs.records import JobRequest
from bot.media import Media, sniff_mime
from bot.safety import Block, ReasonInfo, vertex_code_category
from bot.store.codec import dehydrate

VIDEO_FILTERED = ReasonInfo(
    "Veo's safety filters withheld the video.",
    "Filters sometimes flag harmless requests: press Retry, or describe the motion "
    "differently (people, faces and famous names are filtered most often).",
    True,
)
VIDEO_INPUT_REFUSED = ReasonInfo(
    "Veo refused to animate this image or prompt (its safety filters).",
    "Try another image, or describe the motion without the flagged element.",
    False,
)
UPSCALE_FILTERED = ReasonInfo(
    "Imagen's safety filters withheld the upscaled image.",
    "Filters sometimes flag harmless images: press Retry, or use the other Upscale.",
    True,
)
# Gemini's person settings, as Veo spells them.
_VEO_PERSONS = {"ALLOW_ALL": "allow_all", "ALLOW_ADULT": "allow_adult", "ALLOW_NONE": "dont_allow"}
_UPSCALE_PERSONS = {
    "ALLOW_ALL": "ALLOW_ALL",
    "ALLOW_ADULT": "ALLOW_ADULT",
    "ALLOW_NONE": "DONT_ALLOW",
}
_INVALID_ARGUMENT = 3  # google.rpc.Code of an operation that failed on its input
UPSCALE_MAX_INPUT_BYTES = 10 * 1024 * 1024  # "Imagen upscale API": base images up to 10 MB


async def animate(
    client: genai.Client, request: JobRequest, inputs: CallInputs
) -> GenerationResult:
    """The first of `inputs.images`, animated as `request.prompt` says."""
    image = _only_image(inputs)
    source = types.GenerateVideosSource(
        prompt=request.prompt,
        image=types.Image(image_bytes=image.data, mime_type=image.mime_type),
    )
    config = types.GenerateVideosConfig(
        number_of_videos=1,
        duration_seconds=request.duration_s,
        aspect_ratio=request.aspect_ratio,
        resolution=request.image_size,
        generate_audio=request.audio,
        person_generation=_VEO_PERSONS.get(request.person_generation or ""),
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        operation = await client.aio.models.generate_videos(
            model=request.model, source=source, config=config
        )
        while not operation.done:
            if loop.time() - started > inputs.max_wait_s:
                raise GenerationError(
                    f"Veo did not finish the video within {inputs.max_wait_s / 60:.0f} "
                    "minutes, so the bot stopped waiting. Press Retry to try again.",
                    kind="timeout",
                )
            await asyncio.sleep(inputs.poll_interval_s)
            operation = await client.aio.operations.get(operation)
    except GenerationError:
        raise
    except Exception as exc:
        raise failures.classify(exc, model=request.model) from exc
    elapsed = loop.time() - started
    if operation.error:
        return _failed_operation(request, operation.error, elapsed)
    response = operation.result or operation.response
    videos = [
        generated.video.video_bytes
        for generated in (response.generated_videos if response else None) or []
        if generated.video is not None and generated.video.video_bytes
    ]
    if videos:
        video = Media(videos[0], sniff_mime(videos[0], "video/mp4"))
        return _result(request, (video,), None, elapsed)
    reasons = (response.rai_media_filtered_reasons if response else None) or []
    if response is not None and (response.rai_media_filtered_count or reasons):
        block = _block("response", VIDEO_FILTERED, " ".join(reasons) or None)
        return _result(request, (), block, elapsed)
    raise GenerationError(
        "Veo finished without a video. This is usually temporary: press Retry.",
        kind="empty_response",
    )


async def upscale(
    client: genai.Client, request: JobRequest, inputs: CallInputs
) -> GenerationResult:
    """The first of `inputs.images`, enlarged by `request.image_size` ("x2", "x4")."""
    image = _only_image(inputs)
    if image.size > UPSCALE_MAX_INPUT_BYTES:  # e.g. a 4K PNG: re-encoded once, off the loop
        image = await asyncio.to_thread(images.fit_to_limit, image, UPSCALE_MAX_INPUT_BYTES)
    config = types.UpscaleImageConfig(
        include_rai_reason=True,
        output_mime_type="image/png",
        person_generation=_UPSCALE_PERSONS.get(request.person_generation or ""),
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        response = await client.aio.models.upscale_image(
            model=request.model,
            image=types.Image(image_bytes=image.data, mime_type=image.mime_type),
            upscale_factor=request.image_size or "x2",
            config=config,
        )
    except Exception as exc:
        raise failures.classify(exc, model=request.model) from exc
    elapsed = loop.time() - started
    generated = response.generated_images or []
    for item in generated:
        if item.image is not None and item.image.image_bytes:
            data = item.image.image_bytes
            return _result(request, (Media(data, sniff_mime(data, "image/png")),), None, elapsed)
    reasons = [item.rai_filtered_reason for item in generated if item.rai_filtered_reason]
    if reasons:
        return _result(request, (), _block("response", UPSCALE_FILTERED, reasons[0]), elapsed)
    raise GenerationError(
        "Imagen sent back no upscaled image. This is usually temporary: press Retry.",
        kind="empty_response",
    )


def _only_image(inputs: CallInputs) -> Media:
    if not inputs.images:
        raise GenerationError(
            "There is no image to work on (it is no longer stored).",
            kind="input",
            retryable=False,
        )
    return inputs.images[0]


def _failed_operation(
    request: JobRequest, error: dict[str, object], elapsed: float
) -> GenerationResult:
    """A finished operation with an error: a safety refusal (it names a support code) is a
    block; anything else a failure."""
    message = str(error.get("message") or "no details given")
    if vertex_code_category(message) is not None:
        return _result(request, (), _block("prompt", VIDEO_INPUT_REFUSED, message), elapsed)
    raise GenerationError(
        f"Veo could not make the video: {message[:300]}",
        kind="video_failed",
        retryable=error.get("code") != _INVALID_ARGUMENT,
    )


def _block(stage: Literal["prompt", "response"], info: ReasonInfo, message: str | None) -> Block:
    return Block(
        stage=stage,
        reason="RAI_FILTERED",
        info=info,
        api_message=message,
        code_category=vertex_code_category(message),
    )


def _result(
    request: JobRequest, outputs: tuple[Media, ...], block: Block | None, elapsed: float
) -> GenerationResult:
    return GenerationResult(
        images=outputs,
        text="",
        usage=Usage(),
        block=block,
        user_turn=dehydrate(user_turn(request.prompt, [])),
        model_turn=None,
        elapsed_s=elapsed,
    )
