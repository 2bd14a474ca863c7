"""The Bot: owns the long-lived resources and wires the cogs to the job pipeline.

One google-genai client, one store and one job pipeline (intake, dispatcher, display) live
here for the whole process, built once in `setup_hook` from explicit parts; cogs reach them
through `bot.jobs` (a `JobServices`). Slash commands only: the bot has no text prefix.

It connects the shards `[discord] shard_count` and `shard_ids` name (discord.py's
AutoShardedBot), by default all the shards Discord recommends.

`request_shutdown` (SIGTERM, Ctrl-C) stops cleanly: no new work, the jobs in progress get
`[jobs] shutdown_grace_s` to finish, the rest go back in line for the next start. `close`
alone stops at once (running jobs are then reported as interrupted at the next start).
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

from bot.calls import call_model
from bot.capabilities import require_vertex
from bot.config import Settings
from bot.credentials import Credentials
from bot.discord_ui.display import DiscordDisplay
from bot.discord_ui.login import log_in
from bot.discord_ui.moderation import ModerationLog
from bot.discord_ui.translator import CatalogTranslator, read_catalogs
from bot.gemini import build_client
from bot.gemini_workers import WorkerPool
from bot.images import UploadLimits
from bot.jobs.concurrency import concurrency_for
from bot.jobs.dispatcher import Dispatcher
from bot.jobs.guard import Clock, Guard
from bot.jobs.intake import Intake
from bot.jobs.pipeline import Generate, JobPipeline
from bot.jobs.processes import Membership, new_process_id
from bot.jobs.records import Job
from bot.jobs.recovery import catch_up, put_back
from bot.jobs.references import ReferenceLibrary
from bot.maintenance import clean_up_forever
from bot.observability.health import Health
from bot.observability.job_report import JobReport
from bot.observability.metrics import Metrics
from bot.observability.server import OpsServer
from bot.store import Store, open_store
from bot.store.factory import database_url
from bot.uploads import UploadReader
from bot.workflows.loader import (
    LoadedWorkflows,
    WorkflowReport,
    read_workflows,
    workflows_directory,
)
from bot.workflows.problems import WorkflowProblem

log = logging.getLogger(__name__)

LEAVE_TIMEOUT_S = 5.0  # signing off at a stop: never longer than this
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


class ImagineBot(commands.AutoShardedBot):
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
        # No voice here: no warnings at start-up about the libraries voice would need.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: thread replies need their text
        shards = settings.discord.shards()
        if shards.count is not None:  # else discord.py asks Discord how many (/gateway/bot)
            options.setdefault("shard_count", shards.count)
            options.setdefault("shard_ids", sorted(shards.ids))
        # The database size is measured on disk, which only SQLite's is.
        on_postgres = database_url(settings.storage, credentials.database_url)
        metrics = Metrics(None if on_postgres else settings.storage.path)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            http_trace=metrics.discord_trace(),
            # No cache of recent messages: nothing reads it, and every message the bot or a
            # member posts or edits would be copied into it.
            max_messages=None,
            **options,
        )
        require_vertex(settings, workflows, credentials.gemini)  # before anything connects
        point_discord_at(settings)
        self.settings = settings
        self.workflows = workflows
        self.metrics = metrics
        self.clock = clock
        self.genai = build_client(settings.gemini, credentials.gemini)
        self._credentials = credentials
        self._workers: WorkerPool | None = None
        self._jobs: JobServices | None = None
        self._membership: Membership | None = None
        self._background: list[asyncio.Task[None]] = []
        self._ops: OpsServer | None = None
        self._health: Health | None = None
        self._shutdown: asyncio.Task[None] | None = None
        self._draining: asyncio.Task[None] | None = None
        self._set_up = False  # setup_hook is complete
        self._stop_when_set_up = False
        self._stop_requested = asyncio.Event()

    @property
    def jobs(self) -> JobServices:
        assert self._jobs is not None, "the job services are built in setup_hook"
        return self._jobs

    async def log_in(self, token: str) -> bool:
        """Log in, trying again while Discord cannot be reached; False when a shutdown was
        requested first."""
        return await log_in(self, token, self._stop_requested)

    async def setup_hook(self) -> None:
        started_at = time.time()
        settings = self.settings
        store = await open_store(settings.storage, self._credentials.database_url)
        display = DiscordDisplay(self, settings)
        report = JobReport(self.metrics, settings.models)
        moderation = ModerationLog(self, settings) if settings.moderation.log_channel_id else None
        generate: Generate = functools.partial(call_model, self.genai)
        workers = settings.gemini.worker_count()
        if workers:
            pool = WorkerPool(
                workers,
                settings.gemini,
                self._credentials.gemini,
                settings.observability.log_format,
            )
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
            events=report,
        )
        process_id = new_process_id()
        dispatcher = Dispatcher(
            store=store,
            pipeline=pipeline,
            concurrency=concurrency_for(settings.jobs),
            max_per_user=settings.jobs.max_concurrent_per_user,
            refresh_s=settings.jobs.progress_interval_s,
            owner=process_id,
            events=report,
        )
        membership = self._membership = Membership(
            store=store,
            pipeline=pipeline,
            dispatcher=dispatcher,
            process_id=process_id,
            shards=settings.discord.shards(),
            takeover_after_s=settings.jobs.takeover_after_s,
            on_replaced=self.request_shutdown,
            events=report,
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
            events=report,
        )
        library = ReferenceLibrary(
            store=store, settings=settings.references, guard=guard, uploads=uploads
        )
        self._jobs = JobServices(store, intake, display, dispatcher, pipeline, guard, library)
        self.metrics.track(
            running=lambda: dispatcher.running,
            concurrency_limit=dispatcher.concurrency.current,
        )
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
        await self.tree.set_translator(CatalogTranslator(await asyncio.to_thread(read_catalogs)))
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()
        # Before claiming anything: jobs that were running died with the last process.
        outcomes = await membership.join()
        dispatcher.start()
        self._background = [
            asyncio.create_task(self._catch_up(outcomes, started_at), name="catch-up"),
            asyncio.create_task(membership.run(), name="heartbeat"),
            asyncio.create_task(
                clean_up_forever(store, settings.storage.retention_days), name="cleanup"
            ),
        ]
        self._set_up = True
        if self._stop_when_set_up:  # a signal came while starting
            self.request_shutdown()

    async def _catch_up(self, outcomes: list[Job], started_at: float) -> None:
        """In the background once connected: post what the last process could not."""
        await self.wait_until_ready()
        jobs = self.jobs
        try:
            await catch_up(
                jobs.store,
                jobs.pipeline,
                outcomes,
                shards=jobs.dispatcher.shards,
                started_at=started_at,
            )
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
        if not self._credentials.gemini.vertexai:
            report = _without_vertex(report)
        if report.problems:
            return report
        self.workflows = report.loaded()
        await self.reload_extension(WORKFLOW_COMMANDS)
        await self.sync_commands()
        log.info("workflows reloaded: %d command(s)", len(self.workflows.workflows))
        return report

    async def on_message(self, message: discord.Message, /) -> None:
        """No text commands: cogs listen to the messages they care about themselves."""

    def gateway_connected(self) -> bool:
        """Logged in, and the gateway websocket of every shard this process connects is open
        (discord.py is not reconnecting any)."""
        shards = self.shards.values()
        return (
            self.is_ready()
            and not self.is_closed()
            and bool(shards)
            and not any(shard.is_closed() for shard in shards)
        )

    # Stopping ----------------------------------------------------------------------------

    def request_shutdown(self) -> None:
        """SIGTERM or Ctrl-C. The first starts a clean shutdown; a second one stops waiting
        for the jobs in progress (they are put back in line)."""
        self._stop_requested.set()
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
            await self._jobs.pipeline.threads.close()
            await self._jobs.display.close()
        if self._membership is not None:
            try:
                await asyncio.wait_for(self._membership.leave(), LEAVE_TIMEOUT_S)
            except Exception as exc:  # stop anyway: it is taken over once its heartbeat is old
                log.warning("could not sign this process off: %r", exc)
        try:
            await super().close()
        finally:
            if self._workers is not None:
                await self._workers.close()
            await self.genai.aio.aclose()
            if self._health is not None:
                await self._health.close()
            if self._jobs is not None:
                await self._jobs.store.close()


def _without_vertex(report: WorkflowReport) -> WorkflowReport:
    """`report` with a problem for each workflow that needs Vertex AI (the bot uses a key)."""
    problems = [
        WorkflowProblem(
            str(workflow.source),
            "stages",
            f"/{workflow.command} needs Vertex AI ({workflow.generation.needs_vertex}), but "
            "the bot uses a Gemini API key.",
            "Remove it, or run the bot on Vertex AI (see the README).",
        )
        for workflow in report.workflows
        if workflow.generation.needs_vertex
    ]
    if not problems:
        return report
    return WorkflowReport(report.workflows, (*report.problems, *problems), report.warnings)
