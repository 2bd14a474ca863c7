"""The generation core: one job request in, what Gemini made out. No Discord.

`generate` sends one turn to a native Gemini image model (with the conversation's earlier
turns before it) and returns what came back: final images, the model's text, token usage,
and a `Block` when no usable image was produced. The user and model turns come back exactly
as sent and received, thought signatures included, already in the form the store keeps
(`StoredTurn`), so they replay byte for byte. `generate_many` makes a job's side-by-side
images. With a preview sink the answer is streamed, and each interim "thought" image is
handed over while the model goes on thinking (live previews); a grounded answer's sources
and searches come back as `Grounding`. Everything here can run in a worker process
(`bot.gemini_workers`): inputs and results are plain, picklable data.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
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
class Grounding:
    """The sources (title, link) and the searches of a grounded answer, as Google's display
    requirements ask them to be shown."""

    sources: tuple[tuple[str, str], ...]
    queries: tuple[str, ...]

    @classmethod
    def of(cls, candidate: types.Candidate | None) -> Grounding | None:
        metadata = candidate.grounding_metadata if candidate else None
        if metadata is None:
            return None
        sources = tuple(
            dict.fromkeys(
                (chunk.web.title or chunk.web.domain or chunk.web.uri or "", chunk.web.uri)
                for chunk in metadata.grounding_chunks or []
                if chunk.web is not None and chunk.web.uri
            )
        )
        queries = tuple(q for q in metadata.web_search_queries or [] if q.strip())
        return cls(sources, queries) if sources or queries else None


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
    grounding: Grounding | None = None  # what Google Search gave a grounded answer
    # The last image re-encoded to fit `CallInputs.post_limit`, made where the call ran (a
    # worker); None when it fits as it is.
    posted: Media | None = None

    @property
    def ok(self) -> bool:
        """True when there is an image to show (otherwise `block` says why not)."""
        return self.block is None


@dataclass(frozen=True)
class CallInputs:
    """What a job sends besides its request: images before the prompt, earlier turns."""

    images: Sequence[Media] = ()
    history: Sequence[StoredTurn] = ()
    # A video (Veo's long-running operation): how often to ask, how long to wait in all.
    poll_interval_s: float = 10.0
    max_wait_s: float = 900.0
    # The bytes a file posted where the result goes may have (Discord's limit there), when
    # known: a larger image also comes re-encoded to fit (`GenerationResult.posted`).
    post_limit: int | None = None


def user_turn(prompt: str, inputs: Sequence[Media]) -> types.Content:
    """The user's turn: images first, then the instruction (Google's recommended order)."""
    parts = [types.Part.from_bytes(data=i.data, mime_type=i.mime_type) for i in inputs]
    parts.append(types.Part.from_text(text=prompt))
    return types.Content(role="user", parts=parts)


def generate_config(
    request: JobRequest, *, include_thoughts: bool = False
) -> types.GenerateContentConfig:
    """The request's settings as the SDK's config. `include_thoughts`: the model sends its
    interim thought images (and thought summaries) too."""
    if request.prompts:  # /describe: text, as a JSON list of prompts
        return types.GenerateContentConfig(
            response_modalities=list(request.response_modalities),
            response_mime_type="application/json",
            response_json_schema=answer_schema(request.prompts),
            thinking_config=_thinking(request, include_thoughts),
            candidate_count=1,
        )
    image_config = None
    if request.aspect_ratio or request.image_size or request.person_generation:
        image_config = types.ImageConfig(
            aspect_ratio=request.aspect_ratio or None,
            image_size=request.image_size or None,
            person_generation=request.person_generation,  # Vertex AI only
        )
    tools = [types.Tool(google_search=types.GoogleSearch())] if request.tools else None
    safety = [
        types.SafetySetting(
            category=types.HarmCategory(category), threshold=types.HarmBlockThreshold(threshold)
        )
        for category, threshold in request.safety
    ]
    return types.GenerateContentConfig(
        response_modalities=list(request.response_modalities),
        image_config=image_config,
        thinking_config=_thinking(request, include_thoughts),
        tools=tools,
        safety_settings=safety or None,
        candidate_count=1,
    )


def _thinking(request: JobRequest, include_thoughts: bool) -> types.ThinkingConfig | None:
    if not request.thinking_level and not include_thoughts:
        return None
    level = types.ThinkingLevel(request.thinking_level) if request.thinking_level else None
    return types.ThinkingConfig(thinking_level=level, include_thoughts=include_thoughts or None)


# Called with each interim "thought" image as it arrives (live previews).
PreviewSink = Callable[[Media], Awaitable[None]]


async def generate(
    client: genai.Client,
    request: JobRequest,
    inputs: CallInputs,
    on_preview: PreviewSink | None = None,
) -> GenerationResult:
    """Run one turn against Gemini. Raises GenerationError for failures a member can act on.
    With `on_preview`, the answer is streamed and each interim thought image is handed to it
    while the model goes on thinking."""
    turn = user_turn(request.text, inputs.images)
    contents = [*(rehydrate(earlier) for earlier in inputs.history), turn]
    config = generate_config(request, include_thoughts=on_preview is not None)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        if on_preview is None:
            response = await client.aio.models.generate_content(
                model=request.model, contents=contents, config=config
            )
        else:
            stream = await client.aio.models.generate_content_stream(
                model=request.model, contents=contents, config=config
            )
            response = await _streamed(stream, on_preview)
    except Exception as exc:
        raise failures.classify(exc, model=request.model) from exc
    return await _read_response(
        response,
        turn,
        inputs.images,
        elapsed_s=loop.time() - started,
        images_expected=not request.prompts,
        post_limit=inputs.post_limit,
    )


async def _streamed(
    stream: AsyncIterator[types.GenerateContentResponse], on_preview: PreviewSink
) -> types.GenerateContentResponse:
    """The chunks of a streamed answer as one answer (its parts in order, the last chunk's
    finish reason, grounding and usage), showing each thought image as it comes."""
    parts: list[types.Part] = []
    last: types.Candidate | None = None
    feedback = usage = None
    version = response_id = None
    async for chunk in stream:
        feedback = chunk.prompt_feedback or feedback
        usage = chunk.usage_metadata or usage
        version, response_id = chunk.model_version or version, chunk.response_id or response_id
        candidate = chunk.candidates[0] if chunk.candidates else None
        if candidate is None:
            continue
        last = candidate
        for part in (
            candidate.content.parts if candidate.content and candidate.content.parts else []
        ):
            parts.append(part)
            blob = part.inline_data
            if part.thought and blob is not None and blob.data:
                await on_preview(Media(blob.data, sniff_mime(blob.data, blob.mime_type)))
    candidates = None
    if last is not None:
        content = types.Content(role="model", parts=parts) if parts else None
        candidates = [last.model_copy(update={"content": content})]
    return types.GenerateContentResponse(
        candidates=candidates,
        prompt_feedback=feedback,
        usage_metadata=usage,
        model_version=version,
        response_id=response_id,
    )


# Calls a cancelled job stopped waiting for: they finish (or time out) on their own. Cancelling
# an SDK call mid-flight can leave the client unable to make the next one (seen with
# google-genai 3.4 when the first call of a client is cancelled early), so it is never done.
_ABANDONED: set[asyncio.Future[list[GenerationResult | BaseException]]] = set()


async def generate_many(
    client: genai.Client,
    request: JobRequest,
    inputs: CallInputs,
    on_preview: PreviewSink | None = None,
) -> list[GenerationResult | GenerationError]:
    """`request.count` calls side by side (Gemini image models make one image per call).
    Each call's own failure comes back in its place; a bug still raises."""
    return await shielded(
        [generate(client, request, inputs, on_preview) for _ in range(request.count)]
    )


