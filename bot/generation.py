"""The generation core: one job request in, what Gemini made out. No Discord.

`generate` sends one turn to a native Gemini image model (with the conversation's earlier
turns before it) and returns what came back: final images, the model's text, token usage,
and a `Block` when no usable image was produced. The user and model turns come back exactly
as sent and received, thought signatures included, already in the form the store keeps
(`StoredTurn`), so they replay byte for byte. `generate_many` makes a job's side-by-side
images. Everything here can run in a worker process (`bot.gemini_workers`): inputs and
results are plain, picklable data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from google import genai
from google.genai import types

from bot import failures, images
from bot.errors import GenerationError
from bot.jobs.describe import answer_schema
from bot.jobs.records import JobRequest
from bot.media import Media, sniff_mime
from bot.safety import Block, assess_response, reason_info
from bot.store.codec import StoredTurn, dehydrate, rehydrate


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class GenerationResult:
    images: tuple[Media, ...]  # final images (interim "thought" images are left out)
    text: str
    usage: Usage
    block: Block | None
    user_turn: StoredTurn
    model_turn: StoredTurn | None  # None when nothing came back (e.g. a blocked prompt)
    model_version: str | None = None
    response_id: str | None = None
    elapsed_s: float = field(default=0.0, compare=False)

    @property
    def ok(self) -> bool:
        """True when there is an image to show (otherwise `block` says why not)."""
        return self.block is None


@dataclass(frozen=True)
class CallInputs:
    """What a job sends besides its request: images before the prompt, earlier turns."""

    images: Sequence[Media] = ()
    history: Sequence[StoredTurn] = ()


def user_turn(prompt: str, inputs: Sequence[Media]) -> types.Content:
    """The user's turn: images first, then the instruction (Google's recommended order)."""
    parts = [types.Part.from_bytes(data=i.data, mime_type=i.mime_type) for i in inputs]
    parts.append(types.Part.from_text(text=prompt))
    return types.Content(role="user", parts=parts)


def generate_config(request: JobRequest) -> types.GenerateContentConfig:
    if request.prompts:  # /describe: text, as a JSON list of prompts
        return types.GenerateContentConfig(
            response_modalities=list(request.response_modalities),
            response_mime_type="application/json",
            response_json_schema=answer_schema(request.prompts),
            thinking_config=_thinking(request),
            candidate_count=1,
        )
    image_config = None
    if request.aspect_ratio or request.image_size:
        image_config = types.ImageConfig(
            aspect_ratio=request.aspect_ratio or None, image_size=request.image_size or None
        )
    return types.GenerateContentConfig(
        response_modalities=list(request.response_modalities),
        image_config=image_config,
        thinking_config=_thinking(request),
        candidate_count=1,
    )


def _thinking(request: JobRequest) -> types.ThinkingConfig | None:
    if not request.thinking_level:
        return None
    return types.ThinkingConfig(thinking_level=types.ThinkingLevel(request.thinking_level))


async def generate(
    client: genai.Client, request: JobRequest, inputs: CallInputs
) -> GenerationResult:
    """Run one turn against Gemini. Raises GenerationError for failures a member can act on."""
    turn = user_turn(request.text, inputs.images)
    contents = [*(rehydrate(earlier) for earlier in inputs.history), turn]
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        response = await client.aio.models.generate_content(
            model=request.model, contents=contents, config=generate_config(request)
        )
    except Exception as exc:
        raise failures.classify(exc, model=request.model) from exc
    return await _read_response(
        response,
        turn,
        inputs.images,
        elapsed_s=loop.time() - started,
        images_expected=not request.prompts,
    )


# Calls a cancelled job stopped waiting for: they finish (or time out) on their own. Cancelling
# an SDK call mid-flight can leave the client unable to make the next one (seen with
# google-genai 3.4 when the first call of a client is cancelled early), so it is never done.
_ABANDONED: set[asyncio.Future[list[GenerationResult | BaseException]]] = set()


async def generate_many(
    client: genai.Client, request: JobRequest, inputs: CallInputs
) -> list[GenerationResult | GenerationError]:
    """`request.count` calls side by side (Gemini image models make one image per call).
    Each call's own failure comes back in its place; a bug still raises."""
    calls = asyncio.gather(
        *(generate(client, request, inputs) for _ in range(request.count)),
        return_exceptions=True,
    )
    try:
        outcomes = await asyncio.shield(calls)
    except asyncio.CancelledError:
        _ABANDONED.add(calls)
        calls.add_done_callback(_ABANDONED.discard)
        raise
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, GenerationError):
            raise outcome
    return [o for o in outcomes if isinstance(o, GenerationResult | GenerationError)]


async def _read_response(
    response: types.GenerateContentResponse,
    turn: types.Content,
    images: Sequence[Media],
    *,
    elapsed_s: float,
    images_expected: bool = True,
) -> GenerationResult:
    candidate = response.candidates[0] if response.candidates else None
    block = assess_response(response, images_expected=images_expected)
    if candidate is None and block is None:
        raise GenerationError(
            "Gemini sent back an empty answer (no result at all). This is usually temporary: "
            "press Retry.",
            kind="empty_response",
        )
    content = candidate.content if candidate else None
    parts = content.parts if content and content.parts else []
    _label_by_content(parts)
    if candidate is not None and not parts and block is None:
        raise GenerationError(
            "Gemini's answer had no image and no text. This is usually temporary: press Retry.",
            kind="empty_response",
        )
    model_turn = dehydrate(content) if content and parts else None
    for image in model_turn.images.values() if model_turn else ():
        _ = image.sha256  # hashed where the call runs (a worker), not on the bot's loop
    # The final images (interim "thought" images left out), as kept in the model's turn.
    generated = tuple(
        model_turn.images[index]
        for index, part in enumerate(parts)
        if model_turn and index in model_turn.images and not part.thought
    )
    await asyncio.to_thread(check_decodable, generated)
    if not generated and block is None and images_expected:
        block = Block(stage="response", reason="NO_IMAGE", info=reason_info("response", "NO_IMAGE"))
    text = "\n".join(p.text.strip() for p in parts if p.text and not p.thought).strip()
    usage = response.usage_metadata
    return GenerationResult(
        images=generated,
        text=text,
        usage=Usage(
            prompt_tokens=(usage.prompt_token_count or 0) if usage else 0,
            output_tokens=(usage.candidates_token_count or 0) if usage else 0,
            total_tokens=(usage.total_token_count or 0) if usage else 0,
        ),
        block=block,
        user_turn=dehydrate(turn, images),
        model_turn=model_turn,
        model_version=response.model_version,
        response_id=response.response_id,
        elapsed_s=elapsed_s,
    )


def _label_by_content(parts: Sequence[types.Part]) -> None:
    """Gemini sometimes labels a JPEG `image/png`; sent back like that in the history, it is
    refused. Each image is labelled by what its bytes are, in the turn that is kept too."""
    for part in parts:
        blob = part.inline_data
        if blob is not None and blob.data:
            blob.mime_type = sniff_mime(blob.data, blob.mime_type)


def check_decodable(generated: Sequence[Media]) -> None:
    """Blocking: GenerationError unless every image opens (a corrupt answer is a failure)."""
    for image in generated:
        try:
            images.verify_image(image.data)
        except ValueError:
            raise GenerationError(
                "Gemini sent back an image that cannot be opened (corrupt data). "
                "This is usually temporary: press Retry.",
                kind="corrupt_image",
            ) from None
