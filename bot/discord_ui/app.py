"""The Bot: owns the long-lived resources and wires the cogs to the job pipeline.

One google-genai client, one store and one job pipeline (intake, dispatcher, display) live
here for the whole process, built once in `setup_hook` from explicit parts; cogs reach them
through `bot.jobs` (a `JobServices`). Slash commands only: the bot has no text prefix.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import discord
import yarl
from discord.ext import commands

from bot.config import Settings
from bot.credentials import Credentials
from bot.discord_ui.display import DiscordDisplay
from bot.discord_ui.moderation import ModerationLog
from bot.gemini import build_client
from bot.gemini_workers import WorkerPool
from bot.generation import generate_many
from bot.images import UploadLimits
from bot.jobs.concurrency import concurrency_for
from bot.jobs.dispatcher import Dispatcher
from bot.jobs.guard import Clock, Guard
from bot.jobs.intake import Intake
from bot.jobs.pipeline import Generate, JobPipeline
from bot.jobs.recovery import catch_up, interrupt_running
from bot.jobs.references import ReferenceLibrary
from bot.maintenance import clean_up_forever
from bot.store import Store, open_store
from bot.uploads import UploadReader
from bot.workflows.loader import (
    LoadedWorkflows,
    WorkflowReport,
    read_workflows,
    workflows_directory,
)

log = logging.getLogger(__name__)

WORKFLOW_COMMANDS = "cogs.workflows"  # reloaded by /admin reload
EXTENSIONS = (
    "cogs.errors",
    WORKFLOW_COMMANDS,
    "cogs.edit_menu",
    "cogs.conversations",
    "cogs.actions",
    "cogs.usage",
    "cogs.admin",
    "cogs.references",
    "cogs.history",
    "cogs.describe",
)


def point_discord_at(settings: Settings) -> None:
    """Send discord.py's REST and gateway traffic to the configured URLs.

    discord.py reads these class attributes whenever it builds a route or connects, so this
    is how a Discord-compatible server (or the test fake) is used.
    """
    discord.http.Route.BASE = settings.discord.api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord.gateway_url)


@dataclass(frozen=True)
class JobServices:
    """What the cogs use: the store (to read), the intake (to accept work), the display
    (to bind an interaction to the job it answers), the guard (access, limits, the clock),
    the reference library."""

    store: Store
    intake: Intake
    display: DiscordDisplay
    dispatcher: Dispatcher
    pipeline: JobPipeline
    guard: Guard
    references: ReferenceLibrary


class ImagineBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        credentials: Credentials,
        workflows: LoadedWorkflows,
        *,
        clock: Clock = time.time,
        **options: Any,
    ) -> None:
        """`workflows` become the slash commands; `clock` tells the quotas the time (tests
        move it); `options` go to discord.Client as they are (e.g. guild_ready_timeout)."""
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: thread replies need their text
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            # No cache of recent messages: nothing reads it, and every message the bot or a
            # member posts or edits would be copied into it.
            max_messages=None,
            **options,
        )
        point_discord_at(settings)
        self.settings = settings
        self.workflows = workflows
        self.clock = clock
        self.genai = build_client(settings.gemini, credentials.gemini)
        self._credentials = credentials
        self._workers: WorkerPool | None = None
        self._jobs: JobServices | None = None
        self._background: list[asyncio.Task[None]] = []

    @property
    def jobs(self) -> JobServices:
        assert self._jobs is not None, "the job services are built in setup_hook"
        return self._jobs

    async def setup_hook(self) -> None:
        started_at = time.time()
        settings = self.settings
        store = await open_store(settings.storage, self._credentials.database_url)
        display = DiscordDisplay(self, settings)
        moderation = ModerationLog(self, settings) if settings.moderation.log_channel_id else None
        generate: Generate = functools.partial(generate_many, self.genai)
        workers = settings.gemini.worker_count()
        if workers:
            pool = WorkerPool(workers, settings.gemini, self._credentials.gemini)
            try:
                await pool.start()
            except RuntimeError as exc:
                log.warning("%s: Gemini calls run in the bot's own process instead", exc)
                await pool.close()
            else:
                self._workers, generate = pool, pool.generate
        pipeline = JobPipeline(
            store=store,
            display=display,
            generate=generate,
            settings=settings,
            moderation=moderation,
        )
        dispatcher = Dispatcher(
            store=store,
            pipeline=pipeline,
            concurrency=concurrency_for(settings.jobs),
            max_per_user=settings.jobs.max_concurrent_per_user,
            refresh_s=settings.jobs.progress_interval_s,
        )
        guard = Guard(store=store, settings=settings, clock=self.clock, moderation=moderation)
        uploads = UploadReader(UploadLimits.of(settings.uploads))
        intake = Intake(
            store=store,
            settings=settings,
            pipeline=pipeline,
            dispatcher=dispatcher,
            uploads=uploads,
            guard=guard,
        )
        library = ReferenceLibrary(
            store=store, settings=settings.references, guard=guard, uploads=uploads
        )
        self._jobs = JobServices(store, intake, display, dispatcher, pipeline, guard, library)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()
        # Before claiming anything: jobs that were running died with the last process.
        await interrupt_running(store)
        dispatcher.start()
        self._background = [
            asyncio.create_task(self._catch_up(started_at), name="catch-up"),
            asyncio.create_task(
                clean_up_forever(store, settings.storage.retention_days), name="cleanup"
            ),
        ]

    async def _catch_up(self, started_at: float) -> None:
        """In the background once connected: post what the last process could not."""
        await self.wait_until_ready()
        try:
            await catch_up(self.jobs.store, self.jobs.pipeline, started_at=started_at)
        except Exception as exc:
            log.error("catching up after the restart failed", exc_info=exc)

    async def sync_commands(self) -> None:
        """Register the slash commands: in the configured guilds (instant), else globally."""
        guild_ids = self.settings.discord.guild_ids
        if not guild_ids:
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))
            return
        for guild_id in guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.clear_commands(guild=guild)  # copies of commands since removed go too
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %d", len(synced), guild_id)

    async def reload_workflows(self) -> WorkflowReport:
        """Read the workflow files again; when they have no problems, their commands replace
        the current ones (synced with Discord). The report says what was found either way."""
        directory = workflows_directory(self.settings)
        report = await asyncio.to_thread(read_workflows, directory, self.settings)
        if report.problems:
            return report
        self.workflows = report.loaded()
        await self.reload_extension(WORKFLOW_COMMANDS)
        await self.sync_commands()
        log.info("workflows reloaded: %d command(s)", len(self.workflows.workflows))
        return report

    async def on_message(self, message: discord.Message, /) -> None:
        """No text commands: cogs listen to the messages they care about themselves."""

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._jobs is not None:
            await self._jobs.dispatcher.stop()
            await self._jobs.display.close()
        try:
            await super().close()
        finally:
            if self._workers is not None:
                await self._workers.close()
            await self.genai.aio.aclose()
            if self._jobs is not None:
                await self._jobs.store.close()
