"""The Bot: owns the long-lived resources and wires the cogs to them.

One google-genai client, one store, one job queue and one runner live here for the whole
process; cogs reach them through the bot. Slash commands only: the bot has no text prefix.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
import yarl
from discord.ext import commands

from bot.config import Settings
from bot.credentials import Credentials
from bot.gemini import build_client
from bot.jobs import JobQueue
from bot.maintenance import clean_up_forever
from bot.store import SQLiteStore, Store
from bot.ui.recovery import recover_interrupted_jobs
from bot.ui.runner import JobRunner
from bot.ui.service import ImageService
from bot.workflows.loader import LoadedWorkflows

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.errors",
    "cogs.workflows",
    "cogs.edit_menu",
    "cogs.conversations",
    "cogs.actions",
)


def point_discord_at(settings: Settings) -> None:
    """Send discord.py's REST and gateway traffic to the configured URLs.

    discord.py reads these class attributes whenever it builds a route or connects, so this
    is how a Discord-compatible server (or the test fake) is used.
    """
    discord.http.Route.BASE = settings.discord.api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord.gateway_url)


class ImagineBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        credentials: Credentials,
        workflows: LoadedWorkflows,
        **options: Any,
    ) -> None:
        """`workflows` become the slash commands; `options` go to discord.Client as they are
        (e.g. guild_ready_timeout)."""
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: thread replies need their text
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            **options,
        )
        point_discord_at(settings)
        self.settings = settings
        self.workflows = workflows
        self.genai = build_client(settings.gemini, credentials.gemini)
        self.queue = JobQueue(
            max_concurrent=settings.jobs.max_concurrent,
            max_per_user=settings.jobs.max_concurrent_per_user,
        )
        self._store: Store | None = None
        self._runner: JobRunner | None = None
        self._cleanup: asyncio.Task[None] | None = None
        self.service = ImageService(self)
        self.job_actions: object = None  # set by cogs.actions; buttons call into it

    @property
    def store(self) -> Store:
        assert self._store is not None, "the store opens in setup_hook"
        return self._store

    @property
    def runner(self) -> JobRunner:
        assert self._runner is not None, "the runner is built in setup_hook"
        return self._runner

    async def setup_hook(self) -> None:
        self._store = await SQLiteStore.open(self.settings.storage.path)
        self._runner = JobRunner(store=self._store, queue=self.queue, settings=self.settings)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()
        await recover_interrupted_jobs(self)
        self._cleanup = asyncio.create_task(
            clean_up_forever(self._store, self.settings.storage.retention_days), name="cleanup"
        )

    async def sync_commands(self) -> None:
        """Register the slash commands: in the configured guilds (instant), else globally."""
        guild_ids = self.settings.discord.guild_ids
        if not guild_ids:
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))
            return
        for guild_id in guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %d", len(synced), guild_id)

    async def on_message(self, message: discord.Message, /) -> None:
        """No text commands: cogs listen to the messages they care about themselves."""

    async def close(self) -> None:
        if self._cleanup is not None:
            self._cleanup.cancel()
            await asyncio.gather(self._cleanup, return_exceptions=True)
        await self.service.shutdown()
        try:
            await super().close()
        finally:
            await self.genai.aio.aclose()
            if self._store is not None:
                await self._store.close()
