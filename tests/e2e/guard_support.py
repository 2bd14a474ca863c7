"""Shared by the guard-rail tests: a clock the tests move, restarting the bot with other
settings, running a command to its end, and reading what a member was told privately."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any

from bot.discord_ui.app import ImagineBot
from bot.jobs.records import Job, JobState
from bot.jobs.usage import counted
from tests.e2e.conftest import Harness, settings_for
from tests.fakes.fake_discord import FakeInteraction
from tests.support import settle

Json = dict[str, Any]
EPHEMERAL = 1 << 6


class FakeClock:
    """The time the quotas see; it moves only when a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=datetime.UTC).timestamp()


async def restart(
    h: Harness, *, clock: Callable[[], float] = time.time, **sections: dict[str, Any]
) -> ImagineBot:
    """The bot again on the same database, with `sections` overriding settings."""
    await h.stop_bot()
    settings = settings_for(h.discord, h.gemini, h.settings.storage.path, **sections)
    return await h.start_bot(settings, clock=clock)


async def command(
    h: Harness,
    name: str,
    options: dict[str, object] | None = None,
    *,
    user: Json | None = None,
    channel_id: str | None = None,
) -> FakeInteraction:
    """Run a slash command and wait until the bot is done with it (jobs included)."""
    interaction = await h.discord.run_command(name, options, user=user, channel_id=channel_id)
    await interaction.wait_response()
    await settle()
    return interaction


async def ask(
    h: Harness, name: str, options: dict[str, object] | None = None, *, user: Json | None = None
) -> FakeInteraction:
    """Run a slash command and wait for its private answer only (jobs may still run)."""
    interaction = await h.discord.run_command(name, options, user=user)
    await h.discord.wait_for(lambda: bool(private_text(interaction)))
    return interaction


def private_text(interaction: FakeInteraction) -> str:
    """Everything the member was told privately (content and embed texts)."""
    texts = []
    messages = {m["id"]: m for m in (interaction.original, *interaction.followups) if m}
    for message in messages.values():
        if message.get("flags", 0) & EPHEMERAL:
            texts.append(message.get("content") or "")
            for embed in message.get("embeds") or []:
                texts.append(embed.get("description") or "")
                texts += [f"{f['name']}: {f['value']}" for f in embed.get("fields") or []]
    return "\n".join(text for text in texts if text)


def shown_publicly(interaction: FakeInteraction, h: Harness) -> bool:
    """Whether the interaction left a message in the channel (its response, still there)."""
    original = interaction.original
    if original is None or original.get("flags", 0) & EPHEMERAL:
        return False
    return any(
        m["id"] == original["id"] for m in h.discord.channel_messages(original["channel_id"])
    )


def totals(jobs: list[Job]) -> tuple[int, float]:
    """The images and dollars `jobs` count for, as the quotas count them."""
    figures = [counted(job) for job in jobs]
    return sum(images for images, _ in figures), sum(usd for _, usd in figures)


def states(jobs: list[Job]) -> dict[JobState, int]:
    found: dict[JobState, int] = {}
    for job in jobs:
        found[job.state] = found.get(job.state, 0) + 1
    return found