async def shielded(
    calls: Sequence[Awaitable[GenerationResult]],
) -> list[GenerationResult | GenerationError]:
    """Run `calls` side by side; a job cancelled meanwhile stops waiting, but the calls are
    never cancelled (see `_ABANDONED`). Each call's own failure comes back in its place."""
    gathered = asyncio.gather(*calls, return_exceptions=True)
    try:
        outcomes = await asyncio.shield(gathered)
    except asyncio.CancelledError:
        _ABANDONED.add(gathered)
        gathered.add_done_callback(_ABANDONED.discard)
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
    post_limit: int | None = None,
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
    posted = await asyncio.to_thread(_checked, generated, post_limit)
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
        grounding=Grounding.of(candidate),
        posted=posted,
    )


def _label_by_content(parts: Sequence[types.Part]) -> None:
    """Gemini sometimes labels a JPEG `image/png`; sent back like that in the history, it is
    refused. Each image is labelled by what its bytes are, in the turn that is kept too."""
    for part in parts:
        blob = part.inline_data
        if blob is not None and blob.data:
            blob.mime_type = sniff_mime(blob.data, blob.mime_type)


def _checked(generated: Sequence[Media], post_limit: int | None) -> Media | None:
    """Blocking: `check_decodable`, then the last image re-encoded to fit `post_limit` if
    it is larger (None when it fits, or cannot be made to: the bot tries again when posting)."""
    check_decodable(generated)
    final = generated[-1] if generated else None
    if final is None or post_limit is None or final.size <= post_limit:
        return None
    try:
        return images.fit_to_limit(final, post_limit)
    except ValueError:
        return None


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
