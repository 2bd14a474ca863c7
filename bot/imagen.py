"""Imagen: one `generate_images` call, read into the same GenerationResult as Gemini's. No Discord.

Imagen works only through Vertex AI with the current SDK (`bot.workflows.loader.
vertex_problems` says so at start-up). It returns up to four images; the ones its safety
filters withheld come back as a reason without bytes (`include_rai_reason`), reported in
`GenerationResult.filtered`, and as a `Block` when nothing else came back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from google import genai
from google.genai import types

from bot import failures
from bot.errors import GenerationError
from bot.generation import GeneratedImage, GenerationResult, Usage, check_decodable
from bot.safety import RAI_FILTERED, Block, vertex_code_category


@dataclass(frozen=True)
class ImagenRequest:
    model: str
    prompt: str
    number_of_images: int = 1
    aspect_ratio: str | None = None  # None: the model's default
    image_size: str | None = None  # None: not sent (for models without a size choice)
    person_generation: str | None = None  # dont_allow | allow_adult | allow_all
    negative_prompt: str | None = None


def images_config(request: ImagenRequest) -> types.GenerateImagesConfig:
    person = request.person_generation
    return types.GenerateImagesConfig(
        number_of_images=request.number_of_images,
        aspect_ratio=request.aspect_ratio,
        image_size=request.image_size,
        person_generation=types.PersonGeneration(person.upper()) if person else None,
        negative_prompt=request.negative_prompt or None,
        include_rai_reason=True,
    )


async def generate_imagen(client: genai.Client, request: ImagenRequest) -> GenerationResult:
    """Run one Imagen request. Raises GenerationError for failures a member can act on."""
    if not client.vertexai:
        raise GenerationError(
            f"Imagen ({request.model}) works only through Vertex AI, and the bot is set up with "
            "a Gemini API key. The bot's operator needs to fix this; there is nothing you can "
            "do from Discord.",
            kind="needs_vertex",
            retryable=False,
        )
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        response = await client.aio.models.generate_images(
            model=request.model, prompt=request.prompt, config=images_config(request)
        )
    except Exception as exc:
        raise failures.classify(exc, model=request.model) from exc
    return await _read_response(response, request, elapsed_s=loop.time() - started)


async def _read_response(
    response: types.GenerateImagesResponse, request: ImagenRequest, *, elapsed_s: float
) -> GenerationResult:
    generated: list[GeneratedImage] = []
    filtered: list[str] = []
    for item in response.generated_images or []:
        image = item.image
        if image is not None and image.image_bytes:
            generated.append(GeneratedImage(image.image_bytes, image.mime_type or "image/png"))
        elif item.rai_filtered_reason:
            filtered.append(item.rai_filtered_reason)
    await asyncio.to_thread(check_decodable, generated)
    return GenerationResult(
        images=tuple(generated),
        text="",
        usage=Usage(),
        block=None if generated else _filtered_block(filtered),
        user_turn=types.Content(role="user", parts=[types.Part.from_text(text=request.prompt)]),
        model_turn=None,
        elapsed_s=elapsed_s,
        filtered=tuple(filtered),
    )


def _filtered_block(reasons: list[str]) -> Block:
    """Every image was withheld (Imagen drops them silently when it gives no reason)."""
    message = "\n".join(dict.fromkeys(reasons)) or None
    return Block(
        stage="response",
        reason="RAI_FILTERED",
        info=RAI_FILTERED,
        api_message=message,
        code_category=vertex_code_category(message),
    )
