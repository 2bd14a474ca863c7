"""What the bot's messages look like: results, block reports, failures. Pure presentation.

Every text that can carry user input is cut to Discord's limits here, and messages are sent
with AllowedMentions.none() (set on the Bot), so echoed text never pings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import discord

from bot.config import ModelInfo
from bot.errors import GenerationError
from bot.records import Job
from bot.safety import Block

CONTENT_LIMIT = 2000
EMBED_DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 1024
THREAD_NAME_LIMIT = 100

INTERNAL_ERROR = (
    "Something went wrong on my side and the image could not be made. Press Retry; if it "
    "keeps happening, give the bot's operator the job id below."
)

COLOR_OK = discord.Colour.from_rgb(88, 101, 242)
COLOR_BLOCKED = discord.Colour.from_rgb(237, 137, 54)
COLOR_FAILED = discord.Colour.from_rgb(237, 66, 69)

_SLUG = re.compile(r"[^a-z0-9]+")
_SPACE = re.compile(r"\s+")


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def one_line(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def thread_name(prompt: str) -> str:
    return clip(one_line(prompt), THREAD_NAME_LIMIT) or "Image"


def image_filename(prompt: str, extension: str, suffix: str = "") -> str:
    slug = _SLUG.sub("-", prompt.lower()).strip("-")[:48].strip("-")
    return f"{slug or 'image'}{suffix}.{extension}"


def quote(text: str, limit: int) -> str:
    """Text shown as a Discord block quote, clipped to `limit` characters in total."""
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
    return clip(quoted, limit)


def result_embed(
    job: Job,
    info: ModelInfo,
    *,
    filename: str,
    elapsed_s: float,
    withheld: Sequence[str] = (),
    title: str = "Prompt",
) -> discord.Embed:
    """The card under a finished image: prompt, model, options, and the job id to quote."""
    request = job.request
    embed = discord.Embed(
        title=title,
        description=clip(request.prompt, EMBED_DESCRIPTION_LIMIT),
        colour=COLOR_OK,
    )
    embed.add_field(name="Model", value=info.label)
    embed.add_field(name="Aspect ratio", value=request.aspect_ratio or "model default")
    if request.image_size:
        embed.add_field(name="Size", value=request.image_size)
    if withheld:
        reasons = "\n".join(dict.fromkeys(one_line(reason) for reason in withheld))
        embed.add_field(
            name=f"Withheld by safety filters: {len(withheld)}",
            value=clip(reasons, FIELD_LIMIT),
            inline=False,
        )
    embed.set_image(url=f"attachment://{filename}")
    embed.set_footer(text=f"Job {job.id} · {elapsed_s:.1f}s")
    return embed


def result_content(text: str) -> str | None:
    """The model's accompanying words, if any, clipped to fit a message."""
    text = text.strip()
    return clip(text, CONTENT_LIMIT) if text else None


def briefing_embed(job: Job, info: ModelInfo) -> discord.Embed:
    """What a workflow that asks first is about to generate (the seed's "briefing")."""
    request = job.request
    embed = discord.Embed(
        title="Ready to generate",
        description=clip(request.prompt, EMBED_DESCRIPTION_LIMIT),
        colour=COLOR_OK,
    )
    count = request.number_of_images
    embed.add_field(name="Model", value=f"{info.label}" + (f" × {count}" if count > 1 else ""))
    embed.add_field(name="Aspect ratio", value=request.aspect_ratio or "model default")
    if request.image_size:
        embed.add_field(name="Size", value=request.image_size)
    if request.input_images:
        embed.add_field(name="Your images", value=str(len(request.input_images)))
    embed.set_footer(text=f"Job {job.id} · press Generate to start, or Edit prompt to change it")
    return embed


def block_embed(block: Block, job: Job) -> discord.Embed:
    """Why no image came back: what happened, the API's own reason, and what to try."""
    title = "Your request was blocked" if block.stage == "prompt" else "No image this time"
    embed = discord.Embed(title=title, description=block.info.category, colour=COLOR_BLOCKED)
    reason = f"`{block.reason}`"
    if block.api_message:
        reason += f"\n{clip(one_line(block.api_message), 900)}"
    embed.add_field(name="Reason given by Gemini", value=reason, inline=False)
    if block.code_category:
        embed.add_field(name="Category", value=block.code_category.capitalize(), inline=False)
    if block.ratings:
        lines = [
            f"{r.category}: {r.probability.lower()}{' (blocked)' if r.blocked else ''}"
            for r in block.ratings
        ]
        embed.add_field(name="Safety ratings", value=clip("\n".join(lines), FIELD_LIMIT))
    if block.model_text:
        embed.add_field(
            name="Gemini said", value=quote(block.model_text, FIELD_LIMIT), inline=False
        )
    embed.add_field(name="What you can do", value=block.info.advice, inline=False)
    embed.set_footer(text=f"Job {job.id}")
    return embed


def failure_embed(error: GenerationError, job: Job) -> discord.Embed:
    embed = discord.Embed(
        title="The image could not be made",
        description=clip(error.user_message, EMBED_DESCRIPTION_LIMIT),
        colour=COLOR_FAILED,
    )
    embed.set_footer(text=f"Job {job.id}")
    return embed


def interrupted_embed(job: Job) -> discord.Embed:
    embed = discord.Embed(
        title="Interrupted by a restart",
        description=(
            "The bot restarted while your request was waiting or being made, so it did not "
            "finish. Press Retry to run it again."
        ),
        colour=COLOR_BLOCKED,
    )
    embed.add_field(name="Prompt", value=clip(job.request.prompt, FIELD_LIMIT), inline=False)
    embed.set_footer(text=f"Job {job.id}")
    return embed


NO_THREAD_IN_THREAD = (
    "-# This was made inside a thread, where no new thread can start: use the buttons below "
    "to keep working on it."
)


def no_thread_note(exc: discord.HTTPException) -> str:
    reason = "I am not allowed to create threads here" if exc.status == 403 else exc.text
    return (
        f"-# I could not open a thread for this conversation ({reason}). Use the buttons "
        "below to keep working on it, or ask a moderator to let me create public threads."
    )


def thread_welcome(owner_mention: str, *, anyone: bool) -> str:
    who = "Anyone here" if anyone else f"{owner_mention}, you"
    return (
        f"{who} can keep going by writing in this thread: describe what to change "
        '("make it night-time", "add a red scarf") and I\'ll edit the image. '
        "Attach a photo to bring it into the picture."
    )
