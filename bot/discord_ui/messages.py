"""What the bot's messages look like: progress, results, block reports, failures, notices.
Pure presentation of `bot.jobs.display`'s plain data.

Every text that can carry user input is cut to Discord's limits here, and messages are sent
with AllowedMentions.none() (set on the Bot), so echoed text never pings.
"""

from __future__ import annotations

import re
import urllib.parse

import discord

from bot.jobs.display import BriefingCard, Drafting, NoticeCard, Progress, ResultCard, Running
from bot.jobs.guard import paused_text
from bot.jobs.quotas import usd
from bot.jobs.records import Job
from bot.safety import Block

EMBED_DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 1024
THREAD_NAME_LIMIT = 100

COLOR_OK = discord.Colour.from_rgb(88, 101, 242)
COLOR_BLOCKED = discord.Colour.from_rgb(237, 137, 54)
COLOR_FAILED = discord.Colour.from_rgb(237, 66, 69)

_SLUG = re.compile(r"[^a-z0-9]+")
_SPACE = re.compile(r"\s+")


def progress_text(progress: Progress) -> str:
    """One status line; elapsed time is a Discord timestamp, which counts by itself."""
    if isinstance(progress, Drafting):
        return (
            f"💭 Thinking… this is a draft, the finished image replaces it (started "
            f"<t:{int(progress.started_at)}:R>)"
        )
    if isinstance(progress, Running):
        if progress.video:
            return (
                f"🎬 Animating your image… a video takes a minute or two (started "
                f"<t:{int(progress.started_at)}:R>)"
            )
        what = "Editing the image" if progress.editing else "Generating your image"
        if progress.describing:
            what = "Reading your image"
        return f"🎨 {what}… (started <t:{int(progress.started_at)}:R>)"
    if progress.paused is not None:
        return (
            f"{paused_text(clip(one_line(progress.paused), 300))}\n-# Your request keeps its "
            "place in line and starts when they resume the bot."
        )
    if progress.behind_own_lane:
        text = "⏳ Waiting for the previous change in this thread to finish…"
    elif progress.ahead <= 0:
        text = "⏳ Queued: you are next."
    elif progress.ahead == 1:
        text = "⏳ Queued: 1 request ahead of you."
    elif progress.ahead >= 10:
        text = f"⏳ Queued: {progress.ahead}+ requests ahead of you."
    else:
        text = f"⏳ Queued: {progress.ahead} requests ahead of you."
    if progress.wait_s and not progress.behind_own_lane:
        text += f" About {_duration(progress.wait_s)}."
    if progress.requeued:
        return f"🔄 The bot restarted; your request is back in line. {text}"
    return text


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = round(seconds / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


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


GOOGLE_SEARCH = "https://www.google.com/search?q="


def grounding_lines(card: ResultCard, limit: int) -> list[str]:
    """A grounded result's sources and Google's searches, as links within `limit`
    characters each (Google's display requirements for Search grounding: show the sources
    and the search suggestions)."""
    found = []
    if card.sources:
        links = [f"[{_link_text(s.title)}]({s.uri})" for s in card.sources]
        found.append(_lines_within(["**Sources**", *links], limit))
    if card.search_queries:
        links = [
            f"🔎 [{_link_text(q)}]({GOOGLE_SEARCH}{urllib.parse.quote_plus(q)})"
            for q in card.search_queries
        ]
        found.append(_lines_within(["**Google searches**", *links], limit))
    return found


def _link_text(text: str) -> str:
    """Text safe inside a markdown link's brackets."""
    return clip(one_line(text).replace("[", "(").replace("]", ")"), 100) or "source"


def _lines_within(lines: list[str], limit: int) -> str:
    """As many whole lines as fit in `limit` characters (a link is never cut in half)."""
    kept: list[str] = []
    for line in lines:
        if len("\n".join([*kept, line])) > limit:
            break
        kept.append(line)
    return "\n".join(kept) or clip(lines[0], limit)


def briefing_embed(card: BriefingCard, job: Job) -> discord.Embed:
    """What a workflow that asks first is about to generate (the seed's "briefing")."""
    embed = discord.Embed(
        title="Ready to generate",
        description=clip(card.prompt, EMBED_DESCRIPTION_LIMIT),
        colour=COLOR_OK,
    )
    count = f" × {card.count}" if card.count > 1 else ""
    embed.add_field(name="Model", value=f"{card.model_label}{count}")
    embed.add_field(name="Aspect ratio", value=card.aspect_ratio or "model default")
    if card.size:
        embed.add_field(name="Size", value=card.size)
    if card.input_images:
        embed.add_field(name="Your images", value=str(card.input_images))
    cost = f"about {usd(card.cost_usd)}"
    if card.confirm_above_usd and card.cost_usd > card.confirm_above_usd:
        cost += f" (more than {usd(card.confirm_above_usd)}: it starts when you press Generate)"
    embed.add_field(name="Estimated cost", value=cost, inline=False)
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


def failure_embed(message: str, job: Job) -> discord.Embed:
    embed = discord.Embed(
        title="The image could not be made",
        description=clip(message, EMBED_DESCRIPTION_LIMIT),
        colour=COLOR_FAILED,
    )
    embed.set_footer(text=f"Job {job.id}")
    return embed


def notice_embed(card: NoticeCard, job: Job) -> discord.Embed:
    if card.kind == "interrupted":
        title = "Interrupted by a restart"
        text = (
            "The bot restarted while your request was being made, so it did not finish. "
            "Press Retry to run it again."
        )
    else:
        title = "Cancelled"
        who = f" by <@{card.by_user}>" if card.by_user else ""
        text = f"This request was cancelled{who}. Press Retry to run it after all."
    embed = discord.Embed(title=title, description=text, colour=COLOR_BLOCKED)
    embed.add_field(name="Prompt", value=clip(card.prompt, FIELD_LIMIT), inline=False)
    embed.set_footer(text=f"Job {job.id}")
    return embed


NO_THREAD_IN_THREAD = (
    "-# This was made inside a thread, where no new thread can start: use the buttons below "
    "to keep working on it."
)


REFINE_HINT = (
    "-# 💬 To change it, press Refine and say what should be different "
    '("make it night-time", "add a red scarf"). Each change builds on the last.'
)


def no_thread_note(exc: discord.HTTPException) -> str:
    reason = "I am not allowed to create threads here" if exc.status == 403 else exc.text
    return (
        f"-# I could not open a thread for this conversation ({reason}). Use the buttons "
        "below to keep working on it, or ask a moderator to let me create public threads."
    )


def shown_again_note(thread_id: int) -> str:
    return f"-# Shown again with /show: its conversation continues in <#{thread_id}>."


def conversation_hint(owner_id: int, *, anyone: bool) -> str:
    who = "anyone here" if anyone else f"<@{owner_id}>"
    return (
        f"-# 💬 To change it, {who} can write in the thread below what should be different "
        '("make it night-time", "add a red scarf"), or attach a photo to bring into it.'
    )


def too_large_note(size: int, limit: int) -> str:
    """Why a video was not posted: Discord would refuse the upload."""
    return (
        f"-# The video is {size / 1_048_576:.1f} MB, more than this server's upload limit "
        f"({limit / 1_048_576:.0f} MB), so it cannot be posted here. Ask for it in 720p (or "
        "shorter), or post it in a server with a higher limit (Server Boosts raise it)."
    )
