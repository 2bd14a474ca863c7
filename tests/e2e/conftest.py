"""End-to-end harness: the real bot (discord.py + google-genai) against the loopback fakes.

The fakes start once per module; each test gets a fresh bot process-equivalent (a new
ImagineBot on a fresh database). Protocol violations either fake records fail the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest_asyncio
from PIL import Image

from bot.config import Settings
from bot.credentials import Credentials, GeminiAuth
from bot.discord_ui.app import ImagineBot
from bot.workflows.loader import load_workflows, workflows_directory
from tests.e2e.helpers import is_card
from tests.fakes.fake_discord import FakeDiscord, FakeInteraction
from tests.fakes.fake_gemini import FakeGemini
from tests.support import settings_against, settle

REPO = Path(__file__).resolve().parents[2]

Json = dict[str, Any]


def png(size: tuple[int, int] = (32, 32), colour: str = "orange") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def settings_for(
    discord_fake: FakeDiscord, gemini_fake: FakeGemini, db_path: Path, **sections: dict[str, Any]
) -> Settings:
    """Settings pointed at the fakes, with fast progress updates; `sections` override."""
    defaults: dict[str, dict[str, Any]] = {
        "gemini": {"timeout_s": 10.0},
        "jobs": {"progress_interval_s": 0.05, "running_edit_after_s": 0.0},
    }
    for name, values in sections.items():
        defaults[name] = {**defaults.get(name, {}), **values}
    return settings_against(
        api_base_url=discord_fake.api_base_url,
        gateway_url=discord_fake.gateway_url,
        guild_id=discord_fake.guild_id,
        gemini_base_url=gemini_fake.base_url,
        db_path=db_path,
        **defaults,
    )


@dataclass
class Harness:
    discord: FakeDiscord
    gemini: FakeGemini
    settings: Settings
    database_url: str | None = None  # PostgreSQL (as DATABASE_URL) instead of SQLite
    bots: list[ImagineBot] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def bot(self) -> ImagineBot:
        return self.bots[-1]

    async def start_bot(
        self,
        settings: Settings | None = None,
        *,
        vertex: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> ImagineBot:
        """A new bot (a new process, as far as state goes); `vertex`: Vertex AI express mode;
        `clock`: the time the quotas see."""
        credentials = Credentials(
            discord_token=self.discord.token,
            gemini=GeminiAuth(api_key=self.gemini.api_key, vertexai=vertex),
            database_url=self.database_url,
        )
        settings = settings or self.settings
        workflows = load_workflows(workflows_directory(settings), settings)
        bot = ImagineBot(settings, credentials, workflows, clock=clock, guild_ready_timeout=0.01)
        self.bots.append(bot)
        self.tasks.append(asyncio.create_task(bot.start(self.discord.token)))
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        return bot

    async def stop_bot(self) -> None:
        bot, task = self.bots[-1], self.tasks[-1]
        await settle()
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def kill_bot(self) -> None:
        """The process dies mid-work: nothing is waited for."""
        await self.bots[-1].close()
        await asyncio.gather(self.tasks[-1], return_exceptions=True)

    async def imagine(
        self, prompt: str, *, user: Json | None = None, **options: object
    ) -> FakeInteraction:
        """Run /imagine and wait until its response is final (result, block or failure)."""
        interaction = await self.discord.run_command(
            "imagine", {"prompt": prompt, **options}, user=user
        )
        await self.wait_final(interaction)
        return interaction

    async def imagine_together(
        self, members: int, prompt: str, *, model_delay_s: float, timeout: float = 30
    ) -> list[FakeInteraction]:
        """`members` new members each run /imagine at once (Gemini taking `model_delay_s`
        per image); when every response is final, every result has its image."""
        users = [self.discord.add_member(f"member{n}") for n in range(members)]
        self.gemini.default_delay = model_delay_s
        try:
            interactions = [
                await self.discord.run_command("imagine", {"prompt": f"{prompt} #{n}"}, user=u)
                for n, u in enumerate(users)
            ]
            for interaction in interactions:
                await self.wait_final(interaction, timeout=timeout)
        finally:
            self.gemini.default_delay = 0.0
        for interaction in interactions:
            assert interaction.original is not None
            assert interaction.original["attachments"], interaction.original  # none failed
        return interactions

    async def wait_final(self, interaction: FakeInteraction, timeout: float = 10) -> None:
        """Wait for the interaction's final answer and for the bot to finish handling it."""
        await interaction.wait_response()
        await self.discord.wait_for(lambda: is_final(interaction), timeout)
        await settle(timeout)

    def thread_of(self, interaction: FakeInteraction) -> Json:
        assert interaction.original is not None
        return self.discord.threads[interaction.original["id"]]

    async def say(
        self, thread_id: str, content: str, *, user: Json | None = None, **kwargs: Any
    ) -> Json:
        """A member writes in a thread; returns the member's message."""
        return await self.discord.post_message(thread_id, content, author=user, **kwargs)

    async def bot_reply_to(self, message: Json, timeout: float = 10) -> Json:
        """The bot's reply to `message`, once it is final (a card is shown)."""

        def reply() -> Json | None:
            for candidate in self.discord.channel_messages(message["channel_id"]):
                reference = candidate.get("message_reference") or {}
                if reference.get("message_id") == message["id"] and is_card(candidate):
                    return candidate
            return None

        await self.discord.wait_for(reply, timeout)
        found = reply()
        assert found is not None
        return found


def is_final(interaction: FakeInteraction) -> bool:
    """The response shows a card (result, block or failure) or an ephemeral answer."""
    original = interaction.original
    if original is not None and is_card(original):
        return True
    return any(f.get("flags", 0) & 64 for f in interaction.followups)


@pytest_asyncio.fixture(loop_scope="module")
async def harness(
    discord_fake: FakeDiscord, gemini_fake: FakeGemini, tmp_path: Path
) -> AsyncIterator[Harness]:
    discord_fake.violations.clear()
    discord_fake.user_installs.clear()  # members add the app to their accounts per test
    discord_fake.rate_limits.reset()  # a test's use of Discord's allowances is its own
    gemini_fake.reset()
    h = Harness(
        discord_fake, gemini_fake, settings_for(discord_fake, gemini_fake, tmp_path / "bot.db")
    )
    await h.start_bot()
    try:
        yield h
    finally:
        await settle()
        for bot in h.bots:
            if not bot.is_closed():
                await bot.close()
        for task in h.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert discord_fake.violations == [], discord_fake.violations
    assert gemini_fake.violations == [], gemini_fake.violations
