"""Starts queued jobs as slots free up, and keeps waiting members told their place in line.

The queue itself is the store: jobs are claimed there (compare-and-set), so what is waiting
survives a restart and several processes share one queue. This loop wakes when work is
accepted or a job ends, claims every job of its shards that may start now (within
`bot.jobs.concurrency`'s limit, shared by every process and learning from each job's model
calls), and runs each in its own task. Waiting
jobs see their place and about how long it will be; the text changes rarely (exact near the
front, in tens further back, waits in coarse steps), so a long queue costs few edits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

from bot.errors import StorageError
from bot.jobs.concurrency import Concurrency
from bot.jobs.display import Waiting
from bot.jobs.events import NO_EVENTS, JobEvents
from bot.jobs.pipeline import Calls, JobPipeline
from bot.jobs.records import Job
from bot.jobs.shards import ALL_SHARDS, Shards
from bot.store import QueuePlace, Store

log = logging.getLogger(__name__)

_EXACT_PLACES = 10  # places shown exactly; further back, rounded down to tens


class Dispatcher:
    def __init__(
        self,
        *,
        store: Store,
        pipeline: JobPipeline,
        concurrency: Concurrency,
        max_per_user: int,
        refresh_s: float,
        owner: str | None = None,
        events: JobEvents = NO_EVENTS,
    ) -> None:
        self._store = store
        self._owner = owner  # this process, as the store knows it
        # The shards whose jobs this process claims and shows (see bot.jobs.processes).
        self.shards: Shards = ALL_SHARDS
        self._events = events
        self._pipeline = pipeline
        self.concurrency = concurrency
        self._max_per_user = max_per_user
        self._refresh_s = refresh_s
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._shown: dict[str, Waiting] = {}  # what each waiting job's message says
        self._showing: set[asyncio.Task[None]] = set()
        self._paused = False

    @property
    def running(self) -> int:
        return len(self._running)

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="dispatcher")

    def wake(self) -> None:
        """Something was accepted or finished: look at the queue again."""
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        """Stop waiting for the model on a job this process runs (its state is already
        `cancelled` in the store)."""
        task = self._running.get(job_id)
        if task is not None:
            task.cancel()

    def pause(self) -> None:
        """Claim nothing more (a shutdown); the jobs in progress go on. The loop ends at its
        next turn rather than being cancelled in the middle of a claim."""
        self._paused = True
        self.wake()

    async def wait_idle(self) -> None:
        """Until no job of this process is running."""
        while self._running:
            await asyncio.wait(list(self._running.values()))

    async def stop(self) -> list[str]:
        """Stop claiming and cancel the jobs in progress; they stay `running` in the store
        (reported as interrupted at the next start, unless put back in line) and queued ones
        stay queued. Returns the ids of the jobs it stopped."""
        stopped = [job_id for job_id, task in self._running.items() if not task.done()]
        tasks = [t for t in (self._loop_task, *self._running.values(), *self._showing) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return stopped

    async def _loop(self) -> None:
        while not self._paused:
            self._wake.clear()
            try:
                await self._claim_all()
                await self._show_places()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is unwell: try again a little later
                log.warning("the queue could not be read: %r", exc)
            pause = self.concurrency.paused_for()
            timeout = min(self._refresh_s, pause) if pause else self._refresh_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _claim_all(self) -> None:
        self.concurrency.seen(await self._store.pace())
        while not self._paused:
            allowed = self.concurrency.current()
            if allowed <= 0:
                return
            job = await self._store.claim_next(
                max_running=allowed,
                max_per_user=self._max_per_user,
                owner=self._owner,
                shards=self.shards,
            )
            if job is None:
                return
            self._shown.pop(job.id, None)
            self._running[job.id] = asyncio.create_task(self._run(job), name=f"job {job.id}")

    async def _run(self, job: Job) -> None:
        try:
            calls = await self._pipeline.run(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug past the pipeline's own handling
            log.error("job %s crashed", job.id, exc_info=exc)
            await self._pipeline.crashed(job)
        else:
            await self._learn(calls)
        finally:
            self._running.pop(job.id, None)
            self.wake()

    async def _learn(self, calls: Calls) -> None:
        """Share what a job's model calls said about the quota (a 429, room to grow)."""
        change = None
        if calls.throttled:
            change = self.concurrency.throttled(calls.retry_after_s)
        elif calls.latency_s is not None:
            change = self.concurrency.answered(calls.latency_s)
        if change is None:
            return
        try:
            self.concurrency.seen(await self._store.update_pace(change))
        except StorageError as exc:  # the next one will share it
            log.warning("the concurrency limit's pace could not be shared: %r", exc)

    async def _show_places(self) -> None:
        """Each waiting job of this process's shards sees its place in the whole line."""
        places = [p for p in await self._store.queue() if self.shards.serves(p.job.guild_id)]
        self._events.queue_seen(len(places))
        waiting = {place.job.id for place in places}
        for job_id in set(self._shown) - waiting:
            del self._shown[job_id]
        for place in places:
            shown = self._waiting(place)
            if self._shown.get(place.job.id) == shown:
                continue
            self._shown[place.job.id] = shown
            task = asyncio.create_task(
                self._pipeline.show_progress(place.job, shown), name=f"show {place.job.id}"
            )
            self._showing.add(task)
            task.add_done_callback(self._showing.discard)

    def _waiting(self, place: QueuePlace) -> Waiting:
        ahead = place.ahead
        if ahead >= _EXACT_PLACES:
            ahead -= ahead % 10
        return Waiting(
            ahead=ahead,
            behind_own_lane=place.behind_own_lane,
            wait_s=self._estimate(place.ahead),
            paused=place.paused,
        )

    def _estimate(self, ahead: int) -> float | None:
        """About how long until a job with `ahead` jobs before it starts, in coarse steps
        (10 s under two minutes, then whole minutes); None while there is no measure yet."""
        latency = self.concurrency.latency_s
        limit = self.concurrency.current() or 1
        if latency is None:
            return None
        seconds = math.ceil(ahead / limit) * latency + self.concurrency.paused_for()
        step = 10.0 if seconds < 120 else 60.0
        return math.ceil(seconds / step) * step
