"""What a job costs: estimated when it is accepted, settled when it is delivered. Pure.

Both use the catalog (`[models.catalog]`): each image at its size's `price_usd`, plus input
tokens at `input_usd_per_mtok`. The estimate is what a job reserves against the spend limits,
so it errs high: every byte of the prompt as a token, and every image the request may carry
(an edit may send the conversation's images, up to the model's `max_input_images`). The
settled cost uses the input tokens Gemini reported (`usageMetadata.promptTokenCount`).
"""

from __future__ import annotations

from bot.config import ModelInfo, Settings
from bot.jobs.describe import OUTPUT_TOKENS_AT_MOST
from bot.jobs.records import Basis, JobRequest


def images_made(request: JobRequest) -> int:
    """The images a request makes (a /describe makes none: its answer is text)."""
    return 0 if request.prompts else request.count


def estimate_usd(request: JobRequest, settings: Settings) -> float:
    """The most the job should cost: `count` calls, each with the largest input it may send."""
    info = settings.models.catalog.get(request.model)
    if info is None:  # a model no longer in the catalog: the call fails before it costs
        return 0.0
    tokens = len(request.text.encode()) + _images_sent_at_most(request, info) * (
        info.input_image_tokens
    )
    if request.prompts:  # text out: its tokens, thinking included, at most
        return info.input_price(tokens) + info.output_price(OUTPUT_TOKENS_AT_MOST)
    output = info.price_for(request.image_size, request.duration_s)
    return request.count * (output + info.input_price(tokens))


def settled_usd(
    info: ModelInfo | None, request: JobRequest, outputs: int, tokens: int, output_tokens: int = 0
) -> float:
    """What a delivered job cost: its images (or videos), the input tokens Gemini counted
    (over all of its calls) and, for a text answer, its output tokens."""
    if info is None:
        return 0.0
    output = info.price_for(request.image_size, request.duration_s)
    return outputs * output + info.input_price(tokens) + info.output_price(output_tokens)


def _images_sent_at_most(request: JobRequest, info: ModelInfo) -> int:
    uploads = len(request.input_images)
    if request.basis is Basis.NEW:
        return uploads
    if request.basis is Basis.IMAGE:  # the image it builds on, without history
        return uploads + 1
    return max(info.max_input_images, uploads + 1)  # the history may fill every slot
