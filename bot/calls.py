"""One job's model calls, whatever the model: Gemini images, a Veo video, an upscale.

The one entry point the bot (or a worker process) calls with a job's request; the request's
`call` says which model API it needs.
"""

from __future__ import annotations

from google import genai

from bot.errors import GenerationError
from bot.generation import CallInputs, GenerationResult, PreviewSink, generate_many, shielded
from bot.jobs.records import JobRequest
from bot.vertex_media import animate, upscale


async def call_model(
    client: genai.Client,
    request: JobRequest,
    inputs: CallInputs,
    on_preview: PreviewSink | None = None,
) -> list[GenerationResult | GenerationError]:
    if request.call == "animate":
        return await shielded([animate(client, request, inputs)])
    if request.call == "upscale":
        return await shielded([upscale(client, request, inputs)])
    return await generate_many(client, request, inputs, on_preview)
