"""This process among the processes sharing the store, each serving some Discord shards.

`join` (at start-up, before the dispatcher claims anything) registers the process with the
shards it connects. A process registered for any of the same shards is replaced: it was
this one's previous run (or the old layout, when shard_count changed), so its jobs are
adopted at once (`bot.jobs.recovery`). Then `run` beats every quarter of
`[jobs] takeover_after_s`: it tells the store this process is alive, works out which shards
no live process serves (their jobs become this one's to claim too, `bot.jobs.shards`; only
once this process has run for takeover_after_s, so that processes started together need
not all be up for each to keep to its own shards), and adopts the jobs of processes silent
for longer than takeover_after_s. `leave` (a clean stop)
unregisters, so the others need not wait to take over.

A process that finds itself replaced (another one started for its shards) stops: Discord
would otherwise send both of them the same events.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable

from bot.errors import StorageError
from bot.jobs.dispatcher import Dispatcher
from bot.jobs.events import NO_EVENTS, JobEvents
from bot.jobs.pipeline import JobPipeline
from bot.jobs.records import Job
from bot.jobs.recovery import interrupt_orphans, post_outcomes
from bot.jobs.shards import Shards, claimable
from bot.store import ProcessEntry, Store

log = logging.getLogger(__name__)

BEATS_PER_TAKEOVER = 4  # heartbeats within takeover_after_s: a late one or two is no death


class Membership:
    def __init__(
        self,
        *,
        store: Store,
        pipeline: JobPipeline,
        dispatcher: Dispatcher,
        process_id: str,
        shards: Shards,
        takeover_after_s: float,
        on_replaced: Callable[[], object],
        events: JobEvents = NO_EVENTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = process_id
        self.shards = shards
        self._store = store
        self._pipeline = pipeline
        self._dispatcher = dispatcher
        self._takeover_after_s = takeover_after_s
        self._on_replaced = on_replaced
        self._events = events
        self._clock = clock
        self._posting: set[asyncio.Task[int]] = set()
        self._joined_at = float("inf")

    async def join(self) -> list[Job]:
        """Register and adopt the jobs of the run this one replaces (and of any process gone
        silent); the running ones are interrupted now. Returns the outcomes to post once
        connected."""
        now = self._joined_at = self._clock()
        entry = ProcessEntry(self.id, self.shards, _host(), now, now)
        for old in await self._store.register_process(entry):
            log.info(
                "taking over %s from process %s (%s), started %.0f s ago",
                old.shards.describe(),
                old.id,
                old.host,
                now - old.started_at,
            )
        log.info("process %s serves %s", self.id, self.shards.describe())
        # After a restart also what was never claimed, e.g. a cancel whose notice failed.
        return await self._take_over(now, unowned=True)

    async def run(self) -> None:
        """Beat until cancelled, or until this process was replaced."""
        replaced = False
        while not replaced:
            await asyncio.sleep(self._takeover_after_s / BEATS_PER_TAKEOVER)
            try:
                replaced = not await self.beat()
            except StorageError as exc:  # the database is unwell: the next beat tries again
                log.warning("heartbeat failed: %r", exc)
        log.error(
            "another process was started for %s, so this one stops (give each process "
            "its own [discord] shard_ids)",
            self.shards.describe(),
        )
        self._on_replaced()

    async def beat(self) -> bool:
        """False when this process is no longer registered: another one replaced it."""
        now = self._clock()
        if not await self._store.heartbeat(self.id, now):
            return False
        outcomes = await self._take_over(now, unowned=False)
        if outcomes:  # posted apart, so no post ever delays a heartbeat
            task = asyncio.create_task(post_outcomes(self._pipeline, outcomes), name="takeover")
            self._posting.add(task)
            task.add_done_callback(self._posting.discard)
        return True

    async def leave(self) -> None:
        """A clean stop: others may take over this process's jobs at once."""
        for task in self._posting:
            task.cancel()
        await asyncio.gather(*self._posting, return_exceptions=True)
        await self._store.deregister_process(self.id)

    async def _take_over(self, now: float, *, unowned: bool) -> list[Job]:
        alive_since = now - self._takeover_after_s
        shards = self.shards
        if self._joined_at <= alive_since:  # the processes started alongside have joined
            live = [
                p.shards for p in await self._store.processes() if p.heartbeat_at >= alive_since
            ]
            shards = claimable(self.shards, live)
        if shards != self._dispatcher.shards:
            if shards != self.shards:
                log.warning("no process serves some shards: this one takes %s", shards.describe())
            self._dispatcher.shards = shards
            self._dispatcher.wake()
        adopted = await self._store.adopt_orphans(
            self.id, shards, alive_since=alive_since, unowned=unowned
        )
        if adopted:
            log.info("adopted %d job(s) of processes that are gone", len(adopted))
        return await interrupt_orphans(self._store, adopted, self._events)


def new_process_id() -> str:
    """A new id for this run of the process (jobs it claims record it)."""
    return secrets.token_hex(8)


def _host() -> str:
    """Where this process runs, for the operator."""
    return f"{socket.gethostname()}/{os.getpid()}"
