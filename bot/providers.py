"""One job request to the provider its workflow names: Gemini (native) or Imagen. No Discord."""

from __future__ import annotations

from collections.abc import Sequence

from google import genai
from google.genai import types

from bot.config import Settings
from bot.generation import GenerationRequest, GenerationResult, generate
from bot.imagen import ImagenRequest, generate_imagen
from bot.images import ImageInput
from bot.records import JobRequest


def editing_model(request: JobRequest, settings: Settings) -> str:
    """The Gemini model that edits (refines, upscales) this request's images: its own, or the
    default Gemini model for an Imagen request (Imagen cannot edit)."""
    return request.model if request.provider == "gemini" else settings.models.default


async def produce(
    client: genai.Client,
    request: JobRequest,
    images: Sequence[ImageInput] = (),
    history: Sequence[types.Content] = (),
) -> GenerationResult:
    if request.provider == "imagen":
        return await generate_imagen(
            client,
            ImagenRequest(
                model=request.model,
                prompt=request.prompt,
                number_of_images=request.number_of_images,
                aspect_ratio=request.aspect_ratio,
                image_size=request.image_size,
                person_generation=request.person_generation,
                negative_prompt=request.negative_prompt,
            ),
        )
    return await generate(
        client,
        GenerationRequest(
            model=request.model,
            prompt=request.prompt,
            images=images,
            aspect_ratio=request.aspect_ratio,
            image_size=request.image_size,
            history=history,
            modalities=request.response_modalities,
        ),
    )
