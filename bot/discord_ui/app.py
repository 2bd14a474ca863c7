"""The Bot: owns the long-lived resources and wires the cogs to the job pipeline.

One google-genai client, one store and one job pipeline (intake, dispatcher, display) live
here for the whole process, built once in `setup_hook` from explicit parts; cogs reach them
through `bot.jobs` (a `JobServices`). Slash commands only: the bot has no text prefix.

`request_shutdown` (SIGTERM, Ctrl-C) stops cleanly: no new work, the jobs in progress get
`[jobs] shutdown_grace_s` to finish, the rest go back in line for the next start. `close`
alone stops at once (running jobs are then reported as interrupted at the next start).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any

import discord
import yarl
from discord.ext import commands

from bot.config import Settings
from bot.credentials import Credentials
from bot.discord_ui.display import DiscordDisplay
from bot.gemini import build_client
from bot.generation import generate_many
from bot.images import UploadLimits
from bot.jobs.dispatcher import Dispatcher
from bot.jobs.intake import Intake
from bot.jobs.pipeline import JobPipeline
from bot.jobs.recovery import catch_up, interrupt_running, put_back
from bot.maintenance import clean_up_forever
from bot.observability.health import Health
from bot.observability.job_report import JobReport
from bot.observability.metrics import Metrics
from bot.observability.server import OpsServer
from bot.store import SQLiteStore, Store
from bot.uploads import UploadReader
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


@dataclass(frozen=True)
class JobServices:
    """What the cogs use: the store (to read), the intake (to accept work), the display
    (to bind an interaction to the job it answers)."""

    store: Store
    intake: Intake
    display: DiscordDisplay
    dispatcher: Dispatcher
    pipeline: JobPipeline


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
        metrics = Metrics(settings.storage.path)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            http_trace=metrics.discord_trace(),
            **options,
        )
        point_discord_at(settings)
        self.settings = settings
        self.workflows = workflows
        self.metrics = metrics
        self.genai = build_client(settings.gemini, credentials.gemini)
        self._jobs: JobServices | None = None
        self._background: list[asyncio.Task[None]] = []
        self._ops: OpsServer | None = None
        self._health: Health | None = None
        self._shutdown: asyncio.Task[None] | None = None
        self._draining: asyncio.Task[None] | None = None
        self._set_up = False  # setup_hook is complete
        self._stop_when_set_up = False

    @property
    def jobs(self) -> JobServices:
        assert self._jobs is not None, "the job services are built in setup_hook"
        return self._jobs

    async def setup_hook(self) -> None:
        settings = self.settings
        store = await SQLiteStore.open(settings.storage.path)
        display = DiscordDisplay(self, settings)
        report = JobReport(self.metrics, settings.models)
        pipeline = JobPipeline(
            store=store,
            display=display,
            generate=functools.partial(generate_many, self.genai),
            settings=settings,
            events=report,
        )

        def concurrency_limit() -> int:
            return settings.jobs.max_concurrent

        dispatcher = Dispatcher(
            store=store,
            pipeline=pipeline,
            max_running=concurrency_limit,
            max_per_user=settings.jobs.max_concurrent_per_user,
            refresh_s=settings.jobs.progress_interval_s,
            events=report,
        )
        intake = Intake(
            store=store,
            settings=settings,
            pipeline=pipeline,
            dispatcher=dispatcher,
            uploads=UploadReader(UploadLimits.of(settings.uploads)),
            events=report,
        )
        self._jobs = JobServices(store, intake, display, dispatcher, pipeline)
        self.metrics.track(running=lambda: dispatcher.running, concurrency_limit=concurrency_limit)
        self._health = Health(
            gateway_connected=self.gateway_connected, store_problem=store.write_problem
        )
        observability = settings.observability
        if observability.http_port:
            self._ops = OpsServer(
                observability.http_host,
                observability.http_port,
                health=self._health,
                metrics=self.metrics,
            )
            await self._ops.start()
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()
        # Before claiming anything: jobs that were running died with the last process.
        await interrupt_running(store, report)
        dispatcher.start()
        self._background = [
            asyncio.create_task(self._catch_up(), name="catch-up"),
            asyncio.create_task(
                clean_up_forever(store, settings.storage.retention_days), name="cleanup"
            ),
        ]
        self._set_up = True
        if self._stop_when_set_up:  # a signal came while starting
            self.request_shutdown()

    async def _catch_up(self) -> None:
        """In the background once connected: post what the last process could not."""
        await self.wait_until_ready()
        try:
            await catch_up(self.jobs.store, self.jobs.pipeline)
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
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %d", len(synced), guild_id)

    async def on_message(self, message: discord.Message, /) -> None:
        """No text commands: cogs listen to the messages they care about themselves."""

    def gateway_connected(self) -> bool:
        """Logged in, and the gateway websocket is open (discord.py is not reconnecting)."""
        ws = self.ws
        return self.is_ready() and not self.is_closed() and ws is not None and ws.open

    # Stopping ----------------------------------------------------------------------------

    def request_shutdown(self) -> None:
        """SIGTERM or Ctrl-C. The first starts a clean shutdown; a second one stops waiting
        for the jobs in progress (they are put back in line)."""
        if not self._set_up:  # closing now would pull the rug from under setup_hook
            self._stop_when_set_up = True
        elif self._shutdown is None:
            self.jobs.intake.stop_accepting()
            if self._health is not None:
                self._health.stopping()
            self._shutdown = asyncio.create_task(self._shut_down(), name="shutdown")
        elif self._draining is not None and not self._draining.done():
            log.info("stopping now: the jobs still in progress are put back in line")
            self._draining.cancel()

    async def wait_shut_down(self) -> None:
        """Until a requested shutdown is complete (the store closed)."""
        if self._shutdown is not None:
            await asyncio.shield(self._shutdown)

    async def _shut_down(self) -> None:
        jobs = self.jobs
        try:
            jobs.dispatcher.pause()
            running, grace = jobs.dispatcher.running, self.settings.jobs.shutdown_grace_s
            log.info(
                "shutting down: new requests are refused; %d job(s) in progress get up to %gs",
                running,
                grace,
            )
            if running and grace > 0:
                self._draining = asyncio.create_task(jobs.dispatcher.wait_idle())
                await asyncio.wait([self._draining], timeout=grace)
            await put_back(jobs.store, await jobs.dispatcher.stop())
        except Exception as exc:  # e.g. the database went away: stop all the same
            log.error("the clean shutdown failed; stopping anyway", exc_info=exc)
        finally:
            await self.close()
        log.info("stopped")

    async def close(self) -> None:
        if self._ops is not None:
            await self._ops.stop()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._jobs is not None:
            await self._jobs.dispatcher.stop()
        try:
            await super().close()
        finally:
            await self.genai.aio.aclose()
            if self._health is not None:
                await self._health.close()
            if self._jobs is not None:
                await self._jobs.store.close()
