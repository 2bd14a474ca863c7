"""Threads for new conversations, opened after their result is posted.

Discord paces thread creation (about 50 per 5 minutes per bot, as library authors observed),
so a burst of results must not wait for their threads. A result is posted at once, and the
store records in the same step that its thread is owed; this opener then opens owed threads
one at a time, oldest first, as fast as Discord allows, and records each conversation when
its thread exists. Owed threads outlive a restart (`resume`).

discord.py answers the call that uses up Discord's allowance only when the allowance is
back (minutes later), while the thread exists at once: a member who writes in it first
makes the intake record the conversation (`owing_thread`; a message's thread has the
message's id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

from bot.jobs.display import Card, Display
from bot.jobs.ordering import KeyedLocks
from bot.jobs.records import Conversation, Job
from bot.jobs.shards import ALL_SHARDS, Shards
from bot.store import Store

log = logging.getLogger(__name__)

TASK_NAME = "thread opener"
RETRY_DELAYS_S: Sequence[float] = (2.0, 10.0, 60.0)  # after failures worth trying again


class ThreadOpener:
    def __init__(
        self,
        store: Store,
        display: Display,
        locks: KeyedLocks,
        card: Callable[[Job], Awaitable[Card]],
        *,
        retry_delays: Sequence[float] = RETRY_DELAYS_S,
    ) -> None:
        self._store = store
        self._display = display
        self._locks = locks  # the pipeline's: nothing else edits the result meanwhile
        self._card = card  # a shown job's card, from the store (for a note on the result)
        self._retry_delays = retry_delays
        self._owed: asyncio.Queue[Job] = asyncio.Queue()
        self._waiting: set[str] = set()
        self._worker: asyncio.Task[None] | None = None

    def owe(self, job: Job) -> None:
        """Open the thread of this shown result when its turn comes (once, however often
        it is asked)."""
        if job.id in self._waiting:
            return
        self._waiting.add(job.id)
        self._owed.put_nowait(job)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name=TASK_NAME)

    async def resume(self, shards: Shards = ALL_SHARDS) -> None:
        """The threads a previous run of this process (serving `shards`) still owed."""
        for job in await self._store.threads_owed(shards):
            self.owe(job)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    async def _work(self) -> None:
        """Until nothing is owed (the next `owe` starts it again)."""
        while not self._owed.empty():
            job = self._owed.get_nowait()
            try:
                await self._open(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # the store failed: the thread stays owed (next start)
                log.exception("job %s: its thread was not recorded", job.id)
            finally:
                self._waiting.discard(job.id)

    async def _open(self, job: Job) -> None:
        delays = list(self._retry_delays)
        while True:
            try:
                async with self._locks.hold(job.id):
                    thread_id = await self._display.open_thread(
                        job, partial(self._card, job), last_try=not delays
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not delays:
                    log.warning("job %s: its thread is still owed (%r); next start", job.id, exc)
                    return
                log.warning("job %s: opening its thread failed: %r", job.id, exc)
                await asyncio.sleep(delays.pop(0))
                continue
            if thread_id is None:
                await self._store.no_thread(job.id)
            else:
                await self._store.open_conversation(conversation(job, thread_id), job.id)
            return


def conversation(job: Job, thread_id: int) -> Conversation:
    """The conversation a shown result starts, continued in `thread_id`."""
    return Conversation(
        thread_id=thread_id,
        guild_id=job.guild_id,
        channel_id=job.channel_id,
        owner_id=job.user_id,
        workflow=job.request.workflow,
        model=job.request.model,
        aspect_ratio=job.request.aspect_ratio,
        image_size=job.request.image_size,
    )
